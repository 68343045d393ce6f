//! The trait the poller talks to, and the values and errors it sees. Nothing here names the
//! SNMP crate underneath.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future (what the trait's methods return, so it stays object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A value in a response, reduced to what bandwatch reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnmpValue {
    /// INTEGER
    Integer(i64),
    /// OCTET STRING
    Octets(Vec<u8>),
    /// Counter32
    Counter32(u32),
    /// Counter64
    Counter64(u64),
    /// Gauge32 / Unsigned32
    Gauge32(u32),
    /// TimeTicks
    TimeTicks(u32),
    /// noSuchObject: the agent does not implement the column.
    NoSuchObject,
    /// noSuchInstance: the column exists, the row (ifIndex) does not.
    NoSuchInstance,
    /// endOfMibView
    EndOfMibView,
    /// Any other type (NULL, OID, IpAddress, ...).
    Other,
}

impl SnmpValue {
    /// The value as an unsigned integer, for counters, gauges, ticks and non-negative integers.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            SnmpValue::Counter32(v) | SnmpValue::Gauge32(v) | SnmpValue::TimeTicks(v) => {
                Some(u64::from(v))
            }
            SnmpValue::Counter64(v) => Some(v),
            SnmpValue::Integer(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as text (lossy UTF-8), for ifName, ifDescr and ifAlias.
    pub fn as_text(&self) -> Option<String> {
        match self {
            SnmpValue::Octets(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// True for noSuchObject, noSuchInstance and endOfMibView.
    pub fn is_exception(&self) -> bool {
        matches!(
            self,
            SnmpValue::NoSuchObject | SnmpValue::NoSuchInstance | SnmpValue::EndOfMibView
        )
    }
}

/// One OID and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarBind {
    /// The OID as numbers.
    pub oid: Vec<u32>,
    /// The value.
    pub value: SnmpValue,
}

/// Why a request failed. Messages never contain secrets.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnmpError {
    /// No (valid) response within the timeout and retries; wrong v2c communities look
    /// like this too, because agents drop such requests silently.
    #[error("no response (timeout after retries)")]
    Timeout,
    /// The agent answered with an error status (genErr, tooBig, authorizationError, ...).
    #[error("agent error: {0}")]
    Agent(String),
    /// SNMPv3 authentication or privacy failed (wrong user, key or engine).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The response could not be decoded, or did not match the request.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The socket failed or the address could not be resolved.
    #[error("network: {0}")]
    Network(String),
}

impl SnmpError {
    /// True for a timeout (as opposed to an answer that was wrong).
    pub fn is_timeout(&self) -> bool {
        matches!(self, SnmpError::Timeout)
    }
}

/// Receives the varbinds of an answer one by one, (OID, value), in the order they came.
pub type VarBindSink<'a> = dyn FnMut(&[u32], SnmpValue) + Send + 'a;

/// What the poller needs from an SNMP agent. Implementations apply their own timeout and
/// retries; one instance talks to one switch.
pub trait SnmpSource: Send + Sync {
    /// GET of several instance OIDs in one request. The response must name the same OIDs,
    /// in the same order; anything else is [`SnmpError::Malformed`].
    fn get<'a>(&'a self, oids: &'a [Vec<u32>]) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>>;

    /// One GETBULK: the successor of each of the first `non_repeaters` OIDs, then up to
    /// `max_repetitions` successors of each other OID, interleaved row by row as the
    /// protocol returns them (an agent may return fewer rows to fit one datagram).
    fn get_bulk<'a>(
        &'a self,
        oids: &'a [Vec<u32>],
        non_repeaters: u32,
        max_repetitions: u32,
    ) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>>;

    /// [`SnmpSource::get_bulk`] handing each varbind of the answer to `sink` instead of
    /// collecting them: the sweep's hot path, where an implementation can decode without
    /// allocating per varbind. Returns how many varbinds there were. After an error `sink`
    /// may have seen part of the answer, which the caller must discard.
    fn get_bulk_each<'a>(
        &'a self,
        oids: &'a [Vec<u32>],
        non_repeaters: u32,
        max_repetitions: u32,
        sink: &'a mut VarBindSink<'a>,
    ) -> BoxFuture<'a, Result<usize, SnmpError>> {
        Box::pin(async move {
            let vbs = self.get_bulk(oids, non_repeaters, max_repetitions).await?;
            let n = vbs.len();
            for vb in vbs {
                sink(&vb.oid, vb.value);
            }
            Ok(n)
        })
    }

    /// Where the agent is, for messages (`host:port`).
    fn target(&self) -> String;
}

impl fmt::Display for VarBind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let oid: Vec<String> = self.oid.iter().map(u32::to_string).collect();
        write!(f, "{} = {:?}", oid.join("."), self.value)
    }
}

/// A GET's answer must carry the requested OIDs, in order, one varbind each.
pub fn check_get_answer(oids: &[Vec<u32>], vbs: Vec<VarBind>) -> Result<Vec<VarBind>, SnmpError> {
    if vbs.len() != oids.len() || vbs.iter().zip(oids).any(|(vb, o)| &vb.oid != o) {
        return Err(SnmpError::Malformed(format!(
            "GET of {} OIDs answered with {} varbinds that do not match",
            oids.len(),
            vbs.len()
        )));
    }
    Ok(vbs)
}
