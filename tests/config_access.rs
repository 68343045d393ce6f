//! `[api]` and `[http]` through the real binary: `bandwatch token new` prints a token and an
//! entry that `bandwatch check` accepts; bad scopes, hashes and expiry dates are reported
//! with file, line and key; the legacy shared token and an exposed unprotected listener are
//! warned about; the token never appears in what `check` prints.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bandwatch");

const BASE: &str = r#"
[daemon]
data_dir = "var"
rules_dir = "rules"

[snmp.default]
version = "2c"
community = "${BW_T_COMMUNITY:-public}"

[[site]]
name = "s"

[[switch]]
name = "sw"
site = "s"
address = "127.0.0.1:16100"
"#;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

fn check(text: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let file = dir.path().join("bandwatch.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--quiet", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        file,
        _dir: dir,
    }
}

/// 1-based line of the only line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "{needle:?} on lines {hits:?}");
    hits[0]
}

impl Run {
    fn has(&self, text: &str, needle: &str, key: &str, part: &str) -> bool {
        let prefix = format!("{}:{}:", self.file.display(), line_of(text, needle));
        self.stderr.lines().any(|l| {
            l.starts_with(&prefix) && l.contains(&format!(": {key}: ")) && l.contains(part)
        })
    }
}

#[test]
fn token_new_prints_a_token_once_and_an_entry_check_accepts() {
    let out = Command::new(BIN)
        .args(["token", "new", "billing-export", "--scope", "usage:write"])
        .args(["--scope", "report:read", "--expires", "2099-01-01"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().next().unwrap().trim().to_string();
    assert!(token.starts_with("bw_") && token.len() > 40, "{stdout}");
    let entry = &stdout[stdout.find("[[api.token]]").expect("an entry")..];
    assert!(
        entry.contains("scopes = [\"report:read\", \"usage:write\"]"),
        "{entry}"
    );
    assert!(
        !entry.contains(&token),
        "only the hash goes into the configuration"
    );
    let hash = bandwatch::http::auth::token::hash_line(&token);
    assert!(entry.contains(&hash), "{entry}");

    let text = format!("{BASE}\n{entry}");
    let run = check(&text);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains(&token) && !run.stdout.contains(&token));

    let bad = Command::new(BIN)
        .args(["token", "new", "x", "--scope", "metrics:write"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("metrics:read"));
}

#[test]
fn bad_token_entries_name_file_line_and_key() {
    let text = format!(
        "{BASE}\n[[api.token]]\nname = \"a\"\nscopes = [\"metrics:read\", \"root\"]\n\
         hash = \"sha256:{}\"\n\n[[api.token]]\nname = \"b\"\nscopes = [\"admin\"]\n\
         hash = \"hunter2\"\nexpires = \"next tuesday\"\n\n[[api.token]]\nname = \"a\"\n\
         scopes = []\nhash = \"sha256:{}\"\n",
        "ab".repeat(32),
        "cd".repeat(32)
    );
    let run = check(&text);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.has(
            &text,
            "\"root\"",
            "api.token[0].scopes[1]",
            "unknown scope `root`"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.has(&text, "hunter2", "api.token[1].hash", "sha256:"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("hunter2"),
        "a hash field's value is not echoed"
    );
    assert!(
        run.has(&text, "next tuesday", "api.token[1].expires", "not a date"),
        "{}",
        run.stderr
    );
    assert!(
        run.has(
            &text,
            "scopes = []",
            "api.token[2].scopes",
            "at least one scope"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("duplicate token `a`"), "{}", run.stderr);
}

#[test]
fn anonymous_writers_are_refused_in_the_configuration() {
    let text = format!("{BASE}\n[http]\nanonymous = [\"metrics:read\", \"usage:write\"]\n");
    let run = check(&text);
    assert_eq!(run.code, 1);
    assert!(
        run.has(&text, "anonymous =", "http.anonymous[1]", "may only read"),
        "{}",
        run.stderr
    );
}

#[test]
fn legacy_token_and_exposed_listener_are_warned_about() {
    let text = format!("{BASE}\n[api]\ntoken = \"${{BW_T_TOKEN:-not-for-your-eyes}}\"\n");
    let text = text.replace("[daemon]\n", "[daemon]\nlisten = \"0.0.0.0:9477\"\n");
    let run = check(&text);
    assert_eq!(run.code, 0, "warnings only: {}", run.stderr);
    assert!(
        run.has(&text, "not-for-your-eyes", "api.token", "deprecated"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("daemon.listen")
            && run
                .stderr
                .contains("reachable from other machines and nothing protects it"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-for-your-eyes"));

    // Loopback, or protected by a token: no exposure warning.
    let text = format!(
        "{BASE}\n[[api.token]]\nname = \"p\"\nscopes = [\"metrics:read\"]\nhash = \"sha256:{}\"\n",
        "ef".repeat(32)
    )
    .replace("[daemon]\n", "[daemon]\nlisten = \"0.0.0.0:9477\"\n");
    let run = check(&text);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.stderr.contains("nothing protects it"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_bad_web_configuration_is_reported_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let web = "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n  \
               client_auth_type: RequireAnyClientCert\n  min_version: TLS10\n\
               basic_auth_users:\n  grafana: hunter2\n\
               http_server_config:\n  headers:\n    Set-Cookie: a=b\n";
    std::fs::write(dir.path().join("web.yml"), web).unwrap();
    let file = dir.path().join("bandwatch.toml");
    std::fs::write(&file, format!("{BASE}\n[http]\nweb_config = \"web.yml\"\n")).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--quiet", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let web_path = dir.path().join("web.yml");
    for (line, key, part) in [
        (2, "tls_server_config.cert_file", "cannot read"),
        (3, "tls_server_config.key_file", "cannot read"),
        (4, "tls_server_config.client_auth_type", "not verified"),
        (5, "tls_server_config.min_version", "TLS 1.0 and 1.1"),
        (7, "basic_auth_users.grafana", "bcrypt"),
        (10, "http_server_config.headers.Set-Cookie", "cannot be set"),
    ] {
        let prefix = format!("{}:{line}:", web_path.display());
        assert!(
            stderr.lines().any(|l| l.starts_with(&prefix)
                && l.contains(&format!(": {key}: "))
                && l.contains(part)),
            "expected {prefix} {key}: ...{part}... in:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("hunter2"),
        "a hash field's value is not echoed"
    );

    // YAML that does not parse: its line.
    std::fs::write(dir.path().join("web.yml"), "basic_auth_users:\n  a: [\n").unwrap();
    let out = Command::new(BIN)
        .args(["check", "--quiet", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:", web_path.display())),
        "{stderr}"
    );
}

#[test]
fn web_hash_prints_a_bcrypt_hash_of_standard_input() {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .args(["web-hash", "--cost", "10"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    let hash = hash.trim();
    assert!(hash.starts_with("$2b$10$"), "{hash}");
    assert!(bcrypt::verify("correct horse", hash).unwrap());
    assert!(!bcrypt::verify("correct horse\n", hash).unwrap());
}

#[test]
fn run_refuses_to_start_with_a_web_configuration_that_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("web.yml"),
        "tls_server_config:\n  cert_file: gone.pem\n  key_file: gone.key\n",
    )
    .unwrap();
    let file = dir.path().join("bandwatch.toml");
    let text = format!("{BASE}\n[http]\nweb_config = \"web.yml\"\n")
        .replace("[daemon]\n", "[daemon]\nlisten = \"127.0.0.1:0\"\n");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(BIN)
        .args(["run", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("web.yml:2:") && stderr.contains("tls_server_config.cert_file"),
        "{stderr}"
    );
}
