//! [`SnmpSource`] for SNMPv2c on bandwatch's own codec ([`super::ber`]) and a shared socket
//! ([`Demux`]): one encode, one `sendto`, one wake-up and one decode per request, into
//! reused buffers (and, through [`SnmpSource::get_bulk_each`], without a `VarBind` per
//! value); the profile's timeout and retries (a retry resends the same request-id, so a
//! late answer to the first try is still taken); strict response checking.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::ber::{self, TAG_GET, TAG_GET_BULK, TAG_REPORT, VERSION_2C};
use super::source::{
    BoxFuture, SnmpError, SnmpSource, SnmpValue, VarBind, VarBindSink, check_get_answer,
};
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

    /// Sends one request and returns its answer's datagram (a buffer of the demux's, to be
    /// given back with [`Demux::recycle`]).
    async fn exchange(
        &self,
        tag: u8,
        a: i64,
        b: i64,
        oids: &[Vec<u32>],
    ) -> Result<(Vec<u8>, i32), SnmpError> {
        let mut reg = self.demux.register(self.peer);
        let id = reg.id();
        let mut request = self.demux.buffer();
        ber::encode_request_into(
            &mut request,
            VERSION_2C,
            &self.community,
            tag,
            id,
            a,
            b,
            oids,
        );
        let mut outcome = Err(SnmpError::Timeout);
        for _ in 0..=self.retries {
            if let Err(e) = self.demux.send(&request, self.peer).await {
                outcome = Err(e);
                break;
            }
            match tokio::time::timeout(self.timeout, &mut reg.answer).await {
                Ok(Ok(datagram)) => {
                    outcome = Ok((datagram, id));
                    break;
                }
                Ok(Err(_)) => {
                    outcome = Err(SnmpError::Network("the SNMP socket closed".into()));
                    break;
                }
                Err(_) => continue,
            }
        }
        self.demux.recycle(request);
        outcome
    }

    /// Checks an answer's header against the request; returns its encoded varbind list.
    fn check<'d>(&self, datagram: &'d [u8], id: i32) -> Result<&'d [u8], SnmpError> {
        let h = ber::decode_community_header(datagram)?;
        let (version, pdu) = (h.version, h.pdu);
        if version != VERSION_2C {
            return Err(SnmpError::Malformed(format!(
                "answer in SNMP version {version} to a v2c request"
            )));
        }
        if h.community != self.community.as_slice() {
            return Err(SnmpError::Malformed(
                "answer with another community than asked".into(),
            ));
        }
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
        Ok(h.varbinds)
    }

    /// One request whose answer's varbinds go to `sink`; returns how many there were.
    async fn request_each(
        &self,
        tag: u8,
        a: i64,
        b: i64,
        oids: &[Vec<u32>],
        sink: impl FnMut(&[u32], SnmpValue),
    ) -> Result<usize, SnmpError> {
        let (datagram, id) = self.exchange(tag, a, b, oids).await?;
        let result = self
            .check(&datagram, id)
            .and_then(|list| ber::for_each_varbind(list, sink));
        self.demux.recycle(datagram);
        result
    }

    /// One request whose answer's varbinds are collected.
    async fn request(
        &self,
        tag: u8,
        a: i64,
        b: i64,
        oids: &[Vec<u32>],
    ) -> Result<Vec<VarBind>, SnmpError> {
        let mut vbs = Vec::new();
        self.request_each(tag, a, b, oids, |oid, value| {
            vbs.push(VarBind {
                oid: oid.to_vec(),
                value,
            })
        })
        .await?;
        Ok(vbs)
    }
}

/// More varbinds than a GETBULK allows is a broken (or foreign) answer.
fn check_bulk_count(
    n: usize,
    oids: usize,
    non_repeaters: u32,
    max_repetitions: u32,
) -> Result<(), SnmpError> {
    let nr = (non_repeaters as usize).min(oids);
    if oids > 0 && n > nr + (oids - nr) * max_repetitions as usize {
        return Err(SnmpError::Malformed(format!(
            "GETBULK answered with {n} varbinds, more than asked"
        )));
    }
    Ok(())
}

impl SnmpSource for V2cSource {
    fn get<'a>(&'a self, oids: &'a [Vec<u32>]) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
        Box::pin(async move {
            let vbs = self.request(TAG_GET, 0, 0, oids).await?;
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
            let vbs = self
                .request(
                    TAG_GET_BULK,
                    i64::from(non_repeaters),
                    i64::from(max_repetitions),
                    oids,
                )
                .await?;
            check_bulk_count(vbs.len(), oids.len(), non_repeaters, max_repetitions)?;
            Ok(vbs)
        })
    }

    fn get_bulk_each<'a>(
        &'a self,
        oids: &'a [Vec<u32>],
        non_repeaters: u32,
        max_repetitions: u32,
        sink: &'a mut VarBindSink<'a>,
    ) -> BoxFuture<'a, Result<usize, SnmpError>> {
        Box::pin(async move {
            let n = self
                .request_each(
                    TAG_GET_BULK,
                    i64::from(non_repeaters),
                    i64::from(max_repetitions),
                    oids,
                    sink,
                )
                .await?;
            check_bulk_count(n, oids.len(), non_repeaters, max_repetitions)?;
            Ok(n)
        })
    }

    fn target(&self) -> String {
        self.target.clone()
    }
}
