//! Checks and normalizations of single values (paths, addresses, mailboxes) and the small
//! text helpers the builder's messages use.

use std::path::{Path, PathBuf};

use super::super::model::defaults;

/// Removes `.` and `name/..` pairs without touching the file system (paths may not exist yet).
pub(super) fn normalize_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, normalized to `host:port`.
pub(super) fn normalize_address(a: &str) -> Result<String, String> {
    let a = a.trim();
    let bad =
        || format!("`{a}` is not a host or host:port (IPv6 in brackets: `[2001:db8::1]:161`)");
    if a.is_empty() {
        return Err(bad());
    }
    if let Some(rest) = a.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        host.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().map_err(|_| bad())?,
            None if after.is_empty() => defaults::SNMP_PORT,
            None => return Err(bad()),
        };
        return Ok(format!("[{host}]:{port}"));
    }
    if a.matches(':').count() > 1 {
        return Err(bad());
    }
    let (host, port) = match a.split_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (a, defaults::SNMP_PORT),
    };
    if host.is_empty()
        || port == 0
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

pub(super) fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !a.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
}

pub(super) fn valid_mailbox(m: &str) -> bool {
    let m = m.trim();
    match (m.rfind('<'), m.ends_with('>')) {
        (Some(i), true) => valid_address(&m[i + 1..m.len() - 1]),
        (None, false) => valid_address(m),
        _ => false,
    }
}

pub(in crate::config) fn known<'k>(names: impl Iterator<Item = &'k String>) -> String {
    let v: Vec<String> = names.take(12).map(|n| format!("`{n}`")).collect();
    if v.is_empty() {
        String::new()
    } else {
        format!(" (known: {})", v.join(", "))
    }
}

pub(super) fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalize() {
        assert_eq!(normalize_address("10.1.0.1").unwrap(), "10.1.0.1:161");
        assert_eq!(
            normalize_address("sw1.example.net:1161").unwrap(),
            "sw1.example.net:1161"
        );
        assert_eq!(
            normalize_address("[2001:db8::1]").unwrap(),
            "[2001:db8::1]:161"
        );
        assert!(normalize_address("10.1.0.1:notaport").is_err());
        assert!(normalize_address("2001:db8::1").is_err());
        assert!(normalize_address("").is_err());
    }

    #[test]
    fn paths_normalize() {
        assert_eq!(
            normalize_path(Path::new("config/../var")),
            PathBuf::from("var")
        );
        assert_eq!(
            normalize_path(Path::new("/etc/bandwatch/./rules")),
            PathBuf::from("/etc/bandwatch/rules")
        );
        assert_eq!(normalize_path(Path::new("../x")), PathBuf::from("../x"));
        assert_eq!(normalize_path(Path::new("a/..")), PathBuf::from("."));
    }

    #[test]
    fn mailboxes() {
        assert!(valid_mailbox("bandwatch <bandwatch@example.net>"));
        assert!(valid_mailbox("noc@example.net"));
        assert!(!valid_mailbox("bandwatch"));
        assert!(!valid_mailbox("x <y>"));
    }
}
