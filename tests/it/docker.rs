//! The Dockerfile and docker-compose.yml, checked by parsing them (no Docker engine runs here).

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// Dockerfile instructions, with continuation lines joined and comments dropped.
fn instructions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (op, rest) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((op.to_uppercase(), rest.trim().to_owned()));
        current.clear();
    }
    out
}

#[test]
fn dockerfile_is_multi_stage_small_and_unprivileged() {
    let ins = instructions();
    let froms: Vec<&String> = ins
        .iter()
        .filter(|(op, _)| op == "FROM")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    assert!(froms[0].contains(" AS builder"));
    assert!(
        froms[1].starts_with("debian:") && froms[1].contains("slim"),
        "small runtime image: {}",
        froms[1]
    );
    let runtime: Vec<&(String, String)> = ins
        .iter()
        .skip_while(|(op, a)| !(op == "FROM" && a.contains("runtime")))
        .collect();
    let arg = |op: &str| {
        runtime
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, a)| a.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(arg("USER"), vec!["psserver"], "runs as a non-root user");
    assert!(
        arg("RUN")
            .iter()
            .any(|r| r.contains("useradd") && r.contains("psserver"))
    );
    assert!(
        arg("COPY")
            .iter()
            .any(|c| c.starts_with("--from=builder") && c.contains("release/psserver"))
    );
    assert!(arg("COPY").iter().any(|c| c.contains("driver-packages")));
    assert_eq!(arg("EXPOSE"), vec!["8080"]);
    assert!(arg("HEALTHCHECK")[0].contains("/_emu/ready"));
    assert!(arg("ENTRYPOINT")[0].contains("psserver"));
    let env = arg("ENV").join(" ");
    for var in [
        "PSSERVER_LISTEN=0.0.0.0:8080",
        "PSSERVER_DATA_DIR=/var/lib/psserver",
        "PSSERVER_DRIVER_PACKAGES=",
    ] {
        assert!(env.contains(var), "{var} missing from {env}");
    }
    // the build copies everything the crate needs
    let build: Vec<String> = ins
        .iter()
        .take_while(|(op, a)| !(op == "FROM" && a.contains("runtime")))
        .filter(|(op, _)| op == "COPY")
        .map(|(_, a)| a.clone())
        .collect();
    for dir in [
        "src",
        "crates",
        "migrations",
        "driver-packages",
        "Cargo.lock",
    ] {
        assert!(
            build.iter().any(|c| c.contains(dir)),
            "{dir} is not copied into the build stage"
        );
    }
    assert!(
        ins.iter()
            .any(|(op, a)| op == "RUN" && a.contains("cargo build --release --locked"))
    );
}

#[test]
fn compose_runs_the_server_with_a_volume_and_a_health_check_on_loopback() {
    let docs = YamlLoader::load_from_str(&read("docker-compose.yml")).unwrap();
    let doc = &docs[0];
    let svc = &doc["services"]["psserver"];
    assert!(!svc.is_badvalue(), "a psserver service");
    assert_eq!(svc["build"].as_str(), Some("."));
    let ports: Vec<&str> = svc["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        !ports.is_empty() && ports.iter().all(|p| p.starts_with("127.0.0.1:")),
        "bound to loopback: {ports:?}"
    );
    let volumes: Vec<&str> = svc["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        volumes
            .iter()
            .any(|v| v.starts_with("psserver-data:") && v.ends_with("/var/lib/psserver")),
        "{volumes:?}"
    );
    assert!(
        !doc["volumes"]["psserver-data"].is_badvalue(),
        "the named volume is declared"
    );
    let test: Vec<&str> = svc["healthcheck"]["test"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(test.join(" ").contains("/_emu/ready"));
    let env = &svc["environment"];
    assert!(
        env["PSSERVER_ADMIN_PASSWORD"]
            .as_str()
            .unwrap()
            .contains(":?"),
        "a password must be given: the default is refused beyond loopback"
    );
    assert!(matches!(svc["restart"], Yaml::String(_)));
}

/// Issue 18: compose publishes the server as the real one listens, HTTPS on 443, with its
/// self-signed certificate kept in a volume.
#[test]
fn compose_publishes_https_on_443() {
    let docs = YamlLoader::load_from_str(&read("docker-compose.yml")).unwrap();
    let doc = &docs[0];
    let svc = &doc["services"]["psserver-https"];
    assert!(!svc.is_badvalue(), "a psserver-https service");
    let env = &svc["environment"];
    assert_eq!(env["PSSERVER_TLS_SELF_SIGNED"].as_str(), Some("true"));
    let ports: Vec<&str> = svc["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(ports, ["${PSSERVER_HTTPS_PUBLISH:-127.0.0.1:443}:8080"]);
    assert!(!doc["volumes"]["psserver-https-data"].is_badvalue());
}
