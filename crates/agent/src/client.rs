//! HTTP to the PlateSpin Server: register, report the driver state, find and download the latest
//! driver package. Every failure names the server and says why, in words for the agent's user.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use indicatif::ProgressBar;
use migrate_core::wire::{
    self, BASE, DriverStateBody, ErrorBody, PackageView, Registered, SourceBody, SourceId,
};
use reqwest::StatusCode;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use sha2::{Digest, Sha256};

use super::AgentError;
use super::args::ServerAddr;
use super::machine::{Machine, Registration};
use migrate_core::domain::platform::Platform;

/// Packages are a few megabytes at most; refuse to hold an advertised size beyond this in memory.
const MAX_PACKAGE: u64 = 1 << 30;

pub struct Client {
    addr: ServerAddr,
    http: Http,
}

/// Whose credentials a request carried, to explain a 401.
enum Auth<'a> {
    None,
    User(&'a str),
    Token,
}

impl Client {
    pub fn new(
        addr: &ServerAddr,
        ca_cert: Option<&Path>,
        insecure: bool,
    ) -> Result<Self, AgentError> {
        let mut builder = Http::builder()
            .user_agent(concat!("migrate-agent/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .danger_accept_invalid_certs(insecure);
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                AgentError::Failed(format!("cannot read --ca-cert {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                AgentError::Failed(format!("--ca-cert {} is not PEM: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(AgentError::Failed(format!(
                    "--ca-cert {} holds no certificate",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| AgentError::Failed(format!("cannot set up HTTP: {e}")))?;
        Ok(Self {
            addr: addr.clone(),
            http,
        })
    }

    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, AgentError> {
        self.addr
            .url()
            .join(path)
            .map_err(|e| AgentError::Failed(format!("bad URL {path:?}: {e}")))
    }

    pub fn register(
        &self,
        user: &str,
        password: &str,
        machine: &Machine,
    ) -> Result<(Registered<SourceId>, bool), AgentError> {
        let url = self.url(&wire::path::register(BASE))?;
        let body = SourceBody {
            host_name: machine.host_name.clone(),
            os_family: machine.os_family.as_str().to_owned(),
            platform: Some(machine.platform.as_str().to_owned()),
            ip_address: machine.ip_address.clone(),
            machine_id: Some(machine.machine_id.clone()),
        };
        let request = self
            .http
            .post(url)
            .basic_auth(user, Some(password))
            .json(&body);
        let response = self.send(request, "the registration", Auth::User(user))?;
        let created = response.status() == StatusCode::CREATED;
        let registered = response
            .json::<Registered<SourceId>>()
            .map_err(|e| self.bad_answer(&e))?;
        Ok((registered, created))
    }

    /// `PUT sources/{id}/driverState` with the machine's agent token.
    pub fn report(&self, registration: &Registration, machine: &Machine) -> Result<(), AgentError> {
        let url = self.url(&wire::path::driver_state(BASE, registration.source_id))?;
        let body = DriverStateBody::new(
            machine.driver.installed,
            machine.driver.running,
            machine.controller_service,
        );
        let request = self
            .http
            .put(url)
            .bearer_auth(&registration.agent_token)
            // Only the status matters here: the server need not send the source back.
            .header("prefer", "return=minimal")
            .json(&body);
        self.send(request, "the driver-state report", Auth::Token)?;
        Ok(())
    }

    pub fn latest_package(&self, platform: Platform) -> Result<PackageView, AgentError> {
        let url = self.url(&wire::path::latest_package(BASE, platform))?;
        let response = self.http.get(url).send().map_err(|e| self.transport(&e))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(AgentError::Failed(format!(
                "the PlateSpin Server at {} has no {platform} driver package",
                self.addr
            )));
        }
        let response = self.check(response, "the query for the latest package", Auth::None)?;
        let info = response
            .json::<PackageView>()
            .map_err(|e| self.bad_answer(&e))?;
        if info.platform != platform {
            return Err(AgentError::Failed(format!(
                "the PlateSpin Server at {} offered a {} package for {platform}",
                self.addr, info.platform
            )));
        }
        Ok(info)
    }

    /// Download a package and check it is exactly what the server advertised: its size and its
    /// SHA-256. Nothing of a package that fails is kept.
    pub fn download(&self, info: &PackageView, bar: &ProgressBar) -> Result<Vec<u8>, AgentError> {
        if info.size > MAX_PACKAGE {
            return Err(AgentError::Failed(format!(
                "the package is advertised as {} bytes, more than an agent accepts",
                info.size
            )));
        }
        let href = info
            .content_href()
            .map_or_else(|| wire::path::package_content(BASE, info.id), str::to_owned);
        // A download may take longer than a query; a stalled one still ends.
        let request = self
            .http
            .get(self.url(&href)?)
            .timeout(Duration::from_secs(30 * 60));
        let mut response = self.send(request, "the download", Auth::None)?;
        let what = format!(
            "the download of driver package {} ({})",
            info.version, info.platform
        );
        if let Some(length) = response.content_length()
            && length != info.size
        {
            return Err(AgentError::Failed(format!(
                "{what} was refused: the server sends {length} bytes but advertised {}",
                info.size
            )));
        }
        bar.set_length(info.size);
        let capacity = usize::try_from(info.size.min(64 << 20)).unwrap_or(0);
        let mut body = Vec::with_capacity(capacity);
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match response.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    return Err(AgentError::Failed(format!(
                        "{what} was cut short after {} of {} bytes: {}",
                        body.len(),
                        info.size,
                        root_cause(&e)
                    )));
                }
            };
            if body.len() as u64 + n as u64 > info.size {
                return Err(AgentError::Failed(format!(
                    "{what} was refused: the server sent more than the advertised {} bytes",
                    info.size
                )));
            }
            body.extend_from_slice(&buffer[..n]);
            bar.inc(n as u64);
        }
        if (body.len() as u64) < info.size {
            return Err(AgentError::Failed(format!(
                "{what} was cut short: received {} of {} bytes",
                body.len(),
                info.size
            )));
        }
        let actual = hex::encode(Sha256::digest(&body));
        if !actual.eq_ignore_ascii_case(info.sha256.trim()) {
            return Err(AgentError::Failed(format!(
                "{what} was refused: its SHA-256 is {actual}, but the server advertised {}",
                info.sha256
            )));
        }
        Ok(body)
    }

    fn send(
        &self,
        request: RequestBuilder,
        what: &str,
        auth: Auth,
    ) -> Result<Response, AgentError> {
        let response = request.send().map_err(|e| self.transport(&e))?;
        self.check(response, what, auth)
    }

    /// Turn an error answer into a message: the server's own message when it sent one.
    fn check(&self, response: Response, what: &str, auth: Auth) -> Result<Response, AgentError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let mut text = String::new();
        let _ = response.take(64 * 1024).read_to_string(&mut text);
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| b.error.message)
            .unwrap_or_else(|_| text.trim().chars().take(200).collect());
        let addr = &self.addr;
        let detail = if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        };
        Err(AgentError::Failed(match (status, auth) {
            (StatusCode::UNAUTHORIZED, Auth::User(user)) => format!(
                "the PlateSpin Server at {addr} refused the credentials of user {user:?} (401 Unauthorized); check /username= and /password="
            ),
            (StatusCode::UNAUTHORIZED, Auth::Token) => format!(
                "the PlateSpin Server at {addr} refused this machine's agent token (401 Unauthorized); register the machine again"
            ),
            (StatusCode::FORBIDDEN, Auth::User(user)) => {
                format!(
                    "user {user:?} may not do this on the PlateSpin Server at {addr} (403 Forbidden){detail}"
                )
            }
            _ => format!("the PlateSpin Server at {addr} refused {what} ({status}){detail}"),
        }))
    }

    fn transport(&self, e: &reqwest::Error) -> AgentError {
        let addr = &self.addr;
        let root = root_cause(e);
        AgentError::Failed(if let Some(tls) = tls_error(e) {
            let hint = match tls {
                rustls::Error::InvalidCertificate(_) => {
                    " (to trust a self-signed certificate, give it with --ca-cert FILE)"
                }
                // What a plain-HTTP answer to a TLS hello looks like.
                rustls::Error::InvalidMessage(_) => {
                    " (does the server speak plain HTTP? then use http://)"
                }
                _ => "",
            };
            format!("TLS error talking to the PlateSpin Server at {addr}: {tls}{hint}")
        } else if e.is_timeout() {
            format!("the PlateSpin Server at {addr} did not answer in time: {root}")
        } else if e.is_connect() {
            format!("cannot reach the PlateSpin Server at {addr}: {root}")
        } else {
            format!("talking to the PlateSpin Server at {addr} failed: {root}")
        })
    }

    fn bad_answer(&self, e: &reqwest::Error) -> AgentError {
        AgentError::Failed(format!(
            "the PlateSpin Server at {} gave an answer the agent does not understand: {}",
            self.addr,
            root_cause(e)
        ))
    }
}

/// The innermost error's message: "connection refused" rather than "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    loop {
        // `io::Error::source` skips the error it wraps, so look inside it by hand.
        let inner = current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static))
            .or_else(|| current.source());
        match inner {
            Some(next) => current = next,
            None => return current.to_string(),
        }
    }
}

/// The rustls error somewhere in the chain, if the failure was TLS's.
fn tls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static))
            .or_else(|| err.source());
    }
    None
}
