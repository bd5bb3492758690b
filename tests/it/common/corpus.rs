//! The path-traversal and encoding corpus, shared by the package tests and the reliability
//! suite's tests of every other route that takes an id or a name.

/// Tricks for a path segment or a query value. Some are raw (`http::Uri` may refuse them, and
/// then they are skipped), the rest percent-encoded as a client would send them.
pub fn traversal_corpus(real_id: &str) -> Vec<String> {
    let mut corpus: Vec<String> = [
        "..",
        ".",
        "...",
        "../",
        "../..",
        "../../etc/passwd",
        "../../../../../../../../etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "%2e%2e",
        "%2e%2e%2f",
        "%2e%2e%2fetc%2fpasswd",
        "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        ".%2e",
        "%2e.",
        "%252e%252e",
        "%252e%252e%252f",
        "%252e%252e%252fetc%252fpasswd",
        "..%252f..%252fetc%252fpasswd",
        "..%5c",
        "..%5c..%5cwindows%5cwin.ini",
        "..\\..\\windows\\win.ini", // raw backslashes: refused by http::Uri, sent encoded below
        "/c:/windows/win.ini",
        "c:%5cwindows%5cwin.ini",
        "C:",
        "%00",
        "..%00",
        "8.0.0.12%00.package",
        "windows-x64%00",
        "%2f",
        "%2fetc%2fpasswd",
        "/etc/passwd",
        "//etc/passwd",
        "%c0%ae%c0%ae",
        "%c0%ae%c0%ae%c0%af",
        "%e0%80%ae%e0%80%ae",
        "%c0%2e%c0%2e",
        "....//",
        "....//....//etc/passwd",
        "..../",
        "..;/",
        "%u002e%u002e",
        "%ef%bc%8e%ef%bc%8e", // full-width dots
        "%e2%80%a5",          // two-dot leader
        "%e2%80%a4%e2%80%a4", // one-dot leaders
        "file:%2f%2f%2fetc%2fpasswd",
        "%5c%5cserver%5cshare",
        "~",
        "~root",
        "*",
        "%20",
        "%0a",
        "%0d%0aX-Injected:%201",
        "NUL",
        "CON",
        "8.0.0.12.package",
        "windows-x64%2f8.0.0.12.package",
        "driver-packages%2fwindows-x64%2f8.0.0.12.package",
        "..%2fdriver-packages%2fwindows-x64%2f8.0.0.12.package",
        "..%2f..%2fdriver-packages%2fwindows-x64%2f8.0.0.12.package",
        "psserver.db",
        "..%2fpsserver.db",
        "packages",
        "..%2fpackages",
        "%e2%80%ae",
        "windows-x64%2f..%2fwindows-x64",
        "8.0.0.12%2f..%2f8.0.0.12",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    corpus.push("a".repeat(4096));
    corpus.push("%2e%2e%2f".repeat(2000));
    corpus.push("9".repeat(60_000));
    corpus.push(format!("{real_id}%00"));
    corpus.push(format!("{real_id}%2f..%2f{real_id}"));
    corpus.push(format!("..%2f{real_id}"));
    corpus.push(format!("{real_id}.."));
    corpus.push(format!("{real_id}%20"));
    // Not here: `{<id>}`, `urn:uuid:<id>` and the id without hyphens, which `Uuid::parse_str`
    // takes as other spellings of the same id, and which serve that same real package.
    corpus
}

/// Percent-encode every byte that is not unreserved (RFC 3986 §2.3).
pub fn encode_all(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
