//! The PNG chart of an alert email, for a person to read at a glance: when it began, how big
//! it is, against what usual. It has a time axis with clock times (UTC, like the email's
//! times), a value axis in the metric's unit (`Mbit/s`, `GB/day`, `%`), the series the rule
//! judged, the envelope it compared against (from the usual value to the limit where the
//! rule's condition holds, drawn only where the rule compared), a red marker where the alert
//! began, and gaps drawn as gaps (a shaded column, the line broken: never zero). A legend
//! names each.
//!
//! Drawn by our own small renderer on an RGB buffer and encoded with the `png` crate; text in
//! the X11 "misc-fixed" bitmap fonts (7x13, 6x10) that `embedded-graphics` carries in its
//! code. Why not plotters: it draws text with a TrueType font, which we would have to embed
//! (hundreds of kB) or read from the system at run time (a daemon on a minimal host has
//! none); a bitmap font made for screens is crisp at 1:1, which is the size a mail client
//! shows this image at (600 px wide), and the whole chart is a few hundred lines we control.

use embedded_graphics::text::{Alignment, Baseline};
use jiff::Timestamp;

use super::notice::ChartPoint;
use canvas::{Canvas, Font};

mod canvas;

/// Width of the chart in pixels: the width a mail client shows, drawn 1:1.
pub const WIDTH: u32 = 600;
/// Height of the chart in pixels.
pub const HEIGHT: u32 = 260;

/// The plot area (inside the axes), pixels.
const PLOT_LEFT: i64 = 62;
const PLOT_RIGHT: i64 = WIDTH as i64 - 16;
const PLOT_TOP: i64 = 34;
const PLOT_BOTTOM: i64 = HEIGHT as i64 - 42;

/// Colours.
pub const BACKGROUND: [u8; 3] = [255, 255, 255];
/// Grid lines.
pub const GRID: [u8; 3] = [228, 228, 228];
/// The axes.
pub const AXIS: [u8; 3] = [140, 140, 140];
/// The envelope (usual to limit).
pub const BAND: [u8; 3] = [204, 224, 245];
/// The limit edge of the envelope.
pub const LIMIT: [u8; 3] = [96, 140, 200];
/// The measured series.
pub const LINE: [u8; 3] = [20, 60, 140];
/// The alert's start.
pub const MARKER: [u8; 3] = [210, 30, 30];
/// Steps with no measurement.
pub const GAP: [u8; 3] = [236, 236, 236];
/// Text.
pub const TEXT: [u8; 3] = [40, 40, 40];

/// The value range drawn, in the metric's own unit (for the caption beside the image).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChartScale {
    /// Value at the bottom edge of the plot.
    pub y_min: f64,
    /// Value at the top edge of the plot.
    pub y_max: f64,
}

/// How values of a metric are written on the axis: divide by `div`, then `unit`.
#[derive(Clone, Debug, PartialEq)]
struct ValueAxis {
    div: f64,
    unit: String,
    title: String,
}

/// The axis of `metric` for values up to `max`, points `step` seconds apart.
fn value_axis(metric: &str, max: f64, step: i64) -> ValueAxis {
    let pick = |units: &[(f64, &str)]| -> (f64, String) {
        units
            .iter()
            .find(|(d, _)| max.abs() >= *d)
            .or(units.last())
            .map(|(d, u)| (*d, u.to_string()))
            .unwrap_or((1.0, String::new()))
    };
    let bits = [
        (1e12, "Tbit/s"),
        (1e9, "Gbit/s"),
        (1e6, "Mbit/s"),
        (1e3, "kbit/s"),
        (1.0, "bit/s"),
    ];
    let bytes = [
        (1e12, "TB"),
        (1e9, "GB"),
        (1e6, "MB"),
        (1e3, "kB"),
        (1.0, "B"),
    ];
    let (div, unit, title) = match metric {
        "in_bps" | "out_bps" | "total_bps" => {
            let (d, u) = pick(&bits);
            let what = match metric {
                "in_bps" => "inbound",
                "out_bps" => "outbound",
                _ => "in + out",
            };
            (d, u.clone(), format!("{what}, {u}"))
        }
        "usage_bytes" => {
            let (d, u) = pick(&bytes);
            let per = per_step(step);
            (
                d,
                format!("{u}{per}"),
                format!("usage (in + out), {u}{per}"),
            )
        }
        "in_pps" | "out_pps" => {
            let (d, u) = pick(&[(1e6, "Mpackets/s"), (1e3, "kpackets/s"), (1.0, "packets/s")]);
            (d, u.clone(), u)
        }
        "utilization" => (0.01, "%".into(), "utilization, %".into()),
        "silent_seconds" => (1.0, "s".into(), "silent for, s".into()),
        _ => (1.0, String::new(), metric.to_string()),
    };
    ValueAxis { div, unit, title }
}

/// `/day`, `/h`, `/min` or `/N s` for a step.
fn per_step(step: i64) -> String {
    match step {
        86_400 => "/day".into(),
        3_600 => "/h".into(),
        60 => "/min".into(),
        s => format!(" per {s} s"),
    }
}

/// A step of 1, 2, 2.5 or 5 times a power of ten near `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let f = raw / p;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * p
}

/// Value ticks from `lo` to `hi` (display units): the rounded range and the step (the
/// status page's charts use the same ticks).
pub(crate) fn value_ticks(lo: f64, hi: f64) -> (f64, f64, f64) {
    let step = nice_step((hi - lo) / 4.0);
    let bottom = (lo / step).floor() * step;
    let top = ((hi / step).ceil() * step).max(bottom + step);
    (bottom, top, step)
}

/// A tick value without needless decimals: `0`, `2.5`, `150` (as many as the step needs).
fn tick_label(v: f64, step: f64) -> String {
    let decimals = (0..6)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(6) as usize;
    format!("{v:.decimals$}")
}

/// The step between time ticks for a span: at most about seven ticks.
fn time_step(span: i64) -> i64 {
    const STEPS: [i64; 15] = [
        60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 172_800,
        604_800, 1_209_600,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 7)
        .unwrap_or(2_419_200)
}

/// The alert's own reference values, drawn as labelled dashed lines across the whole chart
/// so that the usual and the limit read at a glance even where the envelope is narrow.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reference {
    /// The usual value (the rule's baseline), in the chart's metric.
    pub usual: Option<f64>,
    /// The limit where the rule's condition holds.
    pub limit: Option<f64>,
    /// The value the rule judged when the alert fired (a dot at the alert's start, labelled:
    /// the last step on the chart may be only partly measured).
    pub value: Option<f64>,
}

/// Renders the series of an alert as a PNG, with the alert's start at `marker` and its
/// reference values; `metric` names the unit (`in_bps`, `usage_bytes`, ...). `None` when
/// there is nothing to draw (no point with a value or an envelope, or the points span no
/// time).
pub fn render_png(
    points: &[ChartPoint],
    marker: Option<Timestamp>,
    metric: &str,
    reference: Reference,
) -> Option<(Vec<u8>, ChartScale)> {
    let first = points.iter().map(|p| p.at).min()?;
    let last = points.iter().map(|p| p.at).max()?;
    let step = points
        .windows(2)
        .map(|w| w[1].at.as_second() - w[0].at.as_second())
        .filter(|d| *d > 0)
        .min()?;
    let (t0, t1) = (first.as_second(), last.as_second() + step);
    let values = points
        .iter()
        .flat_map(|p| {
            p.value
                .into_iter()
                .chain(p.band.into_iter().flat_map(|(l, h)| [l, h]))
        })
        .chain(reference.usual)
        .chain(reference.limit)
        .chain(reference.value);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return None;
    }
    let axis = value_axis(metric, hi.max(lo.abs()), step);
    let (bottom, top, vstep) = value_ticks((lo / axis.div).min(0.0), hi / axis.div * 1.05);
    let scale = ChartScale {
        y_min: bottom * axis.div,
        y_max: top * axis.div,
    };

    let mut c = Canvas::new(WIDTH, HEIGHT);
    let x_of = |t: i64| {
        let f = (t - t0) as f64 / (t1 - t0) as f64;
        PLOT_LEFT + (f * (PLOT_RIGHT - PLOT_LEFT) as f64).round() as i64
    };
    let y_of = |v: f64| {
        let f = (v / axis.div - bottom) / (top - bottom);
        PLOT_BOTTOM - (f * (PLOT_BOTTOM - PLOT_TOP) as f64).round() as i64
    };

    // Gaps: the steps with no measurement, shaded over the whole height.
    let mut any_gap = false;
    for p in points.iter().filter(|p| p.value.is_none()) {
        let s = p.at.as_second();
        c.fill(x_of(s), PLOT_TOP, x_of(s + step) - 1, PLOT_BOTTOM, GAP);
        any_gap = true;
    }
    // Value grid and labels.
    let mut v = bottom;
    while v <= top + vstep * 1e-6 {
        let y = y_of(v * axis.div);
        c.hline(PLOT_LEFT, PLOT_RIGHT, y, GRID);
        c.text(
            &tick_label(v, vstep),
            PLOT_LEFT - 6,
            y,
            Font::Small,
            Alignment::Right,
            Baseline::Middle,
            TEXT,
        );
        v += vstep;
    }
    // Time grid and labels.
    let tstep = time_step(t1 - t0);
    let mut t = (t0 + tstep - 1).div_euclid(tstep) * tstep;
    while t <= t1 {
        let x = x_of(t);
        c.vline(x, PLOT_TOP, PLOT_BOTTOM, GRID);
        c.vline(x, PLOT_BOTTOM, PLOT_BOTTOM + 3, AXIS);
        let at = Timestamp::from_second(t).ok()?;
        let label = if tstep < 86_400 {
            at.strftime("%H:%M").to_string()
        } else {
            at.strftime("%m-%d").to_string()
        };
        c.text(
            &label,
            x,
            PLOT_BOTTOM + 5,
            Font::Small,
            Alignment::Center,
            Baseline::Top,
            TEXT,
        );
        t += tstep;
    }
    // The envelope: from the usual value to the limit, for the steps where the rule compared.
    let mut any_band = false;
    for p in points {
        if let Some((low, high)) = p.band {
            let s = p.at.as_second();
            let (x0, x1) = (x_of(s), x_of(s + step).max(x_of(s) + 1));
            let (y_hi, y_lo) = (y_of(high.max(low)), y_of(low.min(high)));
            c.fill(x0, y_hi, x1 - 1, y_lo, BAND);
            any_band = true;
        }
    }
    // The limit edge, dashed, where it is the upper one (spike) or the lower one (drop) is
    // not known here: both edges are drawn, the band between them says which is usual.
    for p in points {
        if let Some((low, high)) = p.band {
            let s = p.at.as_second();
            for edge in [low, high] {
                let y = y_of(edge);
                for x in (x_of(s)..x_of(s + step)).filter(|x| x % 6 < 3) {
                    c.set(x, y, LIMIT);
                }
            }
        }
    }
    // The alert's usual value and limit, across the whole plot, labelled at the left.
    let refs = [("usual", reference.usual), ("limit", reference.limit)];
    let ys: Vec<Option<i64>> = refs
        .iter()
        .map(|(_, v)| v.filter(|v| v.is_finite()).map(y_of))
        .collect();
    for ((name, v), y) in refs.iter().zip(&ys) {
        let (Some(v), Some(y)) = (v, y) else { continue };
        for x in (PLOT_LEFT..PLOT_RIGHT).filter(|x| x % 8 < 4) {
            c.set(x, *y, LIMIT);
        }
        // Above the line, unless the other label would sit on it: then below.
        let other = ys.iter().flatten().find(|o| *o != y);
        let above = other.is_none_or(|o| *o > *y || *y - *o > 14);
        let label = format!("{name} {}", axis_value(*v, &axis));
        let ty = if above { y - 2 } else { y + 3 };
        let base = if above {
            Baseline::Bottom
        } else {
            Baseline::Top
        };
        c.text_boxed(&label, PLOT_LEFT + 4, ty, base, LIMIT);
    }
    // Axes.
    c.hline(PLOT_LEFT, PLOT_RIGHT, PLOT_BOTTOM, AXIS);
    c.vline(PLOT_LEFT, PLOT_TOP, PLOT_BOTTOM, AXIS);
    // The series: at the middle of each step; a gap breaks the line; dots when few points.
    let mid = |p: &ChartPoint| {
        x_of(p.at.as_second()) + (x_of(p.at.as_second() + step) - x_of(p.at.as_second())) / 2
    };
    for pair in points.windows(2) {
        if let (Some(a), Some(b)) = (pair[0].value, pair[1].value) {
            c.line(mid(&pair[0]), y_of(a), mid(&pair[1]), y_of(b), LINE);
        }
    }
    let dots = points.len() <= 60;
    for (i, p) in points.iter().enumerate() {
        let Some(v) = p.value else { continue };
        let alone = [i.checked_sub(1), Some(i + 1)].iter().all(|j| {
            j.and_then(|j| points.get(j))
                .is_none_or(|q| q.value.is_none())
        });
        if dots || alone {
            c.fill(mid(p) - 2, y_of(v) - 2, mid(p) + 2, y_of(v) + 2, LINE);
        }
    }
    // The alert's start.
    let marked = marker
        .map(|m| m.as_second())
        .filter(|m| (t0..=t1).contains(m));
    if let Some(m) = marked {
        let x = x_of(m);
        for y in (PLOT_TOP..PLOT_BOTTOM).filter(|y| y % 6 < 4) {
            c.vline(x, y, y, MARKER);
            c.vline(x + 1, y, y, MARKER);
        }
        let at = Timestamp::from_second(m).ok()?;
        let label = format!(
            "alert {}",
            at.strftime(if step < 86_400 { "%H:%M" } else { "%m-%d" })
        );
        let right = x + 8 + 7 * label.len() as i64 <= PLOT_RIGHT;
        let (tx, align) = if right {
            (x + 5, Alignment::Left)
        } else {
            (x - 4, Alignment::Right)
        };
        let w = 7 * label.len() as i64;
        let x0 = if right { tx } else { tx - w };
        c.fill(x0 - 2, PLOT_TOP + 1, x0 + w + 1, PLOT_TOP + 15, BACKGROUND);
        c.text(
            &label,
            tx,
            PLOT_TOP + 2,
            Font::Regular,
            align,
            Baseline::Top,
            MARKER,
        );
    }

    // The value the rule judged, at the alert's start (else at the end), labelled.
    if let Some(v) = reference.value.filter(|v| v.is_finite()) {
        let x = marked.map(&x_of).unwrap_or(PLOT_RIGHT);
        let y = y_of(v);
        c.fill(x - 3, y - 3, x + 3, y + 3, MARKER);
        let label = axis_value(v, &axis);
        let w = 6 * label.len() as i64;
        let (lx, ly) = (x - 8 - w, (y - 5).max(PLOT_TOP + 17));
        c.fill(lx - 2, ly - 1, lx + w + 1, ly + 10, BACKGROUND);
        c.text(
            &label,
            lx,
            ly,
            Font::Small,
            Alignment::Left,
            Baseline::Top,
            MARKER,
        );
    }
    // Title (what and unit) and legend.
    c.text(
        &axis.title,
        8,
        8,
        Font::Bold,
        Alignment::Left,
        Baseline::Top,
        TEXT,
    );
    let mut legend: Vec<(&str, [u8; 3])> = vec![("measured", LINE)];
    if any_band {
        legend.push(("usual to limit", BAND));
    }
    if marked.is_some() {
        legend.push(("alert start", MARKER));
    }
    if any_gap {
        legend.push(("no data", GAP));
    }
    let mut x = WIDTH as i64 - 8;
    for (name, colour) in legend.iter().rev() {
        let w = 6 * name.len() as i64;
        c.text(
            name,
            x,
            12,
            Font::Small,
            Alignment::Right,
            Baseline::Middle,
            TEXT,
        );
        x -= w + 4;
        c.fill(x - 12, 8, x, 16, *colour);
        if *colour == BAND {
            c.hline(x - 12, x, 8, LIMIT);
            c.hline(x - 12, x, 16, LIMIT);
        }
        x -= 22;
    }
    // Time zone and dates under the time axis.
    let (d0, d1) = (
        first.strftime("%Y-%m-%d").to_string(),
        Timestamp::from_second(t1 - 1)
            .ok()?
            .strftime("%Y-%m-%d")
            .to_string(),
    );
    let dates = if d0 == d1 {
        format!("time (UTC), {d0}")
    } else {
        format!("time (UTC), {d0} to {d1}")
    };
    c.text(
        &dates,
        PLOT_RIGHT,
        HEIGHT as i64 - 6,
        Font::Small,
        Alignment::Right,
        Baseline::Bottom,
        TEXT,
    );
    c.text(
        &axis.unit,
        8,
        HEIGHT as i64 - 6,
        Font::Small,
        Alignment::Left,
        Baseline::Bottom,
        TEXT,
    );
    c.encode().map(|png| (png, scale))
}

/// A value in the axis's unit, with it: `657 Mbit/s`, `2.2 GB/min`.
fn axis_value(v: f64, axis: &ValueAxis) -> String {
    let n = crate::format::number::significant(v / axis.div);
    if axis.unit.is_empty() {
        n
    } else {
        format!("{n} {}", axis.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(sec: i64, value: Option<f64>, band: Option<(f64, f64)>) -> ChartPoint {
        ChartPoint {
            // 2027-01-15 08:00:00 UTC
            at: Timestamp::from_second(1_800_000_000 + sec).unwrap(),
            value,
            band,
        }
    }

    fn decode(png_bytes: &[u8]) -> Vec<u8> {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        buf
    }

    fn pixel(buf: &[u8], x: i64, y: i64) -> [u8; 3] {
        let i = ((y as u32 * WIDTH + x as u32) * 3) as usize;
        [buf[i], buf[i + 1], buf[i + 2]]
    }

    fn count(buf: &[u8], x0: i64, y0: i64, x1: i64, y1: i64, rgb: [u8; 3]) -> usize {
        (y0..=y1)
            .flat_map(|y| (x0..=x1).map(move |x| (x, y)))
            .filter(|(x, y)| pixel(buf, *x, *y) == rgb)
            .count()
    }

    #[test]
    fn axes_say_units_and_times_and_the_series_sits_where_its_value_is() {
        // Six hours of one-minute points at 1.2 Gbit/s, usual 200 Mbit/s to a limit of 600.
        let points: Vec<_> = (0..360)
            .map(|i| pt(i * 60, Some(1.2e9), Some((2e8, 6e8))))
            .collect();
        let (png_bytes, scale) = render_png(&points, None, "in_bps", Reference::default()).unwrap();
        let buf = decode(&png_bytes);
        // 0 to 1.26 Gbit/s in steps of 0.5: the axis goes 0 .. 1.5 Gbit/s.
        assert_eq!((scale.y_min, scale.y_max), (0.0, 1.5e9));
        let y_of =
            |v: f64| PLOT_BOTTOM - ((v / 1.5e9) * (PLOT_BOTTOM - PLOT_TOP) as f64).round() as i64;
        let x = (PLOT_LEFT + PLOT_RIGHT) / 2;
        assert_eq!(pixel(&buf, x, y_of(1.2e9)), LINE);
        assert_eq!(pixel(&buf, x + 1, y_of(4e8)), BAND);
        // Text: the tick labels left of the plot, the time labels under it, the title.
        assert!(count(&buf, 0, PLOT_TOP - 6, PLOT_LEFT - 2, PLOT_BOTTOM + 6, TEXT) > 60);
        assert!(
            count(
                &buf,
                PLOT_LEFT,
                PLOT_BOTTOM + 4,
                PLOT_RIGHT,
                PLOT_BOTTOM + 16,
                TEXT
            ) > 100
        );
        assert!(count(&buf, 0, 0, 200, PLOT_TOP - 4, TEXT) > 60);
    }

    #[test]
    fn gaps_stay_gaps_and_the_alert_start_is_marked() {
        let points: Vec<_> = (0..=10)
            .map(|i| {
                let v = if i == 5 { None } else { Some(100.0) };
                pt(i * 60, v, None)
            })
            .collect();
        let (png_bytes, _) =
            render_png(&points, Some(points[8].at), "in_bps", Reference::default()).unwrap();
        let buf = decode(&png_bytes);
        // The gap's step is shaded, and no line crosses it at the series' height.
        let span = (PLOT_RIGHT - PLOT_LEFT) as f64 / 11.0;
        let x_gap = PLOT_LEFT + (5.5 * span) as i64;
        let y = (PLOT_TOP + PLOT_BOTTOM) / 2;
        assert_eq!(pixel(&buf, x_gap, y + 3), GAP);
        let y_line = (PLOT_TOP..=PLOT_BOTTOM)
            .find(|y| pixel(&buf, PLOT_LEFT + (1.5 * span) as i64, *y) == LINE)
            .unwrap();
        assert_ne!(pixel(&buf, x_gap, y_line), LINE);
        // The marker: a red dashed column at its time, labelled.
        let x_m = PLOT_LEFT + (8.0 * span).round() as i64;
        assert!(count(&buf, x_m, PLOT_TOP + 20, x_m + 1, PLOT_BOTTOM, MARKER) > 100);
        assert!(count(&buf, x_m + 3, PLOT_TOP, x_m + 80, PLOT_TOP + 16, MARKER) > 30);
        // Outside the window: no marker.
        let later = points[10]
            .at
            .checked_add(jiff::SignedDuration::from_hours(2))
            .unwrap();
        let (png_bytes, _) =
            render_png(&points, Some(later), "in_bps", Reference::default()).unwrap();
        let buf = decode(&png_bytes);
        assert_eq!(
            count(
                &buf,
                PLOT_LEFT,
                PLOT_TOP + 20,
                PLOT_RIGHT,
                PLOT_BOTTOM,
                MARKER
            ),
            0
        );
    }

    #[test]
    fn the_usual_and_the_limit_are_labelled_lines_across_the_chart() {
        let points: Vec<_> = (0..120).map(|i| pt(i * 60, Some(2.5e8), None)).collect();
        let reference = Reference {
            usual: Some(2.2e8),
            limit: Some(6.6e8),
            value: None,
        };
        let (png_bytes, scale) = render_png(&points, None, "in_bps", reference).unwrap();
        let buf = decode(&png_bytes);
        assert_eq!(scale.y_max, 8e8, "the limit is inside the scale");
        let y_limit = PLOT_BOTTOM - ((6.6 / 8.0) * (PLOT_BOTTOM - PLOT_TOP) as f64).round() as i64;
        // Dashed across the width, far from any band.
        let dashes = count(&buf, PLOT_LEFT, y_limit, PLOT_RIGHT, y_limit, LIMIT);
        assert!(dashes > 200, "{dashes}");
        // Its label just above it ("limit 660 Mbit/s").
        assert!(
            count(
                &buf,
                PLOT_LEFT + 4,
                y_limit - 12,
                PLOT_LEFT + 110,
                y_limit - 1,
                LIMIT
            ) > 40
        );
    }

    #[test]
    fn units_and_ticks_read_as_people_write_them() {
        assert_eq!(value_axis("in_bps", 1.7e9, 60).unit, "Gbit/s");
        assert_eq!(value_axis("out_bps", 8e5, 60).unit, "kbit/s");
        assert_eq!(value_axis("usage_bytes", 3.2e12, 86_400).unit, "TB/day");
        assert_eq!(
            value_axis("usage_bytes", 3.2e9, 60).title,
            "usage (in + out), GB/min"
        );
        assert_eq!(value_axis("utilization", 0.9, 60).unit, "%");
        assert_eq!(value_ticks(0.0, 1.26), (0.0, 1.5, 0.5));
        assert_eq!(value_ticks(0.0, 840.0), (0.0, 1000.0, 250.0));
        assert_eq!(tick_label(2.5, 2.5), "2.5");
        assert_eq!(tick_label(0.25, 0.25), "0.25");
        assert_eq!(tick_label(1.5, 0.5), "1.5");
        assert_eq!(tick_label(750.0, 250.0), "750");
        assert_eq!(time_step(6 * 3600), 3600);
        assert_eq!(time_step(35 * 86_400), 604_800);
        assert_eq!(time_step(300), 60);
    }

    #[test]
    fn nothing_to_draw_gives_none() {
        assert!(render_png(&[], None, "in_bps", Reference::default()).is_none());
        assert!(
            render_png(
                &[pt(0, None, None), pt(60, None, None)],
                None,
                "in_bps",
                Reference::default()
            )
            .is_none()
        );
        assert!(
            render_png(
                &[pt(0, Some(1.0), None)],
                None,
                "in_bps",
                Reference::default()
            )
            .is_none()
        );
    }
}
