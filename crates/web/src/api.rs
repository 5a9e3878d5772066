//! The JSON API v1 (`/api/v1/...`) for other applications, and its OpenAPI 3.1 document at
//! `/api/openapi.json`. Each route is registered together with its documentation ([`documented`]), so the
//! document lists exactly the routes served. Requests carry `Authorization: Bearer KEY` ([`ApiCaller`]);
//! every error is an `application/problem+json` body (RFC 9457).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use keyward_core::client::ApiClient;
use keyward_core::ids::UserId;
use keyward_core::mail::Mailer;
use keyward_core::store::Store;
use keyward_core::usecase::{self, Failure, Origin, TwoFactorStatus};
use keyward_core::verdict::{FactorKind, Verdict};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi as Document, path::Paths};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::pages::{ClientOrigin, SharedState};
use crate::proxies::TrustedProxies;
use crate::session::CookiePolicy;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";
const PROBLEM_JSON: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyward API",
        description = "Verify one-time passwords and read an account's two-factor state. Every request \
                       carries `Authorization: Bearer KEY`, with a key an account admin made under \
                       Account › API clients; a key reaches only its own account."
    ),
    components(schemas(
        Problem, VerifyBody, VerifyAnswer, UsersAnswer, UserEntry, AccountAnswer, MethodsEntry, AddUserBody,
        AddUserAnswer, StartTotpBody, StartTotpAnswer, ConfirmTotpBody, ConfirmTotpAnswer, InvitationAnswer,
        RegisterYubikeyBody, RegisterYubikeyAnswer
    )),
    modifiers(&BearerKey)
)]
struct ApiDoc;

struct BearerKey;

impl utoipa::Modify for BearerKey {
    fn modify(&self, document: &mut Document) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
        let components = document.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        components.add_security_scheme("api_key", SecurityScheme::Http(scheme));
        document.security = Some(vec![SecurityRequirement::new("api_key", Vec::<String>::new())]);
    }
}

/// Registers `handler` at the path and method `P` documents, with `P`'s documentation.
fn documented<P: utoipa::Path, St: Clone + Send + Sync + 'static>(
    router: OpenApiRouter<St>,
    handler: MethodRouter<St>,
) -> OpenApiRouter<St> {
    router.routes((Vec::new(), Paths::builder().path_from::<P>().build(), handler))
}

/// The API's routes and the document that describes them.
pub fn router<S: Store + 'static, M: Mailer + 'static>() -> axum::Router<SharedState<S, M>> {
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let api = documented::<__path_verify, _>(api, post(verify::<S, M>));
    let api = documented::<__path_users, _>(api, get(users::<S, M>));
    let api = documented::<__path_account, _>(api, get(account::<S, M>));
    let api = documented::<__path_add_user, _>(api, post(add_user::<S, M>));
    let api = documented::<__path_start_totp, _>(api, post(start_totp::<S, M>));
    let api = documented::<__path_confirm_totp, _>(api, post(confirm_totp::<S, M>));
    let api = documented::<__path_send_invitation, _>(api, post(send_invitation::<S, M>));
    let api = documented::<__path_register_yubikey, _>(api, post(register_yubikey::<S, M>));
    let (router, document) = api.split_for_parts();
    // Serialising a document of our own types cannot fail; were it to, the route says so.
    let document: Arc<str> =
        document.to_json().unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}")).into();
    router
        .route(
            OPENAPI_PATH,
            get(move || {
                let document = Arc::clone(&document);
                async move { ([(header::CONTENT_TYPE, "application/json")], document.to_string()) }
            }),
        )
        .route("/api/{*rest}", axum::routing::any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "This route does not take that method. The routes and their methods are listed at {OPENAPI_PATH}."
        ),
    )
}

/// The errors every route may answer, each an `application/problem+json` [`Problem`]: documented once,
/// so the document holds every status the API sends.
struct ApiErrors;

impl utoipa::IntoResponses for ApiErrors {
    fn responses()
    -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        [
            (400, "The body is not JSON"),
            (401, "No valid API key"),
            (404, "No such user in this account, or no such route"),
            (409, "It clashes with what exists (a YubiKey registered to someone)"),
            (413, "The body is larger than 64 KiB"),
            (415, "The body is not application/json"),
            (422, "A field is missing, unknown or malformed, or the request cannot be carried out"),
            (429, "Too many wrong codes for this user: wait"),
            (500, "Something failed on our side; the detail carries a reference for the logs"),
        ]
        .into_iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
            let response =
                ResponseBuilder::new().description(description).content(PROBLEM_JSON, content).build();
            (status.to_string(), response.into())
        })
        .collect()
    }
}

/// An error as `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The status's name.
    title: String,
    status: u16,
    /// What is wrong, for the person writing the integration.
    detail: String,
}

/// An API error: a status and what to say about it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
}

impl ApiError {
    fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError { status, detail: detail.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error").to_owned();
        let problem =
            Problem { kind: "about:blank", title, status: self.status.as_u16(), detail: self.detail };
        let mut response = (self.status, Json(problem)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> ApiError {
        match failure {
            Failure::Refused(message) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message),
            Failure::Invalid(error) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string()),
            Failure::NotFound => ApiError::new(StatusCode::NOT_FOUND, "No such user in this account."),
            Failure::Forbidden | Failure::StepUpRequired => {
                ApiError::new(StatusCode::FORBIDDEN, "This key may not do that.")
            }
            Failure::Throttled(seconds) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many attempts: try again in {seconds} seconds."),
            ),
            internal @ (Failure::Store(_) | Failure::Mail(_) | Failure::Internal(_)) => {
                let reference = crate::request_id::current();
                let cause = crate::errors::cause_chain(&internal);
                tracing::error!(error = %cause, reference = reference.as_deref(), "API request failed");
                let reference = reference.map(|id| format!(" Reference: {id}.")).unwrap_or_default();
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Something failed on our side.{reference}"),
                )
            }
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("No such API route. The routes are listed at {OPENAPI_PATH}."),
    )
}

/// The API client whose key the request carries; a missing, unknown or revoked key is refused with 401.
pub struct ApiCaller(pub ApiClient);

impl<S: Store, M: Mailer> FromRequestParts<SharedState<S, M>> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState<S, M>) -> Result<ApiCaller, ApiError> {
        let unauthorized = |detail: &str| ApiError::new(StatusCode::UNAUTHORIZED, detail);
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized("Send the API key as `Authorization: Bearer KEY`."));
        };
        let key = value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("The Authorization header must be `Bearer KEY`."))?;
        match usecase::api_client_by_key(&state.services, key.trim()).await? {
            Some(client) => Ok(ApiCaller(client)),
            None => Err(unauthorized("This API key is not known, or was revoked.")),
        }
    }
}

/// Where an API request came from: the client's address (through trusted proxies), for the budgets and
/// the audit log. A known-browser mark means nothing to an application, so none is read: the API always
/// spends the budgets of an unknown client.
pub struct ApiOrigin(pub Origin);

impl<St: Send + Sync> FromRequestParts<St> for ApiOrigin
where
    CookiePolicy: FromRef<St>,
    TrustedProxies: FromRef<St>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<ApiOrigin, Self::Rejection> {
        let ClientOrigin(origin) = ClientOrigin::from_request_parts(parts, state).await?;
        Ok(ApiOrigin(Origin { browser: None, remembered: None, ..origin }))
    }
}

/// A JSON body: `Content-Type: application/json`, at most the body limit, every field known.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequest<St> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &St) -> Result<ApiJson<T>, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send the body as application/json.",
            ));
        }
        let body = Bytes::from_request(request, state).await.map_err(|rejection| {
            ApiError::new(rejection.status(), "The body could not be read: it may be larger than 64 KiB.")
        })?;
        serde_json::from_slice(&body).map(ApiJson).map_err(|error| {
            let status =
                if error.is_data() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::BAD_REQUEST };
            ApiError::new(status, format!("The body is not what this route takes: {error}."))
        })
    }
}

fn verdict_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Verdict::ALL.map(Verdict::as_str)))
        .description(Some("How the check ended; only `ok` lets the user in."))
}

fn factor_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(FactorKind::ALL.map(FactorKind::as_str)))
        .description(Some("What the typed value was taken for, by its shape."))
}

/// A one-time password to check for a user of the key's account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The user's e-mail address.
    email: String,
    /// What the user typed: a TOTP code, a YubiKey OTP or a recovery code.
    otp: String,
}

/// What the check found.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyAnswer {
    #[schema(schema_with = verdict_schema)]
    verdict: Verdict,
    #[schema(schema_with = factor_schema)]
    factor: FactorKind,
    /// With `throttled`: seconds to wait before the next attempt for this user.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_secs: Option<u64>,
}

/// Checks a one-time password. The same budgets and replay rules as the login apply: a code is accepted
/// once, whichever surface sees it first.
#[utoipa::path(
    post,
    path = "/api/v1/verify",
    request_body = VerifyBody,
    responses(
        ApiErrors,
        (status = 200, description = "The verdict", body = VerifyAnswer),
    )
)]
async fn verify<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ApiOrigin(origin): ApiOrigin,
    ApiCaller(client): ApiCaller,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Json<VerifyAnswer>, ApiError> {
    let checked =
        usecase::verify_for_client(&state.services, &client, &body.email, &body.otp, &origin).await?;
    state.metrics.record_otp(checked.factor, checked.verdict);
    let retry_after_secs = (checked.verdict == Verdict::Throttled).then_some(checked.retry_after_secs);
    Ok(Json(VerifyAnswer { verdict: checked.verdict, factor: checked.factor, retry_after_secs }))
}

/// A user and their two-factor state.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserEntry {
    id: i64,
    email: String,
    /// `admin` or `user`.
    role: String,
    /// `not_invited`, `invited` (an enrollment link is open) or `enrolled`.
    status: &'static str,
    /// With `enrolled`: `totp`, `yubikey` and/or `security_key`.
    factors: Vec<&'static str>,
    /// With `enrolled`: the public ids of the user's YubiKeys.
    yubikeys: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsersAnswer {
    users: Vec<UserEntry>,
}

/// The account's users and their factors.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    responses(
        ApiErrors,
        (status = 200, description = "The users", body = UsersAnswer),
    )
)]
async fn users<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ApiCaller(client): ApiCaller,
) -> Result<Json<UsersAnswer>, ApiError> {
    let (_, overviews) = usecase::account_for_client(&state.services, client.account_id).await?;
    let users = overviews
        .into_iter()
        .map(|row| {
            let (status, factors, yubikeys) = match row.status {
                TwoFactorStatus::NotInvited => ("not_invited", Vec::new(), Vec::new()),
                TwoFactorStatus::Invited { .. } => ("invited", Vec::new(), Vec::new()),
                TwoFactorStatus::Enrolled { totp, yubikeys, security_keys, .. } => {
                    let mut factors = Vec::new();
                    if totp {
                        factors.push(FactorKind::Totp.as_str());
                    }
                    if !yubikeys.is_empty() {
                        factors.push(FactorKind::Yubikey.as_str());
                    }
                    if !security_keys.is_empty() {
                        factors.push(FactorKind::SecurityKey.as_str());
                    }
                    ("enrolled", factors, yubikeys.iter().map(|id| id.as_str().to_owned()).collect())
                }
            };
            UserEntry {
                id: row.user.id.0,
                email: row.user.email.to_string(),
                role: row.user.role.as_str().to_owned(),
                status,
                factors,
                yubikeys,
            }
        })
        .collect();
    Ok(Json(UsersAnswer { users }))
}

/// The methods users may enroll.
#[derive(Debug, Serialize, ToSchema)]
pub struct MethodsEntry {
    totp: bool,
    yubikey: bool,
    /// Security keys and passkeys (WebAuthn).
    webauthn: bool,
}

/// The account's two-factor state.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountAnswer {
    name: String,
    methods: MethodsEntry,
    /// Whether every login asks for a second factor.
    active: bool,
    /// When it was activated (Unix seconds), while active.
    #[serde(skip_serializing_if = "Option::is_none")]
    activated_at: Option<u64>,
    /// The policy support follows before disabling someone's second factor, once written.
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_policy: Option<String>,
    users: usize,
    enrolled: usize,
}

/// The account's two-factor state.
#[utoipa::path(
    get,
    path = "/api/v1/account",
    responses(
        ApiErrors,
        (status = 200, description = "The account", body = AccountAnswer),
    )
)]
async fn account<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ApiCaller(client): ApiCaller,
) -> Result<Json<AccountAnswer>, ApiError> {
    let (account, users) = usecase::account_for_client(&state.services, client.account_id).await?;
    let enrolled = users.iter().filter(|row| matches!(row.status, TwoFactorStatus::Enrolled { .. })).count();
    Ok(Json(AccountAnswer {
        name: account.name.as_str().to_owned(),
        methods: MethodsEntry {
            totp: account.methods.totp,
            yubikey: account.methods.yubikey,
            webauthn: account.methods.webauthn,
        },
        active: account.activation.is_some(),
        activated_at: account.activation.map(|activation| activation.at.seconds()),
        disable_policy: account.disable_policy.map(|policy| policy.as_str().to_owned()),
        users: users.len(),
        enrolled,
    }))
}

/// A user to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUserBody {
    email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddUserAnswer {
    /// The address written to. A new user appears in `GET /api/v1/users`; an address that already has a
    /// login in another account gets an e-mail instead, and the answer is the same.
    email: String,
}

/// Adds a user, who gets an e-mail with a link to choose their password.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    request_body = AddUserBody,
    responses(
        ApiErrors,
        (status = 202, description = "Added; the e-mail is queued with the change and follows", body = AddUserAnswer),
    )
)]
async fn add_user<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ApiOrigin(origin): ApiOrigin,
    ApiCaller(client): ApiCaller,
    ApiJson(body): ApiJson<AddUserBody>,
) -> Result<(StatusCode, Json<AddUserAnswer>), ApiError> {
    let email = usecase::add_user_for_client(&state.services, &client, &body.email, &origin).await?;
    Ok((StatusCode::ACCEPTED, Json(AddUserAnswer { email: email.to_string() })))
}

/// Starting an app enrollment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartTotpBody {
    /// Required while the user has a working factor: a current one-time password of it.
    #[serde(default)]
    current_otp: Option<String>,
}

/// The new secret, pending until its first code.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartTotpAnswer {
    /// The `otpauth://` URI to show as a QR code.
    otpauth_uri: String,
    /// The secret in base32, grouped by four, for typing by hand.
    secret: String,
}

/// Starts enrolling an authenticator app for a user.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/totp",
    params(("id" = i64, Path, description = "The user's id, from GET /api/v1/users")),
    request_body = StartTotpBody,
    responses(
        ApiErrors,
        (status = 201, description = "A pending app", body = StartTotpAnswer),
    )
)]
async fn start_totp<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ApiOrigin(origin): ApiOrigin,
    ApiCaller(client): ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StartTotpBody>,
) -> Result<(StatusCode, Json<StartTotpAnswer>), ApiError> {
    let current = body.current_otp.as_deref();
    let secret =
        usecase::start_totp_for_client(&state.services, &client, user_id(&id)?, current, &origin).await?;
    let answer = StartTotpAnswer { otpauth_uri: secret.uri.to_string(), secret: secret.grouped };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The app's first code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotpBody {
    code: String,
}

/// The user's new recovery codes: show them to the user once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmTotpAnswer {
    recovery_codes: Vec<String>,
}

/// Finishes an app enrollment with its first code.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/totp/confirm",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = ConfirmTotpBody,
    responses(
        ApiErrors,
        (status = 200, description = "The app is the user's", body = ConfirmTotpAnswer),
    )
)]
async fn confirm_totp<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ApiOrigin(origin): ApiOrigin,
    ApiCaller(client): ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConfirmTotpBody>,
) -> Result<Json<ConfirmTotpAnswer>, ApiError> {
    let recovery_codes =
        usecase::confirm_totp_for_client(&state.services, &client, user_id(&id)?, &body.code, &origin)
            .await?;
    Ok(Json(ConfirmTotpAnswer { recovery_codes }))
}

/// A user id from the path; anything else names no user.
fn user_id(text: &str) -> Result<UserId, ApiError> {
    text.parse().map(UserId).map_err(|_| ApiError::from(Failure::NotFound))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationAnswer {
    /// The address the enrollment link went to.
    email: String,
}

/// E-mails the user an enrollment link (it voids the user's earlier one).
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/invitation",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        ApiErrors,
        (status = 202, description = "The link is made; its e-mail is queued with it and follows", body = InvitationAnswer),
    )
)]
async fn send_invitation<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ApiOrigin(origin): ApiOrigin,
    ApiCaller(client): ApiCaller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<InvitationAnswer>), ApiError> {
    let user_id = user_id(&id)?;
    usecase::send_enrollment_for_client(&state.services, &client, user_id, &origin).await?;
    let (_, users) = usecase::account_for_client(&state.services, client.account_id).await?;
    let email = users.into_iter().find(|row| row.user.id == user_id).map(|row| row.user.email.to_string());
    Ok((StatusCode::ACCEPTED, Json(InvitationAnswer { email: email.unwrap_or_default() })))
}

/// A YubiKey to register, by an OTP it typed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterYubikeyBody {
    /// An OTP the key typed just now (it is checked, and used up).
    otp: String,
    /// Required while the user has a working factor: a current one-time password of it.
    #[serde(default)]
    current_otp: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterYubikeyAnswer {
    /// The key's public id, the first 12 characters of its OTPs.
    public_id: String,
}

/// Registers a YubiKey to the user by an OTP it typed.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/yubikeys",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = RegisterYubikeyBody,
    responses(
        ApiErrors,
        (status = 201, description = "The key is the user's", body = RegisterYubikeyAnswer),
    )
)]
async fn register_yubikey<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ApiOrigin(origin): ApiOrigin,
    ApiCaller(client): ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RegisterYubikeyBody>,
) -> Result<(StatusCode, Json<RegisterYubikeyAnswer>), ApiError> {
    let current = body.current_otp.as_deref();
    let registered = usecase::register_yubikey_for_client(
        &state.services,
        &client,
        user_id(&id)?,
        &body.otp,
        current,
        &origin,
    )
    .await;
    match registered {
        Ok(key) => Ok((
            StatusCode::CREATED,
            Json(RegisterYubikeyAnswer { public_id: key.public_id.as_str().to_owned() }),
        )),
        Err(Failure::Store(keyward_core::store::StoreError::Duplicate(_))) => {
            Err(ApiError::new(StatusCode::CONFLICT, "That YubiKey is registered to someone."))
        }
        Err(failure) => Err(failure.into()),
    }
}
