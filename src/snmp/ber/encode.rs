//! Encoding: BER lengths, integers and OIDs, and whole v1/v2c GetRequest/GetBulkRequest
//! messages written front to back into one buffer.

use super::*;

/// Appends a BER length.
pub(super) fn push_len(out: &mut Vec<u8>, len: usize) {
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
pub(super) fn encoded_arcs(oid: &[u32]) -> impl Iterator<Item = u32> + '_ {
    let first = oid.first().copied().unwrap_or(0).min(2);
    let second = oid.get(1).copied().unwrap_or(0);
    std::iter::once(first.saturating_mul(40).saturating_add(second))
        .chain(oid.iter().skip(2).copied())
        .take(MAX_OID_ARCS)
}

/// Bytes of one arc in base 128.
pub(super) fn arc_len(arc: u32) -> usize {
    match arc {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
}

/// Length of an OID's contents.
pub(super) fn oid_body_len(oid: &[u32]) -> usize {
    encoded_arcs(oid).map(arc_len).sum()
}

/// Appends an OID's contents (no tag or length).
pub(super) fn push_oid_body(out: &mut Vec<u8>, oid: &[u32]) {
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
pub(super) fn len_len(len: usize) -> usize {
    match len {
        0..0x80 => 1,
        0x80..0x100 => 2,
        0x100..0x1_0000 => 3,
        _ => 4,
    }
}

/// Bytes a whole TLV takes with `len` bytes of contents.
pub(super) fn tlv_len(len: usize) -> usize {
    1 + len_len(len) + len
}

/// The minimal two's complement contents of an INTEGER: the bytes and where they start.
pub(super) fn integer_bytes(v: i64) -> ([u8; 8], usize) {
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
