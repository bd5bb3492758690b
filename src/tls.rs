//! TLS for the server (the real agents talk HTTPS): a certificate and key from files, or a
//! self-signed certificate made at start for the listen host. rustls only, no OpenSSL.

use std::path::PathBuf;

use axum_server::tls_rustls::RustlsConfig;

use crate::config::Config;

/// The server's TLS setup, and where a self-signed certificate was written for clients to trust.
pub struct Tls {
    pub config: RustlsConfig,
    pub self_signed_cert: Option<PathBuf>,
}

/// Build the TLS configuration the flags ask for, if any.
pub async fn setup(config: &Config) -> Result<Option<Tls>, String> {
    // reqwest and axum-server both bring rustls on ring; make it the process default explicitly
    // so that no other provider can make rustls ambiguous. Installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match (&config.tls_cert, &config.tls_key, config.tls_self_signed) {
        (Some(cert), Some(key), false) => {
            let rustls = RustlsConfig::from_pem_file(cert, key).await.map_err(|e| {
                format!(
                    "cannot use the TLS certificate {} and key {}: {e}",
                    cert.display(),
                    key.display()
                )
            })?;
            Ok(Some(Tls {
                config: rustls,
                self_signed_cert: None,
            }))
        }
        (None, None, true) => self_signed(config).await.map(Some),
        (None, None, false) => Ok(None),
        _ => Err("use --tls-cert with --tls-key, or --tls-self-signed alone".to_owned()),
    }
}

async fn self_signed(config: &Config) -> Result<Tls, String> {
    let host = config.listen.ip();
    let mut names = vec!["localhost".to_owned(), host.to_string()];
    if host.is_unspecified() {
        names.push("127.0.0.1".to_owned());
    }
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
    let cert_pem = made.cert.pem();
    let key_pem = made.signing_key.serialize_pem();
    // Written beside the database so that agents can trust it (`migrate-agent --ca-cert`).
    let dir = config.data_dir.join("tls");
    let path = dir.join("self-signed-cert.pem");
    tokio::fs::create_dir_all(&dir)
        .await
        .and(tokio::fs::write(&path, &cert_pem).await)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let rustls = RustlsConfig::from_pem(cert_pem.into_bytes(), key_pem.into_bytes())
        .await
        .map_err(|e| format!("cannot use the self-signed certificate: {e}"))?;
    Ok(Tls {
        config: rustls,
        self_signed_cert: Some(path),
    })
}
