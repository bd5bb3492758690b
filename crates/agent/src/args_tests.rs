use super::*;

fn p(args: &[&str]) -> Result<Invocation, String> {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    parse(&args, None)
}

fn cmd(args: &[&str]) -> Command {
    p(args).unwrap().command()
}

#[test]
fn every_command_and_alias() {
    let cases = [
        ("h", Command::Help),
        ("?", Command::Help),
        ("help", Command::Help),
        ("/?", Command::Help),
        ("-h", Command::Help),
        ("--help", Command::Help),
        ("logs", Command::Logs),
        ("view-logs", Command::Logs),
        ("status", Command::Status),
        ("din", Command::DriverInstall),
        ("driver-install", Command::DriverInstall),
        ("dup", Command::DriverUpgrade),
        ("driver-upgrade", Command::DriverUpgrade),
        ("dun", Command::DriverUninstall),
        ("driver-uninstall", Command::DriverUninstall),
        ("reboot", Command::Reboot),
        // The real utility runs on Windows, where case does not matter.
        ("STATUS", Command::Status),
        ("Driver-Install", Command::DriverInstall),
    ];
    for (name, expected) in cases {
        assert_eq!(cmd(&[name]), expected, "{name}");
    }
    assert_eq!(cmd(&["register", "/psserver=h"]), Command::Register);
}

#[test]
fn no_command_is_a_usage_error() {
    // Not the help: only h, ? and help (and their forms) ask for it.
    assert_eq!(p(&[]).unwrap_err(), "give a command");
    // Options and switches alone name no command either.
    assert_eq!(p(&["--state-dir", "/tmp/x"]).unwrap_err(), "give a command");
    assert_eq!(p(&["/psserver=h"]).unwrap_err(), "give a command");
}

#[test]
fn switches_in_their_forms() {
    let inv = p(&[
        "register",
        "/psserver=10.0.0.5:8443",
        "/username=operator",
        "/password=p=w d",
    ])
    .unwrap();
    assert_eq!(
        inv.server.as_ref().unwrap().to_string(),
        "http://10.0.0.5:8443"
    );
    assert_eq!(inv.username.as_deref(), Some("operator"));
    // Only the first '=' separates: a password may hold '=' and spaces.
    assert_eq!(inv.password.as_deref(), Some("p=w d"));
    // Switch names ignore case; switches may come before the command.
    let inv = p(&["/PSServer=host", "status"]).unwrap();
    assert_eq!(inv.command(), Command::Status);
    assert_eq!(inv.server.unwrap().to_string(), "https://host");
}

#[test]
fn server_addresses() {
    let ok = [
        // A bare host is the real server: HTTPS on 443, as runbooks write it.
        ("10.0.0.5", "https://10.0.0.5"),
        ("127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("ps.example.com", "https://ps.example.com"),
        ("ps.example.com:443", "https://ps.example.com"),
        ("[::1]:9000", "http://[::1]:9000"),
        ("http://ps.example.com", "http://ps.example.com"),
        ("https://ps.example.com", "https://ps.example.com"),
        (
            "https://ps.example.com:8443/",
            "https://ps.example.com:8443",
        ),
        ("HTTPS://PS.example.com", "https://ps.example.com"),
    ];
    for (text, expected) in ok {
        assert_eq!(
            ServerAddr::parse(text).unwrap().to_string(),
            expected,
            "{text}"
        );
    }
    let bad = [
        ("ftp://ps", "scheme"),
        ("http://", "not a server address"),
        ("https://user:pw@ps", "/username="),
        ("ps/MigrateApi/2019.8", "only the host and port"),
        ("ps?x=1", "only the host and port"),
        ("ps:99999", "not a server address"),
        ("ps:port", "not a server address"),
    ];
    for (text, needle) in bad {
        let err = ServerAddr::parse(text).unwrap_err();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn long_options_with_space_or_equals_and_the_environment() {
    let inv = p(&[
        "--state-dir",
        "/tmp/m1",
        "status",
        "--host-name=WIN-SRC01",
        "--platform",
        "windows-x86",
    ])
    .unwrap();
    assert_eq!(inv.state_dir, Some(PathBuf::from("/tmp/m1")));
    assert_eq!(inv.host_name.as_deref(), Some("WIN-SRC01"));
    assert_eq!(
        inv.kind,
        Some(MachineKind {
            os: OsFamily::Windows,
            platform: Platform::WindowsX86
        })
    );
    let inv = p(&["status", "--os", "linux"]).unwrap();
    assert_eq!(inv.kind.unwrap().platform, Platform::LinuxX64);
    // MIGRATE_AGENT_HOME is the fallback; --state-dir wins.
    let args = [OsString::from("status")];
    let inv = parse(&args, Some("/env/home".into())).unwrap();
    assert_eq!(inv.state_dir, Some(PathBuf::from("/env/home")));
    let args: Vec<OsString> = ["status", "--state-dir", "/flag"]
        .iter()
        .map(OsString::from)
        .collect();
    let inv = parse(&args, Some("/env/home".into())).unwrap();
    assert_eq!(inv.state_dir, Some(PathBuf::from("/flag")));
}

#[test]
fn usage_errors_say_what_is_wrong() {
    let cases: &[(&[&str], &str)] = &[
        (&["install"], "unknown command \"install\""),
        (&["status", "din"], "give one command"),
        (&["status", "/verbose=1"], "unknown switch /verbose="),
        (&["status", "/psserver"], "has no value"),
        (&["status", "/psserver="], "needs a value"),
        (&["status", "/psserver=a", "/psserver=b"], "given twice"),
        (&["status", "--colour"], "unknown option --colour"),
        (&["status", "--state-dir"], "--state-dir needs a value"),
        (&["status", "--state-dir="], "non-empty"),
        (&["status", "--os", "solaris"], "unknown OS family"),
        (
            &["status", "--platform", "windows-arm64"],
            "unknown platform",
        ),
        (
            &["status", "--os", "linux", "--platform", "windows-x64"],
            "not a linux platform",
        ),
        (&["status", "--host-name", "two words"], "--host-name"),
        (&["register"], "register needs the server"),
        (&["status", "/username=u"], "are for register"),
        (&["din", "/password=p"], "are for register"),
        (
            &["dun", "/psserver=h"],
            "driver-uninstall does not take /psserver=",
        ),
        (
            &["reboot", "/psserver=h"],
            "reboot does not take /psserver=",
        ),
        (&["logs", "/psserver=h"], "logs does not take /psserver="),
    ];
    for (args, needle) in cases {
        let err = p(args).unwrap_err();
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn help_accepts_anything_known() {
    assert_eq!(cmd(&["help", "/psserver=h", "/username=u"]), Command::Help);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the command line, parsing answers (an invocation or a usage error), never panics.
        #[test]
        fn parse_never_panics(args in proptest::collection::vec("[-/a-z?=:.0-9]{0,12}", 0..5)) {
            let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
            let _ = parse(&args, None);
        }

        /// An address the agent prints (and stores) parses back to itself.
        #[test]
        fn server_addresses_round_trip(host in "[a-z][a-z0-9]{0,10}(\\.[a-z]{2,5})?", port in 1u16.., https in any::<bool>()) {
            let scheme = if https { "https" } else { "http" };
            let addr = ServerAddr::parse(&format!("{scheme}://{host}:{port}")).unwrap();
            prop_assert_eq!(ServerAddr::parse(&addr.to_string()).unwrap(), addr);
        }
    }
}
