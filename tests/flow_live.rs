//! Real exporters on real kernel traffic: the test makes a network namespace and a veth
//! pair into it, routes a customer's prefix through the veth, blasts UDP over it from a
//! customer's address, and `softflowd` (Debian `softflowd`) captures the host end and
//! exports NetFlow v9 and IPFIX to the collector, and so does `pmacctd` live (Debian
//! `pmacct`, its nfprobe plugin for IPFIX and its sfprobe plugin for sFlow); per-customer
//! bytes agree with what the test sent: within 2 % unsampled, and within the sampling error
//! when the exporter samples and says so in its datagrams (softflowd `-s N`: an options record,
//! samplingInterval in v9, PSAMP's packet interval and space in IPFIX; pmacctd
//! `sampling_rate: N`: samplerRandomInterval in IPFIX, each sFlow sample's rate). How the
//! bound follows from each sampler is in [`Sampling`].
//!
//! Why softflowd once "processed 0 packets": it opens the interface with libpcap's timeout
//! 0, and with TPACKET_V3 the kernel hands libpcap a ring block only once the block is full
//! (about 1,100 of softflowd's 80-byte captures here); a few hundred test packets sit in the
//! ring unseen (`softflowctl statistics`: "Packets received by libpcap: 1000", "Packets
//! processed: 0"). The test therefore sends filler packets (to an address of no customer)
//! until softflowd has processed every test packet, then asks it to shut down, which
//! expires and exports every flow (it exports only on expiry).
//!
//! Needs root (`ip netns`, `ip link`); outside CI a machine without them skips, under
//! `CI=true` a missing tool or permission fails.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bandwatch::config::{self, SourceFile};
use bandwatch::flow::collector::ModelSource;
use bandwatch::flow::{Collector, FlowMetrics, FlowModel};
use bandwatch::store::{FlowSink, FlowSlot, StoreError};

/// Flow slots handed over by the collector.
#[derive(Default)]
struct Slots(Mutex<Vec<FlowSlot>>);

impl FlowSink for Slots {
    fn submit_flows(&self, slots: Vec<FlowSlot>) -> Result<(), StoreError> {
        self.0.lock().unwrap().extend(slots);
        Ok(())
    }
}

impl Slots {
    /// (in, out) octets per customer.
    fn totals(&self) -> HashMap<String, (u64, u64)> {
        let mut t: HashMap<String, (u64, u64)> = HashMap::new();
        for s in self.0.lock().unwrap().iter() {
            let e = t.entry(s.name.clone()).or_default();
            e.0 += s.in_octets;
            e.1 += s.out_octets;
        }
        t
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips outside CI, fails under CI, saying why.
fn unavailable(why: &str) {
    assert!(!in_ci(), "CI=true but {why}");
    eprintln!("skipped: {why}");
}

fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The addresses of one run.
#[derive(Clone, Copy, Debug)]
struct Addrs {
    /// The namespace's end of the veth (the next hop, an address of no customer).
    peer: Ipv4Addr,
    /// The host end's own link address (of no customer).
    host: Ipv4Addr,
    /// An address of `globex` on the host end (the sender).
    globex: Ipv4Addr,
    /// `acme`'s prefix, routed into the namespace.
    acme: (Ipv4Addr, u8),
    /// `globex`'s prefix.
    globex_prefix: (Ipv4Addr, u8),
}

/// A namespace with one end of a veth pair; the other end in the test's namespace, with the
/// addresses of this run. Removed on drop.
struct Net {
    ns: String,
    host_if: String,
    addrs: Addrs,
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.ns]);
        let _ = run("ip", &["link", "del", &self.host_if]);
    }
}

impl Net {
    /// Addresses of 10.a.b.0/24, `a` and `b` from the process id and `tag`, so that
    /// concurrent runs of the suite never share a route or an interface name.
    fn make(tag: u8) -> Result<Net, String> {
        let pid = std::process::id();
        let a = 64 + (pid % 128) as u8;
        let b = ((pid / 128) % 31) as u8 * 8 + tag;
        let net = Net {
            ns: format!("bwflow-{pid}-{tag}"),
            host_if: format!("bwf{}x{tag}", pid % 100_000),
            addrs: Addrs {
                peer: Ipv4Addr::new(10, a, b, 2),
                host: Ipv4Addr::new(10, a, b, 1),
                globex: Ipv4Addr::new(10, a, b, 65),
                acme: (Ipv4Addr::new(10, a, b, 128), 25),
                globex_prefix: (Ipv4Addr::new(10, a, b, 64), 27),
            },
        };
        let x = net.addrs;
        let peer_if = format!("bwf{}y{tag}", pid % 100_000);
        let host_cidr = format!("{}/30", x.host);
        let peer_cidr = format!("{}/30", x.peer);
        let acme_route = format!("{}/{}", x.acme.0, x.acme.1);
        let globex_addr = format!("{}/32", x.globex);
        let peer = x.peer.to_string();
        run("ip", &["netns", "add", &net.ns])?;
        run(
            "ip",
            &[
                "link",
                "add",
                &net.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &peer_if,
            ],
        )?;
        run("ip", &["link", "set", &peer_if, "netns", &net.ns])?;
        run("ip", &["addr", "add", &host_cidr, "dev", &net.host_if])?;
        run("ip", &["addr", "add", &globex_addr, "dev", &net.host_if])?;
        run("ip", &["link", "set", &net.host_if, "up"])?;
        run(
            "ip",
            &["-n", &net.ns, "addr", "add", &peer_cidr, "dev", &peer_if],
        )?;
        run("ip", &["-n", &net.ns, "link", "set", &peer_if, "up"])?;
        run(
            "ip",
            &[
                "route",
                "add",
                &acme_route,
                "via",
                &peer,
                "dev",
                &net.host_if,
            ],
        )?;
        Ok(net)
    }
}

impl Addrs {
    /// The run's /24 (every address above is in it).
    fn network(&self) -> Ipv4Addr {
        let [a, b, c, _] = self.peer.octets();
        Ipv4Addr::new(a, b, c, 0)
    }

    fn config(&self) -> String {
        format!(
            r#"
[snmp.default]
version = "2c"
community = "${{BANDWATCH_FLOW_TEST_COMMUNITY:-public}}"

[[site]]
name = "dc1"

[[switch]]
name = "edge-1"
site = "dc1"
address = "127.0.0.1:161"

[[customer]]
id = "acme"
prefixes = ["{}/{}"]

[[customer]]
id = "globex"
prefixes = ["{}/{}"]

[flow]
listen = ["127.0.0.1:0"]

[[flow.exporter]]
switch = "edge-1"
"#,
            self.acme.0, self.acme.1, self.globex_prefix.0, self.globex_prefix.1
        )
    }
}

/// What the test sent: IP bytes (20 + 8 + payload per packet).
#[derive(Default)]
struct Sent {
    /// From globex to acme.
    globex_to_acme: u64,
    /// From the host's link address (no customer) to acme.
    other_to_acme: u64,
    packets: u64,
    /// Every packet in send order (which is capture order): (from globex, IP bytes).
    order: Vec<(bool, u64)>,
}

impl std::fmt::Debug for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sent")
            .field("globex_to_acme", &self.globex_to_acme)
            .field("other_to_acme", &self.other_to_acme)
            .field("packets", &self.packets)
            .finish()
    }
}

/// Sends the test traffic, `rounds` times: globex to four acme addresses (three packet
/// sizes), and the host's link address to one acme address; paced so the capture ring never
/// overflows.
fn blast(x: Addrs, rounds: usize) -> Sent {
    let from_globex = UdpSocket::bind((x.globex, 0)).unwrap();
    let from_host = UdpSocket::bind((x.host, 0)).unwrap();
    let acme = u32::from(x.acme.0);
    let mut sent = Sent::default();
    let payload = vec![0x5au8; 1400];
    for _ in 0..rounds {
        for i in 0..400u32 {
            let dst = Ipv4Addr::from(acme + 1 + (i % 4));
            let size = [100usize, 472, 1400][(i % 3) as usize];
            if from_globex
                .send_to(&payload[..size], (dst, 40_000 + (i % 7) as u16))
                .is_ok()
            {
                sent.globex_to_acme += 28 + size as u64;
                sent.packets += 1;
                sent.order.push((true, 28 + size as u64));
            }
        }
        for _ in 0..50 {
            let dst = Ipv4Addr::from(acme + 9);
            if from_host.send_to(&payload[..200], (dst, 123)).is_ok() {
                sent.other_to_acme += 228;
                sent.packets += 1;
                sent.order.push((false, 228));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    sent
}

/// How the exporter samples the packets its capture filter passes, and so how far its
/// estimate of a customer's bytes (N times the bytes of the packets it sampled) may lie from
/// what was sent.
#[derive(Clone, Copy, Debug)]
enum Sampling {
    /// Every packet: within 2 % (the exporters count IP bytes exactly; the margin is for a
    /// flow expiring in between).
    None,
    /// softflowd `-s N`: packet `k` of the capture is sampled when `k % N == 0`, so the
    /// estimate is N times the bytes of the test's packets at positions `j` with
    /// `(p + j) % N == 0`, `p` the unknown number of packets captured before them. The test
    /// computes that sum for each of the N phases from the sequence it sent and requires
    /// the estimate to lie between the smallest and the largest (nothing else passes the
    /// filter while it sends).
    Systematic(u32),
    /// pmacctd `sampling_rate: N` (nfprobe) and its sfprobe's sFlow sampler: after each
    /// sampled packet, the next is drawn uniformly from 1 to 2N - 1 packets on (mean N).
    /// Independent 1-in-N sampling would give the estimate a variance of `(N - 1) * sum of
    /// s^2` over the packets sent (each counts N * s with probability 1/N); a uniform skip's
    /// variance, N(N - 1)/3, is a third of the geometric skip's, N(N - 1), so these samplers
    /// vary less (simulated on this traffic: 0.77 of that standard deviation). With some
    /// 3,600 samples the estimate is close to normal; the test allows 5 of the independent
    /// sampler's standard deviations, which a correct collector exceeds with a probability
    /// below 1e-6, and which a rate misapplied (1 or N^2 in place of N) exceeds by far.
    RandomSkip(u32),
}

impl Sampling {
    /// Rounds of [`blast`]: more when sampled, so the sampling error is a few percent.
    fn rounds(self) -> usize {
        match self {
            Sampling::None => 20,
            _ => 80,
        }
    }

    /// The range the estimate of the bytes of the packets `of` selects may lie in.
    fn bounds(self, sent: &Sent, of: impl Fn(bool) -> bool) -> (f64, f64) {
        let sizes: Vec<(usize, u64)> = sent
            .order
            .iter()
            .enumerate()
            .filter(|(_, (g, _))| of(*g))
            .map(|(j, (_, s))| (j, *s))
            .collect();
        let total: u64 = sizes.iter().map(|(_, s)| s).sum();
        match self {
            Sampling::None => (0.98 * total as f64, 1.02 * total as f64),
            Sampling::Systematic(n) => {
                let n = n as usize;
                let by_phase = (0..n).map(|p| {
                    sizes
                        .iter()
                        .filter(|(j, _)| (p + j) % n == 0)
                        .map(|(_, s)| s * n as u64)
                        .sum::<u64>() as f64
                });
                by_phase.fold((f64::MAX, f64::MIN), |(lo, hi), e| (lo.min(e), hi.max(e)))
            }
            Sampling::RandomSkip(n) => {
                let squares: f64 = sizes.iter().map(|(_, s)| (*s as f64).powi(2)).sum();
                let sd = (f64::from(n - 1) * squares).sqrt();
                (total as f64 - 5.0 * sd, total as f64 + 5.0 * sd)
            }
        }
    }
}

/// Sends fillers (from the host's link address to the namespace's: no customer) until
/// `processed()` says every one of the `test` packets sent before them has left the capture
/// ring. Capture order is send order: once the exporter has processed the test packets and
/// every filler of the rounds before the last one, the test packets are all counted.
fn flush_ring(x: Addrs, test: u64, processed: impl Fn() -> u64) {
    let filler = UdpSocket::bind((x.host, 0)).unwrap();
    let (mut before, mut sent) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for _ in 0..1500 {
            if filler.send_to(&[0u8; 64], (x.peer, 9)).is_ok() {
                sent += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let p = processed();
        if p >= test + before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the exporter processed {p} packets of {test} test packets and {before} fillers"
        );
        before = sent;
    }
}

/// softflowd's packets read from the capture (processed, plus non-sampled ones when it
/// samples) and its "dropped by libpcap" counter.
fn softflowd_counts(ctl: &Path) -> Option<(u64, u64)> {
    let out = Command::new("softflowctl")
        .arg("-c")
        .arg(ctl)
        .arg("statistics")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let num = |key: &str| -> Option<u64> {
        let rest = text.split(key).nth(1)?;
        rest.split_whitespace().next()?.parse().ok()
    };
    Some((
        num("Packets processed:")? + num("Packets non-sampled:").unwrap_or(0),
        num("Packets dropped by libpcap:")?,
    ))
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// softflowd on the veth exporting `version` (9 or 10) to the collector, sampling as told
/// (`Sampling::None` or `Sampling::Systematic`).
async fn softflowd_live(version: &'static str, tag: u8, sampling: Sampling) {
    if !Path::new("/usr/sbin/softflowd").exists() {
        unavailable("softflowd is not installed (Debian package `softflowd`)");
        return;
    }
    let net = match Net::make(tag) {
        Ok(n) => n,
        Err(e) => {
            unavailable(&format!("no network namespace and veth: {e}"));
            return;
        }
    };
    let x = net.addrs;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bandwatch.toml");
    std::fs::write(&path, x.config()).unwrap();
    let c = config::load_source(&SourceFile::read(&path).unwrap())
        .map_err(|d| d.to_string())
        .unwrap()
        .config;
    let model = Arc::new(FlowModel::new(&c.flow));
    let models: ModelSource = Arc::new(move || model.clone());
    let sink = Arc::new(Slots::default());
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let col = Collector::start(&[listen], models, sink.clone(), Arc::default())
        .await
        .unwrap();
    let to = col.local_addrs()[0];
    let metrics = col.metrics();
    let ctl = dir.path().join("softflowd.ctl");
    let pid = dir.path().join("softflowd.pid");
    let host_if = net.host_if.clone();
    let log = dir.path().join("softflowd.log");
    let log_text = {
        let log = log.clone();
        move || std::fs::read_to_string(&log).unwrap_or_default()
    };
    let (sent, processed, dropped, status) = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("/usr/sbin/softflowd");
        cmd.args(["-i", &host_if, "-v", version, "-d", "-T", "full"]);
        if let Sampling::Systematic(n) = sampling {
            cmd.args(["-s", &n.to_string()]);
        }
        let mut child = cmd
            .arg("-n")
            .arg(to.to_string())
            .arg("-p")
            .arg(&pid)
            .arg("-c")
            .arg(&ctl)
            // Only UDP toward the test's addresses: the namespace answers with ICMP port
            // unreachable, and the host may announce itself (mDNS) on a new link; neither
            // may take a sampling turn.
            .arg(format!("udp and dst net {}/24", x.network()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start softflowd");
        wait_until("softflowd's control socket", 20, || {
            softflowd_counts(&ctl).is_some()
        });
        let sent = blast(x, sampling.rounds());
        flush_ring(x, sent.packets, || {
            softflowd_counts(&ctl).map_or(0, |c| c.0)
        });
        let (processed, dropped) = softflowd_counts(&ctl).unwrap_or((0, 0));
        // Shutting down expires every flow and exports it.
        let _ = Command::new("softflowctl")
            .arg("-c")
            .arg(&ctl)
            .arg("shutdown")
            .status();
        let status = crate::daemon_support::exit_within(&mut child, Duration::from_secs(20))
            .unwrap_or_else(|killed| killed);
        (sent, processed, dropped, status)
    })
    .await
    .unwrap();
    let who = format!("softflowd -v {version} ({sampling:?})");
    settle(&metrics, &who).await;
    col.stop().await;
    // softflowd exits with status 1 even on a requested shutdown: its log says it was one.
    let text = log_text();
    assert!(
        text.contains("Shutting down on user request"),
        "{who} exited with {status}: {text}"
    );
    assert_eq!(
        dropped, 0,
        "libpcap dropped packets (processed {processed})"
    );
    assert_totals(&sink, &sent, &who, sampling);
    drop(net);
}

/// Waits until the collector's decoded records stop growing (what the exporter sent is
/// received).
async fn settle(metrics: &FlowMetrics, who: &str) {
    let records = |m: &FlowMetrics| {
        FlowMetrics::get(&m.records_attributed) + FlowMetrics::get(&m.records_unattributed)
    };
    let mut last = u64::MAX;
    let deadline = Instant::now() + Duration::from_secs(15);
    while records(metrics) != last || records(metrics) == 0 {
        assert!(
            Instant::now() < deadline,
            "{who}: no flow records: {metrics:?}"
        );
        last = records(metrics);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(
        FlowMetrics::get(&metrics.datagrams_malformed),
        0,
        "{who}: {metrics:?}"
    );
}

/// The customers' bytes agree with what was sent: within 2 % unsampled, within the bounds
/// of the sampler otherwise ([`Sampling`]).
fn assert_totals(sink: &Slots, sent: &Sent, who: &str, sampling: Sampling) {
    let t = sink.totals();
    let acme = t.get("acme").copied().unwrap_or_default();
    let globex = t.get("globex").copied().unwrap_or_default();
    let acme_want = sent.globex_to_acme + sent.other_to_acme;
    // Every packet sent goes to acme; globex sent the ones marked so.
    let (lo, hi) = sampling.bounds(sent, |_| true);
    let (acme_lo, acme_hi) = (lo, hi);
    let got = acme.1 as f64;
    assert!(
        (lo..=hi).contains(&got),
        "{who}: acme received {acme_want} bytes, estimated {got}, allowed {lo:.0} to {hi:.0}: \
         {t:?} {sent:?}"
    );
    assert_eq!(acme.0, 0, "{who}: acme sent nothing (UDP only): {t:?}");
    let (lo, hi) = sampling.bounds(sent, |from_globex| from_globex);
    let got = globex.0 as f64;
    assert!(
        (lo..=hi).contains(&got),
        "{who}: globex sent {} bytes, estimated {got}, allowed {lo:.0} to {hi:.0}: {t:?}",
        sent.globex_to_acme
    );
    assert_eq!(globex.1, 0, "{who}: globex received nothing: {t:?}");
    let pct = |v: f64| 100.0 * (v / acme_want as f64 - 1.0);
    eprintln!(
        "{who}: acme {acme:?} of {acme_want} ({:+.2} %, allowed {:+.2} to {:+.2} %), \
         globex {globex:?} of {} ({:+.2} %)",
        pct(acme.1 as f64),
        pct(acme_lo),
        pct(acme_hi),
        sent.globex_to_acme,
        100.0 * (globex.0 as f64 / sent.globex_to_acme as f64 - 1.0),
    );
}

/// pmacctd's export plugin.
#[derive(Clone, Copy, Debug)]
enum Probe {
    /// nfprobe, IPFIX.
    Ipfix,
    /// sfprobe, sFlow v5 (it samples by itself, at `sampling_rate`).
    Sflow,
}

/// pmacctd (Debian `pmacct`) live on the veth, its nfprobe plugin exporting IPFIX or its
/// sfprobe plugin sFlow, sampling as told (`Sampling::None` or `Sampling::RandomSkip`); an
/// interrupt makes it expire and export every flow.
async fn pmacctd_live(tag: u8, probe: Probe, sampling: Sampling) {
    let Some(pmacctd) = ["/usr/sbin/pmacctd", "/usr/bin/pmacctd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        unavailable("pmacctd is not installed (Debian package `pmacct`)");
        return;
    };
    let net = match Net::make(tag) {
        Ok(n) => n,
        Err(e) => {
            unavailable(&format!("no network namespace and veth: {e}"));
            return;
        }
    };
    let x = net.addrs;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bandwatch.toml");
    std::fs::write(&path, x.config()).unwrap();
    let c = config::load_source(&SourceFile::read(&path).unwrap())
        .map_err(|d| d.to_string())
        .unwrap()
        .config;
    let model = Arc::new(FlowModel::new(&c.flow));
    let models: ModelSource = Arc::new(move || model.clone());
    let sink = Arc::new(Slots::default());
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let col = Collector::start(&[listen], models, sink.clone(), Arc::default())
        .await
        .unwrap();
    let to = col.local_addrs()[0];
    let metrics = col.metrics();
    let conf = dir.path().join("pmacctd.conf");
    let plugin = match probe {
        Probe::Ipfix => format!(
            "aggregate: src_host, dst_host, src_port, dst_port, proto\n\
             plugins: nfprobe\nnfprobe_version: 10\nnfprobe_receiver: {to}\n"
        ),
        Probe::Sflow => format!("plugins: sfprobe\nsfprobe_receiver: {to}\n"),
    };
    let rate = match sampling {
        Sampling::RandomSkip(n) => format!("sampling_rate: {n}\n"),
        _ => String::new(),
    };
    std::fs::write(
        &conf,
        format!(
            "daemonize: false\npcap_interface: {}\npcap_filter: udp\n{plugin}{rate}",
            net.host_if
        ),
    )
    .unwrap();
    let log = dir.path().join("pmacctd.log");
    let log_path = log.clone();
    let sent = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(pmacctd)
            .arg("-f")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start pmacctd");
        wait_until("pmacctd's capture", 20, || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Exporting flows"))
        });
        let sent = blast(x, sampling.rounds());
        // Fillers for a second (pmacctd reads its ring on a timeout; they push the test
        // packets out either way).
        let filler = UdpSocket::bind((x.host, 0)).unwrap();
        for _ in 0..10 {
            for _ in 0..1500 {
                let _ = filler.send_to(&[0u8; 64], (x.peer, 9));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // An interrupt to the pmacctd this test started: it expires and exports its flows.
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        sent
    })
    .await
    .unwrap();
    let who = format!("pmacctd {probe:?} ({sampling:?})");
    settle(&metrics, &who).await;
    col.stop().await;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(text.contains("Shutting down"), "{who}: {text}");
    assert_totals(&sink, &sent, &who, sampling);
    drop(net);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pmacctd_live_ipfix_on_a_veth_agrees_with_the_traffic_sent() {
    pmacctd_live(3, Probe::Ipfix, Sampling::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn softflowd_netflow_v9_on_a_veth_agrees_with_the_traffic_sent() {
    softflowd_live("9", 1, Sampling::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn softflowd_ipfix_on_a_veth_agrees_with_the_traffic_sent() {
    softflowd_live("10", 2, Sampling::None).await;
}

/// softflowd `-s 7`: IPFIX announces the rate as PSAMP's packet interval 1 and space 6.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn softflowd_ipfix_sampled_agrees_within_its_sampling() {
    softflowd_live("10", 4, Sampling::Systematic(7)).await;
}

/// softflowd `-s 7`: NetFlow v9 announces samplingInterval 7 in an options record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn softflowd_netflow_v9_sampled_agrees_within_its_sampling() {
    softflowd_live("9", 5, Sampling::Systematic(7)).await;
}

/// pmacctd `sampling_rate: 10`: IPFIX announces samplerRandomInterval 10 in an options record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pmacctd_ipfix_sampled_agrees_within_its_sampling() {
    pmacctd_live(6, Probe::Ipfix, Sampling::RandomSkip(10)).await;
}

/// pmacctd's sfprobe at 1 in 10: each sFlow sample carries its rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pmacctd_sflow_sampled_agrees_within_its_sampling() {
    pmacctd_live(7, Probe::Sflow, Sampling::RandomSkip(10)).await;
}
