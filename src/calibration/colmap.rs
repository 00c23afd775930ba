//! COLMAP text model import/export (`cameras.txt` + `images.txt`).
//!
//! COLMAP stores `cam_from_world` as a quaternion (QW QX QY QZ) and a
//! translation, like timeslice; its pixel centres are at +0.5, so the
//! principal point is shifted by half a pixel each way. The camera id is the
//! image NAME without its extension. Numbers are written with Rust's
//! shortest round-trip formatting, so export then import is lossless.
//! COLMAP has no clock: `time_offset_ns` and `source` are not carried.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion};

use super::camera::{Camera, Distortion};
use super::rig::{CalibrationError, Rig};

/// COLMAP's principal point offset: its pixel (0,0) centre is at (0.5, 0.5).
const COLMAP_PIXEL_OFFSET: f64 = 0.5;

struct Intrinsics {
    width: u32,
    height: u32,
    fx: f64,
    fy: f64,
    cx: f64,
    cy: f64,
    distortion: Distortion,
}

fn parse_error(path: &Path, line_no: usize, reason: impl Into<String>) -> CalibrationError {
    CalibrationError::Parse {
        path: path.to_owned(),
        field: format!("line {line_no}"),
        reason: reason.into(),
    }
}

fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn parse_numbers(
    path: &Path,
    line_no: usize,
    fields: &[&str],
) -> Result<Vec<f64>, CalibrationError> {
    fields
        .iter()
        .map(|f| {
            f.parse::<f64>()
                .map_err(|_| parse_error(path, line_no, format!("{f:?} is not a number")))
        })
        .collect()
}

fn parse_cameras(path: &Path, text: &str) -> Result<HashMap<String, Intrinsics>, CalibrationError> {
    let mut cameras = HashMap::new();
    for (line_no, line) in data_lines(text) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            return Err(parse_error(
                path,
                line_no,
                "expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS...",
            ));
        }
        let width = fields[2]
            .parse::<u32>()
            .map_err(|_| parse_error(path, line_no, "bad WIDTH"))?;
        let height = fields[3]
            .parse::<u32>()
            .map_err(|_| parse_error(path, line_no, "bad HEIGHT"))?;
        let p = parse_numbers(path, line_no, &fields[4..])?;
        let expect = |n: usize| {
            if p.len() == n {
                Ok(())
            } else {
                Err(parse_error(
                    path,
                    line_no,
                    format!("model {} takes {n} parameters, got {}", fields[1], p.len()),
                ))
            }
        };
        let zero = [0.0; 5];
        let (fx, fy, cx, cy, d) = match fields[1] {
            "SIMPLE_PINHOLE" => {
                expect(3)?;
                (p[0], p[0], p[1], p[2], zero)
            }
            "PINHOLE" => {
                expect(4)?;
                (p[0], p[1], p[2], p[3], zero)
            }
            "SIMPLE_RADIAL" => {
                expect(4)?;
                (p[0], p[0], p[1], p[2], [p[3], 0.0, 0.0, 0.0, 0.0])
            }
            "RADIAL" => {
                expect(5)?;
                (p[0], p[0], p[1], p[2], [p[3], p[4], 0.0, 0.0, 0.0])
            }
            "OPENCV" => {
                expect(8)?;
                (p[0], p[1], p[2], p[3], [p[4], p[5], p[6], p[7], 0.0])
            }
            "FULL_OPENCV" => {
                expect(12)?;
                if p[9..12].iter().any(|k| *k != 0.0) {
                    return Err(parse_error(
                        path,
                        line_no,
                        "FULL_OPENCV with rational terms k4..k6 is not supported",
                    ));
                }
                (p[0], p[1], p[2], p[3], [p[4], p[5], p[6], p[7], p[8]])
            }
            other => {
                return Err(parse_error(
                    path,
                    line_no,
                    format!(
                        "camera model {other} is not supported (SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL, OPENCV, FULL_OPENCV)"
                    ),
                ));
            }
        };
        let intrinsics = Intrinsics {
            width,
            height,
            fx,
            fy,
            cx: cx - COLMAP_PIXEL_OFFSET,
            cy: cy - COLMAP_PIXEL_OFFSET,
            distortion: Distortion::from_array(d),
        };
        cameras.insert(fields[0].to_owned(), intrinsics);
    }
    Ok(cameras)
}

/// Imports a COLMAP text model folder as a rig named after the folder.
///
/// # Errors
/// Missing files, malformed lines (named by line number), unknown camera
/// references, or an invalid resulting rig.
pub fn import_colmap(dir: &Path) -> Result<Rig, CalibrationError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|source| CalibrationError::Io { path, source })
    };
    let cameras_path = dir.join("cameras.txt");
    let images_path = dir.join("images.txt");
    let intrinsics = parse_cameras(&cameras_path, &read("cameras.txt")?)?;
    let images_text = read("images.txt")?;
    let mut cameras = Vec::new();
    // images.txt alternates an image line and a (possibly empty) points line;
    // empty lines are significant there, so walk raw lines.
    let mut lines = images_text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()));
    while let Some((line_no, line)) = lines.next() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 10 {
            return Err(parse_error(
                &images_path,
                line_no,
                "expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME",
            ));
        }
        let v = parse_numbers(&images_path, line_no, &fields[1..8])?;
        let k = intrinsics.get(fields[8]).ok_or_else(|| {
            parse_error(
                &images_path,
                line_no,
                format!("CAMERA_ID {} is not in cameras.txt", fields[8]),
            )
        })?;
        let name = fields[9..].join(" ");
        let id = Path::new(&name)
            .file_stem()
            .map_or(name.clone(), |s| s.to_string_lossy().into_owned());
        let q = Quaternion::new(v[0], v[1], v[2], v[3]);
        if !(q.norm() - 1.0).abs().lt(&1e-3) {
            return Err(parse_error(
                &images_path,
                line_no,
                format!("quaternion of {id:?} is not unit length"),
            ));
        }
        cameras.push(Camera {
            id,
            width: k.width,
            height: k.height,
            fx: k.fx,
            fy: k.fy,
            cx: k.cx,
            cy: k.cy,
            distortion: k.distortion,
            cam_from_world: Isometry3::from_parts(
                Translation3::new(v[4], v[5], v[6]),
                UnitQuaternion::from_quaternion(q),
            ),
            time_offset_ns: 0,
            source: None,
        });
        // Skip the 2D points line that follows each image line.
        let _ = lines.next();
    }
    let name = dir
        .file_name()
        .map_or_else(|| "colmap".to_owned(), |n| n.to_string_lossy().into_owned());
    let rig = Rig { name, cameras };
    rig.validate(dir)?;
    Ok(rig)
}

/// Renders the `cameras.txt` and `images.txt` contents for a rig.
fn colmap_text(rig: &Rig) -> (String, String) {
    let mut cameras = String::from(
        "# Camera list with one line of data per camera:\n#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n",
    );
    let mut images = String::from(
        "# Image list with two lines of data per image:\n#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n#   POINTS2D[] as (X, Y, POINT3D_ID)\n",
    );
    for (index, c) in rig.cameras.iter().enumerate() {
        let camera_id = index + 1;
        let (cx, cy) = (c.cx + COLMAP_PIXEL_OFFSET, c.cy + COLMAP_PIXEL_OFFSET);
        let d = c.distortion;
        let line = if d.is_zero() {
            format!(
                "{camera_id} PINHOLE {} {} {} {} {cx} {cy}",
                c.width, c.height, c.fx, c.fy
            )
        } else if d.k3 == 0.0 {
            format!(
                "{camera_id} OPENCV {} {} {} {} {cx} {cy} {} {} {} {}",
                c.width, c.height, c.fx, c.fy, d.k1, d.k2, d.p1, d.p2
            )
        } else {
            format!(
                "{camera_id} FULL_OPENCV {} {} {} {} {cx} {cy} {} {} {} {} {} 0 0 0",
                c.width, c.height, c.fx, c.fy, d.k1, d.k2, d.p1, d.p2, d.k3
            )
        };
        let _ = writeln!(cameras, "{line}");
        let q = c.cam_from_world.rotation.quaternion();
        let t = c.cam_from_world.translation.vector;
        let _ = writeln!(
            images,
            "{camera_id} {} {} {} {} {} {} {} {camera_id} {}.png\n",
            q.w, q.i, q.j, q.k, t.x, t.y, t.z, c.id
        );
    }
    (cameras, images)
}

/// Exports a rig as a COLMAP text model into `dir` (created if needed);
/// also writes an empty `points3D.txt` so COLMAP opens the folder.
///
/// # Errors
/// I/O errors naming the file.
pub fn export_colmap(rig: &Rig, dir: &Path) -> Result<(), CalibrationError> {
    std::fs::create_dir_all(dir).map_err(|source| CalibrationError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let (cameras, images) = colmap_text(rig);
    for (name, text) in [
        ("cameras.txt", cameras),
        ("images.txt", images),
        ("points3D.txt", String::new()),
    ] {
        let path = dir.join(name);
        crate::fsutil::write_atomic(&path, text.as_bytes())
            .map_err(|source| CalibrationError::Io { path, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    #[test]
    fn colmap_round_trip_is_lossless() {
        let dir = tempfile::tempdir().unwrap();
        let mut cameras = Vec::new();
        for (i, d) in [
            [0.0; 5],
            [-0.11, 0.02, 0.001, -0.002, 0.0],
            [-0.1, 0.01, 0.0, 0.0, 0.003],
        ]
        .iter()
        .enumerate()
        {
            let eye = Point3::new(5.0 + i as f64, -3.0, 2.5);
            let mut c = Camera::look_at(
                &format!("cam{i}"),
                1920,
                1080,
                1400.25,
                &eye,
                &Point3::new(0.1, 0.2, 1.0),
            )
            .unwrap();
            c.fy = 1401.5;
            c.cx = 955.3;
            c.distortion = Distortion::from_array(*d);
            cameras.push(c);
        }
        let rig = Rig {
            name: "model".into(),
            cameras,
        };
        export_colmap(&rig, dir.path()).unwrap();
        let back = import_colmap(dir.path()).unwrap();
        assert_eq!(back.cameras.len(), rig.cameras.len());
        for (a, b) in rig.cameras.iter().zip(&back.cameras) {
            assert_eq!(a.id, b.id);
            assert_eq!(
                (a.width, a.height, a.fx, a.fy),
                (b.width, b.height, b.fx, b.fy)
            );
            assert!((a.cx - b.cx).abs() < 1e-12 && (a.cy - b.cy).abs() < 1e-12);
            assert_eq!(a.distortion, b.distortion);
            let diff = (a.cam_from_world.to_homogeneous() - b.cam_from_world.to_homogeneous())
                .abs()
                .max();
            assert!(diff < 1e-12, "pose differs by {diff}");
        }
    }

    #[test]
    fn unknown_model_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cameras.txt"), "1 FISHEYE_X 10 10 1 2 3\n").unwrap();
        std::fs::write(dir.path().join("images.txt"), "").unwrap();
        let err = import_colmap(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("cameras.txt") && err.contains("FISHEYE_X"),
            "{err}"
        );
    }
}
