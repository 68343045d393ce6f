//! A real PostgreSQL for the tests: `initdb` and `pg_ctl` from Debian's `postgresql`
//! (`/usr/lib/postgresql/*/bin`) in a temporary directory, listening on 127.0.0.1 at a free
//! port, run as the unprivileged user `nobody` (PostgreSQL refuses to run as root). One
//! server per test binary ([`shared`]), with a fresh database per test ([`Pg::database`]);
//! a test that restarts its server starts its own ([`Pg::start`]). A watchdog stops the
//! server and removes its directory when the test process ends.
//!
//! Without PostgreSQL the tests that need it fail under `CI=true` and are skipped with a
//! message elsewhere.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use bandwatch::config::Secret;

/// A running PostgreSQL server.
pub struct Pg {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

static SHARED: OnceLock<Option<Pg>> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The server of this test binary, or `None` (after saying so) when PostgreSQL is not
/// installed outside CI.
pub fn shared() -> Option<&'static Pg> {
    SHARED.get_or_init(Pg::start).as_ref()
}

fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    // The newest major version.
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn as_nobody(bin: &Path, tool: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "nobody", "--"]).arg(bin.join(tool));
    c
}

impl Pg {
    /// Starts a server of its own; `None` (after saying why) when PostgreSQL is missing and
    /// this is not CI. Under `CI=true` a missing PostgreSQL fails the test.
    pub fn start() -> Option<Pg> {
        let Some(bin) = bin_dir() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL is not installed (Debian's `postgresql`; .ci/run installs it)");
            }
            eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("bandwatch-pg-")
            .tempdir()
            .expect("temporary directory")
            .keep();
        run(
            Command::new("chown").args(["-R", "nobody"]).arg(&dir),
            "chown of the PostgreSQL directory",
        );
        let data = dir.join("data");
        run(
            as_nobody(&bin, "initdb")
                .args([
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(&data),
            "initdb",
        );
        // Below the ephemeral range: no outgoing connection takes it while the server is
        // down (`restart`).
        let port = crate::net_support::tcp_port();
        let pg = Pg { bin, dir, port };
        pg.ctl_start();
        // Stop the server and remove its directory when this test process ends: the
        // watchdog outlives it by design, so it is never waited for.
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             runuser -u nobody -- {ctl} stop -D {data} -m immediate >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            ctl = pg.bin.join("pg_ctl").display(),
            data = data.display(),
            dir = pg.dir.display(),
        );
        let watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the PostgreSQL watchdog");
        std::mem::forget(watchdog);
        Some(pg)
    }

    fn ctl_start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
             -c synchronous_commit=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        run(
            as_nobody(&self.bin, "pg_ctl")
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("log"))
                .args(["-o", &opts]),
            "pg_ctl start",
        );
    }

    /// Stops the server (fast shutdown: open connections are cut).
    pub fn stop(&self) {
        run(
            as_nobody(&self.bin, "pg_ctl")
                .args(["stop", "-w", "-m", "fast", "-D"])
                .arg(self.dir.join("data")),
            "pg_ctl stop",
        );
    }

    /// Starts the stopped server again on the same port.
    pub fn restart(&self) {
        self.ctl_start();
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for database `name`.
    pub fn url(&self, name: &str) -> Secret {
        Secret::new(format!(
            "postgresql://postgres@127.0.0.1:{}/{name}",
            self.port
        ))
    }

    /// A new, empty database of its own for one test; its URL.
    pub fn database(&self) -> Secret {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            ),
            postgres::NoTls,
        )
        .expect("connecting to the test PostgreSQL");
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("creating a test database");
        self.url(&name)
    }

    /// A direct connection to database behind `url`, for assertions.
    pub fn client(&self, url: &Secret) -> postgres::Client {
        postgres::Client::connect(url.expose(), postgres::NoTls).expect("connecting")
    }
}
