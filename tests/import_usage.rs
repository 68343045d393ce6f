//! Imported usage: `bandwatch import FILE` and `POST /api/v1/usage` on a real SQLite file:
//! re-runs change nothing, the same period replaces, overlapping periods and malformed lines
//! are refused with their line and nothing is imported, unknown customers are named; imported
//! bytes are added into the customer's monthly volume in the report.

use crate::report_support;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;

use bandwatch::http::usage::UsageApi;
use bandwatch::http::{AppState, Health, LiveView, bind, serve};
use bandwatch::report::build;
use bandwatch::store::Store;
use bandwatch::usage::Month;
use jiff::Timestamp;
use report_support::*;
use rusqlite::Connection;

fn import(s: &Setup, name: &str, csv: &str) -> (bool, String, String) {
    let file = s.dir.path().join(name);
    std::fs::write(&file, csv).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .arg("-c")
        .arg(&s.config_path)
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn rows(s: &Setup) -> Vec<(String, i64, i64, i64, String)> {
    let c = Connection::open(s.db()).unwrap();
    let mut st = c
        .prepare("SELECT customer, start, end, bytes, source FROM usage_record ORDER BY customer, start, source")
        .unwrap();
    st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

const GOOD: &str = "customer,start,end,bytes,source\n\
    fresh,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,1000,cdn\n\
    fresh,2026-10-02T00:00:00Z,2026-10-03T00:00:00Z,2000,cdn\n\
    grow,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,5000,api\n";

#[test]
fn reruns_replace_and_refusals_import_nothing() {
    let s = Setup::new();
    let (ok, out, err) = import(&s, "a.csv", GOOD);
    assert!(ok, "{err}");
    assert!(
        out.contains("imported 3 new, 0 replaced, 0 unchanged"),
        "{out}"
    );
    let first = rows(&s);
    assert_eq!(first.len(), 3);

    // The same file again: nothing changes.
    let (ok, out, err) = import(&s, "a.csv", GOOD);
    assert!(ok, "{err}");
    assert!(
        out.contains("imported 0 new, 0 replaced, 3 unchanged"),
        "{out}"
    );
    assert_eq!(rows(&s), first);

    // Overlapping a previous import: the same period replaces, a new one is added.
    let (ok, out, err) = import(
        &s,
        "b.csv",
        "customer,start,end,bytes,source\n\
         fresh,2026-10-02T00:00:00Z,2026-10-03T00:00:00Z,2500,cdn\n\
         \"fresh\",\"2026-10-03T00:00:00Z\",\"2026-10-04T00:00:00Z\",700,\"cdn\"\n",
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("imported 1 new, 1 replaced, 0 unchanged"),
        "{out}"
    );
    let now = rows(&s);
    assert_eq!(now.len(), 4);
    assert!(now.iter().any(|r| r.0 == "fresh" && r.3 == 2500));
    assert!(!now.iter().any(|r| r.3 == 2000));

    // A different period overlapping a stored one of the same source: refused, with its line,
    // and the valid line before it is not imported either.
    let (ok, _, err) = import(
        &s,
        "c.csv",
        "customer,start,end,bytes,source\n\
         grow,2026-09-01T00:00:00Z,2026-09-02T00:00:00Z,1,api\n\
         fresh,2026-10-01T12:00:00Z,2026-10-02T12:00:00Z,9,cdn\n",
    );
    assert!(!ok);
    assert!(err.contains("c.csv:3: overlaps the stored period"), "{err}");
    assert!(err.contains("nothing imported"), "{err}");
    assert_eq!(rows(&s), now);

    // Malformed lines: every one named, nothing imported.
    let (ok, _, err) = import(
        &s,
        "d.csv",
        "customer,start,end,bytes,source\n\
         grow,2026-09-01T00:00:00Z,2026-09-02T00:00:00Z,1,api\n\
         grow,yesterday,2026-09-02T00:00:00Z,1,api\n\
         grow,2026-09-03T00:00:00Z,2026-09-02T00:00:00Z,1,api\n\
         grow,2026-09-05T00:00:00Z,2026-09-06T00:00:00Z,-4,api\n\
         grow,2026-09-07T00:00:00Z\n",
    );
    assert!(!ok);
    for needle in [
        "d.csv:3: start `yesterday` is not an RFC 3339 time",
        "d.csv:4: end 2026-09-02T00:00:00Z is not after start",
        "d.csv:5: bytes `-4` is not a whole number",
        "d.csv:6: 2 fields, expected 5",
    ] {
        assert!(err.contains(needle), "{needle} in {err}");
    }
    assert!(!err.contains("d.csv:2:"), "{err}");
    assert_eq!(rows(&s), now);

    // Unknown customer: named with its line.
    let (ok, _, err) = import(
        &s,
        "e.csv",
        "customer,start,end,bytes\n\
         grow,2026-09-01T00:00:00Z,2026-09-02T00:00:00Z,1\n\
         nobody,2026-09-01T00:00:00Z,2026-09-02T00:00:00Z,1\n",
    );
    assert!(!ok);
    assert!(err.contains("e.csv:3: unknown customer `nobody`"), "{err}");
    assert_eq!(rows(&s), now);

    // Duplicates inside one file and a wrong header.
    let (ok, _, err) = import(
        &s,
        "f.csv",
        "customer,start,end,bytes\n\
         grow,2026-09-01T00:00:00Z,2026-09-03T00:00:00Z,1\n\
         grow,2026-09-02T00:00:00Z,2026-09-04T00:00:00Z,1\n",
    );
    assert!(!ok);
    assert!(err.contains("f.csv:3: overlaps the period"), "{err}");
    let (ok, _, err) = import(&s, "g.csv", "who,when,bytes\n");
    assert!(!ok);
    assert!(err.contains("g.csv:1: the header must be"), "{err}");
    assert_eq!(rows(&s), now);
}

#[test]
fn imported_bytes_are_added_to_the_monthly_volume_pro_rata() {
    let s = Setup::new();
    // 10 days across the month boundary: half in September, half in October.
    let (ok, _, err) = import(
        &s,
        "x.csv",
        "customer,start,end,bytes\n\
         gappy,2026-09-26T00:00:00Z,2026-10-06T00:00:00Z,1000000\n",
    );
    assert!(ok, "{err}");
    let book = Store::open_existing(&s.db(), &Default::default())
        .unwrap()
        .usage();
    let now = Timestamp::from_second(day("2026-11-02")).unwrap();
    let r = build(
        &book,
        &s.config,
        "2026-10".parse::<Month>().unwrap(),
        now,
        false,
        &[],
    )
    .unwrap();
    let g = r.customers.iter().find(|c| c.id == "gappy").unwrap();
    assert_eq!(g.this.imported_bytes, 500_000);
    assert_eq!(g.last.imported_bytes, 500_000);
    assert_eq!(g.this.total_bytes(), 500_000);
    assert_eq!(g.this_estimate, 500_000.0);
    assert_eq!(g.status, bandwatch::usage::Status::Steady);
    let other = r.customers.iter().find(|c| c.id == "grow").unwrap();
    assert_eq!(other.this.imported_bytes, 0);
}

fn post(addr: std::net::SocketAddr, token: Option<&str>, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST /api/v1/usage HTTP/1.0\r\nHost: test\r\nContent-Type: text/csv\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

#[test]
fn the_http_endpoint_wants_the_token_and_imports_all_or_nothing() {
    let s = Setup::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let topo = Arc::new(s.config.topology.clone());
    let state = AppState {
        live: LiveView::new(topo.clone()),
        sources: Arc::new(Vec::new()),
        health: Health::default(),
        alerts: Default::default(),
        store: None,
        runtime: Some(bandwatch::runtime::RuntimeHandle::of_config(
            s.config.clone(),
        )),
        reload: None,
        usage: Some(Arc::new(UsageApi {
            book: Store::open(&s.db(), &Default::default()).unwrap().usage(),
            runtime: bandwatch::runtime::RuntimeHandle::of_config(s.config.clone()),
        })),
    };
    let listener = rt.block_on(bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(serve(listener, state, std::future::pending()));

    let (code, _) = post(addr, None, GOOD);
    assert_eq!(code, 401);
    let (code, _) = post(addr, Some("wrong-token"), GOOD);
    assert_eq!(code, 401);
    assert!(!s.db().exists() || rows(&s).is_empty());

    let bad = "customer,start,end,bytes,source\n\
               fresh,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,1000,cdn\n\
               nobody,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,1000,cdn\n";
    let (code, body) = post(addr, Some(TOKEN), bad);
    assert_eq!(code, 400, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errors"][0]["line"], 3);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown customer `nobody`")
    );
    assert!(!s.db().exists() || rows(&s).is_empty());

    let (code, body) = post(addr, Some(TOKEN), GOOD);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["inserted"], 3);
    assert_eq!(rows(&s).len(), 3);
    let (code, body) = post(addr, Some(TOKEN), GOOD);
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["unchanged"], 3);
    assert_eq!(rows(&s).len(), 3);
}

#[test]
fn a_spreadsheet_export_with_a_byte_order_mark_and_quoted_commas_imports() {
    let s = Setup::new();
    // As a spreadsheet saves "CSV UTF-8": a byte order mark, CRLF line ends, every text
    // field quoted and a source holding a comma and a doubled quote.
    let (ok, out, err) = import(
        &s,
        "sheet.csv",
        "\u{feff}customer,start,end,bytes,source\r\n\
         \"fresh\",\"2026-10-01T00:00:00Z\",\"2026-10-02T00:00:00Z\",1000,\"Acme, Inc. \"\"CDN\"\"\"\r\n\
         grow,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,2000,\"api, metered\"\r\n",
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("imported 2 new, 0 replaced, 0 unchanged"),
        "{out}"
    );
    let got = rows(&s);
    assert!(
        got.iter()
            .any(|r| r.0 == "fresh" && r.3 == 1000 && r.4 == "Acme, Inc. \"CDN\""),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|r| r.0 == "grow" && r.3 == 2000 && r.4 == "api, metered"),
        "{got:?}"
    );

    // Errors still name the file and the line, counted in the file's own lines (a quoted
    // field spanning two lines moves the next row down one), and the key at fault.
    let (ok, _, err) = import(
        &s,
        "bad.csv",
        "\u{feff}customer,start,end,bytes,source\n\
         fresh,2026-10-05T00:00:00Z,2026-10-06T00:00:00Z,5,\"two\nlines\"\n\
         \"fresh, again\",2026-10-06T00:00:00Z,2026-10-07T00:00:00Z,5,x\n\
         fresh,2026-10-07T00:00:00Z,2026-10-08T00:00:00Z,\"1,000\",x\n",
    );
    assert!(!ok);
    assert!(
        err.contains("bad.csv:4: unknown customer `fresh, again`"),
        "{err}"
    );
    assert!(
        err.contains("bad.csv:5: bytes `1,000` is not a whole number"),
        "{err}"
    );
    assert!(!err.contains("bad.csv:2:"), "{err}");
    assert_eq!(rows(&s), got);
}

#[test]
fn a_large_file_names_its_late_bad_rows_lists_twenty_and_counts_the_rest() {
    let s = Setup::new();
    let t0: i64 = 1_790_812_800; // 2026-10-01T00:00:00Z
    let ts = |i: i64| Timestamp::from_second(t0 + i * 300).unwrap();
    let mut good = String::from("customer,start,end,bytes,source\n");
    for i in 0..50_000 {
        let c = ["fresh", "grow", "gappy"][(i % 3) as usize];
        writeln!(good, "{c},{},{},{},cdn", ts(i), ts(i + 1), 10 + i).unwrap();
    }
    // One bad row near the end (the header is line 1: row i is on line i + 2).
    let lines: Vec<&str> = good.lines().collect();
    let mut one_bad = lines.clone();
    let late = 49_990 + 2;
    let bad_row = lines[late - 1].replace(",cdn", "").replacen(",1", ",x1", 1);
    one_bad[late - 1] = &bad_row;
    let (ok, _, err) = import(&s, "late.csv", &(one_bad.join("\n") + "\n"));
    assert!(!ok);
    assert!(
        err.contains(&format!("late.csv:{late}: 4 fields, expected 5")),
        "{err}"
    );
    assert!(err.contains("nothing imported (1 error)"), "{err}");
    assert!(rows(&s).is_empty());

    // Thirty bad rows: the first twenty are listed, the other ten counted.
    let mut many_bad = lines.clone();
    let bad: Vec<String> = (0..30)
        .map(|k| format!("nobody,{},{},1,cdn", ts(k), ts(k + 1)))
        .collect();
    for (k, b) in bad.iter().enumerate() {
        many_bad[1000 + k * 1000] = b;
    }
    let (ok, _, err) = import(&s, "many.csv", &(many_bad.join("\n") + "\n"));
    assert!(!ok);
    let listed = err
        .lines()
        .filter(|l| l.contains("unknown customer `nobody`"))
        .count();
    assert_eq!(listed, 20, "{err}");
    assert!(err.contains("many.csv:1001: unknown customer"), "{err}");
    assert!(err.contains("... and 10 more errors, not shown"), "{err}");
    assert!(err.contains("nothing imported (30 errors)"), "{err}");
    assert!(rows(&s).is_empty());

    // The good file imports whole; the same file again changes nothing; a copy whose last
    // row overlaps a stored period of another length imports nothing and names that line.
    let (ok, out, err) = import(&s, "good.csv", &good);
    assert!(ok, "{err}");
    assert!(
        out.contains("imported 50000 new, 0 replaced, 0 unchanged"),
        "{out}"
    );
    let (ok, out, err) = import(&s, "good.csv", &good);
    assert!(ok, "{err}");
    assert!(
        out.contains("imported 0 new, 0 replaced, 50000 unchanged"),
        "{out}"
    );
    let mut changed = good.clone();
    writeln!(changed, "fresh,{},{},5,cdn", ts(3), ts(5)).unwrap();
    let (ok, _, err) = import(&s, "changed.csv", &changed);
    assert!(!ok);
    assert!(
        err.contains("changed.csv:50002: overlaps the period"),
        "{err}"
    );
    assert_eq!(rows(&s).len(), 50_000);
}

#[test]
fn an_http_body_past_the_import_limit_is_refused_with_413_and_imports_nothing() {
    let s = Setup::with_config(&format!("{CONFIG}\n[http]\nmax_import_body = \"4KiB\"\n"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let topo = Arc::new(s.config.topology.clone());
    let state = AppState {
        live: LiveView::new(topo.clone()),
        sources: Arc::new(Vec::new()),
        health: Health::default(),
        alerts: Default::default(),
        store: None,
        runtime: Some(bandwatch::runtime::RuntimeHandle::of_config(
            s.config.clone(),
        )),
        reload: None,
        usage: Some(Arc::new(UsageApi {
            book: Store::open(&s.db(), &Default::default()).unwrap().usage(),
            runtime: bandwatch::runtime::RuntimeHandle::of_config(s.config.clone()),
        })),
    };
    let listener = rt.block_on(bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(serve(listener, state, std::future::pending()));

    let mut big = String::from("customer,start,end,bytes\n");
    let t0: i64 = 1_790_812_800;
    for i in 0..200 {
        let a = Timestamp::from_second(t0 + i * 300).unwrap();
        let b = Timestamp::from_second(t0 + (i + 1) * 300).unwrap();
        writeln!(big, "grow,{a},{b},{i}").unwrap();
    }
    assert!(big.len() > 4096);
    let (code, body) = post(addr, Some(TOKEN), &big);
    assert_eq!(code, 413, "{body}");
    assert!(rows(&s).is_empty());
    // Under the limit it imports.
    let small: String = big.lines().take(20).map(|l| format!("{l}\n")).collect();
    let (code, body) = post(addr, Some(TOKEN), &small);
    assert_eq!(code, 200, "{body}");
    assert_eq!(rows(&s).len(), 19);
}
