//! `bandwatch query`: prints one stored series (a port, product line, site, switch or
//! customer) over a time range at a step, as a table, CSV or JSON. Gaps are printed empty
//! (`null` in JSON), never as 0; every row shows its coverage.

use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;

use clap::ValueEnum;
use jiff::{Timestamp, tz::TimeZone};

use crate::config::units::{format_bps, format_bytes};
use crate::config::{self, Duration};
use crate::store::{self, Entity, Metric, RangeQuery, Reader, SeriesData, StoreError, Tier};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// `time,<metric>,coverage` with raw numbers.
    Csv,
    /// One JSON object with the points.
    Json,
}

/// A storage tier chosen on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TierArg {
    /// Raw samples (60 s slots for aggregates).
    Raw,
    /// 5-minute rollups.
    #[value(name = "5m")]
    M5,
    /// 1-hour rollups.
    #[value(name = "1h")]
    H1,
    /// 1-day rollups.
    #[value(name = "1d")]
    D1,
}

/// Arguments of `query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// What to read: `port:SWITCH/PORT`, `product_line:NAME`, `site:NAME`, `switch:NAME` or
    /// `customer:ID`.
    #[arg(long, value_parser = Entity::from_str)]
    pub entity: Entity,
    /// in_bps, out_bps, in_pps, out_pps, in_bytes, out_bytes or utilization.
    #[arg(long, default_value = "in_bps", value_parser = Metric::from_str)]
    pub metric: Metric,
    /// Start: RFC 3339, a date (UTC midnight), `now` or `now-2h`.
    #[arg(long, default_value = "now-1d", value_parser = parse_time)]
    pub from: Timestamp,
    /// End (exclusive), same forms as --from.
    #[arg(long, default_value = "now", value_parser = parse_time)]
    pub to: Timestamp,
    /// Step, e.g. `60s`, `5m`, `1h`; default: at most ~1500 points.
    #[arg(long)]
    pub step: Option<Duration>,
    /// Read this tier instead of the one picked by span and step.
    #[arg(long, value_enum)]
    pub tier: Option<TierArg>,
    /// Steps covered less than this fraction (0..1) are shown as gaps.
    #[arg(long, default_value_t = 0.0)]
    pub min_coverage: f64,
    /// Show measured sums instead of coverage-scaled estimates.
    #[arg(long)]
    pub measured: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Parses `now`, `now-2h`, RFC 3339, `YYYY-MM-DD` and `YYYY-MM-DDTHH:MM[:SS]` (UTC).
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    parse_time_at(s, Timestamp::now())
}

/// [`parse_time`] with an explicit "now".
pub fn parse_time_at(s: &str, now: Timestamp) -> Result<Timestamp, String> {
    let t = s.trim();
    if t == "now" {
        return Ok(now);
    }
    if let Some(rest) = t.strip_prefix("now-") {
        let d: Duration = rest.parse()?;
        let back = jiff::SignedDuration::try_from(d.std()).map_err(|e| format!("`{s}`: {e}"))?;
        return now.checked_sub(back).map_err(|e| format!("`{s}`: {e}"));
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(dt) = t.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| format!("`{s}`: {e}"));
    }
    if let Ok(d) = t.parse::<jiff::civil::Date>() {
        return d
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| format!("`{s}`: {e}"));
    }
    Err(format!(
        "invalid time `{s}`: write RFC 3339 (2026-11-01T08:00:00Z), a date (2026-11-01, UTC), \
         `now` or `now-2h`"
    ))
}

/// Runs `query`: 0 on success, 1 on any error (printed on stderr).
pub fn run(config_path: &Path, args: QueryArgs) -> ExitCode {
    let loaded = match config::load(config_path) {
        Ok(l) => l,
        Err(diags) => {
            eprint!("{diags}");
            return ExitCode::from(1);
        }
    };
    let cfg = loaded.config;
    let reader = match store::Store::open_existing_config(&cfg) {
        Ok(s) => s.reader(),
        Err(e) => {
            eprintln!("bandwatch query: {e}");
            return ExitCode::from(1);
        }
    };
    match query(&reader, &args) {
        Ok(data) => {
            print!("{}", render(&data, args.format));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bandwatch query: {e}");
            ExitCode::from(1)
        }
    }
}

fn query(reader: &Reader, args: &QueryArgs) -> Result<SeriesData, StoreError> {
    let mut q = RangeQuery::new(args.entity.clone(), args.metric, args.from, args.to)
        .min_coverage(args.min_coverage);
    if args.measured {
        q = q.measured();
    }
    if let Some(s) = args.step {
        q = q.step(s.as_secs().max(1) as i64);
    }
    if let Some(t) = args.tier {
        q = q.tier(match t {
            TierArg::Raw => Tier::Raw,
            TierArg::M5 => Tier::M5,
            TierArg::H1 => Tier::H1,
            TierArg::D1 => Tier::D1,
        });
    }
    match reader.range(&q) {
        Err(StoreError::UnknownSeries { path, entity }) => {
            let known = reader.entities(args.entity.kind).unwrap_or_default();
            let list: Vec<String> = known.iter().take(20).map(|e| e.to_string()).collect();
            Err(StoreError::InvalidQuery(format!(
                "{}: no stored series for {entity}; stored {}s: {}",
                path.display(),
                args.entity.kind.as_str(),
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            )))
        }
        other => other,
    }
}

fn human(metric: Metric, v: f64) -> String {
    match metric {
        Metric::InBps | Metric::OutBps => format_bps(v),
        Metric::InBytes | Metric::OutBytes => format_bytes(v),
        Metric::InPps | Metric::OutPps => format!("{v:.1} pkt/s"),
        Metric::Utilization => format!("{:.2} %", v * 100.0),
    }
}

/// The series as text in a format.
pub fn render(data: &SeriesData, format: Format) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let metric = data.metric.as_str();
    match format {
        Format::Table => {
            let _ = writeln!(
                out,
                "# {} {metric}, step {}s, tier {}",
                data.entity,
                data.step_secs,
                data.tier.as_str()
            );
            let _ = writeln!(out, "{:<22} {:>18} {:>8}", "time", metric, "coverage");
            for p in &data.points {
                let v = p.value.map(|v| human(data.metric, v)).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:<22} {:>18} {:>8.3}",
                    p.time.to_string(),
                    v,
                    p.coverage
                );
            }
        }
        Format::Csv => {
            let head = vec![
                "time".to_string(),
                metric.to_string(),
                "coverage".to_string(),
            ];
            let rows = data.points.iter().map(|p| {
                vec![
                    p.time.to_string(),
                    p.value.map(|v| format!("{v}")).unwrap_or_default(),
                    format!("{:.4}", p.coverage),
                ]
            });
            out.push_str(&crate::format::csv::write(
                std::iter::once(head).chain(rows),
            ));
        }
        Format::Json => {
            let v = serde_json::json!({
                "entity": data.entity.to_string(),
                "metric": metric,
                "tier": data.tier.as_str(),
                "step_secs": data.step_secs,
                "points": data.points,
            });
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_documented_form() {
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
        assert_eq!(parse_time_at("now", now).unwrap(), now);
        assert_eq!(
            parse_time_at("now-2h", now).unwrap().to_string(),
            "2026-11-27T10:00:00Z"
        );
        assert_eq!(
            parse_time_at("2026-11-01", now).unwrap().to_string(),
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(
            parse_time_at("2026-11-01T08:30:00+02:00", now)
                .unwrap()
                .to_string(),
            "2026-11-01T06:30:00Z"
        );
        assert_eq!(
            parse_time_at("2026-11-01T08:30", now).unwrap().to_string(),
            "2026-11-01T08:30:00Z"
        );
        assert!(parse_time_at("yesterday", now).is_err());
        assert!(parse_time_at("now-2x", now).is_err());
    }
}
