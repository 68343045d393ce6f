//! `POST /api/v1/usage` on a running daemon, as a billing system sends it: a large CSV
//! streamed slowly over a real HTTP connection while the daemon polls a simulated fleet over
//! real UDP. The import stages its rows apart from the stored ones, so the sweep writer keeps
//! storing sweeps and `/healthz` stays healthy the whole time; the rows are all imported in
//! the end, and a second upload of the same rows changes nothing.

use crate::daemon_support;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use daemon_support::*;
use rusqlite::Connection;

const TOKEN: &str = "import-token-0123456789";
const CUSTOMERS: usize = 50;
const ROWS_PER_CUSTOMER: usize = 2_000;

/// The CSV: 5-minute records of every customer, customer by customer.
fn csv() -> String {
    let mut s = String::from("customer,start,end,bytes,source\n");
    let t0: i64 = 1_790_812_800; // 2026-10-01T00:00:00Z
    for c in 0..CUSTOMERS {
        for i in 0..ROWS_PER_CUSTOMER as i64 {
            let a = jiff::Timestamp::from_second(t0 + i * 300).unwrap();
            let b = jiff::Timestamp::from_second(t0 + (i + 1) * 300).unwrap();
            writeln!(s, "imp-{c},{a},{b},{},cdn", 1000 + i).unwrap();
        }
    }
    s
}

/// POSTs `body` in `pieces` parts, `pause` apart; returns (status, body).
fn post_slowly(port: u16, body: &str, pieces: usize, pause: Duration) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "POST /api/v1/usage HTTP/1.0\r\nHost: test\r\nContent-Type: text/csv\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let bytes = body.as_bytes();
    let step = bytes.len().div_ceil(pieces);
    for part in bytes.chunks(step) {
        s.write_all(part).unwrap();
        std::thread::sleep(pause);
    }
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    (
        head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

/// Raw samples stored per switch with `from <= ts <= to`.
fn samples_between(db: &std::path::Path, from: i64, to: i64) -> Vec<(String, i64)> {
    let c = Connection::open(db).unwrap();
    let mut st = c
        .prepare(
            "SELECT s.switch, count(*) FROM port_sample p JOIN series s ON s.id = p.series_id \
             WHERE p.ts >= ?1 AND p.ts <= ?2 GROUP BY s.switch ORDER BY s.switch",
        )
        .unwrap();
    st.query_map([from, to], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn usage_rows(db: &std::path::Path) -> i64 {
    let c = Connection::open(db).unwrap();
    c.query_row("SELECT count(*) FROM usage_record", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn sweeps_go_on_being_stored_while_a_large_import_streams_in() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    let Simulated {
        sim: _sim,
        http,
        text,
    } = simulate(
        &cfg,
        2,
        3,
        &[],
        "data_dir = \"var\"\nrules_dir = \"rules\"\n",
    );
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("api-token"), TOKEN).unwrap();
    let mut text = format!("{text}\n[api]\ntoken = \"file:api-token\"\n");
    for c in 0..CUSTOMERS {
        write!(
            text,
            "\n[[customer]]\nid = \"imp-{c}\"\nname = \"Imported {c}\"\n"
        )
        .unwrap();
    }
    std::fs::write(&cfg, &text).unwrap();
    let log = dir.path().join("run.log");
    let _daemon = spawn_run(&cfg, &log);
    let db = dir.path().join("var/bandwatch.db");
    wait_for("stored sweeps of both switches", 60, || {
        db.exists() && samples_between(&db, 0, i64::MAX).len() == 2
    });
    wait_for("a healthy daemon", 30, || {
        http_get(http, "/healthz").is_some_and(|(c, _)| c == 200)
    });

    // /healthz is asked every 200 ms while the import runs.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !done.load(Ordering::Relaxed) {
                answers.push(http_get(http, "/healthz"));
                std::thread::sleep(Duration::from_millis(200));
            }
            answers
        })
    };
    let body = csv();
    let started = jiff::Timestamp::now().as_second();
    let t = Instant::now();
    let (code, answer) = post_slowly(http, &body, 20, Duration::from_millis(400));
    let took = t.elapsed();
    let ended = jiff::Timestamp::now().as_second();
    done.store(true, Ordering::Relaxed);
    let answers = watcher.join().unwrap();

    assert_eq!(code, 200, "{answer}");
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let n = CUSTOMERS * ROWS_PER_CUSTOMER;
    assert_eq!(v["inserted"], n, "{answer}");
    assert_eq!(usage_rows(&db), n as i64);

    // Every switch swept (2 s interval) and stored throughout the import.
    assert!(took >= Duration::from_secs(8), "{took:?}");
    let during = samples_between(&db, started + 1, ended - 1);
    assert_eq!(
        during.len(),
        2,
        "sweeps stored during the import: {during:?}"
    );
    for (switch, count) in &during {
        // Three ports a sweep, a sweep every 2 s: at least two sweeps' worth.
        assert!(*count >= 6, "{switch}: {count} samples during {took:?}");
    }
    assert!(answers.len() >= 10, "{answers:?}");
    for a in &answers {
        assert!(
            matches!(a, Some((200, _))),
            "/healthz during the import: {a:?}"
        );
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    let locked: Vec<&str> = logged.lines().filter(|l| l.contains("locked")).collect();
    assert!(locked.is_empty(), "{locked:#?}");

    // The same rows again: nothing changes.
    let (code, answer) = post_slowly(http, &body, 2, Duration::from_millis(10));
    assert_eq!(code, 200, "{answer}");
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["unchanged"], n, "{answer}");
    assert_eq!(v["inserted"], 0, "{answer}");
    assert_eq!(usage_rows(&db), n as i64);
}
