//! A small PNG chart of a notice's series with its baseline band, for the inline image in
//! alert emails.
//!
//! Drawn pixel by pixel and encoded with the `png` crate: no font, no text in the image (the
//! numbers are in the message beside it), so the chart needs no font files and few
//! dependencies. Gaps (`None`) stay gaps: a missed poll is never drawn as zero.

use super::notice::ChartPoint;

/// Width of the chart in pixels.
pub const WIDTH: u32 = 640;
/// Height of the chart in pixels.
pub const HEIGHT: u32 = 200;

const MARGIN: i64 = 8;
const BACKGROUND: [u8; 3] = [255, 255, 255];
const GRID: [u8; 3] = [225, 225, 225];
const AXIS: [u8; 3] = [150, 150, 150];
const BAND: [u8; 3] = [198, 222, 246];
const LINE: [u8; 3] = [200, 40, 40];
const MARKER: [u8; 3] = [90, 90, 90];

/// The numbers behind a chart, written beside it in the message (the image has no text).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChartScale {
    /// Value at the bottom edge of the plot (always 0 unless values are negative).
    pub y_min: f64,
    /// Value at the top edge of the plot.
    pub y_max: f64,
}

/// Renders `points` as a PNG image, with a vertical line at `marker` (the alert's start) when
/// it falls inside; `None` when there is nothing to draw (no point with a value or a band) or
/// the points span no time.
pub fn render_png(
    points: &[ChartPoint],
    marker: Option<jiff::Timestamp>,
) -> Option<(Vec<u8>, ChartScale)> {
    let first = points.iter().map(|p| p.at).min()?;
    let last = points.iter().map(|p| p.at).max()?;
    let span = (last.as_millisecond() - first.as_millisecond()) as f64;
    let values = points.iter().flat_map(|p| {
        p.value
            .into_iter()
            .chain(p.band.into_iter().flat_map(|(l, h)| [l, h]))
    });
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || span <= 0.0 {
        return None;
    }
    let y_min = lo.min(0.0);
    let y_max = if hi > y_min { hi * 1.1 } else { y_min + 1.0 };
    let scale = ChartScale { y_min, y_max };

    let mut canvas = Canvas::new(WIDTH, HEIGHT);
    let (left, right) = (MARGIN, WIDTH as i64 - MARGIN);
    let (top, bottom) = (MARGIN, HEIGHT as i64 - MARGIN);
    let x_of = |p: &ChartPoint| {
        let f = (p.at.as_millisecond() - first.as_millisecond()) as f64 / span;
        left + (f * (right - left) as f64).round() as i64
    };
    let y_of = |v: f64| {
        let f = (v - y_min) / (y_max - y_min);
        bottom - (f * (bottom - top) as f64).round() as i64
    };

    for i in 1..4 {
        let y = top + (bottom - top) * i / 4;
        canvas.hline(left, right, y, GRID);
    }
    // The band: each point's band holds until the next point.
    for (i, p) in points.iter().enumerate() {
        if let Some((low, high)) = p.band {
            let x0 = x_of(p);
            let x1 = points.get(i + 1).map(x_of).unwrap_or(x0 + 1).max(x0 + 1);
            let (y_hi, y_lo) = (y_of(high.max(low)), y_of(low.min(high)));
            for x in x0..x1 {
                canvas.vline(x, y_hi, y_lo, BAND);
            }
        }
    }
    canvas.hline(left, right, bottom, AXIS);
    canvas.vline(left, top, bottom, AXIS);
    if let Some(m) = marker.filter(|m| (first..=last).contains(m)) {
        let x = x_of(&ChartPoint {
            at: m,
            value: None,
            band: None,
        });
        for y in (top..bottom).step_by(6) {
            canvas.vline(x, y, y + 2, MARKER);
        }
    }
    // The series: segments between neighbouring measured points; a gap breaks the line.
    for pair in points.windows(2) {
        if let (Some(a), Some(b)) = (pair[0].value, pair[1].value) {
            canvas.line(x_of(&pair[0]), y_of(a), x_of(&pair[1]), y_of(b), LINE);
        }
    }
    for (i, p) in points.iter().enumerate() {
        let alone = |j: Option<usize>| {
            j.and_then(|j| points.get(j))
                .is_none_or(|q| q.value.is_none())
        };
        if let Some(v) = p.value
            && alone(i.checked_sub(1))
            && alone(Some(i + 1))
        {
            canvas.line(x_of(p), y_of(v), x_of(p), y_of(v), LINE);
        }
    }
    canvas.encode().map(|png| (png, scale))
}

/// An RGB pixel buffer.
struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Self {
        let pixels = BACKGROUND
            .iter()
            .copied()
            .cycle()
            .take((width * height * 3) as usize)
            .collect();
        Canvas {
            width,
            height,
            pixels,
        }
    }

    fn set(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let i = ((y as u32 * self.width + x as u32) * 3) as usize;
        self.pixels[i..i + 3].copy_from_slice(&rgb);
    }

    fn hline(&mut self, x0: i64, x1: i64, y: i64, rgb: [u8; 3]) {
        for x in x0..=x1 {
            self.set(x, y, rgb);
        }
    }

    fn vline(&mut self, x: i64, y0: i64, y1: i64, rgb: [u8; 3]) {
        for y in y0.min(y1)..=y0.max(y1) {
            self.set(x, y, rgb);
        }
    }

    /// A two-pixel-thick line (Bresenham).
    fn line(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, rgb: [u8; 3]) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            for (ox, oy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                self.set(x + ox, y + oy, rgb);
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    fn encode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().ok()?;
        writer.write_image_data(&self.pixels).ok()?;
        writer.finish().ok()?;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn pt(sec: i64, value: Option<f64>, band: Option<(f64, f64)>) -> ChartPoint {
        ChartPoint {
            at: Timestamp::from_second(1_800_000_000 + sec).unwrap(),
            value,
            band,
        }
    }

    fn pixel(png_bytes: &[u8], x: u32, y: u32) -> [u8; 3] {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        let i = ((y * WIDTH + x) * 3) as usize;
        [buf[i], buf[i + 1], buf[i + 2]]
    }

    #[test]
    fn draws_band_and_series_and_leaves_gaps_empty() {
        let points: Vec<_> = (0..10)
            .map(|i| {
                let v = if i == 5 { None } else { Some(100.0) };
                pt(i * 60, v, Some((40.0, 60.0)))
            })
            .collect();
        let (png_bytes, scale) = render_png(&points, None).unwrap();
        assert_eq!(scale.y_min, 0.0);
        assert!((scale.y_max - 110.0).abs() < 1e-9);
        // Value 100 of 110 sits near the top; band 40..60 around the middle.
        let y_line = (HEIGHT as f64 - 8.0 - 100.0 / 110.0 * (HEIGHT as f64 - 16.0)).round() as u32;
        let y_band = (HEIGHT as f64 - 8.0 - 50.0 / 110.0 * (HEIGHT as f64 - 16.0)).round() as u32;
        assert_eq!(pixel(&png_bytes, 60, y_line), LINE);
        assert_eq!(pixel(&png_bytes, 60, y_band), BAND);
        // Between points 4 and 6 (x around 5/9 of the width) the line is broken.
        let x_gap = (8.0 + 5.0 / 9.0 * (WIDTH as f64 - 16.0)) as u32;
        assert_ne!(pixel(&png_bytes, x_gap, y_line), LINE);
    }

    #[test]
    fn marks_the_alert_start_inside_the_range_only() {
        let points: Vec<_> = (0..=10).map(|i| pt(i * 60, Some(10.0), None)).collect();
        let x = (8.0 + 0.5 * (WIDTH as f64 - 16.0)).round() as u32;
        let (with, _) = render_png(&points, Some(points[5].at)).unwrap();
        assert_eq!(pixel(&with, x, 9), MARKER);
        let outside = points[10]
            .at
            .checked_add(jiff::SignedDuration::from_hours(1))
            .unwrap();
        let (without, _) = render_png(&points, Some(outside)).unwrap();
        assert_eq!(pixel(&without, x, 9), BACKGROUND);
    }

    #[test]
    fn nothing_to_draw_gives_none() {
        assert!(render_png(&[], None).is_none());
        assert!(render_png(&[pt(0, None, None), pt(60, None, None)], None).is_none());
        assert!(render_png(&[pt(0, Some(1.0), None)], None).is_none());
    }
}
