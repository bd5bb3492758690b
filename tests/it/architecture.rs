//! The layers, held by a test: it reads the source tree and fails when a layer reaches past its
//! place (README, "Architecture"):
//! - the domain (pure rules, in `crates/core`) imports no storage, HTTP or pages;
//! - the agent (`crates/agent`) imports no server module;
//! - SQL is written only in `src/db/`;
//! - the API and the pages write only through the use-case layer (`src/service/`).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                found.push((path, text));
            }
        }
    }
    assert!(!found.is_empty(), "no sources under {}", dir.display());
    found
}

/// The lines of code of a file, without comments (so that a comment may name what it avoids).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(n, line)| {
        let code = line.split("//").next().unwrap_or("");
        (!code.trim().is_empty()).then_some((n + 1, code))
    })
}

/// Where any of `needles` appears in the code of `files`, as `file:line: text`.
fn occurrences(files: &[(PathBuf, String)], needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in files {
        for (n, code) in code_lines(text) {
            if needles.iter().any(|needle| code.contains(needle)) {
                let shown = path.strip_prefix(root()).unwrap_or(path);
                found.push(format!("{}:{n}: {}", shown.display(), code.trim()));
            }
        }
    }
    found
}

/// The names of a crate's `[dependencies]` (not its dev-dependencies), from its manifest.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).expect("a manifest");
    let mut names = Vec::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[dependencies]";
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', ' ', '.']).next().unwrap_or("");
            names.push(name.to_owned());
        }
    }
    assert!(
        !names.is_empty(),
        "no dependencies read in {}",
        manifest.display()
    );
    names
}

/// What the shared crate and the agent must never depend on: the server's storage, HTTP stack
/// and pages, and the server itself.
const SERVER_CRATES: [&str; 8] = [
    "psserver",
    "axum",
    "sqlx",
    "askama",
    "hyper",
    "tower",
    "tower-http",
    "tokio-rustls",
];

#[test]
fn the_domain_imports_no_storage_http_or_pages() {
    let core = root().join("crates/core");
    let deps = dependencies(&core.join("Cargo.toml"));
    for server in SERVER_CRATES.iter().chain(&["tokio", "reqwest"]) {
        assert!(
            !deps.iter().any(|d| d == server),
            "migrate-core depends on {server}"
        );
    }
    // Pure rules: no I/O either (the package format reads and writes bytes in memory).
    let domain = sources(&core.join("src/domain"));
    let found = occurrences(
        &domain,
        &[
            "std::fs",
            "std::net",
            "std::io",
            "Utc::now",
            "crate::package",
            "crate::wire",
        ],
    );
    assert!(
        found.is_empty(),
        "the domain reaches outside:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_agent_imports_no_server_module() {
    let agent = root().join("crates/agent");
    let deps = dependencies(&agent.join("Cargo.toml"));
    for server in SERVER_CRATES {
        assert!(
            !deps.iter().any(|d| d == server),
            "the agent depends on {server}"
        );
    }
    assert!(
        deps.iter().any(|d| d == "migrate-core"),
        "the agent reads the wire contract"
    );
    let found = occurrences(
        &sources(&agent.join("src")),
        &["psserver::", "axum::", "sqlx::", "askama::"],
    );
    assert!(
        found.is_empty(),
        "the agent imports the server:\n{}",
        found.join("\n")
    );
}

#[test]
fn sql_is_written_only_in_the_storage_module() {
    let db = root().join("src/db");
    let outside: Vec<_> = sources(&root().join("src"))
        .into_iter()
        .filter(|(path, _)| !path.starts_with(&db))
        .collect();
    let found = occurrences(
        &outside,
        &[
            "sqlx::query",
            "query_as(",
            "query_scalar(",
            "QueryBuilder",
            "SqlitePool",
            "SqliteConnection",
            "SELECT ",
            "INSERT INTO",
            "UPDATE ",
            "DELETE FROM",
        ],
    );
    assert!(
        found.is_empty(),
        "SQL outside src/db:\n{}",
        found.join("\n")
    );
}

/// The functions of `src/db/` that write: those that take a write transaction, or the whole
/// database (which begin their own).
fn storage_writes() -> Vec<String> {
    let mut writes = Vec::new();
    for (_, text) in sources(&root().join("src/db")) {
        // A signature runs from `fn name(` to its opening brace.
        let mut rest = text.as_str();
        while let Some(at) = rest.find("pub async fn ") {
            rest = &rest[at + "pub async fn ".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let signature = &rest[..rest.find('{').unwrap_or(rest.len())];
            if signature.contains("WriteTx") || signature.contains("db: &Db") {
                writes.push(name);
            }
        }
    }
    writes
}

/// The names by which a file reaches modules of `src/db/`: `db` for `use crate::db;`, and each
/// module named in `use crate::db::…` (`use crate::db::{pages, sources};`,
/// `use crate::db::replications::{self, …};`). Types imported from there do not count.
fn storage_aliases(text: &str) -> Vec<String> {
    let mut aliases = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("use crate::db") {
        rest = &rest[at + "use crate::db".len()..];
        let tree: String = rest[..rest.find(';').unwrap_or(rest.len())]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if tree.is_empty() {
            aliases.push("db".to_owned());
            continue;
        }
        let tree = tree.trim_start_matches("::");
        let items: Vec<&str> = match tree.strip_prefix('{') {
            Some(list) => list.trim_end_matches('}').split(',').collect(),
            None => vec![tree],
        };
        for item in items {
            let first = item.split("::").next().unwrap_or("");
            let is_module = first.starts_with(|c: char| c.is_ascii_lowercase());
            if is_module && (item == first || item.contains("{self")) {
                aliases.push(first.to_owned());
            }
        }
    }
    aliases
}

#[test]
fn the_api_and_the_pages_write_only_through_the_use_cases() {
    let writes = storage_writes();
    for known in [
        "insert",
        "dismiss",
        "store_steady_report",
        "save_operation",
        "clear",
    ] {
        assert!(
            writes.iter().any(|w| w == known),
            "{known} is a write: {writes:?}"
        );
    }
    let mut front = sources(&root().join("src/api"));
    front.extend(sources(&root().join("src/web")));
    let mut found = Vec::new();
    for file in &front {
        let aliases = storage_aliases(&file.1);
        let mut needles = vec!["begin_write".to_owned(), "WriteTx".to_owned()];
        for write in &writes {
            // `db::tasks::dismiss(` and, with `use crate::db::tasks;`, `tasks::dismiss(`.
            needles.push(format!("db::{write}("));
            needles.extend(aliases.iter().map(|a| format!("{a}::{write}(")));
        }
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        found.extend(occurrences(std::slice::from_ref(file), &needles));
    }
    assert!(
        found.is_empty(),
        "writes around the use-case layer:\n{}",
        found.join("\n")
    );
}

#[test]
fn storage_aliases_are_found() {
    let text = "use crate::db;\nuse crate::db::{ReadConn, pages, sources};\n\
                use crate::db::replications::{self, OperationFilter};\n\
                use crate::db::events::EventFilter;\nuse crate::db::tasks::{\n    self,\n};";
    assert_eq!(
        storage_aliases(text),
        ["db", "pages", "sources", "replications", "tasks"]
    );
}
