//! Security keys and passkeys (WebAuthn) through webauthn-rs: the core's [`WebAuthn`] port. Nothing here
//! verifies a signature or parses an authenticator's data by hand; this crate only chooses the library's
//! policy and carries its values as text.
//!
//! The policy: user verification preferred (a PIN or a fingerprint where the authenticator has one; a
//! plain touch where it has not), no attestation asked for, the relying party id and the only accepted
//! origin taken from Keyward's public URL.

use keyward_core::ports::{Assertion, Ceremony, NewCredential, WebAuthn, WebAuthnError};
use webauthn_rs::prelude::{
    PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication,
    SecurityKeyRegistration, Url, Uuid, WebauthnError,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// The relying party: Keyward at its public URL, or why it cannot be one.
pub struct RelyingParty {
    webauthn: Result<Webauthn, String>,
}

impl RelyingParty {
    /// The relying party of `public_url` (scheme, host and port; the path is ignored): its host is the
    /// relying party id and the URL's origin the one origin accepted. An IP address cannot be a relying
    /// party id; every ceremony then answers [`WebAuthnError::Unavailable`] and the rest of Keyward works.
    pub fn for_public_url(public_url: &str, name: &str) -> RelyingParty {
        RelyingParty { webauthn: build(public_url, name) }
    }

    fn webauthn(&self) -> Result<&Webauthn, WebAuthnError> {
        self.webauthn.as_ref().map_err(|why| WebAuthnError::Unavailable(why.clone()))
    }
}

fn build(public_url: &str, name: &str) -> Result<Webauthn, String> {
    let url = Url::parse(public_url).map_err(|error| format!("{public_url} is not a URL ({error})"))?;
    let Some(host) = url.domain() else {
        return Err(format!("{public_url} names no domain (an IP address cannot be a relying party id)"));
    };
    let origin = Url::parse(&url.origin().ascii_serialization())
        .map_err(|error| format!("{public_url} has no web origin ({error})"))?;
    WebauthnBuilder::new(host, &origin)
        .and_then(|builder| builder.rp_name(name).build())
        .map_err(|error| format!("{public_url} cannot be a relying party ({error})"))
}

fn refused(error: WebauthnError) -> WebAuthnError {
    WebAuthnError::Refused(error.to_string())
}

fn corrupt(what: &str) -> impl Fn(serde_json::Error) -> WebAuthnError + '_ {
    move |error| WebAuthnError::Corrupt(format!("{what}: {error}"))
}

/// The registration options without the credProtect extension, which the library asks for only
/// opportunistically (not enforced): Chromium refuses the whole ceremony ("Requested protection policy is
/// inconsistent") when a credential protection policy comes with a discoverable credential that is not
/// required. Without it the authenticator applies its own default; the ceremony's checks are unchanged.
fn without_cred_protect(options: &str) -> Result<String, WebAuthnError> {
    let mut value: serde_json::Value =
        serde_json::from_str(options).map_err(|error| WebAuthnError::Corrupt(error.to_string()))?;
    if let Some(extensions) =
        value.pointer_mut("/publicKey/extensions").and_then(serde_json::Value::as_object_mut)
    {
        extensions.remove("credentialProtectionPolicy");
        extensions.remove("enforceCredentialProtectionPolicy");
    }
    to_json(&value)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, WebAuthnError> {
    serde_json::to_string(value).map_err(|error| WebAuthnError::Corrupt(error.to_string()))
}

impl WebAuthn for RelyingParty {
    fn start_registration(
        &self,
        user_handle: [u8; 16],
        user_name: &str,
        exclude: &[Vec<u8>],
    ) -> Result<Ceremony, WebAuthnError> {
        let exclude = exclude.to_vec();
        let (options, state) = self
            .webauthn()?
            .start_securitykey_registration(
                Uuid::from_bytes(user_handle),
                user_name,
                user_name,
                Some(exclude),
                None,
                None,
            )
            .map_err(refused)?;
        Ok(Ceremony { options: without_cred_protect(&to_json(&options)?)?, state: to_json(&state)? })
    }

    fn finish_registration(&self, state: &str, response: &str) -> Result<NewCredential, WebAuthnError> {
        let state: SecurityKeyRegistration =
            serde_json::from_str(state).map_err(corrupt("registration state"))?;
        let response: RegisterPublicKeyCredential = serde_json::from_str(response)
            .map_err(|error| WebAuthnError::Refused(format!("not a registration response ({error})")))?;
        let key = self.webauthn()?.finish_securitykey_registration(&response, &state).map_err(refused)?;
        let id = key.cred_id().to_vec();
        // The counter at registration, read back from what the library stores.
        let stored = to_json(&key)?;
        let counter = serde_json::from_str::<serde_json::Value>(&stored)
            .ok()
            .and_then(|value| value.pointer("/cred/counter").and_then(serde_json::Value::as_u64))
            .and_then(|counter| u32::try_from(counter).ok())
            .unwrap_or(0);
        Ok(NewCredential { id, stored, counter })
    }

    fn start_authentication(&self, credentials: &[String]) -> Result<Ceremony, WebAuthnError> {
        let keys = credentials
            .iter()
            .map(|stored| serde_json::from_str::<SecurityKey>(stored).map_err(corrupt("security key")))
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = self.webauthn()?.start_securitykey_authentication(&keys).map_err(refused)?;
        Ok(Ceremony { options: to_json(&options)?, state: to_json(&state)? })
    }

    fn finish_authentication(&self, state: &str, response: &str) -> Result<Assertion, WebAuthnError> {
        let state: SecurityKeyAuthentication =
            serde_json::from_str(state).map_err(corrupt("authentication state"))?;
        let response: PublicKeyCredential = serde_json::from_str(response)
            .map_err(|error| WebAuthnError::Refused(format!("not an assertion ({error})")))?;
        match self.webauthn()?.finish_securitykey_authentication(&response, &state) {
            Ok(result) => {
                Ok(Assertion { credential_id: result.cred_id().to_vec(), counter: result.counter() })
            }
            Err(WebauthnError::CredentialPossibleCompromise) => {
                Err(WebAuthnError::CounterRegressed { credential_id: response.raw_id.clone() })
            }
            Err(error) => Err(refused(error)),
        }
    }
}

/// A software authenticator for tests (webauthn-authenticator-rs's soft passkey, a P-256 key per
/// credential in memory): it answers the options Keyward sends with what a browser would post back.
#[cfg(feature = "soft-authenticator")]
pub mod soft {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

    /// One authenticator; its signature counter rises with every assertion, over all its credentials.
    pub struct SoftAuthenticator(SoftPasskey);

    impl Default for SoftAuthenticator {
        fn default() -> SoftAuthenticator {
            // `true`: it reports the user as verified, as a key with a PIN does.
            SoftAuthenticator(SoftPasskey::new(true))
        }
    }

    impl SoftAuthenticator {
        /// The browser's answer (JSON) to registration options (JSON), as if the page were at `origin`.
        pub fn register(&mut self, origin: &str, options: &str) -> Result<String, String> {
            let options: CreationChallengeResponse =
                serde_json::from_str(options).map_err(|e| e.to_string())?;
            let origin = Url::parse(origin).map_err(|e| e.to_string())?;
            let answer = self.0.do_registration(origin, options).map_err(|e| format!("{e:?}"))?;
            serde_json::to_string(&answer).map_err(|e| e.to_string())
        }

        /// The browser's assertion (JSON) for authentication options (JSON), as if the page were at `origin`.
        pub fn authenticate(&mut self, origin: &str, options: &str) -> Result<String, String> {
            let options: RequestChallengeResponse =
                serde_json::from_str(options).map_err(|e| e.to_string())?;
            let origin = Url::parse(origin).map_err(|e| e.to_string())?;
            let answer = self.0.do_authentication(origin, options).map_err(|e| format!("{e:?}"))?;
            serde_json::to_string(&answer).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
#[cfg(feature = "soft-authenticator")]
mod tests {
    use super::soft::SoftAuthenticator;
    use super::*;

    const ORIGIN: &str = "http://localhost:8080";

    fn registered(party: &RelyingParty, key: &mut SoftAuthenticator) -> NewCredential {
        let ceremony = party.start_registration([7; 16], "bob@example.com", &[]).expect("start");
        let answer = key.register(ORIGIN, &ceremony.options).expect("the soft key answers");
        party.finish_registration(&ceremony.state, &answer).expect("registered")
    }

    #[test]
    fn a_registered_key_signs_in_and_its_counter_rises() {
        let party = RelyingParty::for_public_url("http://localhost:8080/", "Keyward");
        let mut key = SoftAuthenticator::default();
        let credential = registered(&party, &mut key);
        let options: serde_json::Value = serde_json::from_str(
            &party
                .start_registration([7; 16], "bob@example.com", std::slice::from_ref(&credential.id))
                .unwrap()
                .options,
        )
        .unwrap();
        assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
        assert_eq!(options["publicKey"]["authenticatorSelection"]["userVerification"], "preferred");
        assert_eq!(options["publicKey"]["attestation"], "none");
        assert_eq!(options["publicKey"]["excludeCredentials"].as_array().map(Vec::len), Some(1));
        assert!(options["publicKey"]["extensions"].get("credentialProtectionPolicy").is_none());

        let mut counters = Vec::new();
        for _ in 0..2 {
            let ceremony = party.start_authentication(std::slice::from_ref(&credential.stored)).unwrap();
            let answer = key.authenticate(ORIGIN, &ceremony.options).unwrap();
            let assertion = party.finish_authentication(&ceremony.state, &answer).expect("verified");
            assert_eq!(assertion.credential_id, credential.id);
            counters.push(assertion.counter);
        }
        assert!(counters[1] > counters[0], "{counters:?}");
    }

    #[test]
    fn another_origin_or_a_changed_answer_is_refused() {
        let party = RelyingParty::for_public_url("http://localhost:8080", "Keyward");
        let mut key = SoftAuthenticator::default();
        let credential = registered(&party, &mut key);
        let ceremony = party.start_authentication(std::slice::from_ref(&credential.stored)).unwrap();
        let phished = key.authenticate("http://localhost:9090", &ceremony.options).unwrap();
        assert!(matches!(
            party.finish_authentication(&ceremony.state, &phished),
            Err(WebAuthnError::Refused(_))
        ));

        let other = party.start_authentication(std::slice::from_ref(&credential.stored)).unwrap();
        let answer = key.authenticate(ORIGIN, &other.options).unwrap();
        // The answer to one challenge does not finish another ceremony.
        assert!(matches!(
            party.finish_authentication(&ceremony.state, &answer),
            Err(WebAuthnError::Refused(_))
        ));
        assert!(matches!(party.finish_authentication(&ceremony.state, "{}"), Err(WebAuthnError::Refused(_))));
        assert!(matches!(party.finish_authentication("nonsense", &answer), Err(WebAuthnError::Corrupt(_))));
    }

    #[test]
    fn an_ip_address_cannot_be_a_relying_party() {
        let party = RelyingParty::for_public_url("http://127.0.0.1:8080", "Keyward");
        assert!(matches!(
            party.start_registration([1; 16], "a@example.com", &[]),
            Err(WebAuthnError::Unavailable(_))
        ));
        assert!(matches!(party.start_authentication(&[]), Err(WebAuthnError::Unavailable(_))));
    }
}
