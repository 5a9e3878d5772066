//! "Account" > "API clients": the account's keys for the JSON API, and its Yubico Validation Protocol clients
//! (for `ykclient`, `pam_yubico`), each made (the key shown once) and revoked.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_core::ids::ApiClientId;
use keyward_core::mail::Mailer;
use keyward_core::store::Store;
use keyward_core::usecase;
use serde::Deserialize;

use super::{ClientOrigin, Member, SharedState, Visitor, notice_or_error};
use crate::errors::AppResult;
use crate::layout::{API_CLIENTS_PATH, Notice};
use crate::session::SessionForm;

pub struct ClientRow {
    pub id: i64,
    pub name: String,
    pub created: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/api_clients.html")]
struct ApiClientsPage {
    layout: crate::layout::Layout,
    csrf: String,
    clients: Vec<ClientRow>,
    /// The name and key of a client just made.
    new_key: Option<(String, String)>,
    yubico_clients: Vec<ClientRow>,
    /// The id and key of a Validation Protocol client just made.
    new_yubico: Option<(i64, String)>,
}

/// What a page shows once: a new client's key.
#[derive(Default)]
struct Shown {
    api: Option<(String, String)>,
    yubico: Option<(i64, String)>,
}

async fn render<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    notice: Option<Notice>,
    shown: Shown,
) -> AppResult<ApiClientsPage> {
    let clients = usecase::api_clients(&state.services, &visitor.user).await?;
    let yubico_clients = usecase::yubico_clients(&state.services, &visitor.user).await?;
    let mut layout = visitor.layout("API clients", API_CLIENTS_PATH);
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    Ok(ApiClientsPage {
        layout,
        csrf: visitor.csrf(),
        clients: clients
            .into_iter()
            .map(|client| ClientRow { id: client.id.0, name: client.name, created: client.created_at.date() })
            .collect(),
        new_key: shown.api,
        yubico_clients: yubico_clients
            .into_iter()
            .map(|client| ClientRow { id: client.id, name: client.name, created: client.created_at.date() })
            .collect(),
        new_yubico: shown.yubico,
    })
}

/// The page again, with what was refused (422).
async fn refused<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    failure: usecase::Failure,
) -> AppResult<Response> {
    let notice = notice_or_error(failure)?;
    let page = render(state, visitor, Some(notice), Shown::default()).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

pub async fn page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
) -> AppResult<Response> {
    Ok(render(&state, &visitor, None, Shown::default()).await?.into_response())
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
}

pub async fn create<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<CreateForm>,
) -> AppResult<Response> {
    match usecase::create_api_client(&state.services, &visitor.user, &form.name, &origin).await {
        Ok(made) => {
            let shown = Shown { api: Some((made.client.name, made.key.as_str().to_owned())), yubico: None };
            Ok(render(&state, &visitor, None, shown).await?.into_response())
        }
        Err(failure) => refused(&state, &visitor, failure).await,
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    id: i64,
}

pub async fn revoke<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<RevokeForm>,
) -> AppResult<Response> {
    usecase::revoke_api_client(&state.services, &visitor.user, ApiClientId(form.id), &origin).await?;
    let notice = Notice::success("The key was revoked: requests with it are refused from now on.");
    Ok(render(&state, &visitor, Some(notice), Shown::default()).await?.into_response())
}

pub async fn create_yubico<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<CreateForm>,
) -> AppResult<Response> {
    match usecase::create_yubico_client(&state.services, &visitor.user, &form.name, &origin).await {
        Ok((client, key)) => {
            let shown = Shown { api: None, yubico: Some((client.id, key.to_base64().to_string())) };
            Ok(render(&state, &visitor, None, shown).await?.into_response())
        }
        Err(failure) => refused(&state, &visitor, failure).await,
    }
}

pub async fn remove_yubico<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<RevokeForm>,
) -> AppResult<Response> {
    usecase::remove_yubico_client(&state.services, &visitor.user, form.id, &origin).await?;
    let notice = Notice::success("The client was removed: its requests are refused from now on.");
    Ok(render(&state, &visitor, Some(notice), Shown::default()).await?.into_response())
}
