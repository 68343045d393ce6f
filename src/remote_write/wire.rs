//! The Prometheus remote write 1.0 wire format, written by hand: a `WriteRequest` is a run
//! of `timeseries` fields (1), each a `TimeSeries` of `Label`s (field 1: name 1, value 2)
//! and one `Sample` (field 2: value 1 as a double, timestamp 2 as an int64 varint), as
//! `prometheus/prompb/types.proto` defines them; the body of a request is that, compressed
//! with snappy's *block* format (not the framed one), as the spec requires.
//!
//! By hand rather than with `prost`'s derived messages because a series' labels do not
//! change from one collection to the next: they are encoded once ([`encode_labels`]) and
//! copied as bytes after that, which made encoding several times cheaper than building the
//! messages anew (`cargo bench --bench remote_write`; the test below decodes the result with
//! `prost`).

/// Appends `v` as a protobuf varint.
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_bytes_field(buf: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    buf.push(tag);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// The `labels` fields of a `TimeSeries`, in the order given (the caller sorts them by name,
/// `__name__` first, and leaves empty values out).
pub fn encode_labels<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    for (name, value) in labels {
        let len = 1
            + varint_len(name.len() as u64)
            + name.len()
            + 1
            + varint_len(value.len() as u64)
            + value.len();
        out.push(0x0a);
        put_varint(&mut out, len as u64);
        put_bytes_field(&mut out, 0x0a, name.as_bytes());
        put_bytes_field(&mut out, 0x12, value.as_bytes());
    }
    out
}

/// Appends one `timeseries` field of a `WriteRequest`: the encoded `labels` and one sample.
pub fn put_series(buf: &mut Vec<u8>, labels: &[u8], value: f64, timestamp_ms: i64) {
    // Sample: value (field 1, fixed64) and timestamp (field 2, varint of the int64).
    let ts = timestamp_ms as u64;
    let sample_len = 1 + 8 + 1 + varint_len(ts);
    let series_len = labels.len() + 1 + varint_len(sample_len as u64) + sample_len;
    buf.push(0x0a);
    put_varint(buf, series_len as u64);
    buf.extend_from_slice(labels);
    buf.push(0x12);
    put_varint(buf, sample_len as u64);
    buf.push(0x09);
    buf.extend_from_slice(&value.to_le_bytes());
    buf.push(0x10);
    put_varint(buf, ts);
}

/// The body of a request: an encoded `WriteRequest`, snappy block-compressed.
pub fn compress(request: &[u8]) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(request)
}

#[cfg(test)]
pub(crate) mod decode {
    //! `prompb`'s messages derived with `prost`, to decode what [`super`] writes.

    /// `prometheus.WriteRequest`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        /// Field 1.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// `prometheus.TimeSeries`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Field 1.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// Field 2.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    /// `prometheus.Label`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        /// Field 1.
        #[prost(string, tag = "1")]
        pub name: String,
        /// Field 2.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `prometheus.Sample`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// Field 1.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Field 2.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    /// Decompresses and decodes a request body.
    pub fn body(body: &[u8]) -> WriteRequest {
        use prost::Message as _;
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        WriteRequest::decode(raw.as_slice()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prost_decodes_what_we_write() {
        let long = "x".repeat(300);
        let mut req = Vec::new();
        let a = encode_labels([
            ("__name__", "bandwatch_port_bytes_total"),
            ("port", "xe-0/0/1 \"é\""),
            ("site", long.as_str()),
        ]);
        put_series(&mut req, &a, 12345.5, 1_700_000_000_123);
        let b = encode_labels([("__name__", "bandwatch_switch_up")]);
        put_series(&mut req, &b, 0.0, -1);
        put_series(&mut req, &b, f64::INFINITY, 0);
        let body = compress(&req).unwrap();
        // Snappy's block format starts with the length as a varint, not the framed
        // format's stream identifier (0xff 06 00 00 "sNaPpY").
        assert_ne!(body[0], 0xff);
        let r = decode::body(&body);
        assert_eq!(r.timeseries.len(), 3);
        let l: Vec<(&str, &str)> = r.timeseries[0]
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(
            l,
            vec![
                ("__name__", "bandwatch_port_bytes_total"),
                ("port", "xe-0/0/1 \"é\""),
                ("site", long.as_str()),
            ]
        );
        assert_eq!(
            r.timeseries[0].samples,
            vec![decode::Sample {
                value: 12345.5,
                timestamp: 1_700_000_000_123
            }]
        );
        assert_eq!(r.timeseries[1].labels[0].value, "bandwatch_switch_up");
        assert_eq!(
            r.timeseries[1].samples,
            vec![decode::Sample {
                value: 0.0,
                timestamp: -1
            }]
        );
        assert_eq!(r.timeseries[2].samples[0].value, f64::INFINITY);
    }

    #[test]
    fn varints_match_protobuf() {
        for (v, want) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b, want, "{v}");
            assert_eq!(varint_len(v), want.len());
        }
    }
}
