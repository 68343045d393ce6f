//! Shards on one store: two `bandwatch run` with `[daemon] shard = "a"` and `"b"` share one
//! data folder (one SQLite file) and a simulated fleet of two switches, one in each shard.
//! Each polls only its own switch; exactly one holds the singleton lease (the outbox, the
//! monthly report and the aggregate rules run there): the product line `cdn`, which spans
//! both shards, fires its rule in the holder only; after a kill -9 of the holder the other
//! takes the lease over, with a higher fencing token, and carries the product line's alert
//! on from the store without mailing it again.

use crate::daemon_support;

use std::path::Path;

use daemon_support::{
    Kill, eml_subjects, for_daemon, free_tcp_port, http_get, lease_held as held, metric, simulate,
    spawn_run, wait_for, with_shards,
};

/// The switches a daemon reports `bandwatch_switch_up` for.
fn switches_up(http: u16) -> Vec<String> {
    let Some((_, body)) = http_get(http, "/metrics") else {
        return Vec::new();
    };
    body.lines()
        .filter(|l| l.starts_with("bandwatch_switch_up{"))
        .filter_map(|l| l.split("switch=\"").nth(1))
        .filter_map(|r| r.split('"').next())
        .map(str::to_string)
        .collect()
}

fn start(dir: &Path, name: &str, text: &str) -> Kill {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, text).unwrap();
    spawn_run(&cfg, &dir.join(format!("{name}.log")))
}

#[test]
fn two_shards_share_a_store_and_hand_the_lease_over() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/cdn.toml"), CDN_RULE).unwrap();
    let sim = simulate(
        &dir.path().join("sim.toml"),
        2,
        4,
        &[],
        "rules_dir = \"rules\"\n",
    );
    let mut text = sim.text.clone();
    text.push_str(
        "\n[[route]]\nname = \"ops\"\nemail = [\"noc@example.net\"]\n\n\
         [email]\ntransport = \"file\"\nfrom = \"bandwatch <bandwatch@example.net>\"\ngroup_wait = \"1s\"\n",
    );
    let sharded = with_shards(&text, &[("sim-0001", "a"), ("sim-0000", "b")]);
    let http_a = sim.http;
    let http_b = free_tcp_port();
    let text_a = for_daemon(&sharded, Some("a"), sim.http, http_a);
    let text_b = for_daemon(&sharded, Some("b"), sim.http, http_b);
    let mut a = Some(start(dir.path(), "a", &text_a));
    // Each polls its own shard only. The second starts once the first has created the
    // store (two daemons creating one SQLite file at the same instant may collide).
    wait_for("daemon a polling sim-0001", 60, || {
        switches_up(http_a) == ["sim-0001"]
    });
    let mut b = Some(start(dir.path(), "b", &text_b));
    wait_for("daemon b polling sim-0000", 60, || {
        switches_up(http_b) == ["sim-0000"]
    });
    // Exactly one holds the lease.
    wait_for("one lease holder", 60, || {
        matches!(
            (held(http_a), held(http_b)),
            (Some(x), Some(y)) if x + y == 1.0
        )
    });
    let (holder_http, other_http, holder) = if held(http_a) == Some(1.0) {
        (http_a, http_b, &mut a)
    } else {
        (http_b, http_a, &mut b)
    };
    let token = metric(holder_http, "bandwatch_lease_token{name=\"singleton\"} ").unwrap();
    // Still one holder a few renewals later (the other does not steal it).
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(held(holder_http), Some(1.0));
    assert_eq!(held(other_http), Some(0.0));
    // The product line's rule runs in the holder, on the aggregate of both shards' ports
    // from the store (once its 60 s slot is sealed), and not in the other daemon.
    wait_for("the holder firing the product line's alert", 180, || {
        cdn_state(holder_http).as_deref() == Some("firing")
    });
    assert_eq!(
        cdn_state(other_http),
        None,
        "only the holder runs aggregate rules"
    );
    let outbox = dir.path().join("var/outbox");
    wait_for("the product line's alert mailed", 30, || {
        cdn_firing(&outbox) == 1
    });

    // kill -9 of the holder: no release, the lease has to expire.
    drop(holder.take());
    wait_for("the other daemon to take the lease over", 60, || {
        held(other_http) == Some(1.0)
    });
    let next = metric(other_http, "bandwatch_lease_token{name=\"singleton\"} ").unwrap();
    assert!(next > token, "token {next} after {token}");
    // The survivor still polls only its own shard.
    let own = switches_up(other_http);
    assert_eq!(own.len(), 1, "{own:?}");
    // It runs the aggregate rules now, and the product line's alert goes on from the state
    // the old holder stored: firing, not mailed again.
    wait_for(
        "the survivor carrying the product line's alert",
        180,
        || cdn_state(other_http).as_deref() == Some("firing"),
    );
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(cdn_firing(&outbox), 1, "{:?}", eml_subjects(&outbox));
}

/// Always true on the simulator (the product line `cdn` carries tens of Mbit/s).
const CDN_RULE: &str = r#"
[[rule]]
name = "cdn-busy"
kind = "threshold"
scope = "product_line"
match = { product_line = "cdn" }
metric = "in_bps"
above = "1Mbps"
for = "0s"
severity = "warning"
notify = ["ops"]
"#;

/// The state of `cdn-busy` on the product line among a daemon's active alerts.
fn cdn_state(http: u16) -> Option<String> {
    let (_, body) = http_get(http, "/api/v1/alerts")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["active"]
        .as_array()?
        .iter()
        .find(|a| a["rule"] == "cdn-busy" && a["entity"] == "product_line:cdn")
        .and_then(|a| a["state"].as_str().map(str::to_string))
}

/// FIRING messages of `cdn-busy` in the file outbox.
fn cdn_firing(outbox: &Path) -> usize {
    eml_subjects(outbox)
        .iter()
        .filter(|s| s.contains("FIRING") && s.contains("cdn-busy"))
        .count()
}
