//! The `[report]` table and `billing` on `[[customer]]`: defaults, and errors that name the
//! file, line and key.

use crate::report_support;

use bandwatch::config::{self, Billing};
use report_support::*;

fn load_with(replace: &[(&str, &str)]) -> Result<config::Config, String> {
    let s = Setup::new();
    let mut text = CONFIG.to_string();
    for (from, to) in replace {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&s.config_path, text).unwrap();
    config::load(&s.config_path)
        .map(|l| l.config)
        .map_err(|d| d.to_string())
}

#[test]
fn report_settings_and_billing_are_read_with_their_defaults() {
    let c = load_with(&[]).unwrap();
    assert_eq!(c.report.day, 2);
    assert_eq!(c.report.time, (7, 30));
    assert_eq!(c.report.route, "sales");
    assert_eq!(c.report.up, 0.2);
    assert!(!c.report.exclude_attacks);
    assert_eq!(c.report.billing_of("gappy"), Billing::Volume);
    assert_eq!(c.report.billing_of("two"), Billing::Sum95);
    assert_eq!(c.report.billing_of("grow"), Billing::Max95);

    let c = load_with(&[(
        "day = 2\ntime = \"07:30\"\nroute = \"sales\"\nup = 0.2\ndown = 0.2\n",
        "",
    )])
    .unwrap();
    assert_eq!(c.report.day, 1);
    assert_eq!(c.report.time, (6, 0));
    assert_eq!(c.report.down, 0.2);
}

#[test]
fn bad_values_are_errors_naming_line_and_key() {
    let err = load_with(&[("billing = \"volume\"", "billing = \"95th-avg\"")]).unwrap_err();
    assert!(
        err.contains("customer[3].billing: unknown billing method `95th-avg`"),
        "{err}"
    );
    assert!(err.contains("bandwatch.toml:"), "{err}");

    let err = load_with(&[
        ("day = 2", "day = 31"),
        ("time = \"07:30\"", "time = \"25:00\""),
        ("route = \"sales\"\nup", "route = \"finance\"\nup"),
        ("up = 0.2", "up = -1"),
    ])
    .unwrap_err();
    for needle in [
        "report.day: must be a day of the month from 1 to 28",
        "report.time: `25:00` is not a time of day",
        "report.route:",
        "report.up: must be a fraction above 0",
    ] {
        assert!(err.contains(needle), "{needle} in {err}");
    }
    // Unknown keys are refused, not ignored.
    let err = load_with(&[("down = 0.2", "down = 0.2\nweekly = true")]).unwrap_err();
    assert!(err.contains("weekly"), "{err}");
}
