//! NTLM sign-in with a real client, curl (issue 18): the API and the pages, reads and writes,
//! as a client written for the real server signs in. The product's documentation says the
//! Migrate API authenticates with NTLM, as the Web Interface does
//! (https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-about.html, "Authentication").
//! The handshake's states are unit-tested in `src/auth/ntlm.rs`.

use std::process::{Command, Output};

use crate::common::Server;

/// curl, or `None` (and why) where it is missing: `.ci/run` installs it.
fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl runs (.ci/run installs it)")
}

/// The status curl ended on, and the body.
fn status_and_body(args: &[&str]) -> (u16, String) {
    let mut all = vec!["--write-out", "\n%{http_code}"];
    all.extend_from_slice(args);
    let out = curl(&all);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        status.trim().parse().unwrap_or_else(|_| {
            panic!(
                "curl {args:?}: no status; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        }),
        body.to_owned(),
    )
}

fn server() -> Server {
    Server::start(&["--operator-password", "op-secret"])
}

#[test]
fn curl_ntlm_signs_in_to_the_api_and_a_wrong_password_gets_401() {
    let server = server();
    let root = server.api("");
    let (status, body) = status_and_body(&["--ntlm", "-u", "administrator:platespin", &root]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"apiVersion\""), "{body}");

    for user in [
        "administrator:wrong",
        "nobody:platespin",
        "operator:platespin",
    ] {
        let (status, body) = status_and_body(&["--ntlm", "-u", user, &root]);
        assert_eq!(status, 401, "{user}: {body}");
        assert!(body.contains("bad password"), "{user}: {body}");
    }
}

#[test]
fn curl_anyauth_picks_ntlm_and_writes_through_the_api_as_a_domain_user() {
    let server = server();
    // Unsigned, the 401 offers NTLM and Basic, each in its own field.
    let out = curl(&["--include", &server.api("/sources")]);
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.contains("www-authenticate: ntlm\r\n"), "{head}");
    assert!(head.contains("www-authenticate: basic realm="), "{head}");

    let body = r#"{"hostName":"WIN-NTLM01","osFamily":"windows","platform":"windows-x64","ipAddress":"10.0.0.21"}"#;
    for (user, host) in [
        (r"LAB\operator:op-secret", "WIN-NTLM01"),
        ("operator@lab.example:op-secret", "WIN-NTLM02"),
    ] {
        let body = body.replace("WIN-NTLM01", host);
        let out = curl(&[
            "--anyauth",
            "--verbose",
            "-u",
            user,
            "-H",
            "content-type: application/json",
            "--data",
            &body,
            "--write-out",
            "\n%{http_code}",
            &server.api("/sources"),
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.ends_with("\n201"), "{user}: {text}");
        let trace = String::from_utf8_lossy(&out.stderr);
        assert!(
            trace.contains("Authorization: NTLM "),
            "curl used NTLM: {trace}"
        );
        assert!(
            !trace.contains("Authorization: Basic"),
            "not Basic: {trace}"
        );
    }
    let (status, list) = status_and_body(&[
        "--ntlm",
        "-u",
        "administrator:platespin",
        &server.api("/sources"),
    ]);
    assert_eq!(status, 200);
    assert!(
        list.contains("WIN-NTLM01") && list.contains("WIN-NTLM02"),
        "{list}"
    );
}

#[test]
fn the_signed_in_user_stays_with_the_kept_alive_connection_only() {
    let server = server();
    let root = server.api("");
    // Two requests in one curl run share the connection: the second sends no credentials.
    let out = curl(&[
        "--ntlm",
        "--verbose",
        "-u",
        "operator:op-secret",
        "--output",
        "/dev/null",
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code} %{num_connects}\n",
        &root,
        &server.api("/sources"),
    ]);
    let trace = String::from_utf8_lossy(&out.stderr);
    let statuses = String::from_utf8_lossy(&out.stdout);
    assert_eq!(statuses, "200 1\n200 0\n", "{trace}");
    assert_eq!(
        trace.matches("Authorization: NTLM").count(),
        2,
        "one handshake for both requests: {trace}"
    );
    // A new connection is not signed in.
    let (status, _) = status_and_body(&[&root]);
    assert_eq!(status, 401);
}

#[test]
fn curl_ntlm_reads_and_writes_the_pages() {
    let server = server();
    let admin = ["--ntlm", "-u", "administrator:platespin"];
    let (status, body) = status_and_body(&[
        admin[0],
        admin[1],
        admin[2],
        "-H",
        "content-type: application/json",
        "--data",
        r#"{"hostName":"WIN-PAGES01","osFamily":"windows","platform":"windows-x64","ipAddress":"10.0.0.22"}"#,
        &server.api("/sources"),
    ]);
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let page_url = server.url(&format!("/migrate/workloads/{id}"));
    let (status, page) = status_and_body(&[admin[0], admin[1], admin[2], &page_url]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("WIN-PAGES01"));
    let token = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's form carries its token")
        .to_owned();

    // The page's Configure button, posted over NTLM: it redirects, and the workload is
    // configured.
    let origin = format!("Origin: {}", server.url(""));
    let (status, _) = status_and_body(&[
        admin[0],
        admin[1],
        admin[2],
        "-H",
        &origin,
        "--data-urlencode",
        &format!("csrf={token}"),
        "--data-urlencode",
        "operation=Configure",
        &server.url(&format!("/migrate/workloads/{id}/operations")),
    ]);
    assert_eq!(status, 303);
    let (_, source) = status_and_body(&[
        admin[0],
        admin[1],
        admin[2],
        &server.api(&format!("/sources/{id}")),
    ]);
    assert!(!source.contains("\"notConfigured\""), "{source}");

    // The pages' 401 offers NTLM too.
    let out = curl(&["--include", &server.url("/migrate/")]);
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("www-authenticate: ntlm\r\n"), "{head}");
}

#[test]
fn bad_ntlm_messages_over_the_wire_get_401() {
    let server = server();
    let root = server.api("");
    let long = format!("Authorization: NTLM {}", "A".repeat(5000));
    for header in [
        "Authorization: NTLM",
        "Authorization: NTLM !!!",
        "Authorization: NTLM TlRMTVNTUAAB",
        "Authorization: NTLM TlRMTVNTUAADAAAA",
        // SPNEGO (Kerberos) in Negotiate: not spoken here.
        "Authorization: Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg",
        long.as_str(),
    ] {
        let (status, body) = status_and_body(&["-H", header, &root]);
        assert_eq!(status, 401, "{header}: {body}");
        assert!(body.contains("\"Unauthorized\""), "{header}: {body}");
    }
}

/// Python's `requests_ntlm` (pyspnego underneath), as scripts written for the real server use
/// it: it sends a MIC over the three messages, as Windows clients do, so the MIC's check is
/// exercised too. `.ci/run` installs it into `.ci/venv-clients`; elsewhere the test says so and
/// passes without it.
#[test]
fn python_requests_ntlm_signs_in_and_writes() {
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv-clients/bin/python");
    if !python.exists() {
        eprintln!("skipped: no {} (.ci/run makes it)", python.display());
        return;
    }
    let server = server();
    let script = r#"
import sys, requests, requests_ntlm
base = sys.argv[1]
s = requests.Session()
s.auth = requests_ntlm.HttpNtlmAuth('LAB\\operator', 'op-secret')
r = s.get(base)
assert r.status_code == 200, (r.status_code, r.text)
r = s.post(base + '/sources', json={"hostName": "WIN-PY01", "osFamily": "windows",
           "platform": "windows-x64", "ipAddress": "10.0.0.30"})
assert r.status_code == 201, (r.status_code, r.text)
r = requests.get(base, auth=requests_ntlm.HttpNtlmAuth('administrator', 'wrong'))
assert r.status_code == 401, (r.status_code, r.text)
assert 'bad password' in r.json()['error']['message'], r.text
print('ok')
"#;
    let out = Command::new(&python)
        .args(["-c", script, &server.api("")])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
