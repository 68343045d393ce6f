//! `tls_server_config` as a rustls server configuration (ring provider, no OpenSSL):
//! certificate chain and key from PEM files (or inline PEM), TLS 1.2 or 1.3 as the minimum,
//! client certificates verified against `client_ca_file`.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use super::{ClientAuth, Problems, RawTls};

const K: &str = "tls_server_config";

/// Builds the rustls configuration; problems go to `p` (the result is `None` then).
pub(super) fn build(
    p: &mut Problems<'_>,
    t: RawTls,
) -> (Option<Arc<rustls::ServerConfig>>, ClientAuth) {
    for (set, key) in [
        (t.cipher_suites.is_some(), "cipher_suites"),
        (t.curve_preferences.is_some(), "curve_preferences"),
        (
            t.prefer_server_cipher_suites.is_some(),
            "prefer_server_cipher_suites",
        ),
    ] {
        if set {
            p.warning(
                &format!("{K}.{key}"),
                "ignored: rustls offers only modern suites and curves, in its own order",
            );
        }
    }
    if t.client_allowed_sans.is_some() {
        p.error(
            &format!("{K}.client_allowed_sans"),
            "not supported by bandwatch: issue client certificates from a CA of their own \
             and name it in client_ca_file",
        );
    }
    let certs = pem_source(p, "cert", t.cert_file.as_deref(), t.cert.as_deref(), |b| {
        CertificateDer::pem_slice_iter(b)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
            .and_then(|c| {
                if c.is_empty() {
                    Err("no certificate in it".into())
                } else {
                    Ok(c)
                }
            })
    });
    let key = pem_source(p, "key", t.key_file.as_deref(), t.key.as_deref(), |b| {
        PrivateKeyDer::from_pem_slice(b).map_err(|e| e.to_string())
    });
    let client_auth = client_auth(p, t.client_auth_type.as_deref());
    let roots = match (
        client_auth,
        t.client_ca_file.as_deref(),
        t.client_ca.as_deref(),
    ) {
        (ClientAuth::None, None, None) => None,
        (ClientAuth::None, _, _) => {
            p.warning(
                &format!("{K}.client_ca_file"),
                "ignored: client_auth_type is NoClientCert",
            );
            None
        }
        (_, None, None) => {
            p.error(
                &format!("{K}.client_auth_type"),
                "verifying client certificates needs client_ca_file",
            );
            None
        }
        (_, file, inline) => pem_source(p, "client_ca", file, inline, |b| {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(b) {
                let c = c.map_err(|e| e.to_string())?;
                roots.add(c).map_err(|e| e.to_string())?;
            }
            if roots.is_empty() {
                return Err("no certificate in it".into());
            }
            Ok(Arc::new(roots))
        }),
    };
    let versions = versions(p, t.min_version.as_deref(), t.max_version.as_deref());
    let (Some(certs), Some(key), Some(versions)) = (certs, key, versions) else {
        return (None, client_auth);
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
    {
        Ok(b) => b,
        Err(e) => {
            p.error(&format!("{K}.min_version"), e.to_string());
            return (None, client_auth);
        }
    };
    let builder = match (client_auth, roots) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(roots)) => {
            let v = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let v = if auth == ClientAuth::VerifyIfGiven {
                v.allow_unauthenticated()
            } else {
                v
            };
            match v.build() {
                Ok(v) => builder.with_client_cert_verifier(v),
                Err(e) => {
                    p.error(&format!("{K}.client_ca_file"), e.to_string());
                    return (None, client_auth);
                }
            }
        }
    };
    match builder.with_single_cert(certs, key) {
        Ok(mut cfg) => {
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            (Some(Arc::new(cfg)), client_auth)
        }
        Err(e) => {
            p.error(
                &format!("{K}.key_file"),
                format!("the key does not go with the certificate: {e}"),
            );
            (None, client_auth)
        }
    }
}

/// PEM from `NAME_file` or inline `NAME`, exactly one of them, parsed by `parse`.
fn pem_source<T>(
    p: &mut Problems<'_>,
    name: &str,
    file: Option<&str>,
    inline: Option<&str>,
    parse: impl Fn(&[u8]) -> Result<T, String>,
) -> Option<T> {
    let (key, bytes) = match (file, inline) {
        (Some(_), Some(_)) => {
            p.error(
                &format!("{K}.{name}"),
                format!("write {name}_file or {name}, not both"),
            );
            return None;
        }
        (None, None) => {
            p.error(
                &format!("{K}.{name}_file"),
                format!("{name}_file is required"),
            );
            return None;
        }
        (Some(f), None) => {
            let key = format!("{K}.{name}_file");
            let path = p.resolve(f);
            p.files.push(path.clone());
            match std::fs::read(&path) {
                Ok(b) => (key, b),
                Err(e) => {
                    p.error(&key, format!("cannot read {}: {e}", path.display()));
                    return None;
                }
            }
        }
        (None, Some(text)) => (format!("{K}.{name}"), text.as_bytes().to_vec()),
    };
    match parse(&bytes) {
        Ok(t) => Some(t),
        Err(e) => {
            p.error(&key, format!("not usable PEM: {e}"));
            None
        }
    }
}

fn client_auth(p: &mut Problems<'_>, written: Option<&str>) -> ClientAuth {
    match written.unwrap_or("NoClientCert") {
        "" | "NoClientCert" => ClientAuth::None,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
        "RequestClientCert" | "RequireAnyClientCert" => {
            p.error(
                &format!("{K}.client_auth_type"),
                "certificates that are not verified are not accepted by bandwatch: use \
                 VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file",
            );
            ClientAuth::None
        }
        other => {
            p.error(
                &format!("{K}.client_auth_type"),
                format!(
                    "unknown `{other}`; write NoClientCert, VerifyClientCertIfGiven or \
                     RequireAndVerifyClientCert"
                ),
            );
            ClientAuth::None
        }
    }
}

fn versions(
    p: &mut Problems<'_>,
    min: Option<&str>,
    max: Option<&str>,
) -> Option<&'static [&'static rustls::SupportedProtocolVersion]> {
    const BOTH: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    const V13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    const V12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    let mut level = |key: &str, v: Option<&str>, default: u8| match v {
        None | Some("") => Some(default),
        Some("TLS12") => Some(12),
        Some("TLS13") => Some(13),
        Some("TLS10" | "TLS11") => {
            p.error(
                &format!("{K}.{key}"),
                "TLS 1.0 and 1.1 are not offered (rustls): write TLS12 or TLS13",
            );
            None
        }
        Some(other) => {
            p.error(
                &format!("{K}.{key}"),
                format!("unknown `{other}`; write TLS12 or TLS13"),
            );
            None
        }
    };
    let (lo, hi) = (
        level("min_version", min, 12)?,
        level("max_version", max, 13)?,
    );
    match (lo, hi) {
        (12, 13) => Some(BOTH),
        (13, 13) => Some(V13),
        (12, 12) => Some(V12),
        _ => {
            p.error(
                &format!("{K}.max_version"),
                "max_version is below min_version",
            );
            None
        }
    }
}
