//! [`SnmpSource`] for SNMPv2c on bandwatch's own codec ([`super::ber`]) and a shared socket
//! ([`Demux`]): one encode, one `sendto`, one wake-up and one decode per request; the
//! profile's timeout and retries (a retry resends the same request-id, so a late answer to
//! the first try is still taken); strict response checking.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::ber::{self, TAG_GET, TAG_GET_BULK, TAG_REPORT, VERSION_2C};
use super::source::{BoxFuture, SnmpError, SnmpSource, VarBind};
use super::udp::Demux;

/// One switch's SNMPv2c agent.
pub struct V2cSource {
    demux: Arc<Demux>,
    peer: SocketAddr,
    community: Vec<u8>,
    timeout: Duration,
    retries: u32,
    target: String,
}

impl V2cSource {
    /// A client of the agent at `peer` (`target` is how messages name it) on `demux`.
    pub fn new(
        demux: Arc<Demux>,
        peer: SocketAddr,
        target: &str,
        community: &[u8],
        timeout: Duration,
        retries: u32,
    ) -> Self {
        V2cSource {
            demux,
            peer,
            community: community.to_vec(),
            timeout,
            retries,
            target: target.to_string(),
        }
    }

    /// Sends one request and returns the varbinds of its answer.
    async fn exchange(
        &self,
        tag: u8,
        a: i64,
        b: i64,
        oids: &[Vec<u32>],
    ) -> Result<Vec<VarBind>, SnmpError> {
        let mut reg = self.demux.register(self.peer);
        let id = reg.id();
        let request = ber::encode_request(VERSION_2C, &self.community, tag, id, a, b, oids);
        for _ in 0..=self.retries {
            self.demux.send(&request, self.peer).await?;
            match tokio::time::timeout(self.timeout, &mut reg.answer).await {
                Ok(Ok(datagram)) => return self.check(&datagram, id),
                Ok(Err(_)) => return Err(SnmpError::Network("the SNMP socket closed".into())),
                Err(_) => continue,
            }
        }
        Err(SnmpError::Timeout)
    }

    fn check(&self, datagram: &[u8], id: i32) -> Result<Vec<VarBind>, SnmpError> {
        let msg = ber::decode_community(datagram)?;
        if msg.version != VERSION_2C {
            return Err(SnmpError::Malformed(format!(
                "answer in SNMP version {} to a v2c request",
                msg.version
            )));
        }
        if msg.community != self.community.as_slice() {
            return Err(SnmpError::Malformed(
                "answer with another community than asked".into(),
            ));
        }
        let pdu = msg.pdu;
        if pdu.request_id != id {
            return Err(SnmpError::Malformed(format!(
                "answer to request-id {} instead of {id}",
                pdu.request_id
            )));
        }
        if pdu.tag == TAG_REPORT {
            return Err(SnmpError::Malformed(
                "a Report PDU answers a v2c request".into(),
            ));
        }
        if pdu.error_status != 0 {
            return Err(SnmpError::Agent(format!(
                "error status {} ({}) at index {}",
                ber::error_status_name(pdu.error_status),
                pdu.error_status,
                pdu.error_index
            )));
        }
        Ok(pdu.varbinds)
    }
}

impl SnmpSource for V2cSource {
    fn get<'a>(&'a self, oids: &'a [Vec<u32>]) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
        Box::pin(async move {
            let vbs = self.exchange(TAG_GET, 0, 0, oids).await?;
            if vbs.len() != oids.len() || vbs.iter().zip(oids).any(|(vb, o)| &vb.oid != o) {
                return Err(SnmpError::Malformed(format!(
                    "GET of {} OIDs answered with {} varbinds that do not match",
                    oids.len(),
                    vbs.len()
                )));
            }
            Ok(vbs)
        })
    }

    fn get_bulk<'a>(
        &'a self,
        oids: &'a [Vec<u32>],
        non_repeaters: u32,
        max_repetitions: u32,
    ) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
        Box::pin(async move {
            let vbs = self
                .exchange(
                    TAG_GET_BULK,
                    i64::from(non_repeaters),
                    i64::from(max_repetitions),
                    oids,
                )
                .await?;
            // More varbinds than the request allows is a broken (or foreign) answer.
            let n = oids.len();
            let nr = (non_repeaters as usize).min(n);
            if n > 0 && vbs.len() > nr + (n - nr) * max_repetitions as usize {
                return Err(SnmpError::Malformed(format!(
                    "GETBULK answered with {} varbinds, more than asked",
                    vbs.len()
                )));
            }
            Ok(vbs)
        })
    }

    fn target(&self) -> String {
        self.target.clone()
    }
}
