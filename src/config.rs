//! Command-line flags with environment fallbacks (SPEC 7).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The default administrator password, as on a fresh PlateSpin Server install of the emulator.
pub const DEFAULT_PASSWORD: &str = "platespin";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "psserver",
    version,
    about = "An emulator of the PlateSpin Migrate Server: driver packages, source machines, reboot tasks and the Migrate REST API"
)]
pub struct Config {
    /// A tool to run instead of the server.
    #[command(subcommand)]
    pub tool: Option<Tool>,

    /// Address to listen on; port 0 picks a free port (the bound address is logged).
    #[arg(long, env = "PSSERVER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the database and uploaded driver packages (created if missing).
    #[arg(long, env = "PSSERVER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// SQLite database URL; defaults to `sqlite://<data-dir>/psserver.db`.
    #[arg(long, env = "PSSERVER_DATABASE_URL")]
    pub database_url: Option<String>,

    /// The sample driver repository: `<platform>/<version>.package` files, read at start and on rescan.
    #[arg(
        long,
        env = "PSSERVER_DRIVER_PACKAGES",
        default_value = "./driver-packages"
    )]
    pub driver_packages: PathBuf,

    /// Largest driver package upload accepted, in MiB.
    #[arg(long, env = "PSSERVER_MAX_UPLOAD_MB", default_value_t = 512)]
    pub max_upload_mb: u64,

    /// Memory for driver package bytes kept after a download, in MiB (0: none kept). A package
    /// downloaded whole is kept, and its next downloads and ranges are served from memory
    /// without reading the file; the least recently used go first when the total would exceed
    /// this.
    #[arg(long, env = "PSSERVER_PACKAGE_CACHE_MB", default_value_t = 256)]
    pub package_cache_mb: u64,

    /// Password of the `administrator` user.
    #[arg(long, env = "PSSERVER_ADMIN_PASSWORD", default_value = DEFAULT_PASSWORD, hide_default_value = true)]
    pub admin_password: String,

    /// Password of the `operator` user; the user exists only when this is set.
    #[arg(long, env = "PSSERVER_OPERATOR_PASSWORD")]
    pub operator_password: Option<String>,

    /// The `migrate-agent` binary the Downloads page offers; default: the one beside this
    /// `psserver` (where cargo and the Docker image put it).
    #[arg(long, env = "PSSERVER_AGENT_BINARY")]
    pub agent_binary: Option<PathBuf>,

    /// The Windows domain NTLM sign-ins must name (`DOMAIN\\user` or `user@domain`, compared
    /// without case). Unset: the domain a client sends is ignored, as one machine's accounts.
    #[arg(long, env = "PSSERVER_NTLM_DOMAIN")]
    pub ntlm_domain: Option<String>,

    /// Log format.
    #[arg(long, env = "PSSERVER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How fast simulated operations run: `instant` for tests, `fast` (about a second), or
    /// `normal` (a few seconds a step, like a small real workload).
    #[arg(long, env = "PSSERVER_REPLICATION_SPEED", value_enum, default_value_t = ReplicationSpeed::Normal)]
    pub replication_speed: ReplicationSpeed,

    /// Refuse API request bodies with members the emulator does not know (400 naming the
    /// member), to catch typos. Without it they are ignored, as the real server ignores them,
    /// and named in the journal (`/_emu/requests`, `ignoredMembers`).
    #[arg(long, env = "PSSERVER_STRICT_BODIES")]
    pub strict_bodies: bool,

    /// How many requests the journal (`/_emu/requests`) keeps; 0 turns it off.
    #[arg(long, env = "PSSERVER_JOURNAL_SIZE", default_value_t = 1000)]
    pub journal_size: usize,

    /// Who may use the control plane (`/_emu`, `/metrics`): administrators from anywhere, or
    /// administrators on this machine only. Health and ready always answer.
    #[arg(long, env = "PSSERVER_CONTROL_PLANE", value_enum, default_value_t = ControlPlane::Any)]
    pub control_plane: ControlPlane,

    /// TLS certificate chain (PEM); serves HTTPS with --tls-key.
    #[arg(long, env = "PSSERVER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) of --tls-cert.
    #[arg(long, env = "PSSERVER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve HTTPS with a certificate made at start for the listen host (written to
    /// <data-dir>/tls/self-signed-cert.pem for clients to trust).
    #[arg(long, env = "PSSERVER_TLS_SELF_SIGNED", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,

    /// More names (host names or IP addresses) the self-signed certificate is made for, beside
    /// localhost and the listen address: the names agents use to reach this server.
    #[arg(
        long,
        env = "PSSERVER_TLS_NAMES",
        value_delimiter = ',',
        requires = "tls_self_signed"
    )]
    pub tls_names: Vec<String>,

    /// A JSON scenario (sources, driver states, transformations) loaded at start and on reset.
    #[arg(long, env = "PSSERVER_SEED_FILE")]
    pub seed_file: Option<PathBuf>,

    /// Seconds a client has to send a request's headers (also the idle time of a kept-alive
    /// connection); a slower client is cut off, so slow clients cannot hold connections open.
    #[arg(long, env = "PSSERVER_HEADER_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,

    /// Seconds a request body may pause between two pieces (an upload over a slow link is fine;
    /// one that stops is answered 408 and its connection closed).
    #[arg(long, env = "PSSERVER_BODY_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,

    /// Bytes a second a request body must average once --body-timeout-secs has passed since it
    /// started (0: no rate asked); a slower one is answered 408. A rate rather than a total
    /// deadline, so that a large upload gets time in proportion to its size (see
    /// `http::body_guard`).
    #[arg(long, env = "PSSERVER_BODY_MIN_RATE", default_value_t = 8192)]
    pub body_min_rate: u64,

    /// Connections open at once (TLS handshakes included); one more is answered 503 with
    /// Retry-After and closed.
    #[arg(long, env = "PSSERVER_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ControlPlane {
    Any,
    LoopbackOnly,
}

/// How fast simulated operations run (`instant` for tests).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    ValueEnum,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ReplicationSpeed {
    Instant,
    Fast,
    Normal,
}

impl ReplicationSpeed {
    /// How long one step of an operation takes, and how often its progress moves.
    pub fn step_timing(self) -> (std::time::Duration, u32) {
        use std::time::Duration;
        match self {
            Self::Instant => (Duration::ZERO, 1),
            Self::Fast => (Duration::from_millis(300), 3),
            Self::Normal => (Duration::from_secs(4), 8),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The tools `psserver` runs instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Tool {
    /// Driver packages: make one to patch a server with.
    #[command(subcommand)]
    Package(PackageTool),
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum PackageTool {
    /// Write a driver package: a zip of the driver files and a manifest naming the platform and
    /// version, as the server's upload (API or page) takes it.
    Build {
        /// windows-x64, windows-x86 or linux-x64.
        #[arg(long)]
        platform: String,
        /// Four numbers, e.g. 8.0.0.13.
        #[arg(long)]
        version: String,
        /// A directory whose files (top level) are the drivers; without it, emulated driver files
        /// are made, the same bytes on every build.
        #[arg(long)]
        from: Option<PathBuf>,
        /// The package file to write (replaced if it exists).
        #[arg(short = 'o', long)]
        output: PathBuf,
    },
}

impl Config {
    /// Whether the server speaks HTTPS (on every connection).
    pub fn serves_tls(&self) -> bool {
        self.tls_cert.is_some() || self.tls_self_signed
    }

    /// A configuration for tests and embedding: loopback, port 0, everything under `data_dir`.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>, driver_packages: impl Into<PathBuf>) -> Self {
        Self {
            tool: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            database_url: None,
            driver_packages: driver_packages.into(),
            max_upload_mb: 512,
            package_cache_mb: 256,
            admin_password: DEFAULT_PASSWORD.to_owned(),
            operator_password: None,
            ntlm_domain: None,
            agent_binary: None,
            log_format: LogFormat::Text,
            replication_speed: ReplicationSpeed::Instant,
            tls_cert: None,
            tls_key: None,
            tls_self_signed: false,
            tls_names: Vec::new(),
            journal_size: 1000,
            strict_bodies: false,
            control_plane: ControlPlane::Any,
            seed_file: None,
            header_timeout_secs: 30,
            body_timeout_secs: 60,
            body_min_rate: 8192,
            max_connections: 4096,
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("psserver.db").display()))
    }

    /// Where uploaded packages live, named by their SHA-256.
    pub fn upload_dir(&self) -> PathBuf {
        self.data_dir.join("packages")
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_mb.saturating_mul(1024 * 1024)
    }

    pub fn package_cache_bytes(&self) -> u64 {
        self.package_cache_mb.saturating_mul(1024 * 1024)
    }

    /// Refuse a configuration that would expose the default password beyond this machine.
    pub fn check_exposure(&self) -> Result<(), String> {
        if self.listen.ip().is_loopback() {
            return Ok(());
        }
        let defaulted: Vec<&str> = [
            ("administrator", Some(self.admin_password.as_str())),
            ("operator", self.operator_password.as_deref()),
        ]
        .into_iter()
        .filter(|(_, pw)| *pw == Some(DEFAULT_PASSWORD))
        .map(|(user, _)| user)
        .collect();
        if defaulted.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "refusing to listen on {} with the default password for {}: set --admin-password / PSSERVER_ADMIN_PASSWORD (and --operator-password) or listen on a loopback address",
                self.listen,
                defaulted.join(" and ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec() {
        let c = Config::try_parse_from(["psserver"]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.database_url(), "sqlite://./data/psserver.db");
        assert_eq!(c.max_upload_bytes(), 512 * 1024 * 1024);
        assert!(c.operator_password.is_none());
        assert_eq!(c.header_timeout_secs, 30);
        assert!(Config::try_parse_from(["psserver", "--header-timeout-secs", "0"]).is_err());
    }

    #[test]
    fn default_password_only_on_loopback() {
        let mut c = Config::try_parse_from(["psserver", "--listen", "0.0.0.0:8080"]).unwrap();
        assert!(c.check_exposure().unwrap_err().contains("administrator"));
        c.admin_password = "s3cret".into();
        assert!(c.check_exposure().is_ok());
        c.operator_password = Some(DEFAULT_PASSWORD.into());
        assert!(c.check_exposure().unwrap_err().contains("operator"));
        let c = Config::try_parse_from(["psserver", "--listen", "[::1]:0"]).unwrap();
        assert!(c.check_exposure().is_ok());
    }
}
