//! The files in `dist/` are checked as their users' tools would: the Grafana dashboard only
//! queries metric families that `/metrics` exports, and promtool accepts the Prometheus
//! configuration and rules (promtool is required in CI, skipped with a reason elsewhere).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use bandwatch::http::live::LiveView;
use bandwatch::http::metrics::{MetricsSource, render};
use bandwatch::http::sources::{AlertSource, NotifySource, PollSource, StoreSource};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every family `/metrics` declares with `# TYPE`, with every stage's source present.
fn exported_families() -> BTreeSet<String> {
    let sources: Vec<Arc<dyn MetricsSource>> = vec![
        Arc::new(PollSource(Arc::default())),
        Arc::new(StoreSource(Arc::default())),
        Arc::new(NotifySource(Arc::default())),
        Arc::new(AlertSource(Default::default())),
    ];
    let body = render(&LiveView::default().snapshot(), &sources);
    body.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

#[test]
fn grafana_dashboard_queries_only_exported_metrics() {
    let text = std::fs::read_to_string(root().join("dist/grafana/bandwatch.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(
        dash["templating"]["list"][0]["type"], "datasource",
        "a Prometheus datasource variable comes first"
    );
    let families = exported_families();
    let re = regex::Regex::new(r"bandwatch_[a-z_]+").unwrap();
    let mut used = BTreeSet::new();
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or_default();
            for m in re.find_iter(expr) {
                used.insert(m.as_str().to_string());
            }
        }
    }
    assert!(used.len() >= 10, "{used:?}");
    for name in &used {
        let base = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            families.contains(base),
            "the dashboard queries {name}, which /metrics does not export ({families:?})"
        );
    }
}

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    let Some(promtool) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("promtool"))
            .find(|f| f.is_file())
    }) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have promtool (Debian package prometheus)"
        );
        eprintln!("skipping: promtool not installed (Debian package prometheus)");
        return;
    };
    let out = std::process::Command::new(promtool)
        .args(["check", "config"])
        .arg(root().join("dist/prometheus/bandwatch.yml"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS: 8 rules found"), "{text}");
}
