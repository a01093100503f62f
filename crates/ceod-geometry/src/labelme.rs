//! Annotation polygons from LabelMe JSON.

use geo::{Coord, MultiPolygon};
use serde::Deserialize;

use crate::area_of_interest::AreaOfInterest;
use crate::error::{GeometryError, Result};
use crate::repair::{repair_ring, union_all};

#[derive(Debug, Deserialize)]
struct File {
    shapes: Vec<Shape>,
    #[serde(rename = "imageWidth")]
    image_width: Option<usize>,
    #[serde(rename = "imageHeight")]
    image_height: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct Shape {
    #[serde(default)]
    label: String,
    points: Vec<[f64; 2]>,
    #[serde(default)]
    shape_type: Option<String>,
}

/// Options of [`parse_labelme_with_options`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelMeOptions {
    /// Skip shapes other than `polygon` and `rectangle` (`circle`, `line`, `point`, …) instead of
    /// failing on them. Default `false`: a shape that cannot be honoured is an error, never
    /// silently dropped.
    pub skip_unsupported: bool,
    /// Use only shapes with one of these labels; `None` (default) uses every shape.
    pub labels: Option<Vec<String>>,
    /// The image size `(width, height)`, overriding `imageWidth` / `imageHeight` of the file
    /// (required when the file lacks them).
    pub image_size: Option<(usize, usize)>,
}

/// [`parse_labelme_with_options`] with the default options.
///
/// ```
/// use ceod_geometry::parse_labelme;
/// let json = r#"{
///   "shapes": [
///     {"label": "scratch", "shape_type": "polygon", "points": [[0, 0], [4, 0], [0, 4]]},
///     {"label": "dent", "shape_type": "rectangle", "points": [[6, 6], [8, 9]]}
///   ],
///   "imageWidth": 10, "imageHeight": 10
/// }"#;
/// let aoi = parse_labelme(json)?;
/// assert_eq!(aoi.area(), 8.0 + 6.0);
/// assert_eq!(aoi.to_mask()?.count(), 6 + 6); // pixel centres inside: 6 in the triangle
/// # Ok::<(), ceod_geometry::GeometryError>(())
/// ```
///
/// # Errors
/// As [`parse_labelme_with_options`].
pub fn parse_labelme(json: &str) -> Result<AreaOfInterest> {
    parse_labelme_with_options(json, &LabelMeOptions::default())
}

/// The area of interest of a LabelMe annotation: the union of all its `polygon` and `rectangle`
/// shapes, in image pixel coordinates as LabelMe stores them (the image's top-left corner is
/// `(0, 0)`, pixel `(x, y)` covers `[x, x+1) × [y, y+1)`), clipped to the image.
///
/// A shape without `shape_type` is a polygon (old LabelMe files). A rectangle is given by two
/// opposite corners, in any order. Each polygon ring is repaired by [`repair_ring`]: repeated
/// vertices dropped, self-intersections (a bowtie) resolved with the non-zero winding rule; a
/// ring with fewer than 3 distinct points, zero area or a non-finite coordinate is rejected with
/// an error naming the shape.
///
/// # Errors
/// [`GeometryError::LabelMe`] for malformed JSON or a missing image size;
/// [`GeometryError::InvalidShape`] / [`GeometryError::UnsupportedShape`] naming the shape's index
/// and label.
pub fn parse_labelme_with_options(json: &str, options: &LabelMeOptions) -> Result<AreaOfInterest> {
    let file: File =
        serde_json::from_str(json).map_err(|e| GeometryError::LabelMe(e.to_string()))?;
    let (width, height) = match (options.image_size, file.image_width, file.image_height) {
        (Some(size), _, _) => size,
        (None, Some(w), Some(h)) => (w, h),
        _ => {
            return Err(GeometryError::LabelMe(
                "imageWidth / imageHeight missing and no image size given".to_owned(),
            ));
        }
    };
    let mut parts = Vec::with_capacity(file.shapes.len());
    for (index, shape) in file.shapes.iter().enumerate() {
        if let Some(labels) = &options.labels
            && !labels.contains(&shape.label)
        {
            continue;
        }
        let invalid = |problem: String| GeometryError::InvalidShape {
            index,
            label: shape.label.clone(),
            problem,
        };
        let points: Vec<Coord<f64>> = shape.points.iter().map(|&[x, y]| Coord { x, y }).collect();
        let ring = match shape.shape_type.as_deref().unwrap_or("polygon") {
            "polygon" => points,
            "rectangle" => {
                let [a, b] = points[..] else {
                    return Err(invalid(format!(
                        "a rectangle needs 2 corner points, got {}",
                        points.len()
                    )));
                };
                vec![
                    Coord { x: a.x, y: a.y },
                    Coord { x: b.x, y: a.y },
                    Coord { x: b.x, y: b.y },
                    Coord { x: a.x, y: b.y },
                ]
            }
            other => {
                if options.skip_unsupported {
                    continue;
                }
                return Err(GeometryError::UnsupportedShape {
                    index,
                    label: shape.label.clone(),
                    shape_type: other.to_owned(),
                });
            }
        };
        parts.push(repair_ring(&ring).map_err(invalid)?);
    }
    let union: MultiPolygon<f64> = union_all(&parts);
    AreaOfInterest::new(width, height, union)
}
