//! Numbers for people: at most three significant digits (`4.2`, `17.5`, `820`), rates in
//! bit/s with SI prefixes, sizes in SI bytes, money grouped by thousands, percentage changes.

/// A number with at most two decimals, fewer as it grows (`820`, `17.5`, `4.2`, `0.13`),
/// trailing zeros dropped.
pub fn significant(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `v` in the largest unit it reaches, or in `base` below the smallest.
fn scaled(v: f64, units: &[(f64, &str)], base: &str) -> String {
    for (mult, unit) in units {
        if v.abs() >= *mult {
            return format!("{} {unit}", significant(v / mult));
        }
    }
    format!("{} {base}", significant(v))
}

/// A rate in bits per second: `4.2 Gbit/s`, `820 Mbit/s`.
pub fn format_bps(bps: f64) -> String {
    scaled(
        bps,
        &[
            (1e12, "Tbit/s"),
            (1e9, "Gbit/s"),
            (1e6, "Mbit/s"),
            (1e3, "kbit/s"),
        ],
        "bit/s",
    )
}

/// A byte count with SI units: `1.2 TB`, `830 GB`.
pub fn format_bytes(bytes: f64) -> String {
    scaled(
        bytes,
        &[
            (1e15, "PB"),
            (1e12, "TB"),
            (1e9, "GB"),
            (1e6, "MB"),
            (1e3, "kB"),
        ],
        "B",
    )
}

/// An amount of money: `1,234.50 EUR`.
pub fn format_money(amount: f64, currency: &str) -> String {
    let neg = amount < 0.0;
    let cents = (amount.abs() * 100.0).round() as u128;
    let (whole, frac) = (cents / 100, cents % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!(
        "{}{grouped}.{frac:02} {currency}",
        if neg && cents > 0 { "-" } else { "" }
    )
}

/// A relative change as a signed percentage, `+12.5 %`, or `n/a` without a base.
pub fn percent_change(change: Option<f64>) -> String {
    match change {
        Some(c) => format!("{:+.1} %", c * 100.0),
        None => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_sizes_and_plain_numbers() {
        assert_eq!(format_bps(4.2e9), "4.2 Gbit/s");
        assert_eq!(format_bps(8.2e8), "820 Mbit/s");
        assert_eq!(format_bps(512.0), "512 bit/s");
        assert_eq!(format_bytes(8.3e11), "830 GB");
        assert_eq!(format_bytes(1.25e12), "1.25 TB");
        assert_eq!(format_bytes(12.0), "12 B");
        assert_eq!(significant(17.54), "17.5");
        assert_eq!(significant(0.126), "0.13");
        assert_eq!(significant(3.0), "3");
    }

    #[test]
    fn money_and_changes() {
        assert_eq!(format_money(1234.5, "EUR"), "1,234.50 EUR");
        assert_eq!(format_money(-0.001, "EUR"), "0.00 EUR");
        assert_eq!(format_money(-1_000_000.0, "USD"), "-1,000,000.00 USD");
        assert_eq!(percent_change(Some(0.125)), "+12.5 %");
        assert_eq!(percent_change(Some(-0.5)), "-50.0 %");
        assert_eq!(percent_change(None), "n/a");
    }
}
