//! `bandwatch check` driven as a user runs it: the real binary on config files written to a
//! temporary folder. Every bad-config case asserts the file, line and key in the message.

use std::path::{Path, PathBuf};
use std::process::Command;

const BASE: &str = r#"
[daemon]
data_dir = "var"
rules_dir = "rules"

[snmp.default]
version = "2c"
community = "${BW_T_COMMUNITY:-public}"
retries = 2

[[site]]
name = "bj-1"

[[site]]
name = "sh-1"

[[switch]]
name = "bj1-core-a"
site = "bj-1"
address = "127.0.0.1:16100"

[[switch]]
name = "sh1-core-a"
site = "sh-1"
address = "127.0.0.1:16101"

[[product_line]]
name = "cdn"
owners = ["ops"]

[[product_line]]
name = "cloud"
owners = ["ops"]

[[port]]
switch = "bj1-core-a"
name = "xe-0/0/1"
product_line = "cdn"
role = "uplink"
max_rate = "10Gbps"

[[port]]
switch = "bj1-core-a"
name = "xe-0/0/2"
product_line = "cloud"
role = "uplink"

[[port]]
switch = "sh1-core-a"
name = "xe-0/0/1"
product_line = "cdn"
role = "uplink"

[[customer]]
id = "acme"
account_manager = "sales"
ports = [{ switch = "bj1-core-a", name = "ge-0/0/1" }, { switch = "sh1-core-a", name = "ge-0/0/1" }]

[[route]]
name = "ops"
email = ["noc@example.net"]

[[route]]
name = "sales"
email = ["sales@example.net"]
"#;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    file: PathBuf,
    text: String,
    _dir: tempfile::TempDir,
}

fn check_text(text: &str, env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let file = dir.path().join("bandwatch.toml");
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bandwatch"));
    cmd.arg("check")
        .arg("-c")
        .arg(&file)
        .env_remove("BW_T_COMMUNITY")
        .env_remove("BW_T_UNSET_VAR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        file,
        text: text.to_string(),
        _dir: dir,
    }
}

/// The base config with `from` replaced by `to` (which must occur exactly once).
fn mutate(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "ambiguous mutation {from:?}");
    BASE.replacen(from, to, 1)
}

/// 1-based line of the only line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "needle {needle:?} found on lines {hits:?}");
    hits[0]
}

impl Run {
    /// Asserts a `FILE:LINE:COL: KEY: message` line with this line, key and message part.
    fn assert_error(&self, needle: &str, key: &str, message_part: &str) {
        let line = line_of(&self.text, needle);
        let prefix = format!("{}:{line}:", self.file.display());
        let found = self.stderr.lines().any(|l| {
            l.starts_with(&prefix) && l.contains(&format!(": {key}: ")) && l.contains(message_part)
        });
        assert!(
            found,
            "expected `{prefix}COL: {key}: ...{message_part}...` in stderr:\n{}",
            self.stderr
        );
        assert_eq!(
            self.code, 1,
            "check must exit 1 on errors; stderr:\n{}",
            self.stderr
        );
        assert!(
            self.stdout.is_empty(),
            "no summary on errors, got:\n{}",
            self.stdout
        );
    }
}

#[test]
fn base_config_is_valid_and_summarized() {
    let r = check_text(BASE, &[]);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr);
    assert!(
        r.stdout
            .contains("2 sites, 2 switches, 5 ports, 2 product lines, 1 customers"),
        "{}",
        r.stdout
    );
    // A product line spanning switches and sites, and two product lines sharing one switch.
    assert!(
        r.stdout
            .contains("cdn              2 ports on 2 switches at 2 sites (bj-1, sh-1)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("bj1-core-a/xe-0/0/2 (uplink)"),
        "{}",
        r.stdout
    );
    // A customer on two switches.
    assert!(
        r.stdout
            .contains("2 ports: bj1-core-a/ge-0/0/1, sh1-core-a/ge-0/0/1"),
        "{}",
        r.stdout
    );
}

/// Customers and product lines known by address prefixes: the summary counts them and lists
/// each one's prefixes and whether flows or its ports measure it, and the flow exporters.
#[test]
fn prefixes_of_customers_and_product_lines_are_summarized() {
    let text = format!(
        "{}{}",
        BASE.replace(
            "name = \"cloud\"\nowners = [\"ops\"]",
            "name = \"cloud\"\nowners = [\"ops\"]\nprefixes = [\"203.0.112.0/22\"]",
        )
        .replace(
            "id = \"acme\"\n",
            "id = \"acme\"\nprefixes = [\"192.0.2.0/26\"]\n",
        ),
        r#"
[[product_line]]
name = "tenant-cloud"
prefixes = ["198.51.100.0/24", "2001:db8::/32"]

[[customer]]
id = "tenant-a"
prefixes = ["203.0.113.0/25", "2001:db8:a::/48"]

[[customer]]
id = "tenant-b"
prefixes = ["203.0.113.128/25"]

[flow]
listen = ["127.0.0.1:2055"]

[[flow.exporter]]
switch = "bj1-core-a"
sampling = 512
"#
    );
    let r = check_text(&text, &[]);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr);
    let out = &r.stdout;
    assert!(
        out.contains(
            "flows: listening on 127.0.0.1:2055, 1 exporter; 4 customer prefixes of 3 \
             customers (2 measured by flows), 3 product line prefixes of 2 product lines \
             (1 measured by flows)"
        ),
        "{out}"
    );
    assert!(
        out.contains("    2 prefixes: 203.0.113.0/25, 2001:db8:a::/48 (measured by flows)"),
        "{out}"
    );
    assert!(
        out.contains("    1 prefix: 203.0.113.128/25 (measured by flows)"),
        "{out}"
    );
    assert!(
        out.contains("    1 prefix: 192.0.2.0/26 (measured by its ports;"),
        "acme has ports: {out}"
    );
    assert!(
        out.contains("    2 prefixes: 198.51.100.0/24, 2001:db8::/32 (measured by flows)"),
        "{out}"
    );
    assert!(
        out.contains("    1 prefix: 203.0.112.0/22 (measured by its ports;"),
        "{out}"
    );
    assert!(
        out.contains("bj1-core-a       from 127.0.0.1, 1 in 512 sampled"),
        "{out}"
    );
    // Without prefixes or flows the summary says nothing of them.
    let plain = check_text(BASE, &[]);
    assert!(!plain.stdout.contains("flows:"), "{}", plain.stdout);
    assert!(!plain.stdout.contains("prefix"), "{}", plain.stdout);
}

#[test]
fn example_config_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .current_dir(root)
        .args(["check", "-c", "config/bandwatch.toml"])
        .env_remove("BANDWATCH_COMMUNITY")
        .env_remove("SMTP_PASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 sites, 5 switches"), "{stdout}");
    assert!(stdout.contains("8 customers"), "{stdout}");
}

#[test]
fn toml_syntax_error() {
    let r = check_text(&mutate("name = \"sh-1\"", "name = \"sh-1"), &[]);
    r.assert_error("name = \"sh-1", "name", "TOML syntax error");
}

#[test]
fn unknown_key() {
    let r = check_text(&mutate("retries = 2", "comunity = \"x\""), &[]);
    r.assert_error(
        "comunity",
        "snmp.default.comunity",
        "unknown field `comunity`",
    );
}

#[test]
fn unknown_top_level_key() {
    let r = check_text(&format!("[deamon]\nlisten = \"x\"\n{BASE}"), &[]);
    r.assert_error("[deamon]", "deamon", "unknown key `deamon`");
}

#[test]
fn wrong_type() {
    let r = check_text(&mutate("retries = 2", "retries = \"two\""), &[]);
    r.assert_error("retries = \"two\"", "snmp.default.retries", "invalid type");
}

#[test]
fn bad_duration() {
    let r = check_text(
        &mutate(
            "address = \"127.0.0.1:16100\"",
            "address = \"127.0.0.1:16100\"\ninterval = \"5 parsecs\"",
        ),
        &[],
    );
    r.assert_error("5 parsecs", "switch[0].interval", "invalid duration");
}

/// A value `run` could not honour (the poller's semaphore holds at most usize::MAX >> 3
/// permits) is refused by `check`, with its line and key, instead of passing and panicking.
#[test]
fn max_concurrent_polls_out_of_range() {
    let r = check_text(
        &mutate(
            "rules_dir = \"rules\"",
            "rules_dir = \"rules\"\nmax_concurrent_polls = 9223372036854775807",
        ),
        &[],
    );
    r.assert_error(
        "max_concurrent_polls = 9223372036854775807",
        "daemon.max_concurrent_polls",
        "must be between 1 and 65536",
    );
}

#[test]
fn bad_rate() {
    let r = check_text(
        &mutate("max_rate = \"10Gbps\"", "max_rate = \"10 Gigs\""),
        &[],
    );
    r.assert_error("10 Gigs", "port[0].max_rate", "invalid bit rate");
}

#[test]
fn unresolved_references() {
    let text = mutate("site = \"sh-1\"", "site = \"sh-9\"")
        .replacen("owners = [\"ops\"]", "owners = [\"opz\"]", 1)
        .replacen(
            "account_manager = \"sales\"",
            "account_manager = \"salez\"",
            1,
        );
    let r = check_text(&text, &[]);
    r.assert_error("sh-9", "switch[1].site", "unknown site `sh-9`");
    r.assert_error("opz", "product_line[0].owners[0]", "unknown route `opz`");
    r.assert_error(
        "salez",
        "customer[0].account_manager",
        "unknown route `salez`",
    );
}

#[test]
fn unresolved_port_switch_and_product_line() {
    let text = mutate("product_line = \"cloud\"", "product_line = \"video\"");
    let r = check_text(&text, &[]);
    r.assert_error(
        "\"video\"",
        "port[1].product_line",
        "unknown product line `video`",
    );
}

#[test]
fn duplicate_name_names_both_places() {
    let text = format!(
        "{BASE}\n[[switch]]\nname = \"bj1-core-a\" # again\nsite = \"bj-1\"\naddress = \"127.0.0.1:16102\"\n"
    );
    let r = check_text(&text, &[]);
    r.assert_error("# again", "switch[2].name", "duplicate switch `bj1-core-a`");
    let first_line = text
        .lines()
        .position(|l| l == "name = \"bj1-core-a\"")
        .unwrap()
        + 1;
    assert!(
        r.stderr.contains(&format!(
            "first defined at {}:{first_line}:",
            r.file.display()
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn port_claimed_by_two_customers() {
    let text = format!(
        "{BASE}\n[[customer]]\nid = \"beta\"\nports = [{{ switch = \"bj1-core-a\", name = \"ge-0/0/1\" }}] # twice\n"
    );
    let r = check_text(&text, &[]);
    r.assert_error(
        "# twice",
        "customer[1].ports[0].name",
        "already claimed by customer `acme`",
    );
    let first_line = line_of(
        &text,
        "ports = [{ switch = \"bj1-core-a\", name = \"ge-0/0/1\" }, ",
    );
    assert!(
        r.stderr
            .contains(&format!("{}:{first_line}:", r.file.display())),
        "{}",
        r.stderr
    );
}

#[test]
fn port_claimed_by_two_product_lines() {
    let text = format!(
        "{BASE}\n[[port]]\nswitch = \"bj1-core-a\"\nname = \"xe-0/0/1\" # twice\nproduct_line = \"cloud\"\n"
    );
    let r = check_text(&text, &[]);
    r.assert_error(
        "# twice",
        "port[3].name",
        "port `bj1-core-a/xe-0/0/1` is declared twice",
    );
}

#[test]
fn missing_environment_variable_for_secret() {
    let r = check_text(
        &mutate("${BW_T_COMMUNITY:-public}", "${BW_T_UNSET_VAR}"),
        &[],
    );
    r.assert_error(
        "BW_T_UNSET_VAR",
        "snmp.default.community",
        "environment variable BW_T_UNSET_VAR is not set",
    );
}

#[test]
fn invalid_alias_patterns() {
    let text = mutate(
        "address = \"127.0.0.1:16101\"",
        "address = \"127.0.0.1:16101\"\nalias_patterns = [\"^Cust: (?P<customer>[a-z\", \"^(?P<tenant>.+)$\"]",
    );
    let r = check_text(&text, &[]);
    r.assert_error(
        "alias_patterns",
        "switch[1].alias_patterns[0]",
        "invalid regular expression",
    );
    r.assert_error(
        "alias_patterns",
        "switch[1].alias_patterns[1]",
        "unknown group `tenant`",
    );
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let text = mutate("site = \"sh-1\"", "site = \"sh-9\"")
        .replacen("retries = 2", "retries = \"two\"", 1)
        .replacen("max_rate = \"10Gbps\"", "max_rate = \"fast\"", 1);
    let r = check_text(&text, &[]);
    r.assert_error("sh-9", "switch[1].site", "unknown site");
    r.assert_error("\"two\"", "snmp.default.retries", "invalid type");
    r.assert_error("\"fast\"", "port[0].max_rate", "invalid bit rate");
    assert!(r.stderr.contains("3 errors found"), "{}", r.stderr);
}

#[test]
fn secrets_never_appear_in_output() {
    let secret = "Sup3rSecretCommunity";
    // A valid run: the summary must not show the community.
    let ok = check_text(BASE, &[("BW_T_COMMUNITY", secret)]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(!ok.stdout.contains(secret) && !ok.stderr.contains(secret));
    // A v3 password that is too short: the error names the key, never the value.
    let text = format!(
        "{BASE}\n[snmp.secure]\nversion = \"3\"\nuser = \"bw\"\nauth = \"sha256\"\nauth_password = \"${{BW_T_COMMUNITY}}\"\n"
    );
    let bad = check_text(&text, &[("BW_T_COMMUNITY", "short")]);
    bad.assert_error(
        "auth_password",
        "snmp.secure.auth_password",
        "at least 8 characters",
    );
    assert!(
        !bad.stderr.contains("short\n") && !bad.stderr.contains("`short`"),
        "{}",
        bad.stderr
    );
    // A literal secret is refused without echoing it.
    let lit = check_text(&mutate("${BW_T_COMMUNITY:-public}", secret), &[]);
    lit.assert_error(secret, "snmp.default.community", "must be written as");
    assert!(!lit.stderr.contains(secret), "{}", lit.stderr);
}

#[test]
fn pending_commands_say_not_implemented_and_exit_2() {
    for cmd in ["demo", "report", "import", "silence"] {
        let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
            .arg(cmd)
            .arg("--whatever")
            .output()
            .unwrap();
        if out.status.code() == Some(2)
            && String::from_utf8_lossy(&out.stderr).contains("not implemented yet")
        {
            continue;
        }
        // Commands that have landed must not claim to be pending.
        assert_ne!(
            out.status.code(),
            Some(0),
            "{cmd} with a bogus flag must not succeed"
        );
    }
}

/// A password over a connection without TLS is refused at the password's line, unless the
/// operator says the path is trusted.
#[test]
fn password_in_clear_text_is_refused_unless_allowed() {
    let email = "\n[email]\nserver = \"relay.example.net:25\"\nsecurity = \"none\"\nusername = \"bw\"\npassword = \"${BW_T_SMTP_PASSWORD}\"\nfrom = \"bandwatch <bw@example.net>\"\n";
    let text = format!("{BASE}{email}");
    let r = check_text(&text, &[("BW_T_SMTP_PASSWORD", "hunter2")]);
    r.assert_error(
        "password = \"${BW_T_SMTP_PASSWORD}\"",
        "email.password",
        "clear text",
    );
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    let allowed = format!("{text}allow_insecure_auth = true\n");
    let r = check_text(&allowed, &[("BW_T_SMTP_PASSWORD", "hunter2")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Values `run` could not honour, or that would silence a switch for good, are errors with
/// their line and key.
#[test]
fn out_of_range_periods_counts_and_retention_are_refused() {
    let r = check_text(
        &mutate(
            "address = \"127.0.0.1:16100\"",
            "address = \"127.0.0.1:16100\"\ninterval = \"200000000000y\"",
        ),
        &[],
    );
    r.assert_error(
        "interval = \"200000000000y\"",
        "switch[0].interval",
        "longer than 100 years",
    );
    let r = check_text(
        &mutate(
            "address = \"127.0.0.1:16100\"",
            "address = \"127.0.0.1:16100\"\ninterval = \"3d\"",
        ),
        &[],
    );
    r.assert_error(
        "interval = \"3d\"",
        "switch[0].interval",
        "between 1s and 1d",
    );
    let r = check_text(&mutate("retries = 2", "retries = 4294967295"), &[]);
    r.assert_error(
        "retries = 4294967295",
        "snmp.default.retries",
        "between 0 and 10",
    );
    let r = check_text(
        &format!("{BASE}\n[retention]\nraw = \"300000000000y\"\n"),
        &[],
    );
    r.assert_error(
        "raw = \"300000000000y\"",
        "retention.raw",
        "longer than 100 years",
    );
}

/// The fuzz target `config_rules` with deterministic mutations of the shipped configuration
/// and rule files (truncations, byte flips, lines dropped or doubled, huge numbers): every
/// one is reported or accepted, none panics, and a mangled file still gives diagnostics.
#[test]
fn mutated_configs_and_rules_are_reported_never_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(root.join("config/bandwatch.toml")).unwrap();
    let mut rules = String::new();
    for f in ["business", "health", "traffic"] {
        rules.push_str(
            &std::fs::read_to_string(root.join(format!("config/demo-rules/{f}.toml"))).unwrap(),
        );
    }
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let mutate = |text: &str, kind: usize, a: usize, b: usize| -> String {
        let bytes = text.as_bytes();
        let lines: Vec<&str> = text.lines().collect();
        match kind {
            0 => String::from_utf8_lossy(&bytes[..a % bytes.len()]).into_owned(),
            1 => {
                let mut v = bytes.to_vec();
                let i = a % v.len();
                v[i] ^= 1 << (b % 8);
                String::from_utf8_lossy(&v).into_owned()
            }
            2 => {
                let skip = a % lines.len();
                lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, l)| *l)
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            3 => {
                let dup = a % lines.len();
                let mut v = lines.clone();
                v.insert(dup, lines[dup]);
                v.join("\n")
            }
            _ => {
                // A number made absurd: durations, counts and rates of every size.
                let huge = ["99999999999999999999", "-1", "1e308", "300000000000y", "0"];
                let mut out = text.to_string();
                if let Some(i) = out
                    .char_indices()
                    .filter(|(_, c)| c.is_ascii_digit())
                    .nth(a % 400)
                {
                    out.replace_range(i.0..i.0 + 1, huge[b % huge.len()]);
                }
                out
            }
        }
    };
    // Unmangled, both are clean: what the mutations report is theirs.
    assert_eq!(
        bandwatch::config::check_text(&root.join("config"), &config, &rules),
        0
    );
    let mut reported = 0;
    for _ in 0..400 {
        let (kind, a, b) = (next(5), next(1 << 20), next(64));
        let c = mutate(&config, kind, a, b);
        let r = mutate(&rules, next(5), next(1 << 20), next(64));
        if bandwatch::config::check_text(&root.join("config"), &c, &r) > 0 {
            reported += 1;
        }
    }
    assert!(
        reported > 100,
        "only {reported} of 400 mangled pairs gave a diagnostic"
    );
}

#[test]
fn maintenance_windows_are_checked_and_their_next_occurrences_shown() {
    let bad = format!(
        r#"{BASE}
[[maintenance]]
name = "w-tz"
every = "sunday 02:00"
duration = "2h"
time_zone = "Mars/Olympus"

[[maintenance]]
name = "w-every"
every = "funday 02:00"
duration = "2h"

[[maintenance]]
name = "w-dur"
cron = "0 2 * * 0"

[[maintenance]]
name = "w-until"
from = "2026-12-06 04:00"
until = "2026-12-06 02:00"

[[maintenance]]
name = "w-label"
match = {{ colour = "red" }}
from = "2026-12-06 02:00"
until = "2026-12-06 04:00"

[[maintenance]]
name = "w-cron"
cron = "0 2 * *"
duration = "1h"
"#
    );
    let r = check_text(&bad, &[]);
    r.assert_error(
        "time_zone = \"Mars/Olympus\"",
        "maintenance[0].time_zone",
        "unknown time zone `Mars/Olympus`",
    );
    r.assert_error(
        "every = \"funday 02:00\"",
        "maintenance[1].every",
        "`funday` is not a weekday",
    );
    r.assert_error(
        "cron = \"0 2 * * 0\"",
        "maintenance[2].duration",
        "a recurring window needs `duration`",
    );
    r.assert_error(
        "until = \"2026-12-06 02:00\"",
        "maintenance[3].until",
        "must be after `from`",
    );
    r.assert_error(
        "colour = \"red\"",
        "maintenance[4].match.colour",
        "cannot match `colour`",
    );
    r.assert_error(
        "cron = \"0 2 * *\"",
        "maintenance[5].cron",
        "has five fields",
    );

    // A valid one: the summary lists it with its next three occurrences, in local time.
    let good = format!(
        "{BASE}\n[[maintenance]]\nname = \"firmware\"\nmatch = {{ switch = \"bj1-core-a\" }}\nevery = \"sunday 02:00\"\nduration = \"2h\"\ntime_zone = \"Europe/Berlin\"\nalerts = [\"no-such-rule\"]\n"
    );
    let r = check_text(&good, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let listed: Vec<&str> = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("maintenance windows (next three occurrences)"))
        .skip(1)
        .take(4)
        .collect();
    assert_eq!(
        listed[0].trim(),
        "firmware         every sunday 02:00 for 2 h (Europe/Berlin)",
        "{}",
        r.stdout
    );
    for l in &listed[1..] {
        // `Sun 2026-12-06 02:00 CET - Sun 2026-12-06 04:00 CET`
        assert!(
            l.trim().starts_with("Sun ") && l.contains(" 02:00 CE"),
            "{l}"
        );
    }
    // A rule name that no rule has is a warning that names the window.
    assert!(
        r.stderr
            .contains("maintenance[0].alerts: warning: window `firmware` mutes `no-such-rule`"),
        "{}",
        r.stderr
    );
}
