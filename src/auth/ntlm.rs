//! NTLM sign-in, bound to its connection as on a Windows server (issue 18).
//!
//! A client sends NEGOTIATE (Type 1); the answer is a 401 carrying CHALLENGE (Type 2); the client
//! answers with AUTHENTICATE (Type 3) on the same connection, and from then on that connection is
//! signed in: a request on it without an `Authorization` field runs as that user.
//!
//! Who does what (no message layout, hash or MAC is written here):
//! - `sspi` (Devolutions) reads NEGOTIATE, writes CHALLENGE with its target information and
//!   timestamp, reads AUTHENTICATE only after its CHALLENGE, and checks the MIC when a client sends
//!   one (Windows clients do).
//! - `sspi`'s acceptor does not compare the NTLMv2 proof when no MIC comes (sspi-rs#172, open;
//!   curl sends none), so the proof is checked here as well: `ntlmclient`'s parser reads
//!   AUTHENTICATE's fields, its NTOWFv2 derives the user's key from the password, and `hmac`
//!   recomputes the proof over the server's challenge and the client's blob and compares it in
//!   constant time.
//!
//! NTLMv2 only: an NTLMv1 or LM answer (a 24-byte response) is refused. Every refusal leaves the
//! connection signed out with no handshake under way, so a replayed or out-of-order message can
//! never complete one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use md5::Md5;
use sspi::{
    AuthIdentity, AuthIdentityBuffers, BufferType, DataRepresentation, Secret, SecurityBuffer,
    SecurityStatus, ServerRequestFlags, Sspi, SspiImpl, Username,
};

use super::{Caller, Users};

/// The longest token taken, in base64 characters. Clients' messages are a few hundred bytes; a
/// Windows AUTHENTICATE with a long target list stays well under 2 KiB.
pub const MAX_TOKEN_CHARS: usize = 4096;

/// How long a CHALLENGE waits for its AUTHENTICATE.
pub const HANDSHAKE_TTL: Duration = Duration::from_secs(30);

/// One connection's NTLM state. Requests on an HTTP/1.1 connection come one at a time, so the
/// lock is never contended; it is there because the connection's requests may run on any thread.
#[derive(Default)]
pub struct Slot(Mutex<State>);

#[derive(Default)]
enum State {
    #[default]
    Idle,
    Challenged(Box<Pending>),
    SignedIn(Caller),
}

/// A CHALLENGE sent, waiting for its AUTHENTICATE.
struct Pending {
    context: sspi::Ntlm,
    /// The 8 bytes the proof is computed over, as read back from the CHALLENGE sent.
    server_challenge: [u8; 8],
    since: Instant,
}

/// What a token leads to.
#[derive(Debug)]
pub enum Step {
    /// Answer 401 with this CHALLENGE (base64) and wait for AUTHENTICATE on this connection.
    Challenge(String),
    /// The handshake is done: this connection is signed in as this user.
    SignedIn(Caller),
}

impl Slot {
    /// The user this connection signed in as, if it did.
    pub fn signed_in(&self) -> Option<Caller> {
        match &*self.lock() {
            State::SignedIn(caller) => Some(caller.clone()),
            _ => None,
        }
    }

    /// Take one NTLM token (decoded from base64) of this connection's handshake. The error is
    /// what the client is told, with a 401.
    pub fn step(
        &self,
        token: &[u8],
        users: &Users,
        domain: Option<&str>,
        now: Instant,
    ) -> Result<Step, String> {
        let mut state = self.lock();
        // Whatever happens below, the handshake under way (if any) is used up.
        let previous = std::mem::take(&mut *state);
        match ntlmclient::Message::try_from(token) {
            Ok(ntlmclient::Message::Authenticate(message)) => {
                let State::Challenged(pending) = previous else {
                    return Err("NTLM AUTHENTICATE without a CHALLENGE on this connection: send NEGOTIATE first, on the same kept-alive connection".into());
                };
                if now.duration_since(pending.since) > HANDSHAKE_TTL {
                    return Err(format!(
                        "the NTLM handshake on this connection expired (more than {} s between CHALLENGE and AUTHENTICATE); start again",
                        HANDSHAKE_TTL.as_secs()
                    ));
                }
                let caller = authenticate(*pending, token, &message, users, domain)?;
                *state = State::SignedIn(caller.clone());
                Ok(Step::SignedIn(caller))
            }
            _ => {
                let (context, challenge, server_challenge) = negotiate(token)?;
                *state = State::Challenged(Box::new(Pending {
                    context,
                    server_challenge,
                    since: now,
                }));
                Ok(Step::Challenge(challenge))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-made state (each arm assigns a
        // whole one), so a poisoned lock is still good.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// NEGOTIATE in; the context waiting for AUTHENTICATE, the CHALLENGE (base64) and its server
/// challenge out.
fn negotiate(token: &[u8]) -> Result<(sspi::Ntlm, String, [u8; 8]), String> {
    let refused = |why: String| format!("the NTLM NEGOTIATE message was refused: {why}");
    let mut token = token.to_vec();
    offer_unicode(&mut token);
    let mut context = sspi::Ntlm::new();
    let mut input = [SecurityBuffer::new(token, BufferType::Token)];
    let mut output = [SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let mut no_credentials: Option<AuthIdentityBuffers> = None;
    let builder = context
        .accept_security_context()
        .with_credentials_handle(&mut no_credentials)
        .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
        .with_target_data_representation(DataRepresentation::Native)
        .with_input(&mut input)
        .with_output(&mut output);
    let result = context
        .accept_security_context_impl(builder)
        .and_then(|mut generator| generator.resolve_to_result())
        .map_err(|e| refused(e.to_string()))?;
    if result.status != SecurityStatus::ContinueNeeded {
        return Err(refused(format!("unexpected status {:?}", result.status)));
    }
    let [challenge] = output;
    let challenge = challenge.buffer;
    let Ok(ntlmclient::Message::Challenge(written)) = ntlmclient::Message::try_from(&challenge[..])
    else {
        return Err(refused("no CHALLENGE came of it".into()));
    };
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&challenge);
    Ok((context, encoded, written.challenge))
}

/// curl's NEGOTIATE offers OEM (8-bit) strings only, and `sspi` answers only clients that offer
/// Unicode. Every client that reads a CHALLENGE's flags (curl does) follows the Unicode the
/// CHALLENGE then chooses, so the offer is added. The flags are the 32-bit little-endian field
/// after the 8-byte signature and the 4-byte message type; a client that sends a MIC offers
/// Unicode already, so its NEGOTIATE (which the MIC covers) is never changed.
fn offer_unicode(token: &mut [u8]) {
    const FLAGS_AT: usize = 12;
    if let Some(flags) = token.get_mut(FLAGS_AT) {
        *flags |= ntlmclient::Flags::NEGOTIATE_UNICODE.bits() as u8;
    }
}

/// AUTHENTICATE in (as bytes for `sspi`, and as read by `ntlmclient`); the user out, or why not.
fn authenticate(
    mut pending: Pending,
    token: &[u8],
    message: &ntlmclient::AuthenticateMessage,
    users: &Users,
    domain: Option<&str>,
) -> Result<Caller, String> {
    const WRONG: &str = "NTLM sign-in failed: unknown user name or bad password";
    let response = &message.ntlm_response;
    // An NTLMv2 response is a 16-byte proof and a blob of at least 28 bytes; NTLMv1's is 24
    // bytes, and an LM-only or anonymous AUTHENTICATE has none.
    const PROOF: usize = 16;
    if response.len() <= 24 {
        return Err(
            "NTLMv1 and LM are refused; the client must answer with NTLMv2 (on Windows, LAN Manager authentication level 3 or more)"
                .into(),
        );
    }
    let (account, given_domain) = account_and_domain(&message.user_name, &message.domain_name);
    if let Some(required) = domain
        && !given_domain.eq_ignore_ascii_case(required)
    {
        return Err(format!(
            "NTLM sign-in failed: this server takes accounts of the domain {required}, not {given_domain:?}"
        ));
    }
    let (caller, password) = users.ntlm_account(account).ok_or(WRONG)?;

    // sspi: AUTHENTICATE follows its CHALLENGE, its fields agree, and its MIC (if any) is right.
    let username = Username::new(&caller.user, None).map_err(|_| WRONG)?;
    let identity: AuthIdentityBuffers = AuthIdentity {
        username,
        password: Secret::new(password.to_owned()),
    }
    .into();
    let mut credentials = Some(identity);
    let mut input = [SecurityBuffer::new(token.to_vec(), BufferType::Token)];
    let mut output = [SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let context = &mut pending.context;
    let builder = context
        .accept_security_context()
        .with_credentials_handle(&mut credentials)
        .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
        .with_target_data_representation(DataRepresentation::Native)
        .with_input(&mut input)
        .with_output(&mut output);
    context
        .accept_security_context_impl(builder)
        .and_then(|mut generator| generator.resolve_to_result())
        .and_then(|_| context.complete_auth_token(&mut output))
        .map_err(|e| match e.error_type {
            // The MIC did not match this password's key.
            sspi::ErrorKind::LogonDenied | sspi::ErrorKind::MessageAltered => WRONG.to_owned(),
            _ => format!("the NTLM AUTHENTICATE message was refused: {e}"),
        })?;

    // The NTLMv2 proof, over the names as the client sent them (NTOWFv2 takes the user name in
    // capitals and the domain as given).
    let key = ntlmclient::ntlm_v2_password_func(&ntlmclient::Credentials {
        username: message.user_name.clone(),
        password: password.to_owned(),
        domain: message.domain_name.clone(),
    });
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(&key).map_err(|_| WRONG)?;
    mac.update(&pending.server_challenge);
    mac.update(&response[PROOF..]);
    mac.verify_slice(&response[..PROOF]).map_err(|_| WRONG)?;
    Ok(caller)
}

/// The account and the domain a sign-in names: `user` with the domain field, or `user@domain`
/// in the user field with none (as Windows sends a UPN).
fn account_and_domain<'a>(user: &'a str, domain: &'a str) -> (&'a str, &'a str) {
    match user.rsplit_once('@') {
        Some((account, upn_domain)) if domain.is_empty() => (account, upn_domain),
        _ => (user, domain),
    }
}

#[cfg(test)]
mod tests {
    //! The handshake's states, driven by messages a client library makes (ntlmclient's, as a
    //! Windows client would send them) and by curl's NEGOTIATE, recorded.
    use super::*;
    use crate::config::Config;
    use base64::Engine;

    fn users() -> Users {
        let mut config = Config::for_data_dir("/tmp/x", "/tmp/y");
        config.operator_password = Some("op-secret".into());
        Users::from_config(&config)
    }

    /// curl 8's NEGOTIATE for `curl --ntlm` (OEM strings only, no version), recorded.
    const CURL_NEGOTIATE: &str = "TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA=";

    fn b64(text: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }

    /// A client's answer to `challenge` (base64), with these names, as ntlmclient makes it.
    fn answer(challenge: &str, user: &str, domain: &str, password: &str) -> Vec<u8> {
        let Ok(ntlmclient::Message::Challenge(challenge)) =
            ntlmclient::Message::try_from(&b64(challenge)[..])
        else {
            panic!("not a CHALLENGE");
        };
        let target_info: Vec<u8> = challenge
            .target_information
            .iter()
            .flat_map(|entry| entry.to_bytes())
            .collect();
        let credentials = ntlmclient::Credentials {
            username: user.into(),
            password: password.into(),
            domain: domain.into(),
        };
        let response = ntlmclient::respond_challenge_ntlm_v2(
            challenge.challenge,
            &target_info,
            ntlmclient::get_ntlm_time(),
            &credentials,
        );
        authenticate_message(response, &credentials)
    }

    /// AUTHENTICATE carrying `response`, without key exchange (as curl sends it).
    fn authenticate_message(
        mut response: ntlmclient::ChallengeResponse,
        credentials: &ntlmclient::Credentials,
    ) -> Vec<u8> {
        response.session_key.clear();
        let flags = ntlmclient::Flags::NEGOTIATE_UNICODE | ntlmclient::Flags::NEGOTIATE_NTLM;
        response
            .to_message(credentials, "WORKSTATION", flags)
            .to_bytes()
            .unwrap()
    }

    fn challenge_of(slot: &Slot) -> String {
        match slot.step(&b64(CURL_NEGOTIATE), &users(), None, Instant::now()) {
            Ok(Step::Challenge(challenge)) => challenge,
            other => panic!("expected a CHALLENGE, got {other:?}"),
        }
    }

    #[test]
    fn the_right_password_signs_the_connection_in() {
        let slot = Slot::default();
        let challenge = challenge_of(&slot);
        let caller = slot
            .step(
                &answer(&challenge, "Administrator", "", "platespin"),
                &users(),
                None,
                Instant::now(),
            )
            .unwrap();
        assert!(matches!(caller, Step::SignedIn(ref c) if c.user == "administrator"));
        assert_eq!(slot.signed_in().unwrap().user, "administrator");
    }

    #[test]
    fn domain_forms_are_accepted_and_the_domain_ignored_unless_required() {
        for (user, domain) in [
            ("operator", "LAB"),
            ("operator@lab.example", ""),
            ("OPERATOR", "anything"),
        ] {
            let slot = Slot::default();
            let challenge = challenge_of(&slot);
            let step = slot.step(
                &answer(&challenge, user, domain, "op-secret"),
                &users(),
                None,
                Instant::now(),
            );
            assert!(
                matches!(step, Ok(Step::SignedIn(ref c)) if c.user == "operator"),
                "{user} {domain}: {step:?}"
            );
        }
        let slot = Slot::default();
        let challenge = challenge_of(&slot);
        let refused = slot
            .step(
                &answer(&challenge, "operator", "OTHER", "op-secret"),
                &users(),
                Some("LAB"),
                Instant::now(),
            )
            .unwrap_err();
        assert!(refused.contains("domain LAB"), "{refused}");
        let slot = Slot::default();
        let challenge = challenge_of(&slot);
        let step = slot.step(
            &answer(&challenge, "operator@lab", "", "op-secret"),
            &users(),
            Some("LAB"),
            Instant::now(),
        );
        assert!(matches!(step, Ok(Step::SignedIn(_))), "{step:?}");
    }

    #[test]
    fn a_wrong_password_or_unknown_user_is_refused() {
        for (user, password) in [("administrator", "wrong"), ("nobody", "platespin")] {
            let slot = Slot::default();
            let challenge = challenge_of(&slot);
            let refused = slot
                .step(
                    &answer(&challenge, user, "", password),
                    &users(),
                    None,
                    Instant::now(),
                )
                .unwrap_err();
            assert!(refused.contains("bad password"), "{refused}");
            assert!(slot.signed_in().is_none());
        }
    }

    #[test]
    fn an_answer_is_good_for_its_own_challenge_only() {
        // Replayed on another connection (another challenge), or twice on the same one.
        let first = Slot::default();
        let answer_one = answer(&challenge_of(&first), "administrator", "", "platespin");
        let second = Slot::default();
        challenge_of(&second);
        assert!(
            second
                .step(&answer_one, &users(), None, Instant::now())
                .is_err()
        );
        assert!(
            first
                .step(&answer_one, &users(), None, Instant::now())
                .is_ok()
        );
        let again = first
            .step(&answer_one, &users(), None, Instant::now())
            .unwrap_err();
        assert!(again.contains("without a CHALLENGE"), "{again}");
        assert!(
            first.signed_in().is_none(),
            "a refusal signs the connection out"
        );
    }

    #[test]
    fn out_of_order_expired_malformed_and_ntlmv1_messages_are_refused() {
        // AUTHENTICATE first.
        let elsewhere = Slot::default();
        let early = answer(&challenge_of(&elsewhere), "administrator", "", "platespin");
        let refused = Slot::default()
            .step(&early, &users(), None, Instant::now())
            .unwrap_err();
        assert!(refused.contains("NEGOTIATE first"), "{refused}");

        // Too late.
        let slot = Slot::default();
        let late = answer(&challenge_of(&slot), "administrator", "", "platespin");
        let refused = slot
            .step(
                &late,
                &users(),
                None,
                Instant::now() + HANDSHAKE_TTL + Duration::from_secs(1),
            )
            .unwrap_err();
        assert!(refused.contains("expired"), "{refused}");

        // Garbage, truncations of each message, and NTLMv1.
        let mut garbage: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"NTLMSSP\0".to_vec(),
            vec![0xff; 64],
            b"NTLMSSP\0\x02\0\0\0".to_vec(),
        ];
        let negotiate = b64(CURL_NEGOTIATE);
        garbage.extend((0..negotiate.len()).map(|n| negotiate[..n].to_vec()));
        for message in &garbage {
            assert!(
                Slot::default()
                    .step(message, &users(), None, Instant::now())
                    .is_err(),
                "{message:?}"
            );
        }
        let slot = Slot::default();
        let full = answer(&challenge_of(&slot), "administrator", "", "platespin");
        for n in (0..full.len()).step_by(7) {
            let slot = Slot::default();
            challenge_of(&slot);
            let _ = slot.step(&full[..n], &users(), None, Instant::now());
            assert!(slot.signed_in().is_none(), "truncated at {n}");
        }
        let slot = Slot::default();
        challenge_of(&slot);
        let credentials = ntlmclient::Credentials {
            username: "administrator".into(),
            password: "platespin".into(),
            domain: String::new(),
        };
        // An NTLMv1 answer's shape: 24-byte LM and NT responses (their values do not matter, the
        // shape alone is refused).
        let v1 = authenticate_message(
            ntlmclient::ChallengeResponse {
                lm_response: vec![0x11; 24],
                ntlm_response: vec![0x22; 24],
                session_key: Vec::new(),
            },
            &credentials,
        );
        let refused = slot.step(&v1, &users(), None, Instant::now()).unwrap_err();
        assert!(refused.contains("NTLMv1"), "{refused}");
    }

    #[test]
    fn the_challenge_offers_what_a_windows_server_does() {
        let Ok(ntlmclient::Message::Challenge(sent)) =
            ntlmclient::Message::try_from(&b64(&challenge_of(&Slot::default()))[..])
        else {
            panic!("not a CHALLENGE")
        };
        assert!(sent.flags.contains(ntlmclient::Flags::NEGOTIATE_UNICODE));
        assert!(
            sent.flags
                .contains(ntlmclient::Flags::NEGOTIATE_TARGET_INFO)
        );
        // The target information carries a timestamp: the client then answers with NTLMv2.
        assert!(
            sent.target_information
                .iter()
                .any(|e| e.entry_type == ntlmclient::TargetInfoType::Timestamp)
        );
        // A fresh challenge each time.
        let again = ntlmclient::Message::try_from(&b64(&challenge_of(&Slot::default()))[..]);
        assert!(
            matches!(again, Ok(ntlmclient::Message::Challenge(c)) if c.challenge != sent.challenge)
        );
    }
}
