//! Pictures and shapes for `explain`: heat-map overlays, contact sheets, hot polygons as GeoJSON.

use image::{Rgb, RgbImage};

/// A polygon ring in pixel coordinates (`x` right, `y` down), closed or not.
pub type Ring = Vec<(f64, f64)>;

/// A polygon: its exterior ring and its holes.
#[derive(Debug, Clone, PartialEq)]
pub struct PolygonRings {
    /// The outer ring.
    pub exterior: Ring,
    /// The holes.
    pub holes: Vec<Ring>,
}

/// The polygons of a geo `MultiPolygon` as plain rings.
pub fn rings_of(mp: &geo_types_alias::MultiPolygon) -> Vec<PolygonRings> {
    mp.0.iter()
        .map(|p| PolygonRings {
            exterior: p.exterior().0.iter().map(|c| (c.x, c.y)).collect(),
            holes: p
                .interiors()
                .iter()
                .map(|r| r.0.iter().map(|c| (c.x, c.y)).collect())
                .collect(),
        })
        .collect()
}

/// The geo types as ceod-geometry returns them.
pub mod geo_types_alias {
    /// A multi-polygon in pixel coordinates.
    pub type MultiPolygon = geo::MultiPolygon<f64>;
}

/// A blue → cyan → yellow → red colour ramp for `v` in `[0, 1]` (a "jet"-like map).
pub fn ramp(v: f32) -> [u8; 3] {
    let v = v.clamp(0.0, 1.0);
    let seg = |a: [f32; 3], b: [f32; 3], t: f32| {
        [0, 1, 2].map(|i| {
            ((a[i] + (b[i] - a[i]) * t) * 255.0)
                .round()
                .clamp(0.0, 255.0) as u8
        })
    };
    let stops = [
        [0.0, 0.0, 0.5],
        [0.0, 0.4, 1.0],
        [0.0, 1.0, 1.0],
        [1.0, 1.0, 0.0],
        [1.0, 0.0, 0.0],
    ];
    let x = v * 4.0;
    let i = (x.floor() as usize).min(3);
    seg(stops[i], stops[i + 1], x - i as f32)
}

/// What an overlay shows.
#[derive(Debug, Clone)]
pub struct OverlayInput<'a> {
    /// Grey values in `[0, 1]`, `height × width`.
    pub grey: &'a [f32],
    /// The normalised heat map, `height × width`.
    pub cam: &'a [f32],
    /// The mask (area of interest), if any.
    pub mask: Option<&'a [bool]>,
    /// The hot-region polygons.
    pub polygons: &'a [PolygonRings],
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// Upscaling factor of the picture (nearest neighbour), at least 1.
    pub scale: usize,
}

/// The overlay: the image, the CAM blended over it, the mask outline in green and the hot polygon
/// in red (white for holes).
pub fn overlay(o: &OverlayInput) -> RgbImage {
    let s = o.scale.max(1);
    let (w, h) = (o.width, o.height);
    let mut img = RgbImage::new((w * s) as u32, (h * s) as u32);
    for y in 0..h {
        for x in 0..w {
            let g = o.grey[y * w + x].clamp(0.0, 1.0);
            let c = ramp(o.cam[y * w + x]);
            let a = 0.45 * o.cam[y * w + x].clamp(0.0, 1.0) + 0.1;
            let px = [0, 1, 2].map(|i| {
                ((1.0 - a) * g * 255.0 + a * f32::from(c[i]))
                    .round()
                    .clamp(0.0, 255.0) as u8
            });
            for dy in 0..s {
                for dx in 0..s {
                    img.put_pixel((x * s + dx) as u32, (y * s + dy) as u32, Rgb(px));
                }
            }
        }
    }
    if let Some(m) = o.mask {
        let inside = |x: isize, y: isize| {
            x >= 0
                && y >= 0
                && (x as usize) < w
                && (y as usize) < h
                && m[y as usize * w + x as usize]
        };
        for y in 0..h as isize {
            for x in 0..w as isize {
                if inside(x, y)
                    && !(inside(x - 1, y)
                        && inside(x + 1, y)
                        && inside(x, y - 1)
                        && inside(x, y + 1))
                {
                    for dy in 0..s {
                        for dx in 0..s {
                            img.put_pixel(
                                (x as usize * s + dx) as u32,
                                (y as usize * s + dy) as u32,
                                Rgb([0, 220, 0]),
                            );
                        }
                    }
                }
            }
        }
    }
    for p in o.polygons {
        draw_ring(&mut img, &p.exterior, s as f64, [255, 0, 0]);
        for hole in &p.holes {
            draw_ring(&mut img, hole, s as f64, [255, 255, 255]);
        }
    }
    img
}

/// Draws the closed ring `r` (pixel coordinates, scaled by `scale`) with 1-pixel lines.
pub fn draw_ring(img: &mut RgbImage, r: &[(f64, f64)], scale: f64, colour: [u8; 3]) {
    if r.len() < 2 {
        return;
    }
    for k in 0..r.len() {
        let a = r[k];
        let b = r[(k + 1) % r.len()];
        draw_line(
            img,
            (a.0 * scale, a.1 * scale),
            (b.0 * scale, b.1 * scale),
            colour,
        );
    }
}

/// A straight line from `a` to `b` (image coordinates), clipped to the image.
pub fn draw_line(img: &mut RgbImage, a: (f64, f64), b: (f64, f64), colour: [u8; 3]) {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        // a vertex at x = W lies on the right border: draw it on the last column
        let x = (a.0 + (b.0 - a.0) * t).min(w - 1.0).floor();
        let y = (a.1 + (b.1 - a.1) * t).min(h - 1.0).floor();
        if x >= 0.0 && y >= 0.0 {
            img.put_pixel(x as u32, y as u32, Rgb(colour));
        }
    }
}

/// Places `tiles` side by side, `columns` per row, with a 4-pixel dark gap.
pub fn contact_sheet(tiles: &[RgbImage], columns: usize) -> RgbImage {
    let cols = columns.max(1).min(tiles.len().max(1));
    let rows = tiles.len().div_ceil(cols).max(1);
    let tw = tiles.iter().map(|t| t.width()).max().unwrap_or(1);
    let th = tiles.iter().map(|t| t.height()).max().unwrap_or(1);
    let gap = 4u32;
    let mut sheet = RgbImage::from_pixel(
        cols as u32 * (tw + gap) + gap,
        rows as u32 * (th + gap) + gap,
        Rgb([30, 30, 30]),
    );
    for (i, t) in tiles.iter().enumerate() {
        let (r, c) = ((i / cols) as u32, (i % cols) as u32);
        image::imageops::replace(
            &mut sheet,
            t,
            i64::from(gap + c * (tw + gap)),
            i64::from(gap + r * (th + gap)),
        );
    }
    sheet
}

/// A GeoJSON `Feature` with the hot polygons as a `MultiPolygon` (pixel coordinates, `y` down).
pub fn geojson_feature(
    polygons: &[PolygonRings],
    properties: serde_json::Value,
) -> serde_json::Value {
    let close = |r: &Ring| {
        let mut v: Vec<[f64; 2]> = r.iter().map(|&(x, y)| [x, y]).collect();
        if let (Some(f), Some(l)) = (v.first().copied(), v.last().copied())
            && f != l
        {
            v.push(f);
        }
        v
    };
    let coords: Vec<Vec<Vec<[f64; 2]>>> = polygons
        .iter()
        .map(|p| {
            std::iter::once(close(&p.exterior))
                .chain(p.holes.iter().map(close))
                .collect()
        })
        .collect();
    serde_json::json!({
        "type": "Feature",
        "properties": properties,
        "geometry": { "type": "MultiPolygon", "coordinates": coords },
    })
}

/// Output names that are unique: the first use of a name keeps it, later uses get `-2`, `-3`, …
/// (skipping any suffixed name that is itself taken), so no two outputs share a file.
pub fn unique_names<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    let mut taken: std::collections::HashSet<String> =
        std::collections::HashSet::with_capacity(names.len());
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let n = n.as_ref();
        let mut candidate = n.to_string();
        let mut k = 2usize;
        while taken.contains(&candidate) {
            candidate = format!("{n}-{k}");
            k += 1;
        }
        taken.insert(candidate.clone());
        out.push(candidate);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeated_names_get_suffixes() {
        let n = super::unique_names(&["x", "y", "x", "x", "x-2", "y"]);
        assert_eq!(n, ["x", "y", "x-2", "x-3", "x-2-2", "y-2"]);
        let set: std::collections::HashSet<&String> = n.iter().collect();
        assert_eq!(set.len(), n.len());
    }

    use super::*;

    #[test]
    fn ramp_end_points() {
        assert_eq!(ramp(0.0), [0, 0, 128]);
        assert_eq!(ramp(1.0), [255, 0, 0]);
        assert_eq!(ramp(0.75), [255, 255, 0]);
    }

    #[test]
    fn overlay_draws_mask_outline_and_polygon() {
        let (w, h) = (8usize, 6usize);
        let grey = vec![0.5f32; w * h];
        let cam = vec![0.0f32; w * h];
        // mask: the 4x4 block at x 2..6, y 1..5; its outline is the 12 border pixels of the block
        let mask: Vec<bool> = (0..w * h)
            .map(|i| (2..6).contains(&(i % w)) && (1..5).contains(&(i / w)))
            .collect();
        let poly = PolygonRings {
            exterior: vec![(0.0, 0.0), (8.0, 0.0), (8.0, 6.0), (0.0, 6.0)],
            holes: vec![],
        };
        let img = overlay(&OverlayInput {
            grey: &grey,
            cam: &cam,
            mask: Some(&mask),
            polygons: std::slice::from_ref(&poly),
            width: w,
            height: h,
            scale: 1,
        });
        let count = |c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
        assert_eq!(count([0, 220, 0]), 12);
        // the polygon around the whole image is its border: 2·8 + 2·6 − 4 pixels
        assert_eq!(count([255, 0, 0]), 24);
    }

    #[test]
    fn sheet_size_and_geojson_rings_are_closed() {
        let t = RgbImage::new(10, 5);
        let s = contact_sheet(&[t.clone(), t.clone(), t], 2);
        assert_eq!((s.width(), s.height()), (2 * 14 + 4, 2 * 9 + 4));
        let f = geojson_feature(
            &[PolygonRings {
                exterior: vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)],
                holes: vec![],
            }],
            serde_json::json!({}),
        );
        let ring = &f["geometry"]["coordinates"][0][0];
        assert_eq!(ring.as_array().unwrap().len(), 4);
        assert_eq!(ring[0], ring[3]);
    }
}
