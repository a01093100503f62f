//! Training curves as PNG (plotters' bitmap backend, lines only, no fonts).
//!
//! The build is kept lean (no font stack), so the charts carry no text: the x axis is the epoch
//! (first to last), the y axis spans the shown range, and faint grid lines mark quarters of it.
//! Each series has a fixed colour, listed in [`SERIES_COLOURS`] and in `curves/README.txt`.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

/// One named series of values per epoch (`None` where undefined).
#[derive(Debug, Clone)]
pub struct Series {
    /// Name (for the legend file).
    pub name: String,
    /// One value per epoch.
    pub values: Vec<Option<f64>>,
}

/// Colours given to the series of a chart, in order.
pub const SERIES_COLOURS: [(&str, RGBColor); 6] = [
    ("blue", RGBColor(31, 119, 180)),
    ("orange", RGBColor(255, 127, 14)),
    ("green", RGBColor(44, 160, 44)),
    ("red", RGBColor(214, 39, 40)),
    ("purple", RGBColor(148, 103, 189)),
    ("brown", RGBColor(140, 86, 75)),
];

/// Draws `series` into an RGB buffer of `width × height` and returns the pixels (row-major RGB).
///
/// `y_range` fixes the y axis; `None` fits it to the data (with 5 % headroom).
pub fn render_chart(
    series: &[Series],
    width: u32,
    height: u32,
    y_range: Option<(f64, f64)>,
) -> anyhow::Result<Vec<u8>> {
    let mut buf = vec![255u8; (width * height * 3) as usize];
    let n = series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(0)
        .max(2);
    let (lo, hi) = y_range.unwrap_or_else(|| {
        let vals = series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .filter(|v| v.is_finite());
        let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if !lo.is_finite() {
            (0.0, 1.0)
        } else if hi - lo < 1e-12 {
            (lo - 0.5, hi + 0.5)
        } else {
            let pad = 0.05 * (hi - lo);
            (lo - pad, hi + pad)
        }
    });
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .build_cartesian_2d(0f64..(n - 1) as f64, lo..hi)
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        let grey = RGBColor(225, 225, 225);
        for q in 0..=4 {
            let y = lo + (hi - lo) * f64::from(q) / 4.0;
            chart
                .draw_series(LineSeries::new([(0.0, y), ((n - 1) as f64, y)], grey))
                .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        }
        for (s, (_, colour)) in series.iter().zip(SERIES_COLOURS.iter().cycle()) {
            // a gap (undefined value) breaks the line
            let mut run: Vec<(f64, f64)> = Vec::new();
            let mut flush = |run: &mut Vec<(f64, f64)>| -> anyhow::Result<()> {
                if run.len() == 1 {
                    chart
                        .draw_series(std::iter::once(Circle::new(run[0], 2, colour.filled())))
                        .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
                } else if run.len() > 1 {
                    chart
                        .draw_series(LineSeries::new(run.iter().copied(), colour.stroke_width(2)))
                        .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
                }
                run.clear();
                Ok(())
            };
            for (i, v) in s.values.iter().enumerate() {
                match v {
                    Some(v) if v.is_finite() => run.push((i as f64, v.clamp(lo, hi))),
                    _ => flush(&mut run)?,
                }
            }
            flush(&mut run)?;
        }
        root.present().map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    }
    Ok(buf)
}

/// Encodes an RGB buffer as PNG bytes.
pub fn encode_png_rgb(buf: &[u8], width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut out),
        buf,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )
    .context("PNG encoding")?;
    Ok(out)
}

/// One chart: its file stem, its series and its fixed y range (`None`: fitted to the data).
pub type Chart<'a> = (&'a str, Vec<Series>, Option<(f64, f64)>);

/// Writes one chart per group into `dir` (`<group>.png`) and a `README.txt` naming the colours.
pub fn write_curves(dir: &Path, groups: &[Chart<'_>]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut legend = String::from(
        "Training curves: x = epoch (first to last), y = value; faint lines at quarters of the y range.\n",
    );
    for (name, series, range) in groups {
        let (w, h) = (640, 360);
        let buf = render_chart(series, w, h, *range)?;
        crate::run_dir::write_atomic(
            &dir.join(format!("{name}.png")),
            &encode_png_rgb(&buf, w, h)?,
        )?;
        match range {
            Some((lo, hi)) => legend.push_str(&format!("\n{name}.png (y from {lo} to {hi}):\n")),
            None => legend.push_str(&format!("\n{name}.png (y fitted to the data):\n")),
        }
        for (s, (colour, _)) in series.iter().zip(SERIES_COLOURS.iter().cycle()) {
            legend.push_str(&format!("  {colour}: {}\n", s.name));
        }
    }
    crate::run_dir::write_atomic(&dir.join("README.txt"), legend.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rising_line_is_drawn_from_bottom_left_to_top_right() {
        let s = Series {
            name: "x".into(),
            values: vec![Some(0.0), Some(1.0)],
        };
        let (w, h) = (100u32, 60u32);
        let buf = render_chart(&[s], w, h, Some((0.0, 1.0))).unwrap();
        let blue = |x: u32, y: u32| {
            let i = ((y * w + x) * 3) as usize;
            buf[i..i + 3] == [31, 119, 180]
        };
        // the plot area is inset by the 8-pixel margin; the line passes near both corners
        let near = |cx: u32, cy: u32| {
            (cx.saturating_sub(3)..=(cx + 3).min(w - 1))
                .any(|x| (cy.saturating_sub(3)..=(cy + 3).min(h - 1)).any(|y| blue(x, y)))
        };
        assert!(near(8, h - 9), "bottom left");
        assert!(near(w - 9, 8), "top right");
        assert!(!near(w - 9, h - 9), "bottom right stays empty");
        let png = encode_png_rgb(&buf, w, h).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
