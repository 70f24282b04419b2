//! `benches/ratios.svg`: one horizontal bar per emulated/native ratio, on a log scale with a
//! line at 1 (as fast as native).

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

/// Row height and the room left of the bars for the names, in pixels.
const ROW: u32 = 34;
const NAMES: u32 = 300;

/// The x range: powers of ten around every ratio, and 1.
fn x_range(ratios: &[f64]) -> (f64, f64) {
    let lo = ratios.iter().copied().fold(1.0f64, f64::min);
    let hi = ratios.iter().copied().fold(1.0f64, f64::max);
    (
        10f64.powf(lo.log10().floor()),
        10f64.powf((hi.log10() + 0.3).ceil()),
    )
}

/// Draws `rows` (name, emulated/native ratio) into an SVG file at `path`.
pub fn draw(path: &Path, rows: &[(String, f64)]) -> Result<()> {
    // The y axis counts upwards: reversed, the first row is drawn at the top.
    let rows: Vec<&(String, f64)> = rows.iter().rev().filter(|(_, r)| *r > 0.0).collect();
    let n = rows.len() as u32;
    let ratios: Vec<f64> = rows.iter().map(|(_, r)| *r).collect();
    let (lo, hi) = x_range(&ratios);
    let root = SVGBackend::new(path, (1100, 110 + ROW * n.max(1))).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "emulated / native time (log scale; 1 = native speed)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(NAMES)
        // A segmented range a..b has a segment for b as well: 0..n-1 gives n rows.
        .build_cartesian_2d(
            (lo..hi).log_scale(),
            (0..(n as i32 - 1).max(0)).into_segmented(),
        )
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n as usize)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => rows
                .get(*i as usize)
                .map_or_else(String::new, |(name, _)| name.clone()),
            _ => String::new(),
        })
        .x_label_formatter(&|v| format!("{v}"))
        .x_desc("emu / native")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let bar = |i: usize, r: f64| -> Rectangle<(f64, SegmentValue<i32>)> {
        let color = if r > 1.0 {
            RED.mix(0.6)
        } else {
            GREEN.mix(0.6)
        };
        let mut rect = Rectangle::new(
            [
                (lo, SegmentValue::Exact(i as i32)),
                (r, SegmentValue::Exact(i as i32 + 1)),
            ],
            color.filled(),
        );
        rect.set_margin(5, 5, 0, 0);
        rect
    };
    chart
        .draw_series(rows.iter().enumerate().map(|(i, (_, r))| bar(i, *r)))
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, (_, r))| {
            Text::new(
                format!(" {}", crate::markdown::num(*r)),
                (*r, SegmentValue::CenterOf(i as i32)),
                ("sans-serif", 14),
            )
        }))
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![
                (1.0, SegmentValue::Exact(0)),
                (1.0, SegmentValue::Exact(n as i32)),
            ],
            BLACK.stroke_width(2),
        )))
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_covers_ratios_and_one() {
        assert_eq!(x_range(&[2.5, 40.0]), (1.0, 100.0));
        assert_eq!(x_range(&[0.2, 3.0]), (0.1, 10.0));
        assert_eq!(x_range(&[]), (1.0, 10.0));
    }

    #[test]
    fn writes_an_svg_with_the_names() {
        let path = std::env::temp_dir().join(format!("ratios-{}.svg", std::process::id()));
        draw(
            &path,
            &[
                ("INT 0x80".to_string(), 4.0),
                ("page fault".to_string(), 0.5),
            ],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("INT 0x80") && svg.contains("page fault"));
    }
}
