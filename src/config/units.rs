//! Units written in configuration and rule files: durations (`30s`, `5m`, `14d`), bit rates
//! (`200Mbps`, `1.5Gbps`, `800kbps`) and byte sizes (`10GB`, `512MiB`).
//!
//! Each type parses from a string with [`std::str::FromStr`] and deserializes from TOML
//! strings, so a bad value is reported by the TOML layer with the line and key it came from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Rates and sizes for people: defined with the other formatting in [`crate::format`].
pub use crate::format::{format_bps, format_bytes};

/// A length of time such as `30s`, `5m`, `2h`, `14d` (humantime syntax), at most
/// [`Duration::MAX_SECS`] (100 years): anything longer is a typo, and in seconds it would
/// wrap the signed arithmetic of times (`for`, `repeat`, retention, silences).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// The longest duration a file or a command line may give: 100 years (36,525 days).
    pub const MAX_SECS: u64 = 36_525 * 86_400;

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }
    /// The standard-library duration.
    pub fn std(self) -> std::time::Duration {
        self.0
    }
    /// Whole seconds, rounded down.
    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty duration; write it like `30s`, `5m`, `2h` or `14d`".into());
        }
        let d = humantime::parse_duration(t).map_err(|e| {
            format!("invalid duration `{s}` ({e}); write it like `30s`, `5m`, `2h` or `14d`")
        })?;
        if d.as_secs() > Duration::MAX_SECS {
            return Err(format!(
                "duration `{s}` is longer than 100 years; write it like `30s`, `5m`, `2h` or `14d`"
            ));
        }
        Ok(Duration(d))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// A bit rate in bits per second, written like `800kbps`, `200Mbps`, `1.5Gbps` (SI, 1000-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BitRate(pub u64);

impl BitRate {
    /// Bits per second.
    pub fn bps(self) -> u64 {
        self.0
    }
}

const RATE_UNITS: &[(&str, f64)] = &[
    ("tbps", 1e12),
    ("gbps", 1e9),
    ("mbps", 1e6),
    ("kbps", 1e3),
    ("bps", 1.0),
    ("tbit/s", 1e12),
    ("gbit/s", 1e9),
    ("mbit/s", 1e6),
    ("kbit/s", 1e3),
    ("bit/s", 1.0),
];

impl FromStr for BitRate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let hint = "write it like `800kbps`, `200Mbps` or `1.5Gbps`";
        let lower = s.trim().to_ascii_lowercase();
        for (unit, mult) in RATE_UNITS {
            if let Some(num) = lower.strip_suffix(unit) {
                let n =
                    parse_number(num).ok_or_else(|| format!("invalid bit rate `{s}`; {hint}"))?;
                return Ok(BitRate((n * mult).round() as u64));
            }
        }
        Err(format!("invalid bit rate `{s}`: missing unit; {hint}"))
    }
}

impl fmt::Display for BitRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_bps(self.0 as f64))
    }
}

/// A size in bytes, written like `10GB` (SI, 1000-based) or `512MiB` (binary, 1024-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

const SIZE_UNITS: &[(&str, f64)] = &[
    ("kib", 1024.0),
    ("mib", 1024.0 * 1024.0),
    ("gib", 1024.0 * 1024.0 * 1024.0),
    ("tib", 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("pib", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("kb", 1e3),
    ("mb", 1e6),
    ("gb", 1e9),
    ("tb", 1e12),
    ("pb", 1e15),
    ("b", 1.0),
];

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let hint = "write it like `512MiB`, `10GB` or `20TB`";
        let lower = s.trim().to_ascii_lowercase();
        for (unit, mult) in SIZE_UNITS {
            if let Some(num) = lower.strip_suffix(unit) {
                let n =
                    parse_number(num).ok_or_else(|| format!("invalid byte size `{s}`; {hint}"))?;
                return Ok(ByteSize((n * mult).round() as u64));
            }
        }
        Err(format!("invalid byte size `{s}`: missing unit; {hint}"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_bytes(self.0 as f64))
    }
}

/// A non-negative, finite number in front of a unit; `None` for anything else.
fn parse_number(num: &str) -> Option<f64> {
    let num = num.trim();
    if num.is_empty() || num.starts_with('+') {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    (n.is_finite() && n >= 0.0).then_some(n)
}

macro_rules! string_serde {
    ($t:ty, $what:literal) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$t, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

string_serde!(
    Duration,
    "a duration string such as \"30s\", \"5m\" or \"14d\""
);
string_serde!(
    BitRate,
    "a bit rate string such as \"200Mbps\" or \"1.5Gbps\""
);
string_serde!(
    ByteSize,
    "a byte size string such as \"10GB\" or \"512MiB\""
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!("30s".parse::<Duration>().unwrap(), Duration::from_secs(30));
        assert_eq!("5m".parse::<Duration>().unwrap(), Duration::from_secs(300));
        assert_eq!(
            "14d".parse::<Duration>().unwrap(),
            Duration::from_secs(14 * 86400)
        );
        assert!("5 parsecs".parse::<Duration>().is_err());
        assert!("".parse::<Duration>().is_err());
        assert!("30".parse::<Duration>().is_err());
    }

    #[test]
    fn rates_parse() {
        assert_eq!("200Mbps".parse::<BitRate>().unwrap(), BitRate(200_000_000));
        assert_eq!(
            "1.5Gbps".parse::<BitRate>().unwrap(),
            BitRate(1_500_000_000)
        );
        assert_eq!("800kbps".parse::<BitRate>().unwrap(), BitRate(800_000));
        assert_eq!(
            "10 Gbit/s".parse::<BitRate>().unwrap(),
            BitRate(10_000_000_000)
        );
        assert!("200".parse::<BitRate>().is_err());
        assert!("-3Mbps".parse::<BitRate>().is_err());
        assert!("fastMbps".parse::<BitRate>().is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(
            "10GB".parse::<ByteSize>().unwrap(),
            ByteSize(10_000_000_000)
        );
        assert_eq!(
            "512MiB".parse::<ByteSize>().unwrap(),
            ByteSize(512 * 1024 * 1024)
        );
        assert_eq!(
            "20TB".parse::<ByteSize>().unwrap(),
            ByteSize(20_000_000_000_000)
        );
        assert!("12 furlongs".parse::<ByteSize>().is_err());
    }

    #[test]
    fn formatting_is_readable() {
        assert_eq!(format_bps(4.2e9), "4.2 Gbit/s");
        assert_eq!(format_bps(820e6), "820 Mbit/s");
        assert_eq!(format_bytes(1.25e12), "1.25 TB");
    }
}
