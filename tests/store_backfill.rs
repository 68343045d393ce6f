//! `bandwatch backfill` as a benchmark or a trial runs it: a configuration whose ports the
//! simulator does not name (the rig's `swp1..swpN`), a new SQLite store filled with days of
//! modelled traffic, read back with `bandwatch query`; a store that exists is refused without
//! `--force`, and a PostgreSQL store is refused.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bandwatch");

fn config(store: &str) -> String {
    let mut c = format!(
        "[daemon]\ndata_dir = \"data\"\nrules_dir = \"rules\"\n\n{store}\
         [snmp.default]\nversion = \"2c\"\ncommunity = \"${{BW_TEST_COMMUNITY:-public}}\"\n\n\
         [[site]]\nname = \"a\"\n\n[[product_line]]\nname = \"cdn\"\n\n"
    );
    for (n, sw) in ["core-1", "core-2"].iter().enumerate() {
        c += &format!(
            "[[switch]]\nname = \"{sw}\"\nsite = \"a\"\naddress = \"127.0.0.1:{}\"\n\n",
            1161 + n
        );
        for p in 1..=3 {
            c += &format!(
                "[[port]]\nswitch = \"{sw}\"\nname = \"swp{p}\"\nproduct_line = \"cdn\"\n\n"
            );
        }
    }
    c
}

fn bandwatch(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Hourly `in_bps` of `entity` over the last `days`, from `bandwatch query --format csv`:
/// `None` where the store has no value.
fn hourly(config: &Path, entity: &str, days: u32) -> Vec<Option<f64>> {
    let from = format!("now-{days}d");
    let (ok, out, err) = bandwatch(
        config,
        &[
            "query", "--entity", entity, "--metric", "in_bps", "--from", &from, "--to", "now",
            "--step", "1h", "--format", "csv",
        ],
    );
    assert!(ok, "{err}");
    out.lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).and_then(|v| v.parse().ok()))
        .collect()
}

#[test]
fn backfill_fills_every_configured_port_with_days_of_rhythmic_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bandwatch.toml");
    std::fs::write(&cfg, config("")).unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();

    let (ok, out, err) = bandwatch(&cfg, &["backfill", "--days", "3", "--step", "5m"]);
    assert!(ok, "{err}");
    // 3 days of 5-minute sweeps and the first one, for each of the 2 switches, 3 ports each.
    let sweeps = (3 * 288 + 1) * 2;
    assert!(
        out.contains(&format!(
            "backfilled {sweeps} sweeps ({} port readings",
            sweeps * 3
        )),
        "{out}"
    );

    for entity in [
        "port:core-1/swp1",
        "port:core-1/swp3",
        "port:core-2/swp2",
        "product_line:cdn",
    ] {
        let h = hourly(&cfg, entity, 3);
        assert!(h.len() >= 70, "{entity}: {} hourly points", h.len());
        // Every hour but the one still open has traffic: no gap, no zero.
        let known: Vec<f64> = h.iter().flatten().copied().collect();
        assert!(known.len() >= h.len() - 2, "{entity}: gaps in {h:?}");
        assert!(known.iter().all(|v| *v > 0.0), "{entity}: {known:?}");
        // The daily rhythm: the busiest hour well above the quietest.
        let max = known.iter().copied().fold(f64::MIN, f64::max);
        let min = known.iter().copied().fold(f64::MAX, f64::min);
        assert!(max > 1.3 * min, "{entity}: flat traffic {min} .. {max}");
    }
    // The product line is its six ports: more than any one of them.
    let line: f64 = hourly(&cfg, "product_line:cdn", 1).iter().flatten().sum();
    let port: f64 = hourly(&cfg, "port:core-1/swp1", 1).iter().flatten().sum();
    assert!(line > 3.0 * port, "line {line} vs one port {port}");

    // A store that exists is refused, naming it, unless --force.
    let (ok, _, err) = bandwatch(&cfg, &["backfill", "--days", "1"]);
    assert!(!ok);
    assert!(
        err.contains("bandwatch.db") && err.contains("--force"),
        "{err}"
    );
    let (ok, out, err) = bandwatch(&cfg, &["backfill", "--days", "1", "--force"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("backfilled {} sweeps", (288 + 1) * 2)),
        "{out}"
    );
}

#[test]
fn backfill_refuses_postgres_and_a_bad_step_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let cfg = dir.path().join("bandwatch.toml");
    std::fs::write(
        &cfg,
        config("[store]\nbackend = \"postgres\"\nurl = \"${BW_TEST_PG_URL:-postgresql://bw@127.0.0.1:1/bw}\"\n\n"),
    )
    .unwrap();
    let (ok, _, err) = bandwatch(&cfg, &["backfill", "--days", "1"]);
    assert!(!ok);
    assert!(
        err.contains("PostgreSQL") && err.contains("SQLite store only"),
        "{err}"
    );
    assert!(!dir.path().join("data").exists());

    std::fs::write(&cfg, config("")).unwrap();
    let (ok, _, err) = bandwatch(&cfg, &["backfill", "--step", "0s"]);
    assert!(!ok);
    assert!(
        err.contains("--step") && err.contains("at least 1s"),
        "{err}"
    );
    assert!(!dir.path().join("data").exists());
}
