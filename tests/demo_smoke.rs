//! `bandwatch demo` end to end, as a newcomer runs it (sped up x4): the real binary starts the
//! simulated fleet over UDP SNMP, backfills a fresh SQLite file, polls live, plays the
//! storyline with timestamps and prints the summary; the outbox holds the alert emails and
//! their resolved notices (none for the reboot); the status page is fetched over HTTP and in
//! headless Chromium while the attack is firing, and must chart the product lines from the
//! backfilled history.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bandwatch");

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_tcp_port() -> u16 {
    crate::net_support::tcp_port()
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    Some((
        head.split_whitespace().nth(1)?.parse().ok()?,
        body.to_string(),
    ))
}

/// The first of six consecutive free UDP ports on 127.0.0.1, for the demo's simulated
/// switches (`--snmp-listen`), so that this test and a demo running elsewhere on the machine
/// do not collide on the configuration's fixed ports.
fn free_udp_range() -> u16 {
    crate::net_support::udp_range(6)
}

/// The speed of the test's demo: the attack fires long enough (about 25 s) for a browser to
/// look at it; the churn drop lasts 90 real seconds whatever the speed.
const SPEED: &str = "4";

/// Runs `demo --speed 4` to its summary (the block that ends with the Ctrl-C line), calling
/// `on_line` with each stdout line as it comes (and the HTTP port). Returns the child (killed
/// on drop), the port, stdout up to the summary and stderr so far.
fn run_demo(data: &Path, mut on_line: impl FnMut(&str, u16)) -> (Kill, u16, String, String) {
    let port = free_tcp_port();
    let mut child = Kill(
        Command::new(BIN)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["demo", "--speed", SPEED, "--data-dir"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--snmp-listen", &format!("127.0.0.1:{}", free_udp_range())])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(child.0.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (etx, erx) = mpsc::channel();
    let err = BufReader::new(child.0.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            let _ = etx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(360);
    let mut stdout = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                stdout.push_str(&line);
                stdout.push('\n');
                on_line(&line, port);
                if line.contains("Ctrl-C stops") && stdout.contains("=== storyline summary ===") {
                    break;
                }
            }
            Err(_) => {
                let errs: Vec<String> = erx.try_iter().collect();
                panic!(
                    "no storyline summary in time; stdout:\n{stdout}\nstderr:\n{}",
                    errs.join("\n")
                );
            }
        }
    }
    let errs: Vec<String> = erx.try_iter().collect();
    (child, port, stdout, errs.join("\n"))
}

fn eml_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// The status page's "Firing alerts" section.
fn alerts_section(page: &str) -> &str {
    let from = page
        .find("<section id=\"alerts\">")
        .expect("no alerts section");
    let len = page[from..]
        .find("</section>")
        .expect("alerts section not closed");
    &page[from..from + len]
}

/// The "done when", sped up: storyline, emails (attack, churn, unreachable and their
/// resolved notices, none for the reboot), the status page over HTTP and in a browser.
#[test]
fn demo_plays_the_storyline_writes_the_emails_and_serves_the_status_page() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let browser = chromium();
    if browser.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but chromium is missing (Debian package `chromium`)");
        }
        eprintln!("skipping the browser checks: chromium not installed");
    }
    // While the attack fires: the page over HTTP, and the DOM and a screenshot in Chromium.
    let mut firing_page: Option<String> = None;
    let mut firing_dom: Option<String> = None;
    let png = std::env::var("BANDWATCH_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().join("status.png"));
    let (_child, port, out, errs) = run_demo(&data, |line, port| {
        if firing_page.is_some() || !line.contains("email written: [FIRING critical] uplink-attack")
        {
            return;
        }
        let (code, page) = http_get(port, "/").expect("status page");
        assert_eq!(code, 200);
        firing_page = Some(page);
        if let Some(bin) = &browser {
            let url = format!("http://127.0.0.1:{port}/");
            let dom = output_within(
                Command::new(bin)
                    .args(CHROMIUM_FLAGS)
                    .arg("--dump-dom")
                    .arg(&url),
            );
            firing_dom = Some(String::from_utf8_lossy(&dom.stdout).into_owned());
            let shot = output_within(
                Command::new(bin)
                    .args(CHROMIUM_FLAGS)
                    .arg("--window-size=1200,1700")
                    .arg(format!("--screenshot={}", png.display()))
                    .arg(&url),
            );
            assert!(
                shot.status.success(),
                "{}",
                String::from_utf8_lossy(&shot.stderr)
            );
        }
    });

    // Backfill through the store into a fresh SQLite file: 28 days, 6 switches, 5 minutes.
    assert!(out.contains("backfilled 48390 sweeps"), "{out}");
    assert!(data.join("bandwatch.db").is_file());
    assert!(out.contains(&format!("status page: http://127.0.0.1:{port}/")));
    assert!(out.contains(&format!("metrics:     http://127.0.0.1:{port}/metrics")));

    // The beats, in order, each with a timestamp and the demo clock.
    let beats = [
        "t+1:00] sh1-access-2 reboots",
        "t+1:30] attack: inbound traffic x8 on bj1-core-a/eth1",
        "t+2:00] customer `acme`'s traffic falls to 30%",
        "t+2:30] sh1-access-1 stops answering SNMP",
        "t+2:45] the attack stops",
        "t+3:30] sh1-access-1 answers again",
        "`acme`'s traffic is back to normal",
        "=== storyline summary ===",
    ];
    let mut at = 0;
    for b in beats {
        let pos = out[at..]
            .find(b)
            .unwrap_or_else(|| panic!("missing or out of order: {b}\n{out}"));
        at += pos;
    }
    assert!(out.contains("no alert: the poller sees sysUpTime go back"));

    // The poller really saw the reboot over SNMP and the unreachable switch time out.
    assert!(
        errs.contains("sysUpTime fell (reboot)") && errs.contains("sh1-access-2"),
        "{errs}"
    );
    assert!(
        errs.contains("poll failed") && errs.contains("sh1-access-1"),
        "{errs}"
    );

    // The emails: each alert fired and resolved, printed on the console as written, and
    // counted in the summary; nothing about the rebooted switch.
    let emails = eml_files(&data.join("outbox"));
    let written = format!("emails written: {} (", emails.len());
    assert!(out.contains(&written), "expected `{written}` in\n{out}");
    let subjects: Vec<&str> = emails
        .iter()
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("Subject: ")))
        .collect();
    let subject_of = |e: &str| {
        e.lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("")
            .to_string()
    };
    for rule in ["uplink-attack", "customer-churn-risk", "switch-unreachable"] {
        for state in ["FIRING", "RESOLVED"] {
            // Alerts of one route and severity that change within the group wait share an
            // email ("[2 RESOLVED critical] 2 alerts: ... and 1 more"): the rule is then named
            // in the body.
            assert!(
                emails
                    .iter()
                    .any(|e| subject_of(e).contains(state) && e.contains(rule)),
                "no {state} email about {rule}: {subjects:#?}\n{out}"
            );
        }
        assert!(
            out.lines()
                // A group's subject counts its kinds ("[1 FIRING, 1 RESOLVED critical]").
                .any(|l| l.contains("email written: [")
                    && l.contains("FIRING")
                    && l.contains(rule)),
            "the console did not print the {rule} email as it was written:\n{out}"
        );
    }
    // The attack's email says what the switch's flows show: the class, the target and its
    // customer (sFlow and IPFIX from the simulated switches, over UDP to the collector).
    let attack = emails
        .iter()
        .find(|e| {
            // Its own email: a group's subject may be another alert's while its table lists
            // the attack's resolution.
            let s = subject_of(e);
            s.contains("FIRING") && s.contains("uplink-attack")
        })
        .unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(attack.as_bytes())
        .expect("the attack email parses");
    let text = parsed.body_text(0).unwrap_or_default();
    assert!(
        text.contains("Flows: likely NTP reflection toward 203.0.113.7 (acme): "),
        "the attack email does not name the class and the customer:\n{text}"
    );
    let churn = emails
        .iter()
        .find(|e| e.contains("FIRING") && e.contains("customer-churn-risk"))
        .unwrap();
    assert!(
        churn.contains("acme"),
        "the churn email is not about acme:\n{churn}"
    );
    assert!(
        !emails.iter().any(|e| e.contains("sh1-access-2")),
        "an email about the rebooted switch: {subjects:#?}"
    );

    // The charts of the firing emails, written into a folder (BANDWATCH_CHARTS, e.g. docs/,
    // keeps them) and checked as images: 600 x 260, with text, the measured line, and for
    // the attack the envelope and the red alert-start marker.
    let charts = std::env::var("BANDWATCH_CHARTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().join("charts"));
    std::fs::create_dir_all(&charts).unwrap();
    for (rule, needs) in [
        ("uplink-attack", &[LINE, BAND, LIMIT, MARKER][..]),
        ("customer-churn-risk", &[LINE, BAND, LIMIT][..]),
        ("switch-unreachable", &[LINE, MARKER][..]),
    ] {
        // The alert's own email ("[FIRING critical] uplink-attack: ..."); when it shared a
        // grouped email, that email's first chart may be another alert's: then only the
        // structure is checked.
        let own = emails.iter().find(|e| {
            let s = subject_of(e);
            s.starts_with("[FIRING") && s.contains(rule)
        });
        let needs = if own.is_some() { needs } else { &[LINE][..] };
        let email = own
            .or_else(|| {
                emails
                    .iter()
                    .find(|e| subject_of(e).contains("FIRING") && e.contains(rule))
            })
            .unwrap();
        let png = inline_png(email).unwrap_or_else(|| panic!("no chart in the {rule} email"));
        let path = charts.join(format!("chart-{rule}.png"));
        std::fs::write(&path, &png).unwrap();
        let (w, h, pixels) = decode_png(&png);
        assert_eq!((w, h), (600, 260), "{}", path.display());
        let count = |rgb: [u8; 3]| pixels.iter().filter(|p| **p == rgb).count();
        assert!(count(TEXT) > 300, "{rule}: the chart has no text");
        for colour in needs {
            assert!(
                count(*colour) > 40,
                "{rule}: the chart lacks colour {colour:?} ({})",
                path.display()
            );
        }
        let distinct: std::collections::HashSet<[u8; 3]> = pixels.iter().copied().collect();
        assert!(distinct.len() >= 6, "{rule}: a blank chart");
    }

    // The page while the attack fired: the alert first, with the product-line and site
    // charts drawn from the backfilled history.
    let page = firing_page.expect("the attack's email was never printed");
    let alerts = alerts_section(&page);
    assert!(
        alerts.contains("uplink-attack") && alerts.contains(">firing<"),
        "the firing attack is not in the page's alerts: {alerts}"
    );
    assert!(
        alerts.contains("likely NTP reflection toward 203.0.113.7 (acme)"),
        "the firing attack's evidence is not on the page (a loopback reader sees it all): {alerts}"
    );
    for entity in [
        "product_line:cdn",
        "product_line:cloud",
        "site:bj-1",
        "site:sh-1",
    ] {
        let svg = page
            .split(&format!("data-entity=\"{entity}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("no chart for {entity}"));
        let svg = &svg[..svg.find("</svg>").unwrap()];
        assert!(
            svg.contains("<polygon class=\"band\""),
            "{entity}: no baseline band"
        );
        let d = svg.split("class=\"line\" d=\"").nth(1).unwrap();
        let points = d[..d.find('"').unwrap()].matches(['M', 'L']).count();
        assert!(points > 250, "{entity}: only {points} points in 24 h");
    }
    assert!(page.contains("bj1-core-a") && page.contains("answering"));
    let (code, metrics) = http_get(port, "/metrics").expect("/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("bj1-core-a"));
    // The reboot counted once, for the rebooted switch only.
    assert!(
        metrics.contains("bandwatch_poll_reboots_total{switch=\"sh1-access-2\"} 1\n")
            && metrics.contains("bandwatch_poll_reboots_total{switch=\"bj1-core-a\"} 0\n"),
        "{metrics}"
    );

    // The same in a real browser (set BANDWATCH_SCREENSHOT=docs/status.png to keep the shot).
    if browser.is_some() {
        let dom = firing_dom.unwrap();
        assert!(
            alerts_section(&dom).contains("uplink-attack"),
            "Chromium does not show the firing attack"
        );
        assert!(dom.contains("data-entity=\"product_line:cdn\""));
        assert!(dom.contains("data-entity=\"product_line:cloud\""));
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000);
    }
}

/// Colours of the email chart (`src/notify/chart.rs`).
const TEXT: [u8; 3] = [40, 40, 40];
const LINE: [u8; 3] = [20, 60, 140];
const BAND: [u8; 3] = [204, 224, 245];
const LIMIT: [u8; 3] = [96, 140, 200];
const MARKER: [u8; 3] = [210, 30, 30];

/// The first inline PNG of an email (a base64 MIME part), decoded.
fn inline_png(eml: &str) -> Option<Vec<u8>> {
    let start = eml.find("Content-Type: image/png")?;
    let part = &eml[start..];
    let body_at = part
        .find("\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| part.find("\n\n").map(|i| i + 2))?;
    let body: String = part[body_at..]
        .lines()
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("--"))
        .collect();
    base64(body.trim())
}

/// Standard base64 (with padding), as MIME writes it.
fn base64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().filter(|c| **c == b'=').count();
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= if *c == b'=' { 0 } else { val(*c)? } << (18 - 6 * i);
        }
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

/// Width, height and RGB pixels of a PNG.
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let pixels = buf[..info.buffer_size()]
        .chunks(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, pixels)
}

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_string)
}

/// Runs a Chromium command to its end, at most a minute: a browser that hangs fails this
/// test with what it printed, instead of holding the whole run until CI's limit.
fn output_within(cmd: &mut Command) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let Ok(status) = crate::daemon_support::exit_within(&mut child, Duration::from_secs(60)) else {
        let err = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
        panic!("{cmd:?} did not finish within 60 s: {err}");
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Reads a child's pipe to its end on a thread of its own (so the child never blocks on a
/// full pipe while it is waited for).
fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--hide-scrollbars",
];
