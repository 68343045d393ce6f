//! A product line is judged on the store's 60 s slots, but its rule's `for_points` means polls,
//! as on its ports: one 5-minute poll (five slots) does not confirm `product-line-attack`, two
//! do; and two 1-minute polls at another phase than the minute (one whole slot between two
//! partial ones) do. Driven as a user trial: `bandwatch backfill --scenario` at the switch's
//! poll interval, then `bandwatch backtest` of the stored history with the shipped rules.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bandwatch");

/// One switch polled every `interval`, two uplinks, each its own product line.
fn config(interval: &str) -> String {
    format!(
        "[daemon]\ndata_dir = \"data\"\nrules_dir = \"rules\"\ninterval = \"{interval}\"\n\n\
         [snmp.default]\nversion = \"2c\"\ncommunity = \"${{BW_TEST_COMMUNITY:-public}}\"\n\n\
         [[site]]\nname = \"a\"\n\n[[product_line]]\nname = \"alpha\"\n\n\
         [[product_line]]\nname = \"beta\"\n\n\
         [[route]]\nname = \"ops\"\nemail = [\"noc@example.net\"]\n\n\
         [[switch]]\nname = \"core-1\"\nsite = \"a\"\naddress = \"127.0.0.1:1161\"\n\n\
         [[port]]\nswitch = \"core-1\"\nname = \"swp1\"\nrole = \"uplink\"\nproduct_line = \"alpha\"\n\n\
         [[port]]\nswitch = \"core-1\"\nname = \"swp2\"\nrole = \"uplink\"\nproduct_line = \"beta\"\n"
    )
}

/// Steady daily traffic (no jitter, no bursts) with one spike per port.
fn scenario(factor: f64, alpha: &str, beta: &str) -> String {
    format!(
        "[traffic]\nspeed = \"10Gbps\"\nbase = \"1Gbps\"\ndaily = 0.3\nweekly = 0.1\n\
         jitter = 0.0\nbursts_per_day = 0.0\n\n\
         [[event]]\nat = \"15d 3h\"\nkind = \"spike\"\nfactor = {factor}\nduration = \"{alpha}\"\n\
         switches = [\"core-1\"]\nports = [\"swp1\"]\n\n\
         [[event]]\nat = \"15d 9h\"\nkind = \"spike\"\nfactor = {factor}\nduration = \"{beta}\"\n\
         switches = [\"core-1\"]\nports = [\"swp2\"]\n"
    )
}

fn bandwatch(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(["-c", "bandwatch.toml"])
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
    String::from_utf8(out.stdout).unwrap()
}

/// Backfills 16 days polled every `interval` with the scenario and returns the onsets
/// (series, rule) of the shipped traffic rules over the last two days.
fn trial(interval: &str, scenario_text: &str) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bandwatch.toml"), config(interval)).unwrap();
    std::fs::create_dir(d.join("rules")).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("alert-rules/traffic.toml");
    std::fs::copy(shipped, d.join("rules/traffic.toml")).unwrap();
    std::fs::write(d.join("scenario.toml"), scenario_text).unwrap();
    bandwatch(
        d,
        &[
            "backfill",
            "--days",
            "16",
            "--step",
            interval,
            "--scenario",
            "scenario.toml",
        ],
    );
    let csv = bandwatch(
        d,
        &[
            "backtest", "--from", "now-2d", "--to", "now", "--format", "csv",
        ],
    );
    csv.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.first()?.to_string(), f.get(3)?.to_string()))
        })
        .collect()
}

fn has(onsets: &[(String, String)], series: &str, rule: &str) -> usize {
    onsets
        .iter()
        .filter(|(s, r)| s == series && r == rule)
        .count()
}

#[test]
fn a_product_line_of_five_minute_ports_is_confirmed_by_two_polls_not_one() {
    // 4x for one poll on alpha's port, for two polls on beta's.
    let onsets = trial("5m", &scenario(4.0, "5m", "10m"));
    // The ports: two polls confirm `uplink-attack`, one does not. Their product lines alike:
    // two polls (nine of the store's slots) confirm `product-line-attack`, one poll (five
    // slots) does not.
    for (series, rule, fired) in [
        ("port:core-1/swp2", "uplink-attack", 1),
        ("port:core-1/swp1", "uplink-attack", 0),
        ("product_line:beta", "product-line-attack", 1),
        ("product_line:alpha", "product-line-attack", 0),
    ] {
        assert_eq!(has(&onsets, series, rule), fired, "{series}: {onsets:?}");
    }
    assert_eq!(onsets.len(), 2, "{onsets:?}");
}

#[test]
fn a_product_line_of_one_minute_ports_sees_a_3x_attack_of_two_polls() {
    // 3x for two 1-minute polls on both ports: the polls come at the backfill's own second of
    // the minute, so each product line's slots hold the attack as one whole slot between two
    // partial ones (unless the backfill started on the minute, 1 time in 60).
    let onsets = trial("1m", &scenario(3.0, "2m", "2m"));
    for line in ["alpha", "beta"] {
        let series = format!("product_line:{line}");
        assert_eq!(
            has(&onsets, &series, "product-line-attack"),
            1,
            "{series}: {onsets:?}"
        );
    }
}
