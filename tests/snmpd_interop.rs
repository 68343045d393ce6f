//! Interop with the real net-snmp agent (Debian package `snmpd`): the test starts its own
//! snmpd on a 127.0.0.1 high port with a generated configuration (a v2c community and a v3
//! SHA/AES authPriv user), polls the `lo` interface over v2c and v3, pushes bytes through
//! loopback, and checks that the counters moved by at least that much; SHA-256/AES-256,
//! MD5/DES and SHA-512 authNoPriv users answer too. Wrong credentials are
//! errors counted in the metrics, never a panic and never zero traffic.
//!
//! Without snmpd the test fails when `CI=true` and is skipped (with a message) otherwise.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bandwatch::config::{self, Config};
use bandwatch::poll::{
    PortOutcome, Quality, SweepStatus, SwitchMetrics, SwitchPoller, UnknownReason,
};
use bandwatch::snmp::connect;

fn find_snmpd() -> Option<PathBuf> {
    ["/usr/sbin/snmpd", "/usr/local/sbin/snmpd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// snmpd, killed when dropped.
struct Snmpd(Child);

impl Drop for Snmpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two consecutive free UDP ports; returns the first.
fn free_udp_port() -> u16 {
    crate::net_support::udp_range(2)
}

fn start_snmpd(bin: &Path, dir: &Path, port: u16) -> Snmpd {
    let conf = dir.join("snmpd.conf");
    std::fs::write(
        &conf,
        format!(
            "agentAddress udp:127.0.0.1:{port},udp:127.0.0.1:{}\n\
             rocommunity bwtest 127.0.0.1\n\
             createUser bwuser SHA \"bw-auth-pass\" AES \"bw-priv-pass\"\n\
             rouser bwuser priv\n\
             createUser bwsha256 SHA-256 \"bw-auth-pass\" AES-256 \"bw-priv-pass\"\n\
             rouser bwsha256 priv\n\
             createUser bwnopriv SHA-512 \"bw-auth-pass\"\n\
             rouser bwnopriv auth\n\
             createUser bwdes MD5 \"bw-auth-pass\" DES \"bw-priv-pass\"\n\
             rouser bwdes priv\n",
            port + 1
        ),
    )
    .unwrap();
    let persist = dir.join("persist");
    std::fs::create_dir_all(&persist).unwrap();
    let log = std::fs::File::create(dir.join("snmpd.log")).unwrap();
    let child = Command::new(bin)
        .args(["-f", "-Lo", "-C", "-c"])
        .arg(&conf)
        .arg("-p")
        .arg(dir.join("snmpd.pid"))
        .env("SNMP_PERSISTENT_DIR", &persist)
        .env("MIBS", "")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("snmpd starts");
    Snmpd(child)
}

fn write_config(dir: &Path, port: u16, community: &str, auth: &str) -> Config {
    std::fs::write(dir.join("auth"), auth).unwrap();
    std::fs::write(dir.join("priv"), "bw-priv-pass").unwrap();
    std::fs::write(dir.join("community"), community).unwrap();
    let port2 = port + 1;
    let text = format!(
        r#"
[daemon]
interval = "5s"
[snmp.v2]
version = "2c"
community = "file:community"
timeout = "500ms"
retries = 1
[snmp.v3]
version = "3"
user = "bwuser"
auth = "sha1"
auth_password = "file:auth"
privacy = "aes128"
privacy_password = "file:priv"
timeout = "500ms"
retries = 1
[[site]]
name = "lab"
[[switch]]
name = "lo-v2c"
site = "lab"
address = "127.0.0.1:{port}"
profile = "v2"
[[switch]]
name = "lo-v3"
site = "lab"
address = "127.0.0.1:{port2}"
profile = "v3"
# net-snmp reports lo at 10 Mbit/s; loopback moves far more, so cap it explicitly.
[[port]]
switch = "lo-v2c"
name = "lo"
max_rate = "1000Gbps"
[[port]]
switch = "lo-v3"
name = "lo"
max_rate = "1000Gbps"
"#
    );
    let path = dir.join("bandwatch.toml");
    std::fs::write(&path, text).unwrap();
    config::load(&path).unwrap().config
}

async fn pollers(cfg: &Config) -> Vec<(SwitchPoller, Arc<SwitchMetrics>)> {
    let mut out = Vec::new();
    for s in &cfg.topology.switches {
        let m = Arc::new(SwitchMetrics::default());
        let src = connect(&s.address, &s.snmp).await.unwrap();
        out.push((SwitchPoller::new(Arc::clone(s), src, m.clone()), m));
    }
    out
}

/// Sends `total` bytes of UDP payload through loopback.
fn push_loopback(total: usize) -> usize {
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    let buf = vec![0x5au8; 8000];
    let mut sent = 0;
    while sent < total {
        sent += tx.send_to(&buf, to).unwrap();
        let mut r = [0u8; 8192];
        let _ = rx.recv_from(&mut r);
    }
    sent
}

fn snmpd_or_skip() -> Option<PathBuf> {
    match find_snmpd() {
        Some(p) => Some(p),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("snmpd is not installed (Debian package `snmpd`), and CI=true")
        }
        None => {
            eprintln!("SKIPPED: snmpd not found (install the Debian package `snmpd`)");
            None
        }
    }
}

async fn wait_until_up(cfg: &Config) {
    let s = &cfg.topology.switches[0];
    let src = connect(&s.address, &s.snmp).await.unwrap();
    for _ in 0..50 {
        if src.get(&[vec![1, 3, 6, 1, 2, 1, 1, 3, 0]]).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("snmpd did not answer within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_lo_over_v2c_and_v3_authpriv_and_sees_the_bytes_sent() {
    let Some(bin) = snmpd_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let _snmpd = start_snmpd(&bin, dir.path(), port);
    let cfg = write_config(dir.path(), port, "bwtest", "bw-auth-pass");
    wait_until_up(&cfg).await;

    let mut ps = pollers(&cfg).await;
    for (p, _) in ps.iter_mut() {
        let first = p.poll().await;
        assert_eq!(first.status, SweepStatus::Ok, "{first:?}");
        let PortOutcome::Reading(r) = &first.ports[0].outcome else {
            panic!("lo not read: {first:?}");
        };
        assert_eq!(r.quality, Quality::First);
        assert!(r.if_index >= 1);
    }
    let sent = tokio::task::spawn_blocking(|| push_loopback(20_000_000))
        .await
        .unwrap();
    // net-snmp refreshes its interface counters from the kernel every few seconds.
    tokio::time::sleep(Duration::from_millis(5500)).await;
    for (p, m) in ps.iter_mut() {
        let second = p.poll().await;
        assert_eq!(second.status, SweepStatus::Ok, "{second:?}");
        let PortOutcome::Reading(r) = &second.ports[0].outcome else {
            panic!("lo not read: {second:?}");
        };
        assert_eq!(r.quality, Quality::Ok, "{second:?}");
        let d = r.delta.unwrap();
        assert!(
            d.in_octets >= sent as u64 && d.out_octets >= sent as u64,
            "{}: counters moved {} / {} but {sent} bytes were sent",
            p.switch().name,
            d.in_octets,
            d.out_octets
        );
        assert!(d.in_packets.unwrap() >= 2500, "{d:?}");
        assert!(m.requests.load(Ordering::Relaxed) >= 3);
        assert_eq!(m.errors.load(Ordering::Relaxed), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_community_and_wrong_v3_password_are_counted_errors() {
    let Some(bin) = snmpd_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let _snmpd = start_snmpd(&bin, dir.path(), port);
    // Wait with the right credentials, then poll with wrong ones.
    let good = write_config(dir.path(), port, "bwtest", "bw-auth-pass");
    wait_until_up(&good).await;
    let bad_dir = tempfile::tempdir().unwrap();
    let bad = write_config(bad_dir.path(), port, "not-the-community", "wrong-auth-pass");

    let mut ps = pollers(&bad).await;
    // v2c: the agent drops requests with a wrong community, so this is a timeout.
    let (v2, m2) = &mut ps[0];
    let s = v2.poll().await;
    assert_eq!(s.status, SweepStatus::Timeout, "{s:?}");
    assert_eq!(
        s.ports[0].outcome,
        PortOutcome::Unknown(UnknownReason::Timeout)
    );
    assert_eq!(m2.timeouts.load(Ordering::Relaxed), 1);
    // v3: net-snmp answers a wrong digest with an unauthenticated report, which the client
    // does not trust; the request ends as a timeout or an authentication error.
    let (v3, m3) = &mut ps[1];
    let s = v3.poll().await;
    assert_ne!(s.status, SweepStatus::Ok, "{s:?}");
    assert!(
        matches!(
            s.ports[0].outcome,
            PortOutcome::Unknown(UnknownReason::Timeout | UnknownReason::AgentError)
        ),
        "{s:?}"
    );
    assert_eq!(
        m3.errors.load(Ordering::Relaxed) + m3.timeouts.load(Ordering::Relaxed),
        1
    );
    // An error text never contains the password.
    assert!(!format!("{s:?}").contains("wrong-auth-pass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_sha2_aes256_des_and_auth_nopriv_users_are_polled() {
    use bandwatch::config::{
        AuthProtocol, Duration, Port, PortLabels, PrivacyProtocol, Secret, SnmpCredentials,
        SnmpProfile, Switch, UsmUser,
    };
    let Some(bin) = snmpd_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let _snmpd = start_snmpd(&bin, dir.path(), port);
    let good = write_config(dir.path(), port, "bwtest", "bw-auth-pass");
    wait_until_up(&good).await;

    let users = [
        (
            "bwsha256",
            AuthProtocol::Sha256,
            Some(PrivacyProtocol::Aes256),
        ),
        ("bwnopriv", AuthProtocol::Sha512, None),
        ("bwdes", AuthProtocol::Md5, Some(PrivacyProtocol::Des)),
    ];
    for (user, auth, privacy) in users {
        let profile = SnmpProfile {
            name: user.into(),
            credentials: SnmpCredentials::V3(UsmUser {
                user: user.into(),
                auth: Some((auth, Secret::new("bw-auth-pass"))),
                privacy: privacy.map(|p| (p, Secret::new("bw-priv-pass"))),
            }),
            timeout: Duration(Duration::from_secs(1).std()),
            retries: 1,
            max_repetitions: 10,
        };
        let switch = Switch {
            name: format!("lo-{user}"),
            site: "lab".into(),
            address: format!("127.0.0.1:{port}"),
            profile: user.into(),
            snmp: profile,
            interval: Duration::from_secs(5),
            rediscover: Duration::from_secs(3600),
            alias_patterns: Vec::new(),
            ports: vec![Port {
                name: "lo".into(),
                labels: PortLabels::default(),
                max_rate: None,
                attributed: false,
                description: None,
            }],
            description: None,
            shard: None,
        };
        let m = Arc::new(SwitchMetrics::default());
        let src = connect(&switch.address, &switch.snmp).await.unwrap();
        let mut p = SwitchPoller::new(Arc::new(switch), src, m.clone());
        let s = p.poll().await;
        assert_eq!(s.status, SweepStatus::Ok, "{user}: {s:?}");
        let PortOutcome::Reading(r) = &s.ports[0].outcome else {
            panic!("{user}: {s:?}")
        };
        assert_eq!(r.quality, Quality::First, "{user}");
        assert!(s.sys_uptime.is_some(), "{user}");
    }
}
