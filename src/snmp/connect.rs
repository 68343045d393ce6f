//! Opening the SNMP source of one switch: SNMPv2c on bandwatch's own lean client
//! ([`V2cSource`]), SNMPv3 on async-snmp ([`AsyncSnmpSource`]); both behind [`SnmpSource`].

use std::net::SocketAddr;

use super::client::{AsyncSnmpSource, SharedUdp};
use super::source::{SnmpError, SnmpSource};
use super::udp::Demux;
use super::v2c::V2cSource;
use crate::config::{SnmpCredentials, SnmpProfile};

async fn resolve(address: &str) -> Result<SocketAddr, SnmpError> {
    tokio::net::lookup_host(address)
        .await
        .map_err(|e| SnmpError::Network(format!("cannot resolve {address}: {e}")))?
        .next()
        .ok_or_else(|| SnmpError::Network(format!("{address} resolves to nothing")))
}

/// The source for `address` (`host:port`) with the profile's credentials, timeout and
/// retries, on the sockets of `shared` (one per address family for a whole fleet). No
/// packet is sent yet.
pub async fn connect_shared(
    address: &str,
    profile: &SnmpProfile,
    shared: &SharedUdp,
) -> Result<Box<dyn SnmpSource>, SnmpError> {
    match &profile.credentials {
        SnmpCredentials::V2c { community } => {
            let peer = resolve(address).await?;
            let demux = shared.demux(peer.is_ipv6()).await?;
            Ok(Box::new(V2cSource::new(
                demux,
                peer,
                address,
                community.expose().as_bytes(),
                profile.timeout.std(),
                profile.retries,
            )))
        }
        SnmpCredentials::V3(_) => Ok(Box::new(
            AsyncSnmpSource::connect_shared(address, profile, shared).await?,
        )),
    }
}

/// Like [`connect_shared`], with a socket of its own (one-off polls, tests).
pub async fn connect(
    address: &str,
    profile: &SnmpProfile,
) -> Result<Box<dyn SnmpSource>, SnmpError> {
    match &profile.credentials {
        SnmpCredentials::V2c { community } => {
            let peer = resolve(address).await?;
            let bind: SocketAddr = if peer.is_ipv6() {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            }
            .parse()
            .map_err(|e| SnmpError::Network(format!("{e}")))?;
            Ok(Box::new(V2cSource::new(
                Demux::bind(bind)?,
                peer,
                address,
                community.expose().as_bytes(),
                profile.timeout.std(),
                profile.retries,
            )))
        }
        SnmpCredentials::V3(_) => Ok(Box::new(AsyncSnmpSource::connect(address, profile).await?)),
    }
}
