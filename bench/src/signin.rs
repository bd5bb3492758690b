//! Polling over signed-in keep-alive connections, NTLM against Basic (issue 18): each of `conns`
//! connections signs in once (NTLM: NEGOTIATE, CHALLENGE, AUTHENTICATE, made by `ntlmclient`,
//! then no `Authorization` on later requests, as the connection stays signed in) or sends Basic
//! on every request, and polls `URL` closed-loop for `secs`. The same client for both, so the
//! ratio is the server's.

use std::time::{Duration, Instant};

use base64::Engine;

use crate::Result;
use crate::http::{Conn, Target};

pub fn run(
    url: &str,
    scheme: &str,
    user: &str,
    password: &str,
    secs: Duration,
    conns: usize,
) -> Result<()> {
    let target = std::sync::Arc::new(Target::parse(url)?);
    let basic = format!(
        "Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let ntlm = match scheme {
        "ntlm" => true,
        "basic" => false,
        other => return Err(format!("--auth {other}: ntlm or basic").into()),
    };
    let deadline = Instant::now() + secs;
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let target = target.clone();
            let (user, password, basic) = (user.to_owned(), password.to_owned(), basic.clone());
            std::thread::spawn(move || -> Result<(Vec<Duration>, u64)> {
                let mut conn = Conn::open(&target)?;
                let headers = if ntlm {
                    sign_in(&mut conn, &target.path, &user, &password)?;
                    Vec::new()
                } else {
                    vec![basic]
                };
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match conn.request("GET", &target.path, &headers) {
                        Ok(r) if r.status == 200 => latencies.push(sent.elapsed()),
                        _ => errors += 1,
                    }
                }
                Ok((latencies, errors))
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in threads {
        let (l, e) = t.join().map_err(|_| "a client thread panicked")??;
        all.extend(l);
        errors += e;
    }
    all.sort();
    let p99 = all
        .get(((all.len() as f64 * 0.99).ceil() as usize).saturating_sub(1))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    println!(
        "auth={scheme} requests={} errors={errors} rps={:.0} p99_ms={p99:.3}",
        all.len(),
        all.len() as f64 / secs.as_secs_f64()
    );
    Ok(())
}

/// The NTLM handshake on `conn`, as a Windows client makes it.
fn sign_in(conn: &mut Conn, path: &str, user: &str, password: &str) -> Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let flags = ntlmclient::Flags::NEGOTIATE_UNICODE
        | ntlmclient::Flags::REQUEST_TARGET
        | ntlmclient::Flags::NEGOTIATE_NTLM
        | ntlmclient::Flags::NEGOTIATE_ALWAYS_SIGN;
    let negotiate = ntlmclient::Message::Negotiate(ntlmclient::NegotiateMessage {
        flags,
        supplied_domain: String::new(),
        supplied_workstation: String::new(),
        os_version: Default::default(),
    })
    .to_bytes()?;
    let answer = conn.request(
        "GET",
        path,
        &[format!("Authorization: NTLM {}", b64.encode(negotiate))],
    )?;
    let challenge = answer
        .header("www-authenticate")
        .and_then(|v| v.strip_prefix("NTLM "))
        .ok_or(format!("no NTLM challenge (status {})", answer.status))?;
    let Ok(ntlmclient::Message::Challenge(challenge)) =
        ntlmclient::Message::try_from(&b64.decode(challenge)?[..])
    else {
        return Err("not an NTLM CHALLENGE".into());
    };
    let target_info: Vec<u8> = challenge
        .target_information
        .iter()
        .flat_map(|e| e.to_bytes())
        .collect();
    let credentials = ntlmclient::Credentials {
        username: user.to_owned(),
        password: password.to_owned(),
        domain: String::new(),
    };
    let mut response = ntlmclient::respond_challenge_ntlm_v2(
        challenge.challenge,
        &target_info,
        ntlmclient::get_ntlm_time(),
        &credentials,
    );
    // No key exchange (as curl): the session key field stays empty.
    response.session_key.clear();
    let authenticate = response
        .to_message(&credentials, "PSBENCH", flags)
        .to_bytes()?;
    let signed = conn.request(
        "GET",
        path,
        &[format!("Authorization: NTLM {}", b64.encode(authenticate))],
    )?;
    if signed.status != 200 {
        return Err(format!("NTLM sign-in answered {}", signed.status).into());
    }
    Ok(())
}
