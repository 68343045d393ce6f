//! The HTML report is mail-safe (inline styles only, no scripts, no external resources, a
//! per-customer chart of daily usage against the month before) and opens in headless
//! Chromium without errors. Chromium is Debian's `chromium`: the browser part fails when
//! `CI=true` and it is missing, and is skipped with a reason otherwise.

use crate::report_support;

use std::path::Path;
use std::process::Command;

use bandwatch::report::build;
use bandwatch::report::render::{Format, render};
use bandwatch::store::Store;
use bandwatch::usage::{Month, Status};
use jiff::Timestamp;
use report_support::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The report of October 2026 over synthetic steps from late September to early October.
fn october(
    s: &Setup,
) -> (
    bandwatch::report::Report,
    bandwatch::store::UsageBook,
    Timestamp,
) {
    // Late September and early October are enough for both months' charts.
    write_steps(
        &s.db(),
        &s.config,
        day("2026-09-24"),
        day("2026-10-08"),
        months,
    );
    let book = Store::open_existing(&s.db(), &Default::default())
        .unwrap()
        .usage();
    let now = Timestamp::from_second(day("2026-11-02")).unwrap();
    let r = build(
        &book,
        &s.config,
        "2026-10".parse::<Month>().unwrap(),
        now,
        false,
        &[],
    )
    .unwrap();
    (r, book, now)
}

fn html() -> (Setup, String) {
    let s = Setup::new();
    let (r, book, now) = october(&s);
    // The data stop on 8 October: the last week of the month is unmeasured, which is not
    // churn, and November, not measured at all, is `no_data`, not churned.
    let status = |r: &bandwatch::report::Report, id: &str| {
        r.customers.iter().find(|c| c.id == id).unwrap().status
    };
    assert_eq!(status(&r, "grow"), Status::Up);
    assert_eq!(status(&r, "gone"), Status::Steady);
    let nov = build(
        &book,
        &s.config,
        "2026-11".parse::<Month>().unwrap(),
        now,
        false,
        &[],
    )
    .unwrap();
    assert_eq!(status(&nov, "grow"), Status::NoData);
    let out = render(&r, Format::Html);
    (s, out)
}

#[test]
fn the_html_report_is_mail_safe_and_opens_in_chromium() {
    let (s, page) = html();
    let lower = page.to_ascii_lowercase();
    for banned in [
        "<script",
        "<style",
        "<link",
        "javascript:",
        "src=\"http",
        "onload=",
    ] {
        assert!(!lower.contains(banned), "{banned} in the page");
    }
    assert!(page.starts_with("<!DOCTYPE html>"));
    // One row per customer, with its chart: bars this month and last month.
    for id in ["fresh", "gone", "grow", "gappy", "two"] {
        assert!(page.contains(&format!("<b>{id}</b>")), "{id}");
    }
    assert!(page.contains("background:#2b6cb0"), "this month's bars");
    assert!(page.contains("background:#c0c0c0"), "last month's bars");
    // Names are escaped.
    assert!(!page.contains("<b>Grow AG</b>"));

    let file = s.dir.path().join("report.html");
    std::fs::write(&file, &page).unwrap();
    if !Path::new(CHROMIUM).exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{CHROMIUM} is missing: CI must install Debian's `chromium`");
        }
        eprintln!(
            "skipped the browser check: {CHROMIUM} is not installed (apt-get install chromium)"
        );
        return;
    }
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(&file)
        .env("HOME", s.dir.path())
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {err}");
    assert!(!err.contains("Uncaught"), "{err}");
    assert!(!err.contains(":CONSOLE("), "console messages: {err}");
    // The browser parsed the whole page: the last section and every customer are in the DOM.
    assert!(dom.contains("Sites</h3>"), "{dom}");
    for id in ["fresh", "gone", "grow", "gappy", "two"] {
        assert!(dom.contains(&format!("<b>{id}</b>")), "{id}");
    }
    assert!(!dom.contains("<parsererror"));
}

#[test]
fn a_customer_named_by_if_alias_or_config_shows_escaped() {
    const EVIL: &str = "<script>alert(1)</script>";
    let s = Setup::new();
    let (mut r, _, _) = october(&s);
    // A customer's name and a site's, as an ifAlias or a config file might carry them.
    r.customers[0].name = EVIL.into();
    r.customers[0].id = format!("{EVIL}-id");
    if let Some(site) = r.sites.first_mut() {
        site.name = EVIL.into();
    }
    let page = render(&r, Format::Html);
    assert!(!page.to_ascii_lowercase().contains("<script"), "{page}");
    assert!(
        page.contains("<b>&lt;script&gt;alert(1)&lt;/script&gt;-id</b>"),
        "{page}"
    );
    assert!(
        page.matches("&lt;script&gt;alert(1)&lt;/script&gt;")
            .count()
            >= 3,
        "{page}"
    );
}
