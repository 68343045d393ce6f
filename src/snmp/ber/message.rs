//! Messages: response PDUs and v1/v2c response datagrams (whole, header only, or just the
//! request-id), and the names of error-statuses.

use super::*;

/// The PDU of a response: what bandwatch needs from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponsePdu {
    /// PDU tag ([`TAG_RESPONSE`] or [`TAG_REPORT`]).
    pub tag: u8,
    /// request-id.
    pub request_id: i32,
    /// error-status (0 = noError).
    pub error_status: i64,
    /// error-index (1-based; 0 = none).
    pub error_index: i64,
    /// The varbinds.
    pub varbinds: Vec<VarBind>,
}

/// The header of a response PDU: everything but its varbinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PduHeader {
    /// PDU tag ([`TAG_RESPONSE`] or [`TAG_REPORT`]).
    pub tag: u8,
    /// request-id.
    pub request_id: i32,
    /// error-status (0 = noError).
    pub error_status: i64,
    /// error-index (1-based; 0 = none).
    pub error_index: i64,
}

/// Decodes a PDU's header; returns it with the contents of its varbind list.
pub fn decode_pdu_header(tag: u8, contents: &[u8]) -> Result<(PduHeader, &[u8]), SnmpError> {
    let mut r = Reader::new(contents);
    let request_id = r.integer("request-id")?;
    let request_id = i32::try_from(request_id).map_err(|_| malformed("request-id out of range"))?;
    let error_status = r.integer("error-status")?;
    let error_index = r.integer("error-index")?;
    let list = r.expect(0x30, "varbind list")?;
    let header = PduHeader {
        tag,
        request_id,
        error_status,
        error_index,
    };
    Ok((header, list))
}

/// Decodes a varbind list's contents, handing each OID (borrowed) and value to `f` in
/// order, without allocating (but for OCTET STRING values); returns how many there were.
/// On an error, `f` has seen the varbinds before it.
pub fn for_each_varbind(
    list: &[u8],
    mut f: impl FnMut(&[u32], SnmpValue),
) -> Result<usize, SnmpError> {
    let mut list = Reader::new(list);
    let mut arcs = [0u32; MAX_OID_ARCS];
    let mut count = 0;
    while !list.is_empty() {
        let mut vb = Reader::new(list.expect(0x30, "varbind")?);
        let n = decode_oid_into(vb.expect(0x06, "varbind name")?, &mut arcs)?;
        let (vtag, vc) = vb.tlv()?;
        if !vb.is_empty() {
            return Err(malformed("trailing bytes in a varbind"));
        }
        f(&arcs[..n], value(vtag, vc)?);
        count += 1;
    }
    Ok(count)
}

/// Decodes a PDU's contents (after its tag and length), `tag` being its tag.
pub fn decode_pdu(tag: u8, contents: &[u8]) -> Result<ResponsePdu, SnmpError> {
    let (h, list) = decode_pdu_header(tag, contents)?;
    // A varbind takes at least 6 bytes on the wire; ours usually about 25-30.
    let mut varbinds = Vec::with_capacity(list.len() / 24 + 1);
    for_each_varbind(list, |oid, value| {
        varbinds.push(VarBind {
            oid: oid.to_vec(),
            value,
        })
    })?;
    Ok(ResponsePdu {
        tag: h.tag,
        request_id: h.request_id,
        error_status: h.error_status,
        error_index: h.error_index,
        varbinds,
    })
}

/// A decoded v1/v2c message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityMessage<'a> {
    /// Version number on the wire (0 = v1, 1 = v2c).
    pub version: i64,
    /// Community string.
    pub community: &'a [u8],
    /// The PDU.
    pub pdu: ResponsePdu,
}

/// Decodes a whole SNMPv1/v2c response datagram.
pub fn decode_community(datagram: &[u8]) -> Result<CommunityMessage<'_>, SnmpError> {
    let e = decode_envelope(datagram)?;
    let pdu = decode_pdu(e.tag, e.pdu)?;
    Ok(CommunityMessage {
        version: e.version,
        community: e.community,
        pdu,
    })
}

/// A v1/v2c response with its varbinds still encoded (to be read with
/// [`for_each_varbind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommunityHeader<'a> {
    /// Version number on the wire (0 = v1, 1 = v2c).
    pub version: i64,
    /// Community string.
    pub community: &'a [u8],
    /// The PDU's header.
    pub pdu: PduHeader,
    /// The contents of the varbind list.
    pub varbinds: &'a [u8],
}

/// Decodes the header of a v1/v2c response datagram, leaving its varbinds encoded.
pub fn decode_community_header(datagram: &[u8]) -> Result<CommunityHeader<'_>, SnmpError> {
    let e = decode_envelope(datagram)?;
    let (pdu, varbinds) = decode_pdu_header(e.tag, e.pdu)?;
    Ok(CommunityHeader {
        version: e.version,
        community: e.community,
        pdu,
        varbinds,
    })
}

/// The outer layers of a v1/v2c response.
pub(super) struct Envelope<'a> {
    pub(super) version: i64,
    pub(super) community: &'a [u8],
    pub(super) tag: u8,
    pub(super) pdu: &'a [u8],
}

pub(super) fn decode_envelope(datagram: &[u8]) -> Result<Envelope<'_>, SnmpError> {
    let mut outer = Reader::new(datagram);
    let mut msg = Reader::new(outer.expect(0x30, "message")?);
    let version = msg.integer("version")?;
    if version != 0 && version != VERSION_2C {
        return Err(SnmpError::Malformed(format!(
            "not an SNMPv1/v2c message (version {version})"
        )));
    }
    let community = msg.expect(0x04, "community")?;
    let (tag, pdu) = msg.tlv()?;
    if tag != TAG_RESPONSE && tag != TAG_REPORT {
        return Err(SnmpError::Malformed(format!(
            "PDU type 0x{tag:02x} is not a response"
        )));
    }
    Ok(Envelope {
        version,
        community,
        tag,
        pdu,
    })
}

/// The request-id of a v1/v2c message, read without decoding the varbinds: how the shared
/// socket finds the request a datagram answers. `None` when the header is unreadable.
pub fn peek_request_id(datagram: &[u8]) -> Option<i32> {
    let mut outer = Reader::new(datagram);
    let mut msg = Reader::new(outer.expect(0x30, "message").ok()?);
    msg.integer("version").ok()?;
    msg.expect(0x04, "community").ok()?;
    let (_, contents) = msg.tlv().ok()?;
    let id = Reader::new(contents).integer("request-id").ok()?;
    i32::try_from(id).ok()
}

/// The name of an SNMP error-status, for messages.
pub fn error_status_name(status: i64) -> &'static str {
    match status {
        0 => "noError",
        1 => "tooBig",
        2 => "noSuchName",
        3 => "badValue",
        4 => "readOnly",
        5 => "genErr",
        6 => "noAccess",
        7 => "wrongType",
        8 => "wrongLength",
        9 => "wrongEncoding",
        10 => "wrongValue",
        11 => "noCreation",
        12 => "inconsistentValue",
        13 => "resourceUnavailable",
        14 => "commitFailed",
        15 => "undoFailed",
        16 => "authorizationError",
        17 => "notWritable",
        18 => "inconsistentName",
        _ => "unknown error",
    }
}
