//! The commands as a user runs them: `bandwatch simulate --scenario FILE --write-config FILE`
//! in the background, then `bandwatch run --once --json --rates` against the written
//! configuration, over v2c and over v3 authPriv.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_bandwatch");

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_base(n: u16) -> u16 {
    crate::net_support::udp_range(n)
}

fn run_once(config: &std::path::Path) -> Vec<serde_json::Value> {
    let out = Command::new(BIN)
        .args([
            "run",
            "--once",
            "--json",
            "--rates",
            "--interval",
            "3s",
            "-c",
        ])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "run --once failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn simulate_then_run_once_json_over_v2c_and_v3() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("flat.toml");
    std::fs::write(
        &scenario,
        "[traffic]\nbase = \"40Mbps\"\nout_ratio = 0.25\ndaily = 0.0\nweekly = 0.0\nnoise = 0.0\nspread = 0.0\n",
    )
    .unwrap();
    let config = dir.path().join("bandwatch.toml");
    let base = free_base(2);
    let mut child = Command::new(BIN)
        .args(["simulate", "--switches", "2", "--ports", "8", "--listen"])
        .arg(format!("127.0.0.1:{base}"))
        .arg("--scenario")
        .arg(&scenario)
        .arg("--write-config")
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for "serving ..." (the configuration is written before it).
    let stderr = child.stderr.take().unwrap();
    let _sim = Killed(child);
    let mut lines = BufReader::new(stderr).lines();
    let serving = lines
        .find(|l| l.as_ref().is_ok_and(|l| l.starts_with("serving")))
        .expect("simulate announces it is serving")
        .unwrap();
    assert!(
        serving.contains("2 simulated switches x 8 ports"),
        "{serving}"
    );

    let check = |rows: &[serde_json::Value]| {
        // 8 ports on each of 2 switches: 6 configured + 2 found by their ifAlias.
        assert_eq!(rows.len(), 16, "{rows:?}");
        for r in rows {
            assert_eq!(r["quality"], "ok", "{r}");
            let in_bps = r["in_bps"].as_f64().unwrap();
            let out_bps = r["out_bps"].as_f64().unwrap();
            assert!((in_bps - 40e6).abs() / 40e6 < 0.01, "{r}");
            assert!((out_bps - 10e6).abs() / 10e6 < 0.01, "{r}");
            assert!(r["in_pps"].as_f64().unwrap() > 0.0, "{r}");
            assert_eq!(r["speed_bps"], 1_000_000_000u64);
            assert_eq!(r["oper_status"], "up");
            assert!(r["if_index"].as_u64().unwrap() >= 1);
        }
        let cust = rows
            .iter()
            .find(|r| r["switch"] == "sim-0001" && r["port"] == "eth4")
            .unwrap();
        assert_eq!(cust["customer"], "c1-4");
        let up = rows
            .iter()
            .find(|r| r["switch"] == "sim-0000" && r["port"] == "eth1")
            .unwrap();
        assert_eq!(
            (up["product_line"].as_str(), up["role"].as_str()),
            (Some("cdn"), Some("uplink"))
        );
    };
    check(&run_once(&config));

    // The same fleet over SNMPv3 (SHA-1 + AES-128), through the written v3 profile.
    let text = std::fs::read_to_string(&config).unwrap();
    let v3 = dir.path().join("v3.toml");
    std::fs::write(
        &v3,
        text.replace(
            "site = \"sim\"\naddress",
            "site = \"sim\"\nprofile = \"v3\"\naddress",
        ),
    )
    .unwrap();
    check(&run_once(&v3));
}

/// `demo --speed 0` (time standing still) is refused with a message, not a panic, and
/// nothing is written.
#[test]
fn demo_refuses_a_speed_that_stops_time() {
    let dir = tempfile::tempdir().unwrap();
    for speed in ["0", "-2", "NaN", "1000"] {
        let out = Command::new(BIN)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("demo")
            .arg(format!("--speed={speed}"))
            .arg("--data-dir")
            .arg(dir.path().join("demo"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--speed {speed}: {err}");
        assert!(err.contains("--speed"), "--speed {speed}: {err}");
        assert!(!err.contains("panicked"), "--speed {speed}: {err}");
        assert!(!dir.path().join("demo").exists());
    }
}
