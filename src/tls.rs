//! TLS for the server (the real agents talk HTTPS): a certificate and key from files, or a
//! self-signed certificate made at start for the listen host. rustls only, no OpenSSL.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// The server's TLS setup, and where a self-signed certificate was written for clients to trust.
pub struct Tls {
    /// rustls's server configuration, offering HTTP/2 and HTTP/1.1 (ALPN).
    pub config: Arc<ServerConfig>,
    pub self_signed_cert: Option<PathBuf>,
    /// The self-signed certificate's SHA-256 fingerprint (hex, colon-separated), for clients
    /// that check what they trust.
    pub fingerprint: Option<String>,
}

/// Build the TLS configuration the flags ask for, if any.
pub async fn setup(config: &Config) -> Result<Option<Tls>, String> {
    // The server and reqwest both use rustls on ring; make it the process default explicitly so
    // that no other provider can make rustls ambiguous. Installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match (&config.tls_cert, &config.tls_key, config.tls_self_signed) {
        (Some(cert), Some(key), false) => {
            let (cert_pem, key_pem) =
                match (tokio::fs::read(cert).await, tokio::fs::read(key).await) {
                    (Ok(c), Ok(k)) => (c, k),
                    (Err(e), _) => {
                        return Err(format!(
                            "cannot read the TLS certificate {}: {e}",
                            cert.display()
                        ));
                    }
                    (_, Err(e)) => {
                        return Err(format!("cannot read the TLS key {}: {e}", key.display()));
                    }
                };
            let rustls = server_config(&cert_pem, &key_pem).map_err(|e| {
                format!(
                    "cannot use the TLS certificate {} and key {}: {e}",
                    cert.display(),
                    key.display()
                )
            })?;
            Ok(Some(Tls {
                config: rustls,
                self_signed_cert: None,
                fingerprint: None,
            }))
        }
        (None, None, true) => self_signed(config).await.map(Some),
        (None, None, false) => Ok(None),
        _ => Err("use --tls-cert with --tls-key, or --tls-self-signed alone".to_owned()),
    }
}

/// The self-signed certificate and key, kept under `<data-dir>/tls/` and used again at the next
/// start while they were made for the same names, so that clients trust it once.
async fn self_signed(config: &Config) -> Result<Tls, String> {
    let host = config.listen.ip();
    let mut names = vec!["localhost".to_owned(), host.to_string()];
    if host.is_unspecified() {
        names.push("127.0.0.1".to_owned());
    }
    for name in &config.tls_names {
        let name = name.trim();
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    let dir = config.data_dir.join("tls");
    let cert_path = dir.join("self-signed-cert.pem");
    let key_path = dir.join("self-signed-key.pem");
    let info_path = dir.join("self-signed-names.txt");
    let wanted = names.join("\n");
    let kept = match (
        tokio::fs::read_to_string(&info_path).await,
        tokio::fs::read(&cert_path).await,
        tokio::fs::read(&key_path).await,
    ) {
        (Ok(info), Ok(cert), Ok(key)) if info.trim_end() == wanted => Some((cert, key)),
        _ => None,
    };
    let (cert_pem, key_pem) = match kept {
        Some(kept) => kept,
        None => {
            let made = rcgen::generate_simple_self_signed(names)
                .map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
            let (cert, key) = (made.cert.pem(), made.signing_key.serialize_pem());
            write_self_signed(&dir, &cert, &key, &wanted).await?;
            (cert.into_bytes(), key.into_bytes())
        }
    };
    let fingerprint = fingerprint(&cert_pem)?;
    let rustls = server_config(&cert_pem, &key_pem)
        .map_err(|e| format!("cannot use the self-signed certificate: {e}"))?;
    Ok(Tls {
        config: rustls,
        self_signed_cert: Some(cert_path),
        fingerprint: Some(fingerprint),
    })
}

/// rustls's server configuration from a PEM certificate chain and its PEM private key (PKCS#8,
/// PKCS#1 or SEC1), offering HTTP/2 before HTTP/1.1 to clients that ask (ALPN).
fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate is not PEM: {e}"))?;
    if chain.is_empty() {
        return Err("the certificate file holds no certificate".to_owned());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("the key is not a PEM private key: {e}"))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Write the certificate (for clients to trust), its key (readable by the server's user only)
/// and the names it was made for.
async fn write_self_signed(
    dir: &std::path::Path,
    cert: &str,
    key: &str,
    names: &str,
) -> Result<(), String> {
    let fail =
        |path: &std::path::Path, e: std::io::Error| format!("cannot write {}: {e}", path.display());
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| fail(dir, e))?;
    let key_path = dir.join("self-signed-key.pem");
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(&key_path)
        .await
        .map_err(|e| fail(&key_path, e))?;
    tokio::io::AsyncWriteExt::write_all(&mut file, key.as_bytes())
        .await
        .map_err(|e| fail(&key_path, e))?;
    for (name, text) in [
        ("self-signed-cert.pem", cert),
        ("self-signed-names.txt", names),
    ] {
        let path = dir.join(name);
        tokio::fs::write(&path, text)
            .await
            .map_err(|e| fail(&path, e))?;
    }
    Ok(())
}

/// The SHA-256 of the PEM certificate's DER bytes, as `AB:CD:...`.
fn fingerprint(cert_pem: &[u8]) -> Result<String, String> {
    use base64::Engine;
    use sha2::Digest;
    let text = std::str::from_utf8(cert_pem).map_err(|_| "the certificate is not PEM text")?;
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END CERTIFICATE-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|e| format!("the certificate is not PEM: {e}"))?;
    let digest = sha2::Sha256::digest(&der);
    Ok(digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made() -> (String, String) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (made.cert.pem(), made.signing_key.serialize_pem())
    }

    #[test]
    fn a_certificate_and_its_key_offer_http2_then_http1() {
        let (cert, key) = made();
        let config = server_config(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(config.alpn_protocols, [&b"h2"[..], &b"http/1.1"[..]]);
    }

    #[test]
    fn files_that_are_not_what_they_should_be_are_named_in_the_error() {
        let (cert, key) = made();
        let no_cert = server_config(b"not pem", key.as_bytes()).unwrap_err();
        assert!(no_cert.contains("no certificate"), "{no_cert}");
        let no_key = server_config(cert.as_bytes(), cert.as_bytes()).unwrap_err();
        assert!(no_key.contains("not a PEM private key"), "{no_key}");
        // A key that is not the certificate's.
        let (_, other_key) = made();
        let mismatch = server_config(cert.as_bytes(), other_key.as_bytes());
        assert!(mismatch.is_err());
    }
}
