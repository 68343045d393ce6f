//! Demo rules at `--speed`: a copy of the rule files with every waiting time (`for`,
//! `clear_for`, `repeat`) divided by the speed, so a sped-up storyline still fires and
//! resolves its alerts. Baseline `history` and `season` are left alone: the simulated
//! traffic's daily rhythm runs in real time; so are churn windows (`window`, `recent`,
//! `reference`): they are read from the store's 60 s aggregate slots, which are real minutes
//! (the storyline keeps the churn drop long enough in real time instead).

use std::path::Path;

/// Keys whose durations are divided by the speed.
pub const SCALED_KEYS: [&str; 3] = ["for", "clear_for", "repeat"];

fn parse_ms(s: &str) -> Option<u64> {
    let d: crate::config::Duration = s.parse().ok()?;
    u64::try_from(d.std().as_millis()).ok()
}

/// Rewrites one rule file's text: each `KEY = "DURATION"` line of [`SCALED_KEYS`] divided by
/// `speed` (at least 1 s).
pub fn scale_text(text: &str, speed: f64) -> String {
    let scale = |ms: u64| ((ms as f64 / speed).round() as u64).max(1000);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let rewritten = line.split_once('=').and_then(|(k, v)| {
            if !SCALED_KEYS.contains(&k.trim()) {
                return None;
            }
            let value = v.trim_start().strip_prefix('"')?;
            let (dur, rest) = value.split_once('"')?;
            let new = scale(parse_ms(dur)?);
            Some(format!("{k}= \"{new}ms\"{rest}  # {dur} / speed"))
        });
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Copies every `*.toml` rule file of `src` into `dst` with [`scale_text`]; returns how many.
pub fn scale_dir(src: &Path, dst: &Path, speed: f64) -> Result<usize, String> {
    std::fs::create_dir_all(dst).map_err(|e| format!("{}: cannot create: {e}", dst.display()))?;
    let rd = std::fs::read_dir(src).map_err(|e| format!("{}: cannot read: {e}", src.display()))?;
    let mut n = 0;
    for entry in rd.filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let target = dst.join(entry.file_name());
        std::fs::write(&target, scale_text(&text, speed))
            .map_err(|e| format!("{}: cannot write: {e}", target.display()))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divides_waits_but_not_baselines_or_churn_windows() {
        let text = "[[rule]]\nname = \"a\"\nhistory = \"14d\"\nfor = \"20s\"\nclear_for = \"30s\" # c\n\
                    [[rule]]\nwindow = \"1m\"\nrecent = \"1m\"\nreference = \"30m\"\nrepeat = \"4h\"\n";
        let s = scale_text(text, 20.0);
        assert!(s.contains("history = \"14d\""), "{s}");
        assert!(s.contains("for = \"1000ms\""), "{s}");
        assert!(s.contains("clear_for = \"1500ms\" # c"), "{s}");
        assert!(s.contains("repeat = \"720000ms\""), "{s}");
        assert!(s.contains("window = \"1m\""), "{s}");
        assert!(s.contains("recent = \"1m\""), "{s}");
        assert!(s.contains("reference = \"30m\""), "{s}");
        // Never below a second.
        assert!(scale_text("for = \"2s\"", 8.0).contains("for = \"1000ms\""));
    }

    #[test]
    fn scaled_demo_rules_still_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cfg = crate::config::load(&root.join("config/demo.toml"))
            .unwrap()
            .config;
        let dir = tempfile::tempdir().unwrap();
        let n = scale_dir(&cfg.daemon.rules_dir, dir.path(), 20.0).unwrap();
        assert_eq!(n, 3);
        let (rules, diags) = crate::rules::file::load_dir(dir.path(), &cfg.topology);
        assert!(
            diags
                .0
                .iter()
                .all(|d| d.severity != crate::config::Severity::Error),
            "{diags}"
        );
        assert_eq!(rules.rules.len(), 4);
    }
}
