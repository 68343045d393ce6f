//! The files in `dist/` are checked as their users' tools would: the Grafana dashboard only
//! queries metric families that `/metrics` exports, and promtool accepts the Prometheus
//! configuration and rules (promtool is required in CI, skipped with a reason elsewhere);
//! the shipped completions and man page are what the binary writes today.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use bandwatch::http::live::LiveView;
use bandwatch::http::metrics::{MetricsSource, render};
use bandwatch::http::sources::{AlertSource, NotifySource, PollSource, ProcessSource, StoreSource};

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
        Arc::new(ProcessSource {
            sqlite_memory: Box::new(|| Some((1, 1))),
        }),
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
    let re = regex::Regex::new(r"(bandwatch|process)_[a-z_]+").unwrap();
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

/// What `bandwatch ARGS` prints on stdout.
fn bandwatch_stdout(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bandwatch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn shipped_completions_and_man_page_are_current() {
    let regenerate = "regenerate with `bandwatch completions SHELL > FILE` and `bandwatch man > \
                      dist/man/bandwatch.1`";
    for (args, file) in [
        (
            &["completions", "bash"][..],
            "dist/completions/bandwatch.bash",
        ),
        (&["completions", "zsh"][..], "dist/completions/_bandwatch"),
        (
            &["completions", "fish"][..],
            "dist/completions/bandwatch.fish",
        ),
        (&["man"][..], "dist/man/bandwatch.1"),
    ] {
        let now = bandwatch_stdout(args);
        let shipped = std::fs::read_to_string(root().join(file)).unwrap();
        assert!(
            now == shipped,
            "{file} is not what `bandwatch {}` writes today; {regenerate}",
            args.join(" ")
        );
    }
    // The scripts complete the subcommands, the man page documents them.
    let bash = bandwatch_stdout(&["completions", "bash"]);
    assert!(bash.contains("complete -F _bandwatch"), "{bash}");
    for sub in ["run", "check", "demo", "backtest", "completions"] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    let man = bandwatch_stdout(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH bandwatch 1"),
        "{man}"
    );
    assert!(man.contains(".SH \"BANDWATCH DEMO\""), "{man}");
    assert!(
        man.contains("\\-\\-snmp\\-listen"),
        "the demo's options are documented"
    );
}

#[test]
fn version_names_the_git_revision() {
    let out = bandwatch_stdout(&["--version"]);
    let revision = bandwatch::version::REVISION;
    assert_eq!(
        out.trim(),
        format!("bandwatch {} (git {revision})", env!("CARGO_PKG_VERSION"))
    );
    // Built from this checkout: a hexadecimal commit, not the fallback.
    if std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".git")
        .exists()
    {
        assert!(
            revision.len() >= 7 && revision.chars().all(|c| c.is_ascii_hexdigit()),
            "{revision}"
        );
    }
}
