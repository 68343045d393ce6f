//! The pixel buffer the email chart is drawn on: lines, boxes and text in the X11
//! misc-fixed bitmap fonts that `embedded-graphics` carries (drawn through its
//! [`DrawTarget`]), encoded as PNG by the `png` crate.

use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::ascii::{FONT_6X10, FONT_7X13, FONT_7X13_BOLD};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Point, RgbColor, Size};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};
use embedded_graphics::{Drawable, Pixel};

use super::BACKGROUND;

/// The fonts of the chart.
#[derive(Clone, Copy)]
pub(super) enum Font {
    /// 7x13, for the marker.
    Regular,
    /// 7x13 bold, for the title.
    Bold,
    /// 6x10, for ticks, legend and notes.
    Small,
}

/// An RGB pixel buffer.
pub(super) struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    pub(super) fn new(width: u32, height: u32) -> Self {
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

    pub(super) fn set(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let i = ((y as u32 * self.width + x as u32) * 3) as usize;
        self.pixels[i..i + 3].copy_from_slice(&rgb);
    }

    pub(super) fn hline(&mut self, x0: i64, x1: i64, y: i64, rgb: [u8; 3]) {
        for x in x0.min(x1)..=x0.max(x1) {
            self.set(x, y, rgb);
        }
    }

    pub(super) fn vline(&mut self, x: i64, y0: i64, y1: i64, rgb: [u8; 3]) {
        for y in y0.min(y1)..=y0.max(y1) {
            self.set(x, y, rgb);
        }
    }

    pub(super) fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, rgb: [u8; 3]) {
        for y in y0.min(y1)..=y0.max(y1) {
            self.hline(x0, x1, y, rgb);
        }
    }

    /// A two-pixel-thick line (Bresenham).
    pub(super) fn line(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, rgb: [u8; 3]) {
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

    /// Text at (x, y) with the given alignment and baseline.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn text(
        &mut self,
        s: &str,
        x: i64,
        y: i64,
        font: Font,
        alignment: Alignment,
        baseline: Baseline,
        rgb: [u8; 3],
    ) {
        let colour = Rgb888::new(rgb[0], rgb[1], rgb[2]);
        let style = match font {
            Font::Regular => MonoTextStyle::new(&FONT_7X13, colour),
            Font::Bold => MonoTextStyle::new(&FONT_7X13_BOLD, colour),
            Font::Small => MonoTextStyle::new(&FONT_6X10, colour),
        };
        let layout = TextStyleBuilder::new()
            .alignment(alignment)
            .baseline(baseline)
            .build();
        let at = Point::new(x as i32, y as i32);
        // Drawing into the buffer cannot fail (pixels outside are dropped).
        let _ = Text::with_text_style(s, at, style, layout).draw(self);
    }

    /// Small text on a white box, left-aligned at (x, y).
    pub(super) fn text_boxed(&mut self, s: &str, x: i64, y: i64, baseline: Baseline, rgb: [u8; 3]) {
        let (w, h) = (6 * s.len() as i64, 10);
        let top = match baseline {
            Baseline::Bottom => y - h,
            _ => y,
        };
        self.fill(x - 2, top - 1, x + w + 1, top + h, BACKGROUND);
        self.text(s, x, y, Font::Small, Alignment::Left, baseline, rgb);
    }

    pub(super) fn encode(&self) -> Option<Vec<u8>> {
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

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = std::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(p, c) in pixels {
            self.set(i64::from(p.x), i64::from(p.y), [c.r(), c.g(), c.b()]);
        }
        Ok(())
    }
}
