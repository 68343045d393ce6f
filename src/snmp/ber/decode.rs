//! Decoding primitives: a bounds-checked cursor over BER input, integers, OIDs and values.

use super::*;

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

pub(super) fn value(tag: u8, c: &[u8]) -> Result<SnmpValue, SnmpError> {
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
