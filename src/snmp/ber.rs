//! A small BER codec for exactly the SNMP messages bandwatch exchanges: GetRequest and
//! GetBulkRequest out, Response (and Report) in, for SNMPv1/v2c. Encoding writes into one
//! buffer; decoding reads the datagram in place (no copy of the message) and only allocates
//! the varbinds it returns. Every length is checked against what is left of the datagram,
//! so truncated, absurd or garbage input is an error, never a panic.

use super::source::{SnmpError, SnmpValue, VarBind};

/// GetRequest-PDU tag.
pub const TAG_GET: u8 = 0xa0;
/// GetNextRequest-PDU tag.
pub const TAG_GET_NEXT: u8 = 0xa1;
/// Response-PDU tag.
pub const TAG_RESPONSE: u8 = 0xa2;
/// GetBulkRequest-PDU tag.
pub const TAG_GET_BULK: u8 = 0xa5;
/// Report-PDU tag (SNMPv3).
pub const TAG_REPORT: u8 = 0xa8;

/// Most arcs an OID may have (RFC 2578: 128 sub-identifiers).
pub const MAX_OID_ARCS: usize = 128;

/// SNMP version number on the wire for SNMPv2c.
pub const VERSION_2C: i64 = 1;

fn malformed(what: &str) -> SnmpError {
    SnmpError::Malformed(what.to_string())
}

// ---------------------------------------------------------------------------------------
// Encoding

/// Appends a BER length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len <= 0xffff {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
}

/// Appends tag, length and contents.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    push_len(out, contents.len());
    out.extend_from_slice(contents);
}

/// Appends an INTEGER (two's complement, minimal length).
pub fn push_integer(out: &mut Vec<u8>, tag: u8, v: i64) {
    let (bytes, start) = integer_bytes(v);
    push_tlv(out, tag, &bytes[start..]);
}

/// The arcs of an OID as encoded: the first two merged (OIDs shorter than two arcs are
/// padded with zeros), at most [`MAX_OID_ARCS`] in all.
fn encoded_arcs(oid: &[u32]) -> impl Iterator<Item = u32> + '_ {
    let first = oid.first().copied().unwrap_or(0).min(2);
    let second = oid.get(1).copied().unwrap_or(0);
    std::iter::once(first.saturating_mul(40).saturating_add(second))
        .chain(oid.iter().skip(2).copied())
        .take(MAX_OID_ARCS)
}

/// Bytes of one arc in base 128.
fn arc_len(arc: u32) -> usize {
    match arc {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
}

/// Length of an OID's contents.
fn oid_body_len(oid: &[u32]) -> usize {
    encoded_arcs(oid).map(arc_len).sum()
}

/// Appends an OID's contents (no tag or length).
fn push_oid_body(out: &mut Vec<u8>, oid: &[u32]) {
    for arc in encoded_arcs(oid) {
        let n = arc_len(arc);
        for k in (0..n).rev() {
            let more = if k == 0 { 0 } else { 0x80 };
            out.push(((arc >> (7 * k)) & 0x7f) as u8 | more);
        }
    }
}

/// Appends an OBJECT IDENTIFIER. OIDs shorter than two arcs are padded with zeros.
pub fn push_oid(out: &mut Vec<u8>, oid: &[u32]) {
    out.push(0x06);
    push_len(out, oid_body_len(oid));
    push_oid_body(out, oid);
}

/// Bytes a BER length takes.
fn len_len(len: usize) -> usize {
    match len {
        0..0x80 => 1,
        0x80..0x100 => 2,
        0x100..0x1_0000 => 3,
        _ => 4,
    }
}

/// Bytes a whole TLV takes with `len` bytes of contents.
fn tlv_len(len: usize) -> usize {
    1 + len_len(len) + len
}

/// The minimal two's complement contents of an INTEGER: the bytes and where they start.
fn integer_bytes(v: i64) -> ([u8; 8], usize) {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    (bytes, start)
}

/// Encodes a v1/v2c request: GetRequest (`tag` [`TAG_GET`], `a` = `b` = 0) or
/// GetBulkRequest (`tag` [`TAG_GET_BULK`], `a` = non-repeaters, `b` = max-repetitions),
/// every OID with a NULL value.
pub fn encode_request(
    version: i64,
    community: &[u8],
    tag: u8,
    request_id: i32,
    a: i64,
    b: i64,
    oids: &[Vec<u32>],
) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request_into(&mut out, version, community, tag, request_id, a, b, oids);
    out
}

/// [`encode_request`] into `out` (cleared first), so a caller can reuse its buffer. The
/// lengths are computed first and everything is written once, front to back.
#[allow(clippy::too_many_arguments)]
pub fn encode_request_into(
    out: &mut Vec<u8>,
    version: i64,
    community: &[u8],
    tag: u8,
    request_id: i32,
    a: i64,
    b: i64,
    oids: &[Vec<u32>],
) {
    let int_len = |v: i64| tlv_len(8 - integer_bytes(v).1);
    // Contents of each varbind: the OID and a NULL.
    let varbind_len = |body: usize| tlv_len(body) + 2;
    let list: usize = oids
        .iter()
        .map(|o| tlv_len(varbind_len(oid_body_len(o))))
        .sum();
    let pdu = int_len(i64::from(request_id)) + int_len(a) + int_len(b) + tlv_len(list);
    let msg = int_len(version) + tlv_len(community.len()) + tlv_len(pdu);
    out.clear();
    out.reserve(tlv_len(msg));
    out.push(0x30);
    push_len(out, msg);
    push_integer(out, 0x02, version);
    push_tlv(out, 0x04, community);
    out.push(tag);
    push_len(out, pdu);
    push_integer(out, 0x02, i64::from(request_id));
    push_integer(out, 0x02, a);
    push_integer(out, 0x02, b);
    out.push(0x30);
    push_len(out, list);
    for oid in oids {
        let body = oid_body_len(oid);
        out.push(0x30);
        push_len(out, varbind_len(body));
        out.push(0x06);
        push_len(out, body);
        push_oid_body(out, oid);
        out.extend_from_slice(&[0x05, 0x00]);
    }
}

// ---------------------------------------------------------------------------------------
// Decoding

/// A cursor over BER input.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Reads one TLV: its tag and contents.
    pub fn tlv(&mut self) -> Result<(u8, &'a [u8]), SnmpError> {
        let [tag, first, rest @ ..] = self.buf else {
            return Err(malformed("truncated: a TLV header is cut off"));
        };
        if tag & 0x1f == 0x1f {
            return Err(malformed("multi-byte tags are not used by SNMP"));
        }
        let (len, rest) = if first & 0x80 == 0 {
            (usize::from(*first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(malformed("indefinite or oversized length"));
            }
            if rest.len() < n {
                return Err(malformed("truncated: a length is cut off"));
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if len > rest.len() {
            return Err(malformed("a length goes past the end of the datagram"));
        }
        let (contents, after) = rest.split_at(len);
        self.buf = after;
        Ok((*tag, contents))
    }

    /// Reads one TLV that must have `tag`.
    pub fn expect(&mut self, tag: u8, what: &str) -> Result<&'a [u8], SnmpError> {
        let (t, c) = self.tlv()?;
        if t != tag {
            return Err(SnmpError::Malformed(format!(
                "{what}: tag 0x{t:02x} instead of 0x{tag:02x}"
            )));
        }
        Ok(c)
    }

    /// Reads an INTEGER.
    pub fn integer(&mut self, what: &str) -> Result<i64, SnmpError> {
        let c = self.expect(0x02, what)?;
        signed(c).ok_or_else(|| SnmpError::Malformed(format!("{what}: bad INTEGER")))
    }
}

/// A two's complement integer of 1 to 8 bytes.
pub fn signed(c: &[u8]) -> Option<i64> {
    if c.is_empty() || c.len() > 8 {
        return None;
    }
    let init: i64 = if c[0] & 0x80 != 0 { -1 } else { 0 };
    Some(c.iter().fold(init, |acc, b| (acc << 8) | i64::from(*b)))
}

/// An unsigned integer that fits `bits` bits (a leading zero byte allowed).
pub fn unsigned(c: &[u8], bits: u32) -> Option<u64> {
    let c = match c {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => c,
    };
    if c.is_empty() || c.len() * 8 > bits as usize + 7 || c.len() > 8 {
        return None;
    }
    // Contents with the top bit set and no leading zero are negative in strict BER; agents
    // that omit the zero are common, so they are read as unsigned (as net-snmp does).
    let v = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    (bits == 64 || v >> bits == 0).then_some(v)
}

/// Decodes an OBJECT IDENTIFIER's contents.
pub fn decode_oid(c: &[u8]) -> Result<Vec<u32>, SnmpError> {
    let mut arcs = [0u32; MAX_OID_ARCS];
    let n = decode_oid_into(c, &mut arcs)?;
    Ok(arcs[..n].to_vec())
}

/// Decodes an OBJECT IDENTIFIER's contents into `arcs` (no allocation); returns how many
/// arcs were written.
pub fn decode_oid_into(c: &[u8], arcs: &mut [u32; MAX_OID_ARCS]) -> Result<usize, SnmpError> {
    if c.is_empty() {
        return Err(malformed("empty OID"));
    }
    let mut n = 0;
    let mut acc: u32 = 0;
    let mut in_arc = false;
    for &b in c {
        if !in_arc && b == 0x80 {
            return Err(malformed("OID arc with a leading 0x80"));
        }
        if acc > (u32::MAX >> 7) {
            return Err(malformed("OID arc beyond 32 bits"));
        }
        acc = (acc << 7) | u32::from(b & 0x7f);
        in_arc = b & 0x80 != 0;
        if !in_arc {
            let room = if n == 0 { 2 } else { 1 };
            if n + room > MAX_OID_ARCS {
                return Err(malformed("OID with more than 128 arcs"));
            }
            if n == 0 {
                let first = (acc / 40).min(2);
                arcs[0] = first;
                arcs[1] = acc - first * 40;
                n = 2;
            } else {
                arcs[n] = acc;
                n += 1;
            }
            acc = 0;
        }
    }
    if in_arc {
        return Err(malformed("truncated OID"));
    }
    Ok(n)
}

fn value(tag: u8, c: &[u8]) -> Result<SnmpValue, SnmpError> {
    let bad = |what: &str| SnmpError::Malformed(format!("bad {what} value"));
    Ok(match tag {
        0x02 => SnmpValue::Integer(signed(c).ok_or_else(|| bad("INTEGER"))?),
        0x04 => SnmpValue::Octets(c.to_vec()),
        0x41 => SnmpValue::Counter32(unsigned(c, 32).ok_or_else(|| bad("Counter32"))? as u32),
        0x42 => SnmpValue::Gauge32(unsigned(c, 32).ok_or_else(|| bad("Gauge32"))? as u32),
        0x43 => SnmpValue::TimeTicks(unsigned(c, 32).ok_or_else(|| bad("TimeTicks"))? as u32),
        0x46 => SnmpValue::Counter64(unsigned(c, 64).ok_or_else(|| bad("Counter64"))?),
        0x80 => SnmpValue::NoSuchObject,
        0x81 => SnmpValue::NoSuchInstance,
        0x82 => SnmpValue::EndOfMibView,
        // NULL, OID, IpAddress, Opaque, ...: not read by bandwatch.
        0x05 | 0x06 | 0x40 | 0x44 => SnmpValue::Other,
        other => {
            return Err(SnmpError::Malformed(format!(
                "unknown value type 0x{other:02x}"
            )));
        }
    })
}

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
struct Envelope<'a> {
    version: i64,
    community: &'a [u8],
    tag: u8,
    pdu: &'a [u8],
}

fn decode_envelope(datagram: &[u8]) -> Result<Envelope<'_>, SnmpError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a response datagram by hand with the same encoder primitives.
    fn response(id: i32, status: i64, vbs: &[(Vec<u32>, u8, Vec<u8>)]) -> Vec<u8> {
        let mut list = Vec::new();
        for (o, tag, v) in vbs {
            let mut vb = Vec::new();
            push_oid(&mut vb, o);
            push_tlv(&mut vb, *tag, v);
            push_tlv(&mut list, 0x30, &vb);
        }
        let mut pdu = Vec::new();
        push_integer(&mut pdu, 0x02, i64::from(id));
        push_integer(&mut pdu, 0x02, status);
        push_integer(&mut pdu, 0x02, 0);
        push_tlv(&mut pdu, 0x30, &list);
        let mut msg = Vec::new();
        push_integer(&mut msg, 0x02, 1);
        push_tlv(&mut msg, 0x04, b"public");
        push_tlv(&mut msg, TAG_RESPONSE, &pdu);
        let mut out = Vec::new();
        push_tlv(&mut out, 0x30, &msg);
        out
    }

    #[test]
    fn integers_are_minimal_twos_complement() {
        let enc = |v: i64| {
            let mut o = Vec::new();
            push_integer(&mut o, 0x02, v);
            o
        };
        assert_eq!(enc(0), vec![0x02, 0x01, 0x00]);
        assert_eq!(enc(127), vec![0x02, 0x01, 0x7f]);
        assert_eq!(enc(128), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(enc(-1), vec![0x02, 0x01, 0xff]);
        assert_eq!(enc(-129), vec![0x02, 0x02, 0xff, 0x7f]);
        assert_eq!(
            enc(i64::from(i32::MAX)),
            vec![0x02, 0x04, 0x7f, 0xff, 0xff, 0xff]
        );
        for v in [
            0,
            1,
            -1,
            255,
            256,
            -32768,
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(signed(&enc(v)[2..]), Some(v), "{v}");
        }
    }

    #[test]
    fn oids_round_trip() {
        for oid in [
            vec![1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 4_000_000_000],
            vec![1, 3, 6, 1, 2, 1, 1, 3, 0],
            vec![2, 999, 3],
            vec![0, 0],
        ] {
            let mut o = Vec::new();
            push_oid(&mut o, &oid);
            assert_eq!(o[0], 0x06);
            assert_eq!(decode_oid(&o[2..]).unwrap(), oid);
        }
        // 1.3.6.1 = 2b 06 01
        let mut o = Vec::new();
        push_oid(&mut o, &[1, 3, 6, 1]);
        assert_eq!(o, vec![0x06, 0x03, 0x2b, 0x06, 0x01]);
        assert!(decode_oid(&[0x2b, 0x86]).is_err(), "truncated arc");
        assert!(decode_oid(&[0x2b, 0x90, 0x80, 0x80, 0x80, 0x80, 0x01]).is_err());
    }

    #[test]
    fn request_matches_net_snmp_encoding() {
        // snmpget -v2c -c public HOST 1.3.6.1.2.1.1.3.0 with request-id 0x1234.
        let got = encode_request(
            1,
            b"public",
            TAG_GET,
            0x1234,
            0,
            0,
            &[vec![1, 3, 6, 1, 2, 1, 1, 3, 0]],
        );
        let want: Vec<u8> = vec![
            0x30, 0x27, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0,
            0x1a, 0x02, 0x02, 0x12, 0x34, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30,
            0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x03, 0x00, 0x05, 0x00,
        ];
        assert_eq!(got, want);
        assert_eq!(peek_request_id(&got), Some(0x1234));
    }

    #[test]
    fn long_requests_use_long_lengths() {
        let oids: Vec<Vec<u32>> = (0..40u32)
            .map(|i| vec![1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1000 + i])
            .collect();
        let m = encode_request(1, b"c", TAG_GET_BULK, 7, 1, 10, &oids);
        assert_eq!(&m[..2], &[0x30, 0x82]);
        let len = usize::from(m[2]) << 8 | usize::from(m[3]);
        assert_eq!(len + 4, m.len());
        assert_eq!(peek_request_id(&m), Some(7));
    }

    #[test]
    fn requests_read_back_whatever_their_size() {
        // Multi-byte arcs and lists of every length class (short, 1-byte and 2-byte lengths).
        for count in [1usize, 5, 99, 400] {
            let oids: Vec<Vec<u32>> = (0..count as u32)
                .map(|i| vec![1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, i * 70_001, 4_000_000_000])
                .collect();
            let m = encode_request(1, b"community", TAG_GET_BULK, -77, 1, 14, &oids);
            let mut outer = Reader::new(&m);
            let mut msg = Reader::new(outer.expect(0x30, "message").unwrap());
            assert!(outer.is_empty());
            assert_eq!(msg.integer("version").unwrap(), 1);
            assert_eq!(msg.expect(0x04, "community").unwrap(), b"community");
            let pdu = msg.expect(TAG_GET_BULK, "pdu").unwrap();
            assert!(msg.is_empty());
            let mut pdu = Reader::new(pdu);
            assert_eq!(pdu.integer("id").unwrap(), -77);
            assert_eq!(pdu.integer("nr").unwrap(), 1);
            assert_eq!(pdu.integer("mr").unwrap(), 14);
            let mut list = Reader::new(pdu.expect(0x30, "list").unwrap());
            let mut back = Vec::new();
            while !list.is_empty() {
                let mut vb = Reader::new(list.expect(0x30, "vb").unwrap());
                back.push(decode_oid(vb.expect(0x06, "oid").unwrap()).unwrap());
                assert_eq!(vb.expect(0x05, "null").unwrap(), b"");
                assert!(vb.is_empty());
            }
            assert_eq!(back, oids, "{count} OIDs");
        }
    }

    #[test]
    fn streamed_varbinds_match_the_decoded_ones() {
        let d = response(
            3,
            0,
            &[
                (vec![1, 3, 6, 1, 2, 1, 1, 3, 0], 0x43, vec![7]),
                (
                    vec![1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 300],
                    0x46,
                    vec![1, 2, 3],
                ),
                (vec![2, 100, 5], 0x04, b"x".to_vec()),
            ],
        );
        let whole = decode_community(&d).unwrap();
        let h = decode_community_header(&d).unwrap();
        assert_eq!((h.version, h.community), (1, &b"public"[..]));
        assert_eq!(h.pdu.request_id, 3);
        let mut streamed = Vec::new();
        let n = for_each_varbind(h.varbinds, |oid, value| {
            streamed.push(VarBind {
                oid: oid.to_vec(),
                value,
            })
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(streamed, whole.pdu.varbinds);
        // A bad varbind after good ones is an error (the good ones were seen).
        let bad = response(
            3,
            0,
            &[(vec![1, 3], 0x41, vec![5]), (vec![1, 4], 0x99, vec![])],
        );
        let list = decode_community_header(&bad).unwrap().varbinds;
        let mut seen = 0;
        assert!(for_each_varbind(list, |_, _| seen += 1).is_err());
        assert_eq!(seen, 1);
    }

    #[test]
    fn decodes_every_value_type() {
        let up = vec![1, 3, 6, 1, 2, 1, 1, 3, 0];
        let d = response(
            -5,
            0,
            &[
                (up.clone(), 0x43, vec![0x00, 0xff, 0xff, 0xff, 0xff]),
                (vec![1, 3, 1], 0x46, vec![0x00, 0xff, 0, 0, 0, 0, 0, 0, 1]),
                (vec![1, 3, 2], 0x41, vec![0x01, 0x00]),
                (vec![1, 3, 3], 0x42, vec![0x0a]),
                (vec![1, 3, 4], 0x02, vec![0xfe]),
                (vec![1, 3, 5], 0x04, b"eth1".to_vec()),
                (vec![1, 3, 6], 0x81, vec![]),
                (vec![1, 3, 7], 0x82, vec![]),
                (vec![1, 3, 8], 0x40, vec![127, 0, 0, 1]),
            ],
        );
        let m = decode_community(&d).unwrap();
        assert_eq!(m.community, b"public");
        assert_eq!(m.pdu.request_id, -5);
        let v: Vec<SnmpValue> = m.pdu.varbinds.iter().map(|v| v.value.clone()).collect();
        assert_eq!(
            v,
            vec![
                SnmpValue::TimeTicks(u32::MAX),
                SnmpValue::Counter64(0xff00_0000_0000_0001),
                SnmpValue::Counter32(256),
                SnmpValue::Gauge32(10),
                SnmpValue::Integer(-2),
                SnmpValue::Octets(b"eth1".to_vec()),
                SnmpValue::NoSuchInstance,
                SnmpValue::EndOfMibView,
                SnmpValue::Other,
            ]
        );
        assert_eq!(m.pdu.varbinds[0].oid, up);
    }

    #[test]
    fn bad_input_is_an_error_never_a_panic() {
        let good = response(9, 0, &[(vec![1, 3, 6, 1], 0x41, vec![5])]);
        assert!(decode_community(&good).is_ok());
        // Every truncation fails.
        for n in 0..good.len() {
            assert!(decode_community(&good[..n]).is_err(), "cut at {n}");
        }
        // Absurd outer length.
        let mut absurd = vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff];
        absurd.extend_from_slice(&good[2..]);
        assert!(decode_community(&absurd).is_err());
        // Indefinite length, a Counter32 too wide, an unknown value type, a request PDU.
        assert!(decode_community(&[0x30, 0x80, 0x00, 0x00]).is_err());
        let wide = response(9, 0, &[(vec![1, 3], 0x41, vec![1, 0, 0, 0, 0])]);
        assert!(decode_community(&wide).is_err());
        let odd = response(9, 0, &[(vec![1, 3], 0x99, vec![])]);
        assert!(decode_community(&odd).is_err());
        let mut req = encode_request(1, b"public", TAG_GET, 1, 0, 0, &[vec![1, 3]]);
        assert!(decode_community(&req).is_err());
        req[0] = 0x31;
        assert!(decode_community(&req).is_err());
        assert_eq!(peek_request_id(&[0xff; 40]), None);
        // Every single-byte corruption of a good message decodes or errors.
        for i in 0..good.len() {
            for b in [0x00, 0x7f, 0x80, 0x81, 0xff] {
                let mut bad = good.clone();
                bad[i] = b;
                let _ = decode_community(&bad);
                let _ = peek_request_id(&bad);
            }
        }
    }
}
