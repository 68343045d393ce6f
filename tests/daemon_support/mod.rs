//! Helpers shared by the tests that drive the real `bandwatch` binary as separate processes:
//! a child killed on drop, free loopback ports, a plain HTTP/1.0 GET, a scrape by a real HTTP
//! client, `promtool check metrics`, polling for a condition with a deadline, and waiting for
//! a child's exit with one.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_bandwatch");

/// A child process, killed and reaped when dropped.
pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_tcp_port() -> u16 {
    crate::net_support::tcp_port()
}

/// A base UDP port with `n` free ports after it; each call gets its own range.
pub fn free_udp_base(n: u16) -> u16 {
    crate::net_support::udp_range(n)
}

/// GET over HTTP/1.0: (status, body), or `None` while nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    Some((
        head.split_whitespace().nth(1)?.parse().ok()?,
        body.to_string(),
    ))
}

/// Polls `f` until it is true; panics after `secs` seconds naming `what`.
pub fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// A fleet served by `bandwatch simulate` (another process) on free UDP ports, and the
/// configuration it wrote for polling it, with `[daemon] listen` on a free TCP port.
pub struct Simulated {
    /// The simulator, killed when dropped.
    pub sim: Kill,
    /// The HTTP port the configuration listens on.
    pub http: u16,
    /// The configuration text (not yet written back to `cfg`: callers add to it first).
    pub text: String,
}

/// Starts `bandwatch simulate --switches N --ports P --interval 2s [extra...]`, waits for the
/// configuration it writes to `cfg`, and sets `[daemon] listen` (plus `daemon_extra` lines).
pub fn simulate(
    cfg: &std::path::Path,
    switches: u16,
    ports: u16,
    extra: &[&std::ffi::OsStr],
    daemon_extra: &str,
) -> Simulated {
    let udp = free_udp_base(switches);
    let sim = Kill(
        std::process::Command::new(BIN)
            .arg("simulate")
            .args(["--switches", &switches.to_string()])
            .args(["--ports", &ports.to_string()])
            .args(["--interval", "2s"])
            .args(extra)
            .arg("--listen")
            .arg(format!("127.0.0.1:{udp}"))
            .arg("--write-config")
            .arg(cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the simulator's config", 30, || cfg.exists());
    let http = free_tcp_port();
    let text = std::fs::read_to_string(cfg).unwrap().replacen(
        "[daemon]\n",
        &format!("[daemon]\nlisten = \"127.0.0.1:{http}\"\n{daemon_extra}"),
        1,
    );
    Simulated { sim, http, text }
}

/// Starts `bandwatch -c CFG run` with its log (stderr) written to `log`.
pub fn spawn_run(cfg: &std::path::Path, log: &std::path::Path) -> Kill {
    Kill(
        std::process::Command::new(BIN)
            .arg("-c")
            .arg(cfg)
            .arg("run")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// Starts `bandwatch -c CFG run` with its log (stderr) appended to `log`, so the log of a
/// restarted daemon follows the last one's.
pub fn spawn_run_appending(cfg: &std::path::Path, log: &std::path::Path) -> Kill {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Kill(
        std::process::Command::new(BIN)
            .arg("-c")
            .arg(cfg)
            .arg("run")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// The `Subject:` lines of every `.eml` in `outbox`, in file-name order.
pub fn eml_subjects(outbox: &std::path::Path) -> Vec<String> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(outbox)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|m| {
            m.lines()
                .find(|l| l.starts_with("Subject:"))
                .map(str::to_string)
        })
        .collect()
}

/// `promtool check metrics` on the body; required in CI, skipped with a reason elsewhere.
pub fn promtool_check(body: &str) {
    let Ok(path) = which("promtool") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have promtool (Debian package prometheus)"
        );
        eprintln!("skipping promtool check: promtool not installed (Debian package prometheus)");
        return;
    };
    let mut child = std::process::Command::new(path)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // No finding is accepted: promtool prints nothing and exits 0 on a clean exposition.
    assert!(
        out.status.success() && text.trim().is_empty(),
        "promtool check metrics reported:\n{text}"
    );
}

pub fn which(cmd: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(cmd))
                .find(|f| f.is_file())
        })
        .ok_or(())
}

/// `GET path` as a Prometheus scraper does it, with `bearer` as its credential: by curl (a
/// real HTTP/1.1 client, asking for the text format 0.0.4) where it is installed, else over a
/// plain HTTP/1.0 connection. (status, body), or `None` while nothing answers.
pub fn scrape(port: u16, path: &str, bearer: Option<&str>) -> Option<(u16, String)> {
    let Ok(curl) = which("curl") else {
        return http_get_with(port, path, bearer);
    };
    let mut cmd = std::process::Command::new(curl);
    cmd.args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(["-H", "Accept: text/plain;version=0.0.4;q=0.9,*/*;q=0.1"]);
    // The token goes in a header file, not on a command line.
    let dir = tempfile::tempdir().ok()?;
    if let Some(t) = bearer {
        let header = dir.path().join("auth");
        std::fs::write(&header, format!("Authorization: Bearer {t}\n")).ok()?;
        cmd.arg("-H").arg(format!("@{}", header.display()));
    }
    let out = cmd
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .ok()?;
    curl_answer(&out)
}

fn curl_answer(out: &std::process::Output) -> Option<(u16, String)> {
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.to_string()))
}

/// [`http_get`] with an optional bearer token.
pub fn http_get_with(port: u16, path: &str, bearer: Option<&str>) -> Option<(u16, String)> {
    let Some(t) = bearer else {
        return http_get(port, path);
    };
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nAuthorization: Bearer {t}\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    Some((
        head.split_whitespace().nth(1)?.parse().ok()?,
        body.to_string(),
    ))
}

/// The value of the first `/metrics` sample line starting with `prefix` (name and labels,
/// then a space), or `None` while nothing answers or no line matches.
pub fn metric(http: u16, prefix: &str) -> Option<f64> {
    let (_, body) = http_get(http, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// `bandwatch_lease_held` of the singleton lease: `Some(1.0)` in its holder, `Some(0.0)` in
/// the other daemons of a shared store.
pub fn lease_held(http: u16) -> Option<f64> {
    metric(http, "bandwatch_lease_held{name=\"singleton\"} ")
}

/// The simulator's configuration with each `(switch, shard)` of `shards` put in that shard.
pub fn with_shards(text: &str, shards: &[(&str, &str)]) -> String {
    let mut text = text.to_string();
    for (switch, shard) in shards {
        let name = format!("name = \"{switch}\"\n");
        assert!(text.contains(&name), "no switch {switch} in {text}");
        text = text.replace(&name, &format!("{name}shard = \"{shard}\"\n"));
    }
    text
}

/// One daemon's configuration: `[daemon] shard` when `shard` is given, and its own HTTP
/// port `http` in place of the simulator configuration's `listen` port `sim_http`.
pub fn for_daemon(text: &str, shard: Option<&str>, sim_http: u16, http: u16) -> String {
    let text = text.replace(
        &format!("listen = \"127.0.0.1:{sim_http}\""),
        &format!("listen = \"127.0.0.1:{http}\""),
    );
    match shard {
        Some(s) => text.replacen("[daemon]\n", &format!("[daemon]\nshard = \"{s}\"\n"), 1),
        None => text,
    }
}

/// `[store]` on PostgreSQL, its URL from `BANDWATCH_PG_URL` (see [`spawn_run_env`]).
pub const PG_STORE: &str = "\n[store]\nbackend = \"postgres\"\nurl = \"${BANDWATCH_PG_URL}\"\n";

/// The route `ops` (noc@example.net) and mail to the SMTP server on 127.0.0.1:`port`, without
/// TLS, grouped for one second.
pub fn smtp_ops(port: u16) -> String {
    format!(
        "\n[[route]]\nname = \"ops\"\nemail = [\"noc@example.net\"]\n\n\
         [email]\ntransport = \"smtp\"\nserver = \"127.0.0.1:{port}\"\nsecurity = \"none\"\n\
         from = \"bandwatch <bandwatch@example.net>\"\ngroup_wait = \"1s\"\n"
    )
}

/// Starts `bandwatch -c CFG run` with `env` added to its environment and its log (stderr)
/// written to `log`.
pub fn spawn_run_env(cfg: &std::path::Path, log: &std::path::Path, env: &[(&str, &str)]) -> Kill {
    Kill(
        std::process::Command::new(BIN)
            .arg("-c")
            .arg(cfg)
            .arg("run")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// Waits for `child` to exit, at most `within`: `Ok` with its status, or `Err` with the
/// status it had once killed at the deadline (a hung helper program fails its test instead
/// of holding the run).
pub fn exit_within(child: &mut Child, within: Duration) -> Result<ExitStatus, ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(child.wait().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
