//! Secrets (SNMP communities, v3 passwords, the SMTP password, API tokens).
//!
//! A secret is written in the configuration as `${ENV_VAR}` (or `${ENV_VAR:-default}`) or as
//! `file:/path` (relative paths are taken from the configuration file's folder), and expanded
//! once at load. The value never reaches a log line, `bandwatch check`'s output, `/metrics` or
//! an error message: [`Secret`] prints as `<redacted>` and has no accessor that formats it.

use std::fmt;
use std::path::Path;

/// An expanded secret value. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value obtained elsewhere (tests, the simulator).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for the one place that needs it (an SNMP session, an SMTP login).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Expands a secret reference as written in a file. The error names the variable or file and
/// the reason, never the value.
pub fn expand(written: &str, base_dir: &Path) -> Result<Secret, String> {
    let w = written.trim();
    if let Some(inner) = w.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            // Not echoed: what was written there may be the secret itself.
            return Err(
                "`${...}` must name an environment variable (letters, digits and `_`); \
                 what is written there is not shown, in case it is the secret itself"
                    .to_string(),
            );
        }
        return match std::env::var(name) {
            Ok(v) if !v.is_empty() => Ok(Secret(v)),
            Ok(_) | Err(std::env::VarError::NotPresent) => match default {
                Some(d) => Ok(Secret(d.to_string())),
                None => Err(format!("environment variable {name} is not set")),
            },
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(format!("environment variable {name} is not valid UTF-8"))
            }
        };
    }
    if let Some(path) = w.strip_prefix("file:") {
        let p = Path::new(path.trim());
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        };
        return match std::fs::read_to_string(&full) {
            Ok(s) => {
                let v = s.trim_end_matches(['\n', '\r']).to_string();
                if v.is_empty() {
                    Err(format!("secret file {} is empty", full.display()))
                } else {
                    Ok(Secret(v))
                }
            }
            Err(e) => Err(format!("cannot read secret file {}: {e}", full.display())),
        };
    }
    Err("a secret must be written as `${ENV_VAR}` or `file:/path`, so that it stays out of the configuration file"
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_variable_name_is_not_echoed() {
        let e = expand("${hunter2 is my password}", Path::new("/")).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("environment variable"), "{e}");
    }

    #[test]
    fn env_and_default() {
        // SAFETY: this test owns this variable name; no other test reads or writes it.
        unsafe { std::env::set_var("BW_TEST_SECRET_A", "s3cret") };
        let s = expand("${BW_TEST_SECRET_A}", Path::new(".")).unwrap();
        assert_eq!(s.expose(), "s3cret");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        let d = expand("${BW_TEST_SECRET_UNSET_X:-public}", Path::new(".")).unwrap();
        assert_eq!(d.expose(), "public");
        let e = expand("${BW_TEST_SECRET_UNSET_X}", Path::new(".")).unwrap_err();
        assert!(e.contains("BW_TEST_SECRET_UNSET_X is not set"), "{e}");
    }

    #[test]
    fn literal_is_refused_without_echoing_it() {
        let e = expand("hunter2", Path::new(".")).unwrap_err();
        assert!(!e.contains("hunter2"));
    }

    #[test]
    fn file_relative_to_base() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c"), "topsecret\n").unwrap();
        assert_eq!(expand("file:c", dir.path()).unwrap().expose(), "topsecret");
        let e = expand("file:missing", dir.path()).unwrap_err();
        assert!(e.contains("cannot read secret file"), "{e}");
    }
}
