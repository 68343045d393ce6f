//! Arbitrary bytes as flow datagrams from one exporter: split at ff 00 ff into datagrams fed
//! in order through one decoder (templates learnt from earlier datagrams apply to later
//! ones), then into the per-minute customer sums and the attack evidence. Any panic, or a
//! record with more bytes than its sampling allows, is a finding.
#![no_main]

use bandwatch::config::{CustomerPrefix, FlowSettings};
use bandwatch::flow::aggregate::Minutes;
use bandwatch::flow::{Decoder, Evidence, FlowModel};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let model = FlowModel::new(&FlowSettings {
        listen: vec![],
        exporters: vec![],
        prefixes: vec![CustomerPrefix {
            prefix: "203.0.113.0/24".parse().expect("a prefix"),
            customer: "acme".into(),
        }],
    });
    let exporter = "192.0.2.1".parse().expect("an address");
    let mut decoder = Decoder::new();
    let mut minutes = Minutes::new(0);
    let evidence = Evidence::new();
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let cut = rest
            .windows(3)
            .position(|w| w == [0xff, 0x00, 0xff])
            .unwrap_or(rest.len());
        out.clear();
        let _ = decoder.decode(exporter, &rest[..cut], 1, &mut out);
        for r in &out {
            assert!(r.sampling >= 1);
            minutes.add(0, &model, r);
        }
        evidence.record("edge-1", 0, &out);
        rest = rest.get(cut + 3..).unwrap_or(&[]);
    }
    let _ = evidence.summary(&[], 1, &model);
    let _ = minutes.take_due(120_000, 0, &model, true);
});
