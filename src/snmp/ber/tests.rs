//! Tests of the codec: encodings against net-snmp's, round trips, and garbage input.

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
        0x30, 0x27, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0, 0x1a,
        0x02, 0x02, 0x12, 0x34, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30, 0x0c, 0x06,
        0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x03, 0x00, 0x05, 0x00,
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
