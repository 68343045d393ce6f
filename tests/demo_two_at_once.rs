//! Two `bandwatch demo` runs at once on one machine, both with the default options: each
//! chooses free UDP ports for its simulated switches and prints them, the second takes
//! another HTTP port than the first and another data directory (`var/demo-2`, since the first
//! holds `var/demo`), and both poll their own fleet and serve their own `/metrics`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::daemon_support;

use daemon_support::*;

/// What one demo printed: its HTTP port, its switches' UDP ports and its data directory.
#[derive(Debug)]
struct Printed {
    http: u16,
    udp: Vec<u16>,
    data: String,
}

fn printed(out: &Path) -> Option<Printed> {
    let text = std::fs::read_to_string(out).ok()?;
    let data = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("bandwatch demo: ")?
                .split("; data in ")
                .nth(1)
        })?
        .trim()
        .to_string();
    let udp = text
        .lines()
        .find_map(|l| l.strip_prefix("simulated fleet: ")?.split(" port ").nth(1))?
        .split(", polled")
        .next()?
        .split(", ")
        .map(|p| p.trim().parse().ok())
        .collect::<Option<Vec<u16>>>()?;
    let http = text
        .lines()
        .find_map(|l| l.strip_prefix("status page: http://127.0.0.1:"))?
        .trim_end_matches('/')
        .parse()
        .ok()?;
    Some(Printed { http, udp, data })
}

fn start(dir: &Path, n: u32) -> Kill {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
    Kill(
        Command::new(BIN)
            .current_dir(dir)
            .args(["demo", "--speed", "10", "--demo-config"])
            .arg(&config)
            .stdout(std::fs::File::create(dir.join(format!("out{n}.txt"))).unwrap())
            .stderr(std::fs::File::create(dir.join(format!("err{n}.txt"))).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn two_demos_with_default_options_run_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let _one = start(dir.path(), 1);
    // The first holds its data directory before the second looks for one.
    wait_for("the first demo's data directory", 30, || {
        dir.path().join("var/demo/.bandwatch-demo").exists()
    });
    let _two = start(dir.path(), 2);
    let mut demos = Vec::new();
    for n in 1..=2 {
        let out = dir.path().join(format!("out{n}.txt"));
        let err = dir.path().join(format!("err{n}.txt"));
        let mut got = None;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
        while got.is_none() {
            got = printed(&out);
            assert!(
                std::time::Instant::now() < deadline,
                "demo {n} did not print its ports:\n{}\n{}",
                std::fs::read_to_string(&out).unwrap_or_default(),
                std::fs::read_to_string(&err).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        demos.push(got.unwrap());
    }
    let (a, b) = (&demos[0], &demos[1]);
    assert_eq!(
        (a.data.as_str(), b.data.as_str()),
        ("var/demo", "var/demo-2")
    );
    assert_ne!(a.http, b.http, "{demos:?}");
    assert_eq!(a.udp.len(), 6, "{a:?}");
    assert_eq!(b.udp.len(), 6, "{b:?}");
    assert!(a.udp.iter().all(|p| !b.udp.contains(p)), "{demos:?}");
    // Both poll their own fleet: every switch answers and ports have measured rates.
    for d in &demos {
        wait_for("both demos polling their fleets", 60, || {
            http_get(d.http, "/metrics").is_some_and(|(code, body)| {
                code == 200
                    && body.contains("bandwatch_switch_up{switch=\"bj1-core-a\",site=\"bj-1\"} 1")
                    && body.contains(
                        "bandwatch_port_bytes_per_second{site=\"bj-1\",switch=\"bj1-core-a\"",
                    )
            })
        });
    }
}
