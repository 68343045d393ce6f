//! `bandwatch run` with `[flow]`: the daemon starts the collector beside the poller, trusts
//! the switch's own address as its exporter, counts datagrams in `/metrics`, and at a stop
//! (SIGTERM) hands the open minute to the store, where `bandwatch query` reads the prefix
//! customer's bytes back from the SQLite file; a SIGHUP that adds a prefix applies it to
//! the next datagram without restarting the collector.

use std::net::UdpSocket;
use std::process::Command;

use crate::daemon_support;
use crate::flow_support;

use daemon_support::*;
use flow_support::*;
use std::time::Duration;

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

/// The value of the sample line that starts with `prefix` (name and labels) in `body`.
fn sample(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
}

/// Seconds since the Unix epoch, now.
fn now_s() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}

/// Customers and product lines known by address prefixes in `/metrics` of the running daemon,
/// fed by real IPFIX datagrams over UDP and scraped over HTTP as Prometheus does: the flow
/// counters (bytes and packets by direction) equal what was sent; the aggregate families
/// carry the last flow minute (its rate, and coverage 1 for a minute the exporter covered, 0
/// and no rate for one in which it sent nothing); `promtool check metrics` finds nothing;
/// and an anonymous reader gets the product line's families but no customer's name.
#[test]
fn prefix_customers_and_product_lines_have_metric_families() {
    use bandwatch::http::auth::token;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    let Simulated {
        sim: _sim,
        http,
        text,
    } = simulate(&cfg, 1, 2, &[], "");
    let udp = free_udp_base(1);
    let scraper = token::generate().unwrap();
    let extra = format!(
        r#"
[http]
anonymous = ["metrics:read"]

[[api.token]]
name = "prometheus"
scopes = ["metrics:read"]
hash = "{hash}"

[[product_line]]
name = "tenant-cloud"
prefixes = ["203.0.113.0/24"]

[[customer]]
id = "tenant-a"
name = "Tenant A"
prefixes = ["203.0.113.0/25"]

[[customer]]
id = "tenant-b"
name = "Tenant B"
prefixes = ["203.0.113.128/25"]

[flow]
listen = ["127.0.0.1:{udp}"]

[[flow.exporter]]
switch = "sim-0000"
"#,
        hash = token::hash_line(&scraper)
    );
    std::fs::write(&cfg, format!("{text}{extra}")).unwrap();
    let log = dir.path().join("run.log");
    let _daemon = spawn_run(&cfg, &log);
    let ok = "bandwatch_flow_datagrams_total{result=\"ok\"}";
    wait_for("the flow collector", 30, || metric(http, ok).is_some());
    let full = || {
        let (code, body) = scrape(http, "/metrics", Some(&scraper)).expect("a scrape");
        assert_eq!(code, 200, "{body}");
        body
    };

    // The collector's first minute passes without a datagram: unknown, not zero.
    let first = (now_s() / 60.0).floor() * 60.0;
    let sleep_until = |t: f64| {
        let d = t - now_s();
        if d > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(d));
        }
    };
    sleep_until(first + 63.0);
    let body = full();
    let a_out = "{customer=\"tenant-a\",direction=\"out\"}";
    assert_eq!(
        sample(
            &body,
            "bandwatch_customer_coverage_ratio{customer=\"tenant-a\"}"
        ),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            &format!("bandwatch_customer_bytes_per_second{a_out}")
        ),
        None,
        "no rate for an unknown minute: {body}"
    );
    assert_eq!(
        sample(
            &body,
            &format!("bandwatch_customer_flow_bytes_total{a_out}")
        ),
        Some(0.0),
        "{body}"
    );

    // One whole minute of datagrams, none within a second of its start or ten of its end (the
    // collector stamps a datagram as it receives it; a loaded host may be seconds late).
    let minute = first + 60.0;
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rec = |src: &str, dst: &str, bytes: u64, packets: u64| {
        vec![v4(src), v4(dst), 443, 40000, 6, bytes, packets]
    };
    let (mut a_in, mut a_out_b, mut b_in, mut b_out) = (0u64, 0u64, 0u64, 0u64);
    let (mut a_out_p, mut b_in_p) = (0u64, 0u64);
    let mut template = true;
    sleep_until(minute + 1.0);
    while now_s() < minute + 50.0 {
        let recs = vec![
            rec("192.0.2.1", "203.0.113.10", 46_800, 100),
            rec("203.0.113.200", "192.0.2.1", 9_360, 20),
            rec("192.0.2.1", "203.0.113.130", 4_680, 10),
            rec("203.0.113.5", "203.0.113.131", 1_000, 2),
            rec("192.0.2.1", "198.51.100.1", 999, 1),
        ];
        s.send_to(&ipfix(1, 256, FIELDS, template, &recs), ("127.0.0.1", udp))
            .unwrap();
        template = false;
        a_out_b += 46_800;
        a_out_p += 100;
        b_in += 9_360;
        b_in_p += 20;
        b_out += 4_680 + 1_000;
        a_in += 1_000;
        std::thread::sleep(Duration::from_millis(1500));
    }
    let want_a = format!("bandwatch_customer_flow_bytes_total{a_out}");
    wait_for("the minute handed to the store", 40, || {
        sample(&full(), &want_a) == Some(a_out_b as f64)
    });
    let body = full();
    let get = |name: &str| sample(&body, name);
    let b = |d: &str| format!("{{customer=\"tenant-b\",direction=\"{d}\"}}");
    let a = |d: &str| format!("{{customer=\"tenant-a\",direction=\"{d}\"}}");
    let pl = |d: &str| format!("{{product_line=\"tenant-cloud\",direction=\"{d}\"}}");
    assert_eq!(
        get(&format!("bandwatch_customer_flow_bytes_total{}", a("in"))),
        Some(a_in as f64)
    );
    assert_eq!(
        get(&format!(
            "bandwatch_customer_flow_packets_total{}",
            a("out")
        )),
        Some(a_out_p as f64)
    );
    assert_eq!(
        get(&format!("bandwatch_customer_flow_bytes_total{}", b("in"))),
        Some(b_in as f64)
    );
    assert_eq!(
        get(&format!("bandwatch_customer_flow_packets_total{}", b("in"))),
        Some(b_in_p as f64)
    );
    assert_eq!(
        get(&format!("bandwatch_customer_flow_bytes_total{}", b("out"))),
        Some(b_out as f64)
    );
    // The product line holds both tenants (a record between them is in and out of it).
    let pl_out = (a_out_b + b_out) as f64;
    assert_eq!(
        get(&format!(
            "bandwatch_product_line_flow_bytes_total{}",
            pl("out")
        )),
        Some(pl_out)
    );
    assert_eq!(
        get(&format!(
            "bandwatch_product_line_flow_bytes_total{}",
            pl("in")
        )),
        Some((b_in + a_in) as f64)
    );
    // The last minute: its rate and full coverage, beside the port customers.
    let rate = get(&format!("bandwatch_customer_bytes_per_second{}", a("out"))).unwrap();
    assert!(
        (rate - a_out_b as f64 / 60.0).abs() < 1e-6,
        "{rate}: {body}"
    );
    assert_eq!(
        get("bandwatch_customer_coverage_ratio{customer=\"tenant-b\"}"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        get("bandwatch_product_line_coverage_ratio{product_line=\"tenant-cloud\"}"),
        Some(1.0),
        "{body}"
    );
    let rate = get(&format!(
        "bandwatch_product_line_bytes_per_second{}",
        pl("out")
    ))
    .unwrap();
    assert!((rate - pl_out / 60.0).abs() < 1e-6, "{rate}: {body}");
    promtool_check(&body);
    for l in body.lines().filter(|l| l.contains("tenant")) {
        eprintln!("{l}");
    }

    // Anonymous: the product line, never a customer's name.
    let (code, anon) = scrape(http, "/metrics", None).unwrap();
    assert_eq!(code, 200, "{anon}");
    for word in ["tenant-a", "tenant-b", "Tenant A", "Tenant B"] {
        assert!(!anon.contains(word), "{word} served anonymously:\n{anon}");
    }
    assert_eq!(
        sample(
            &anon,
            &format!("bandwatch_product_line_flow_bytes_total{}", pl("out"))
        ),
        Some(pl_out),
        "{anon}"
    );
    assert!(
        anon.contains("# TYPE bandwatch_customer_flow_bytes_total counter"),
        "{anon}"
    );
    promtool_check(&anon);
}

/// An HA pair: two `bandwatch run` naming the same shard on one SQLite file, whose exporter
/// sends every datagram to both (as an exporter with two destinations does). Each daemon
/// measures the same minutes; the store adds each minute of the prefix customer and of the
/// product line once, not twice.
#[test]
fn an_ha_pair_fed_the_same_flows_stores_each_minute_once() {
    let dir = tempfile::tempdir().unwrap();
    let sim = simulate(&dir.path().join("sim.toml"), 1, 2, &[], "");
    let udp = free_udp_base(2);
    let text = format!(
        "{}\n[[product_line]]\nname = \"tenant-cloud\"\nprefixes = [\"203.0.113.0/24\"]\n\n\
         [[customer]]\nid = \"tenant-a\"\nprefixes = [\"203.0.113.0/25\"]\n\n\
         [flow]\nlisten = [\"127.0.0.1:FLOW_PORT\"]\n\n[[flow.exporter]]\nswitch = \"sim-0000\"\n",
        sim.text.replace(
            "name = \"sim-0000\"\n",
            "name = \"sim-0000\"\nshard = \"a\"\n"
        )
    );
    let start = |name: &str, http: u16, flow: u16| {
        let cfg = dir.path().join(format!("{name}.toml"));
        let t = text
            .replacen("[daemon]\n", "[daemon]\nshard = \"a\"\n", 1)
            .replace(
                &format!("127.0.0.1:{}\"", sim.http),
                &format!("127.0.0.1:{http}\""),
            )
            .replace("FLOW_PORT", &flow.to_string());
        std::fs::write(&cfg, t).unwrap();
        (
            spawn_run(&cfg, &dir.path().join(format!("{name}.log"))),
            cfg,
        )
    };
    let ok = "bandwatch_flow_datagrams_total{result=\"ok\"}";
    let (http1, http2) = (sim.http, free_tcp_port());
    let (mut a1, cfg) = start("a1", http1, udp);
    wait_for("a1's flow collector", 30, || metric(http1, ok).is_some());
    let (mut a2, _) = start("a2", http2, udp + 1);
    wait_for("a2's flow collector", 30, || metric(http2, ok).is_some());

    // Every datagram to both, all within one minute (so both daemons count each in the
    // same minute).
    while (now_s() % 60.0) > 45.0 {
        std::thread::sleep(Duration::from_millis(500));
    }
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (mut sent, mut datagrams) = (0u64, 0.0);
    for i in 0..10u64 {
        let bytes = 10_000 * (i + 1);
        let recs = [vec![
            v4("192.0.2.1"),
            v4("203.0.113.9"),
            443,
            40000,
            6,
            bytes,
            10,
        ]];
        let msg = ipfix(1, 256, FIELDS, true, &recs);
        for port in [udp, udp + 1] {
            s.send_to(&msg, ("127.0.0.1", port)).unwrap();
        }
        sent += bytes;
        datagrams += 1.0;
    }
    for http in [http1, http2] {
        wait_for("both daemons decoding every datagram", 30, || {
            metric(http, ok) == Some(datagrams)
        });
    }
    // Each stops, handing its open minute to the store; the second finds it taken.
    for (name, d) in [("a1", &mut a1), ("a2", &mut a2)] {
        let pid = d.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = d.0.wait().unwrap();
        let log = std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap();
        assert!(status.success(), "{name}: {log}");
    }
    let (tenant, csv) = stored_sum(&cfg, "customer:tenant-a", "out_bytes");
    assert_eq!(tenant, sent as f64, "stored once, not by both: {csv}");
    let (line, csv) = stored_sum(&cfg, "product_line:tenant-cloud", "out_bytes");
    assert_eq!(line, sent as f64, "{csv}");
}
