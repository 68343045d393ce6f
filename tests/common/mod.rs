//! A minimal BER codec for tests that play an SNMP agent byte by byte.
#![allow(dead_code)]

/// One BER TLV with a definite length.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 128 {
        v.push(n as u8);
    } else {
        let bytes = (n as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        v.push(0x80 | (4 - skip) as u8);
        v.extend_from_slice(&bytes[skip..]);
    }
    v.extend_from_slice(content);
    v
}

/// An unsigned integer of an application type (Counter32, Gauge32, TimeTicks, Counter64).
pub fn uint(tag: u8, x: u64) -> Vec<u8> {
    let bytes = x.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut c = bytes[skip..].to_vec();
    if c[0] & 0x80 != 0 {
        c.insert(0, 0);
    }
    tlv(tag, &c)
}

/// An INTEGER.
pub fn int(x: i64) -> Vec<u8> {
    let bytes = x.to_be_bytes();
    let mut start = 0;
    while start < 7
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    tlv(0x02, &bytes[start..])
}

/// An OBJECT IDENTIFIER.
pub fn oid(arcs: &[u32]) -> Vec<u8> {
    let mut c = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut tmp = vec![(a & 0x7f) as u8];
        let mut x = a >> 7;
        while x > 0 {
            tmp.push(0x80 | (x & 0x7f) as u8);
            x >>= 7;
        }
        tmp.reverse();
        c.extend(tmp);
    }
    tlv(0x06, &c)
}

/// Reads one TLV at `pos`: (tag, content range, next position).
pub fn read_tlv(b: &[u8], pos: usize) -> Option<(u8, std::ops::Range<usize>, usize)> {
    let tag = *b.get(pos)?;
    let first = *b.get(pos + 1)? as usize;
    let (len, head) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(pos + 2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let start = pos + head;
    Some((tag, start..start + len, start + len))
}

/// The arcs of an encoded OID's content.
pub fn decode_oid(c: &[u8]) -> Vec<u32> {
    let mut arcs = vec![u32::from(c[0] / 40), u32::from(c[0] % 40)];
    let mut x = 0u32;
    for &b in &c[1..] {
        x = (x << 7) | u32::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(x);
            x = 0;
        }
    }
    arcs
}

/// A v2c GetResponse (community `public`).
pub fn response(request_id: i64, error_status: i64, varbinds: &[(Vec<u32>, Vec<u8>)]) -> Vec<u8> {
    let vbs: Vec<u8> = varbinds
        .iter()
        .flat_map(|(o, v)| tlv(0x30, &[oid(o), v.clone()].concat()))
        .collect();
    let pdu = [
        int(request_id),
        int(error_status),
        int(if error_status != 0 { 1 } else { 0 }),
        tlv(0x30, &vbs),
    ]
    .concat();
    tlv(
        0x30,
        &[int(1), tlv(0x04, b"public"), tlv(0xa2, &pdu)].concat(),
    )
}
