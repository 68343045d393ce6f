//! `bandwatch check`: loads the configuration and every rule file, prints a summary a person
//! can read, or every error found as `FILE:LINE:COL: KEY: message`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, Config, SnmpCredentials};
use crate::rules::file::{self as rule_file, RuleFiles};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Print only errors and warnings, not the summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `check`: exit 0 when the configuration and the rules are usable, 1 otherwise.
pub fn run(config_path: &Path, args: CheckArgs) -> ExitCode {
    let loaded = match config::load(config_path) {
        Ok(l) => l,
        Err(mut diags) => {
            diags.truncate(config::diagnostic::SHOWN);
            eprint!("{diags}");
            let n = diags.error_count();
            eprintln!(
                "{}: {n} error{} found",
                config_path.display(),
                if n == 1 { "" } else { "s" }
            );
            return ExitCode::from(1);
        }
    };
    let (rules, mut diags) =
        rule_file::load_dir(&loaded.config.daemon.rules_dir, &loaded.config.topology);
    diags.extend(loaded.warnings);
    diags.extend(crate::http::web_config::check(&loaded.config));
    for (line, key, message) in crate::maintenance::unknown_rules(
        &loaded.config.topology.maintenance,
        rules.rules.iter().map(|r| r.name.as_str()),
    ) {
        diags.0.push(config::Diagnostic {
            severity: config::Severity::Warning,
            file: config_path.to_path_buf(),
            line,
            col: 1,
            key,
            message,
        });
    }
    diags.sort();
    diags.truncate(config::diagnostic::SHOWN);
    eprint!("{diags}");
    if diags.has_errors() {
        let n = diags.error_count();
        eprintln!("{n} error{} found", if n == 1 { "" } else { "s" });
        return ExitCode::from(1);
    }
    if !args.quiet {
        print!("{}", summary(&loaded.config, &rules));
    }
    ExitCode::SUCCESS
}

/// The human summary of a valid configuration.
pub fn summary(cfg: &Config, rules: &RuleFiles) -> String {
    let t = &cfg.topology;
    let mut s = String::new();
    let _ = writeln!(s, "{}: OK", cfg.path.display());
    let _ = writeln!(
        s,
        "  {} sites, {} switches, {} ports, {} product lines, {} customers, {} routes, {} rules in {} files",
        t.sites.len(),
        t.switches.len(),
        t.port_count(),
        t.product_lines.len(),
        t.customers.len(),
        t.routes.len(),
        rules.rules.len(),
        rules.files.len()
    );
    let flow = &cfg.flow;
    let mut by_customer: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in &flow.prefixes {
        by_customer
            .entry(p.customer.as_str())
            .or_default()
            .push(p.prefix.to_string());
    }
    let mut by_line: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in &flow.product_line_prefixes {
        by_line
            .entry(p.product_line.as_str())
            .or_default()
            .push(p.prefix.to_string());
    }
    if flow.enabled() || !by_customer.is_empty() || !by_line.is_empty() {
        let by_flows_c = by_customer
            .keys()
            .filter(|c| t.customers.get(**c).is_none_or(|c| c.ports.is_empty()))
            .count();
        let by_flows_l = by_line
            .keys()
            .filter(|l| t.product_lines.get(**l).is_none_or(|l| l.ports.is_empty()))
            .count();
        let listen = if flow.listen.is_empty() {
            "no listener".to_string()
        } else {
            let l: Vec<String> = flow.listen.iter().map(|a| a.to_string()).collect();
            format!("listening on {}", l.join(", "))
        };
        let _ = writeln!(
            s,
            "  flows: {listen}, {}; {} of {} ({by_flows_c} measured by flows), {} of {} ({by_flows_l} measured by flows)",
            count(flow.exporters.len(), "exporter"),
            count(flow.prefixes.len(), "customer prefix"),
            count(by_customer.len(), "customer"),
            count(flow.product_line_prefixes.len(), "product line prefix"),
            count(by_line.len(), "product line"),
        );
    }
    let _ = writeln!(
        s,
        "  data in {}, rules from {}",
        cfg.daemon.data_dir.display(),
        cfg.daemon.rules_dir.display()
    );
    let _ = writeln!(s, "\nsites");
    for site in t.sites.values() {
        let _ = writeln!(
            s,
            "  {:<16} {} switches: {}",
            site.name,
            site.switches.len(),
            site.switches.join(", ")
        );
    }
    let _ = writeln!(s, "\nswitches");
    for sw in &t.switches {
        let version = match sw.snmp.credentials {
            SnmpCredentials::V2c { .. } => "v2c",
            SnmpCredentials::V3(_) => "v3",
        };
        let patterns = match sw.alias_patterns.len() {
            0 => String::new(),
            n => format!(", {n} alias pattern{}", if n == 1 { "" } else { "s" }),
        };
        let _ = writeln!(
            s,
            "  {:<16} site {:<10} {:<22} profile {} ({version}), every {}, {} ports{patterns}",
            sw.name,
            sw.site,
            sw.address,
            sw.profile,
            sw.interval,
            sw.ports.len()
        );
    }
    let _ = writeln!(s, "\nproduct lines");
    for pl in t.product_lines.values() {
        let mut switches: Vec<&str> = pl.ports.iter().map(|p| &*p.switch).collect();
        switches.sort();
        switches.dedup();
        let mut sites: Vec<&str> = switches
            .iter()
            .filter_map(|sw| t.switch(sw))
            .map(|sw| sw.site.as_str())
            .collect();
        sites.sort();
        sites.dedup();
        let _ = writeln!(
            s,
            "  {:<16} {} on {} at {} ({}); owners: {}",
            pl.name,
            count(pl.ports.len(), "port"),
            count(switches.len(), "switch"),
            count(sites.len(), "site"),
            sites.join(", "),
            if pl.owners.is_empty() {
                "-".to_string()
            } else {
                pl.owners.join(", ")
            }
        );
        for pk in &pl.ports {
            let role = t
                .port(pk)
                .and_then(|p| p.labels.role.clone())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            let _ = writeln!(s, "    {pk}{role}");
        }
        if let Some(prefixes) = by_line.get(pl.name.as_str()) {
            let _ = writeln!(
                s,
                "    {}: {}{}",
                count(prefixes.len(), "prefix"),
                prefixes.join(", "),
                measured_by(pl.ports.is_empty())
            );
        }
    }
    let _ = writeln!(s, "\ncustomers");
    for c in t.customers.values() {
        let ports: Vec<String> = c.ports.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(
            s,
            "  {:<16} {:<24} account manager {:<14} {}: {}",
            c.id,
            c.name,
            c.account_manager.as_deref().unwrap_or("-"),
            count(c.ports.len(), "port"),
            ports.join(", ")
        );
        if let Some(prefixes) = by_customer.get(c.id.as_str()) {
            let _ = writeln!(
                s,
                "    {}: {}{}",
                count(prefixes.len(), "prefix"),
                prefixes.join(", "),
                measured_by(c.ports.is_empty())
            );
        }
    }
    if !flow.exporters.is_empty() {
        let _ = writeln!(s, "\nflow exporters");
        for x in &flow.exporters {
            let sampling = if x.sampling > 1 {
                format!(
                    ", 1 in {} sampled where its datagrams do not say",
                    x.sampling
                )
            } else {
                String::new()
            };
            let _ = writeln!(s, "  {:<16} from {}{sampling}", x.switch, x.address);
        }
    }
    let _ = writeln!(s, "\nroutes");
    for r in t.routes.values() {
        let _ = writeln!(
            s,
            "  {:<16} {}",
            r.name,
            if r.email.is_empty() {
                "(no address)".into()
            } else {
                r.email.join(", ")
            }
        );
    }
    if !t.maintenance.is_empty() {
        let _ = writeln!(s, "\nmaintenance windows (next three occurrences)");
        let now = jiff::Timestamp::now();
        for w in &t.maintenance {
            let _ = writeln!(s, "  {:<16} {} ({})", w.name, w.written, w.time_zone);
            let occurrences = w.upcoming(now, 3);
            if occurrences.is_empty() {
                let _ = writeln!(s, "    (none to come)");
            }
            for o in occurrences {
                let tz = jiff::tz::TimeZone::get(&w.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
                let local = |t: jiff::Timestamp| {
                    t.to_zoned(tz.clone())
                        .strftime("%a %Y-%m-%d %H:%M %Z")
                        .to_string()
                };
                let _ = writeln!(s, "    {} - {}", local(o.start), local(o.end));
            }
        }
    }
    if !rules.rules.is_empty() {
        let _ = writeln!(s, "\nrules");
        for r in &rules.rules {
            let file = r
                .file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(s, "  {:<28} {file}:{}", r.name, r.line);
        }
    }
    s
}

/// How a customer or product line with prefixes is measured.
fn measured_by(no_ports: bool) -> &'static str {
    if no_ports {
        " (measured by flows)"
    } else {
        " (measured by its ports; flows name it in attack evidence)"
    }
}

/// `1 port`, `2 ports`, `3 switches`, `2 prefixes`.
fn count(n: usize, noun: &str) -> String {
    match (
        n,
        noun.ends_with("ch") || noun.ends_with('s') || noun.ends_with('x'),
    ) {
        (1, _) => format!("{n} {noun}"),
        (_, true) => format!("{n} {noun}es"),
        (_, false) => format!("{n} {noun}s"),
    }
}
