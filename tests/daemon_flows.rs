//! `bandwatch run` with `[flow]`: the daemon starts the collector beside the poller, trusts
//! the switch's own address as its exporter, counts datagrams in `/metrics`, and at a stop
//! (SIGTERM) hands the open minute to the store, where `bandwatch query` reads the prefix
//! customer's bytes back from the SQLite file; a SIGHUP that adds a prefix applies it to
//! the next datagram without restarting the collector.

use std::net::UdpSocket;
use std::process::Command;

mod daemon_support;
mod flow_support;

use daemon_support::*;
use flow_support::*;

const FIELDS: &[Field] = &[(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8)];

fn metric(http: u16, line: &str) -> Option<f64> {
    let (_, body) = http_get(http, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
}

/// The sum of the known values of `bandwatch query ... --measured --format csv`.
fn stored_sum(cfg: &std::path::Path, entity: &str, metric: &str) -> (f64, String) {
    let out = Command::new(BIN)
        .arg("-c")
        .arg(cfg)
        .args(["query", "--entity", entity, "--metric", metric])
        .args([
            "--from",
            "now-10m",
            "--step",
            "60s",
            "--measured",
            "--format",
            "csv",
        ])
        .arg("--to")
        .arg((jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120)).to_string())
        .output()
        .unwrap();
    let csv = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let sum = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1)?.trim().parse::<f64>().ok())
        .sum();
    (sum, csv)
}

#[test]
fn the_daemon_collects_flows_for_prefix_customers_and_stores_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    let Simulated {
        sim: _sim,
        http,
        text,
    } = simulate(&cfg, 1, 2, &[], "");
    let udp = free_udp_base(1);
    let flow = format!(
        "\n[[customer]]\nid = \"acme\"\nprefixes = [\"203.0.113.0/24\"]\n\n\
         [[customer]]\nid = \"globex\"\n\n\
         [flow]\nlisten = [\"127.0.0.1:{udp}\"]\n\n[[flow.exporter]]\nswitch = \"sim-0000\"\n"
    );
    std::fs::write(&cfg, format!("{text}{flow}")).unwrap();
    let log = dir.path().join("run.log");
    let mut daemon = spawn_run(&cfg, &log);
    let ok = "bandwatch_flow_datagrams_total{result=\"ok\"}";
    wait_for("the flow metrics", 30, || metric(http, ok).is_some());

    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rec =
        |dst: &str, bytes: u64| vec![v4("192.0.2.1"), v4(dst), 123, 40000, 17, bytes, bytes / 468];
    s.send_to(
        &ipfix(1, 256, FIELDS, true, &[rec("203.0.113.7", 46_800)]),
        ("127.0.0.1", udp),
    )
    .unwrap();
    s.send_to(
        &ipfix(
            1,
            256,
            FIELDS,
            false,
            &[rec("203.0.113.8", 4680), rec("198.51.100.1", 999)],
        ),
        ("127.0.0.1", udp),
    )
    .unwrap();
    wait_for("two datagrams decoded", 30, || {
        metric(http, ok) == Some(2.0)
    });
    let attributed = "bandwatch_flow_records_total{result=\"attributed\"}";
    assert_eq!(metric(http, attributed), Some(2.0));

    // globex gets a prefix by a reload; the next datagram is attributed to it.
    let more = format!("{text}{flow}").replace(
        "id = \"globex\"\n",
        "id = \"globex\"\nprefixes = [\"198.51.100.0/24\"]\n",
    );
    std::fs::write(&cfg, more).unwrap();
    let pid = daemon.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_for("the reload", 30, || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("configuration reloaded")
    });
    s.send_to(
        &ipfix(1, 256, FIELDS, false, &[rec("198.51.100.1", 9360)]),
        ("127.0.0.1", udp),
    )
    .unwrap();
    wait_for("the third datagram", 30, || {
        metric(http, attributed) == Some(3.0)
    });

    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = daemon.0.wait().unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let (acme, csv) = stored_sum(&cfg, "customer:acme", "out_bytes");
    assert_eq!(acme, 51_480.0, "{csv}");
    let (globex, csv) = stored_sum(&cfg, "customer:globex", "out_bytes");
    assert_eq!(globex, 9360.0, "{csv}");
}
