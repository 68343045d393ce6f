//! The listener against clients that misbehave, over real TCP: a client that sends its headers
//! a byte at a time, one that sends nothing, one that stops halfway through its body, and one
//! that sends too much, are each cut off (closed, 408, 413) while other requests are served;
//! a body is not read before the request is authorized; the connection bound lets the next
//! client in once a slot frees.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use bandwatch::http::{AppState, Health, LiveView, bind, serve};

const CONFIG: &str = r#"
[daemon]
data_dir = "var"
rules_dir = "rules"

[snmp.default]
version = "2c"
community = "${BANDWATCH_TEST_COMMUNITY:-public}"

[[site]]
name = "fra"

[http]
header_timeout = "1s"
body_timeout = "1s"
max_connections = 3
max_body = "2KiB"
"#;

struct Server {
    addr: SocketAddr,
    token: String,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let token = bandwatch::http::auth::token::generate().unwrap();
    let text = format!(
        "{CONFIG}\n[[api.token]]\nname = \"ops\"\nscopes = [\"admin\", \"metrics:read\"]\nhash = \"{}\"\n",
        bandwatch::http::auth::token::hash_line(&token)
    );
    let path = dir.path().join("bandwatch.toml");
    std::fs::write(&path, text).unwrap();
    let config = bandwatch::config::load(&path).unwrap().config;
    let state = AppState {
        live: LiveView::new(Arc::new(config.topology.clone())),
        sources: Arc::new(Vec::new()),
        health: Health::default(),
        alerts: Default::default(),
        store: None,
        runtime: Some(bandwatch::runtime::RuntimeHandle::of_config(config)),
        reload: None,
        usage: None,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(serve(listener, state, std::future::pending()));
    Server {
        addr,
        token,
        _dir: dir,
        _rt: rt,
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads until the server closes: what it sent.
fn until_closed(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => String::from_utf8_lossy(&buf).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            String::from_utf8_lossy(&buf).into_owned()
        }
        Err(e) => panic!("the server did not close the connection: {e}"),
    }
}

fn healthz(addr: SocketAddr) -> u16 {
    let mut s = connect(addr);
    s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
    let answer = until_closed(&mut s);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn slow_and_silent_clients_are_cut_off_while_others_are_served() {
    let s = start();
    // A client that dribbles its headers: one byte every 300 ms, forever.
    let mut slow = connect(s.addr);
    let addr = s.addr;
    let dribble = std::thread::spawn(move || {
        let mut sent = 0;
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: "
            .iter()
            .cycle()
        {
            if slow.write_all(&[*b]).is_err() {
                return (sent, until_closed(&mut slow));
            }
            sent += 1;
            if sent > 400 {
                return (sent, String::from("still open after 400 bytes"));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        unreachable!()
    });
    // A client that connects and says nothing.
    let mut silent = connect(s.addr);
    // Meanwhile the third slot serves everyone else.
    for _ in 0..3 {
        assert_eq!(healthz(addr), 200);
    }
    let answer = until_closed(&mut silent);
    assert!(!answer.contains("200 OK"), "{answer}");
    let (sent, answer) = dribble.join().unwrap();
    assert!(
        sent < 400,
        "the dribbling client was never cut off: {answer}"
    );
    assert!(!answer.contains("200 OK"), "{answer}");
    assert_eq!(healthz(addr), 200);
}

#[test]
fn a_body_that_stops_halfway_gets_408_and_a_big_one_413() {
    let s = start();
    let auth = format!("Authorization: Bearer {}\r\n", s.token);
    // Half a body, then nothing: cut off after body_timeout.
    let mut c = connect(s.addr);
    write!(
        c,
        "POST /-/reload HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 100\r\n\r\n0123456789"
    )
    .unwrap();
    assert_eq!(healthz(s.addr), 200, "others are served meanwhile");
    let answer = until_closed(&mut c);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // More than max_body: 413, and only after authorization.
    let big = "x".repeat(4096);
    let mut c = connect(s.addr);
    write!(
        c,
        "POST /-/reload HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{big}",
        big.len()
    )
    .unwrap();
    let answer = until_closed(&mut c);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Without a credential the body is never read: 401 at once, even with half a body.
    let mut c = connect(s.addr);
    write!(
        c,
        "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123"
    )
    .unwrap();
    let answer = until_closed(&mut c);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[test]
fn the_connection_bound_queues_clients_instead_of_dropping_them() {
    let s = start();
    // Hold every slot with clients that have sent half a request.
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut c = connect(s.addr);
            c.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
            c
        })
        .collect();
    // The next client waits in the backlog and is served once the held ones are cut off.
    assert_eq!(healthz(s.addr), 200);
    for c in &mut held {
        let _ = until_closed(c);
    }
}
