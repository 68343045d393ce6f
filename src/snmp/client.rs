//! [`SnmpSource`] on the async-snmp crate (pinned in Cargo.toml): v2c and v3 (MD5/SHA-1/SHA-2
//! auth, DES/AES privacy), the profile's timeout and retries, strict response checking.

use std::sync::Arc;
use std::time::Duration;

use async_snmp::{
    Auth, Client, ResponseShapePolicy, Retry, TargetClientBuilder, UdpTransport, UsmConfig, Value,
};
use tokio::sync::OnceCell;

use super::source::{BoxFuture, SnmpError, SnmpSource, SnmpValue, VarBind, check_get_answer};
use super::udp::Demux;
use crate::config::{AuthProtocol, PrivacyProtocol, SnmpCredentials, SnmpProfile};

/// Most OIDs the poller puts in one GET; the client must not split such a request.
pub const MAX_OIDS_PER_REQUEST: usize = 64;

/// One switch's SNMP agent, reached through async-snmp over UDP.
pub struct AsyncSnmpSource {
    client: Client,
    target: String,
}

/// UDP sockets shared by the clients of many switches: one for IPv4 targets and one for
/// IPv6 targets, each bound on first use. One socket and one receive task for a whole fleet
/// instead of one per switch (less memory, fewer wake-ups).
#[derive(Default)]
pub struct SharedUdp {
    v4: OnceCell<UdpTransport>,
    v6: OnceCell<UdpTransport>,
    demux_v4: OnceCell<Arc<Demux>>,
    demux_v6: OnceCell<Arc<Demux>>,
}

/// Kernel receive buffer of a shared socket: room for bursts of answers from many switches.
const SHARED_RECV_BUFFER: usize = 4 << 20;

impl SharedUdp {
    /// The shared socket of bandwatch's own client for this address family.
    pub(crate) async fn demux(&self, v6: bool) -> Result<Arc<Demux>, SnmpError> {
        let (cell, bind) = if v6 {
            (&self.demux_v6, "[::]:0")
        } else {
            (&self.demux_v4, "0.0.0.0:0")
        };
        let bind: std::net::SocketAddr = bind
            .parse()
            .map_err(|e| SnmpError::Network(format!("{bind}: {e}")))?;
        cell.get_or_try_init(|| async move { Demux::bind(bind) })
            .await
            .cloned()
    }

    async fn transport(&self, v6: bool) -> Result<&UdpTransport, SnmpError> {
        let (cell, bind) = if v6 {
            (&self.v6, "[::]:0")
        } else {
            (&self.v4, "0.0.0.0:0")
        };
        cell.get_or_try_init(|| async move {
            UdpTransport::builder()
                .bind(bind)
                .recv_buffer_size(SHARED_RECV_BUFFER)
                .build()
                .await
                .map_err(|e| SnmpError::Network(format!("cannot bind {bind}: {e}")))
        })
        .await
    }
}

fn builder(address: &str, profile: &SnmpProfile) -> Result<TargetClientBuilder, SnmpError> {
    let auth = auth_of(profile)?;
    let retry = Retry::fixed(profile.retries, Duration::ZERO)
        .map_err(|e| SnmpError::Network(format!("invalid retry count: {e}")))?;
    let mut b = Client::builder(address, auth)
        .request_timeout(profile.timeout.std())
        .retry(retry)
        .max_oids_per_request(MAX_OIDS_PER_REQUEST)
        .response_shape_policy(ResponseShapePolicy::Strict);
    if let SnmpCredentials::V3(user) = &profile.credentials
        && matches!(user.privacy, Some((PrivacyProtocol::Des, _)))
    {
        b = b.des_salt_state(des_salt_state()?);
    }
    Ok(b)
}

/// The DES privacy salt state of this process, shared by every DES sender. DES salts must
/// never repeat for one key; instead of a state file, the salt epoch ("boots") is the Unix
/// time at the first DES use, which grows from one daemon start to the next.
fn des_salt_state() -> Result<async_snmp::DesSaltState, SnmpError> {
    static STATE: std::sync::OnceLock<Result<async_snmp::DesSaltState, String>> =
        std::sync::OnceLock::new();
    STATE
        .get_or_init(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(1);
            let previous = u32::try_from(now.saturating_sub(1).max(1)).unwrap_or(u32::MAX / 2);
            async_snmp::PersistedDesSaltState::new(previous)
                .and_then(|p| {
                    async_snmp::DesSaltState::restart(p, |_| Ok::<(), std::convert::Infallible>(()))
                })
                .map_err(|e| format!("DES privacy state: {e}"))
        })
        .clone()
        .map_err(SnmpError::Auth)
}

impl AsyncSnmpSource {
    /// Opens a UDP client with its own socket for `address` (`host:port`) with the profile's
    /// credentials, timeout and retries. No packet is sent yet (v3 engine discovery happens
    /// on first use).
    pub async fn connect(address: &str, profile: &SnmpProfile) -> Result<Self, SnmpError> {
        let client = builder(address, profile)?
            .connect()
            .await
            .map_err(|e| map_error(&e))?;
        Ok(AsyncSnmpSource {
            client,
            target: address.to_string(),
        })
    }

    /// Like [`connect`](Self::connect), on a socket shared with other switches.
    pub async fn connect_shared(
        address: &str,
        profile: &SnmpProfile,
        shared: &SharedUdp,
    ) -> Result<Self, SnmpError> {
        let resolved = tokio::net::lookup_host(address)
            .await
            .map_err(|e| SnmpError::Network(format!("cannot resolve {address}: {e}")))?
            .next()
            .ok_or_else(|| SnmpError::Network(format!("{address} resolves to nothing")))?;
        let transport = shared.transport(resolved.is_ipv6()).await?;
        let client = builder(&resolved.to_string(), profile)?
            .build_with(transport)
            .await
            .map_err(|e| map_error(&e))?;
        Ok(AsyncSnmpSource {
            client,
            target: address.to_string(),
        })
    }
}

fn auth_of(profile: &SnmpProfile) -> Result<Auth, SnmpError> {
    match &profile.credentials {
        SnmpCredentials::V2c { community } => Ok(Auth::v2c(community.expose().as_bytes())),
        SnmpCredentials::V3(user) => {
            let cfg = UsmConfig::new(user.user.clone().into_bytes());
            let bad = |e: async_snmp::CryptoError| {
                SnmpError::Auth(format!("invalid v3 settings for user {}: {e}", user.user))
            };
            let cfg = match (&user.auth, &user.privacy) {
                (None, _) => cfg,
                (Some((a, ap)), None) | (Some((a, ap)), Some((PrivacyProtocol::None, _))) => cfg
                    .auth(auth_protocol(*a), ap.expose().as_bytes())
                    .map_err(bad)?,
                (Some((a, ap)), Some((p, pp))) => cfg
                    .auth_priv(
                        auth_protocol(*a),
                        ap.expose().as_bytes(),
                        priv_protocol(*p),
                        pp.expose().as_bytes(),
                    )
                    .map_err(bad)?,
            };
            Ok(Auth::from(cfg))
        }
    }
}

fn auth_protocol(a: AuthProtocol) -> async_snmp::AuthProtocol {
    match a {
        AuthProtocol::Md5 => async_snmp::AuthProtocol::Md5,
        AuthProtocol::Sha1 => async_snmp::AuthProtocol::Sha1,
        AuthProtocol::Sha224 => async_snmp::AuthProtocol::Sha224,
        AuthProtocol::Sha256 => async_snmp::AuthProtocol::Sha256,
        AuthProtocol::Sha384 => async_snmp::AuthProtocol::Sha384,
        AuthProtocol::Sha512 => async_snmp::AuthProtocol::Sha512,
    }
}

fn priv_protocol(p: PrivacyProtocol) -> async_snmp::PrivProtocol {
    match p {
        PrivacyProtocol::Des | PrivacyProtocol::None => async_snmp::PrivProtocol::Des,
        PrivacyProtocol::Aes128 => async_snmp::PrivProtocol::Aes128,
        // net-snmp's AES-192/256 use the Blumenthal key extension.
        PrivacyProtocol::Aes192 => async_snmp::PrivProtocol::Aes192Blumenthal,
        PrivacyProtocol::Aes256 => async_snmp::PrivProtocol::Aes256Blumenthal,
    }
}

/// Converts the crate's error to ours (never carrying secrets: the crate's messages name
/// targets and statuses only).
fn map_error(e: &async_snmp::Error) -> SnmpError {
    use async_snmp::Error as E;
    match e {
        E::SharedOperation { source } => map_error(source),
        E::Exchange { source, .. } => map_error(source),
        E::Timeout { .. } => SnmpError::Timeout,
        E::Snmp { status, index, .. } => {
            SnmpError::Agent(format!("error status {status} at index {index}"))
        }
        E::Auth { .. } | E::Report { .. } | E::Privacy(_) => SnmpError::Auth(e.to_string()),
        E::Network { .. } | E::Closed { .. } | E::Config(_) | E::ConstructionTimeout { .. } => {
            SnmpError::Network(e.to_string())
        }
        _ => SnmpError::Malformed(e.to_string()),
    }
}

pub(crate) fn from_value(v: &Value) -> SnmpValue {
    match v {
        Value::Integer(i) => SnmpValue::Integer(i64::from(*i)),
        Value::OctetString(b) => SnmpValue::Octets(b.to_vec()),
        Value::Counter32(c) => SnmpValue::Counter32(*c),
        Value::Counter64(c) => SnmpValue::Counter64(*c),
        Value::Gauge32(g) | Value::UInteger32(g) => SnmpValue::Gauge32(*g),
        Value::TimeTicks(t) => SnmpValue::TimeTicks(*t),
        Value::NoSuchObject => SnmpValue::NoSuchObject,
        Value::NoSuchInstance => SnmpValue::NoSuchInstance,
        Value::EndOfMibView => SnmpValue::EndOfMibView,
        _ => SnmpValue::Other,
    }
}

fn convert(vbs: Vec<async_snmp::VarBind>) -> Vec<VarBind> {
    vbs.into_iter()
        .map(|vb| VarBind {
            value: from_value(&vb.value),
            oid: vb.oid.arcs().to_vec(),
        })
        .collect()
}

impl SnmpSource for AsyncSnmpSource {
    fn get<'a>(&'a self, oids: &'a [Vec<u32>]) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
        Box::pin(async move {
            let req: Vec<async_snmp::Oid> = oids
                .iter()
                .map(|o| async_snmp::Oid::from_slice(o))
                .collect();
            let resp = self
                .client
                .get_many(&req)
                .await
                .map_err(|e| map_error(&e))?;
            let vbs = convert(resp.varbinds);
            check_get_answer(oids, vbs)
        })
    }

    fn get_bulk<'a>(
        &'a self,
        oids: &'a [Vec<u32>],
        non_repeaters: u32,
        max_repetitions: u32,
    ) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
        Box::pin(async move {
            let req: Vec<async_snmp::Oid> = oids
                .iter()
                .map(|o| async_snmp::Oid::from_slice(o))
                .collect();
            let vbs = self
                .client
                .get_bulk(&req, non_repeaters, max_repetitions)
                .await
                .map_err(|e| map_error(&e))?;
            Ok(convert(vbs))
        })
    }

    fn target(&self) -> String {
        self.target.clone()
    }
}

/// Decodes one received datagram and returns its varbinds in our types: SNMPv1/v2c with
/// bandwatch's own codec (the daemon's path), plaintext SNMPv3 with the SNMP crate. The
/// response-handling path without a socket, for the fuzz target and tests.
pub fn decode_datagram(datagram: &[u8]) -> Result<Vec<VarBind>, SnmpError> {
    if message_version(datagram) == Some(3) {
        return decode_v3_datagram(datagram);
    }
    let msg = super::ber::decode_community(datagram)?;
    if msg.pdu.error_status != 0 {
        return Err(SnmpError::Agent(format!(
            "error status {} at index {}",
            super::ber::error_status_name(msg.pdu.error_status),
            msg.pdu.error_index
        )));
    }
    Ok(msg.pdu.varbinds)
}

/// The version field of a message, when its header is readable.
fn message_version(datagram: &[u8]) -> Option<i64> {
    let mut outer = super::ber::Reader::new(datagram);
    let inner = outer.expect(0x30, "message").ok()?;
    super::ber::Reader::new(inner).integer("version").ok()
}

fn decode_v3_datagram(datagram: &[u8]) -> Result<Vec<VarBind>, SnmpError> {
    let msg = async_snmp::message::Message::decode(
        bytes::Bytes::copy_from_slice(datagram),
        async_snmp::DecodeConfig::default(),
    )
    .map_err(|e| map_error(&e))?;
    let pdu = msg
        .value
        .into_pdu()
        .ok_or_else(|| SnmpError::Malformed("no readable PDU".into()))?;
    Ok(convert(pdu.into_varbinds()))
}
