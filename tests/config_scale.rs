//! `bandwatch check` on large files, as a user runs it: positions late in a file of thousands
//! of rules are right (line and column come from an index of the file, not from a scan per
//! rule), and a file with thousands of mistakes lists the first ones and counts the rest.
//! Times are measured by `benches/scale/check.sh`, not here.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

const CONFIG: &str = r#"
[daemon]
data_dir = "var"
rules_dir = "rules"

[snmp.default]
version = "2c"
community = "${BW_T_COMMUNITY:-public}"

[[site]]
name = "s1"

[[switch]]
name = "sw1"
site = "s1"
address = "127.0.0.1:16100"

[[port]]
switch = "sw1"
name = "xe-0/0/1"
role = "uplink"

[[route]]
name = "ops"
email = ["noc@example.net"]
"#;

/// A valid threshold rule (9 lines and a blank one).
fn rule(out: &mut String, i: usize) {
    writeln!(
        out,
        "[[rule]]\nname = \"saturated-{i}\"\nkind = \"threshold\"\nscope = \"port\"\n\
         metric = \"utilization\"\nabove = 0.9\nfor = \"15m\"\nseverity = \"warning\"\n\
         notify = [\"ops\"]\n"
    )
    .unwrap();
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn check(dir: &Path, rules: &str) -> Run {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("bandwatch.toml"), CONFIG).unwrap();
    std::fs::write(dir.join("rules/many.toml"), rules).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .arg("-c")
        .arg(dir.join("bandwatch.toml"))
        .arg("check")
        .env_remove("BW_T_COMMUNITY")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn errors_late_in_a_file_of_thousands_of_rules_name_their_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..4000 {
        rule(&mut text, i);
    }
    // Two mistakes near the end: a wrong kind (its value starts at column 8) and, three
    // rules later, a duplicate name.
    let kind_line = text.lines().count() + 3;
    text.push_str(
        "[[rule]]\nname = \"late\"\nkind = \"spiky\"\nscope = \"port\"\nnotify = [\"ops\"]\n\n",
    );
    for i in 4000..4003 {
        rule(&mut text, i);
    }
    let dup_line = text.lines().count() + 1;
    rule(&mut text, 17);
    let r = check(dir.path(), &text);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let file = dir.path().join("rules/many.toml");
    let want = format!(
        "{}:{kind_line}:8: rule[4000].kind: unknown kind `spiky`",
        file.display()
    );
    assert!(r.stderr.contains(&want), "want {want} in:\n{}", r.stderr);
    let want = format!(
        "{}:{dup_line}:1: rule[4004].name: duplicate rule `saturated-17`",
        file.display()
    );
    assert!(r.stderr.contains(&want), "want {want} in:\n{}", r.stderr);
    assert!(r.stderr.contains("2 errors found"), "{}", r.stderr);
    assert!(r.stdout.is_empty());

    // Without the mistakes, every rule loads and the summary gives each one's line.
    let mut text = String::new();
    for i in 0..4000 {
        rule(&mut text, i);
    }
    let r = check(dir.path(), &text);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("4000 rules in 1 files"), "{}", r.stdout);
    // Rule i's name is on line 10 i + 2.
    let want = format!("  {:<28} many.toml:{}", "saturated-3999", 10 * 3999 + 2);
    assert!(r.stdout.contains(&want), "want {want} in:\n{}", r.stdout);
}

#[test]
fn a_file_of_garbage_lists_the_first_errors_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..5000 {
        writeln!(text, "{i} this is not toml = = [[ {i:x} ]] \"unterminated").unwrap();
    }
    let r = check(dir.path(), &text);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let file = format!("{}:", dir.path().join("rules/many.toml").display());
    let listed: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with(&file)).collect();
    assert_eq!(listed.len(), 20, "{}", r.stderr);
    // The first ones, in file order: line 1 first.
    assert!(listed[0].starts_with(&format!("{file}1:")), "{}", listed[0]);
    let more: usize = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("... and ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count of the rest in:\n{}", r.stderr));
    assert!(more >= 5000 - 20, "{more}");
    let total = format!("{} errors found", more + 20);
    assert!(r.stderr.contains(&total), "want {total} in:\n{}", r.stderr);
}
