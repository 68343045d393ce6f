//! Packaging stays true: the packaged /etc/bandwatch/bandwatch.toml is the documented example
//! with only its paths changed and passes `check` laid out as in /etc/bandwatch; every asset
//! of `[package.metadata.deb]` and every `COPY` of the Dockerfile exists; every conffile is
//! installed by an asset.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bandwatch");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn packaged_config_is_the_example_with_system_paths_and_checks() {
    let example = std::fs::read_to_string(root().join("config/bandwatch.toml")).unwrap();
    let packaged = std::fs::read_to_string(root().join("dist/deb/bandwatch.toml")).unwrap();
    let (a, b): (Vec<_>, Vec<_>) = (example.lines().collect(), packaged.lines().collect());
    assert_eq!(
        a.len(),
        b.len(),
        "dist/deb/bandwatch.toml drifted from config/bandwatch.toml"
    );
    let differing: Vec<&str> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(_, y)| *y)
        .collect();
    assert_eq!(differing.len(), 2, "{differing:?}");
    assert!(differing[0].starts_with("data_dir = \"/var/lib/bandwatch\""));
    assert!(differing[1].starts_with("rules_dir = \"alert-rules\""));

    // Laid out as the package installs it (secrets are the example's test fixtures).
    let etc = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("dist/deb/bandwatch.toml"),
        etc.path().join("bandwatch.toml"),
    )
    .unwrap();
    copy_dir(&root().join("alert-rules"), &etc.path().join("alert-rules"));
    copy_dir(&root().join("config/secrets"), &etc.path().join("secrets"));
    let out = Command::new(BIN)
        .arg("check")
        .arg("-c")
        .arg(etc.path().join("bandwatch.toml"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("data in /var/lib/bandwatch"), "{text}");
}

fn sources_exist(pattern: &str) -> bool {
    let p = root().join(pattern);
    match p.file_name().and_then(|n| n.to_str()) {
        Some(name) if name.starts_with('*') => {
            let ext = name.trim_start_matches("*.");
            std::fs::read_dir(p.parent().unwrap())
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .any(|e| e.path().extension().is_some_and(|x| x == ext))
                })
                .unwrap_or(false)
        }
        _ => p.exists(),
    }
}

#[test]
fn deb_assets_conffiles_and_docker_copies_exist() {
    let cargo: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let deb = &cargo["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().unwrap();
    let mut installed = Vec::new();
    for a in assets {
        let a = a.as_array().unwrap();
        let (src, dst) = (a[0].as_str().unwrap(), a[1].as_str().unwrap());
        if src != "target/release/bandwatch" {
            assert!(sources_exist(src), "deb asset {src} is missing");
        }
        let name = Path::new(src).file_name().unwrap().to_str().unwrap();
        installed.push(if dst.ends_with('/') {
            format!("/{dst}{name}")
        } else {
            format!("/{dst}")
        });
    }
    assert!(installed.contains(&"/usr/bin/bandwatch".to_string()));
    for c in deb["conf-files"].as_array().unwrap() {
        let c = c.as_str().unwrap();
        assert!(c.starts_with("/etc/bandwatch/"), "{c}");
        assert!(
            installed.iter().any(|i| i == c),
            "conffile {c} is not installed: {installed:?}"
        );
    }
    // The unit cargo-deb picks up (unit-scripts/<unit-name>.service) and the maintainer script.
    assert!(root().join("dist/bandwatch.service").is_file());
    assert!(
        std::fs::read_to_string(root().join("dist/deb/postinst"))
            .unwrap()
            .contains("#DEBHELPER#")
    );

    let docker = std::fs::read_to_string(root().join("dist/Dockerfile")).unwrap();
    let mut copies = 0;
    for line in docker
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let src = line.split_whitespace().nth(1).unwrap();
        if src != "." {
            assert!(root().join(src).exists(), "Dockerfile copies missing {src}");
            copies += 1;
        }
    }
    assert!(copies >= 4);
    assert!(
        docker.contains("\nUSER bandwatch"),
        "the image must not run as root"
    );
}

#[test]
fn demo_config_and_its_short_window_rules_check() {
    let out = Command::new(BIN)
        .current_dir(root())
        .args(["check", "-c", "config/demo.toml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("2 sites, 6 switches, 27 ports, 2 product lines, 20 customers, 6 routes, 4 rules in 3 files"),
        "{text}"
    );
    assert!(
        text.contains("globex") && text.contains("2 ports: bj1-access-1/eth4, sh1-access-1/eth20")
    );
}
