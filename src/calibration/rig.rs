//! Rig files: JSON load/save with validation (design.md section 3).
//!
//! A rig file names the rig and lists its cameras. Loading is "parse, don't
//! validate": the JSON is parsed with `deny_unknown_fields`, then checked
//! (orthonormal rotation, positive finite focal lengths, unique ids), and any
//! problem is reported with the file, the camera and the field.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use nalgebra::{Isometry3, Matrix3, Rotation3, Translation3, UnitQuaternion};
use serde::{Deserialize, Serialize};

use super::camera::{Camera, Distortion};

/// Tolerance on `R * R^T - I` (max abs entry) for a rotation to count as orthonormal.
const ROTATION_ORTHONORMAL_TOL: f64 = 1e-6;

/// Errors loading, validating or saving rigs.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid JSON or does not have the rig shape.
    #[error("{path}: {field}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where in the document (e.g. `cameras[2] (id "cam2").fx`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A camera's values are out of range.
    #[error("{path}: camera {camera:?}: field `{field}`: {reason}")]
    InvalidCamera {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// The camera id.
        camera: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The rig as a whole is unusable.
    #[error("{path}: {reason}")]
    InvalidRig {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A set of calibrated cameras sharing one world frame and clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Rig {
    /// Human-readable rig name.
    pub name: String,
    /// The cameras, in file order.
    pub cameras: Vec<Camera>,
}

impl Rig {
    /// Looks a camera up by id.
    #[must_use]
    pub fn camera(&self, id: &str) -> Option<&Camera> {
        self.cameras.iter().find(|c| c.id == id)
    }

    /// The camera ids, comma-separated (for errors that list them).
    #[must_use]
    pub fn camera_ids(&self) -> String {
        self.cameras
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks every camera; `path` is only used to name the source in errors.
    ///
    /// # Errors
    /// The first invalid field found, naming camera and field.
    pub fn validate(&self, path: &Path) -> Result<(), CalibrationError> {
        if self.cameras.is_empty() {
            return Err(CalibrationError::InvalidRig {
                path: path.to_owned(),
                reason: "the rig has no cameras".into(),
            });
        }
        let mut ids = HashSet::new();
        for camera in &self.cameras {
            let bad = |field: &'static str, reason: String| CalibrationError::InvalidCamera {
                path: path.to_owned(),
                camera: camera.id.clone(),
                field,
                reason,
            };
            if camera.id.trim().is_empty() {
                return Err(bad("id", "empty camera id".into()));
            }
            if !ids.insert(camera.id.as_str()) {
                return Err(bad("id", "duplicate camera id".into()));
            }
            if camera.width == 0 || camera.height == 0 {
                return Err(bad(
                    "width",
                    format!("image size {}x{} is empty", camera.width, camera.height),
                ));
            }
            for (field, value) in [("fx", camera.fx), ("fy", camera.fy)] {
                if !(value.is_finite() && value > 0.0) {
                    return Err(bad(
                        field,
                        format!("focal length must be positive and finite, got {value}"),
                    ));
                }
            }
            for (field, value) in [("cx", camera.cx), ("cy", camera.cy)] {
                if !value.is_finite() {
                    return Err(bad(field, format!("must be finite, got {value}")));
                }
            }
            if camera.distortion.to_array().iter().any(|c| !c.is_finite()) {
                return Err(bad("distortion", "coefficients must be finite".into()));
            }
            let t = camera.cam_from_world.translation.vector;
            if t.iter().any(|v| !v.is_finite()) {
                return Err(bad(
                    "cam_from_world.translation",
                    format!("must be finite, got {t:?}"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RigFile {
    name: String,
    cameras: Vec<CameraFile>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoseFile {
    /// Row-major 3x3 rotation.
    rotation: [[f64; 3]; 3],
    translation: [f64; 3],
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraFile {
    id: String,
    width: u32,
    height: u32,
    fx: f64,
    fy: f64,
    cx: f64,
    cy: f64,
    #[serde(default)]
    distortion: [f64; 5],
    cam_from_world: PoseFile,
    #[serde(default)]
    time_offset_ns: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
}

/// Converts a row-major matrix to a rotation, checking orthonormality.
fn rotation_from_rows(rows: &[[f64; 3]; 3]) -> Result<UnitQuaternion<f64>, String> {
    let m = Matrix3::from_fn(|r, c| rows[r][c]);
    if m.iter().any(|v| !v.is_finite()) {
        return Err("rotation has non-finite entries".into());
    }
    let error = (m * m.transpose() - Matrix3::identity()).abs().max();
    if error > ROTATION_ORTHONORMAL_TOL {
        return Err(format!(
            "rotation is not orthonormal (|R R^T - I| = {error:.2e})"
        ));
    }
    if m.determinant() < 0.0 {
        return Err("rotation has determinant -1 (a reflection)".into());
    }
    Ok(UnitQuaternion::from_rotation_matrix(
        &Rotation3::from_matrix_unchecked(m),
    ))
}

fn camera_from_file(file: CameraFile, path: &Path) -> Result<Camera, CalibrationError> {
    let rotation = rotation_from_rows(&file.cam_from_world.rotation).map_err(|reason| {
        CalibrationError::InvalidCamera {
            path: path.to_owned(),
            camera: file.id.clone(),
            field: "cam_from_world.rotation",
            reason,
        }
    })?;
    let [x, y, z] = file.cam_from_world.translation;
    Ok(Camera {
        id: file.id,
        width: file.width,
        height: file.height,
        fx: file.fx,
        fy: file.fy,
        cx: file.cx,
        cy: file.cy,
        distortion: Distortion::from_array(file.distortion),
        cam_from_world: Isometry3::from_parts(Translation3::new(x, y, z), rotation),
        time_offset_ns: file.time_offset_ns,
        source: file.source,
    })
}

fn camera_to_file(camera: &Camera) -> CameraFile {
    let r = camera.cam_from_world.rotation.to_rotation_matrix();
    let m = r.matrix();
    let t = camera.cam_from_world.translation.vector;
    CameraFile {
        id: camera.id.clone(),
        width: camera.width,
        height: camera.height,
        fx: camera.fx,
        fy: camera.fy,
        cx: camera.cx,
        cy: camera.cy,
        distortion: camera.distortion.to_array(),
        cam_from_world: PoseFile {
            rotation: [
                [m[(0, 0)], m[(0, 1)], m[(0, 2)]],
                [m[(1, 0)], m[(1, 1)], m[(1, 2)]],
                [m[(2, 0)], m[(2, 1)], m[(2, 2)]],
            ],
            translation: [t.x, t.y, t.z],
        },
        time_offset_ns: camera.time_offset_ns,
        source: camera.source.clone(),
    }
}

/// Names a serde path like `cameras[2].fx` with the camera's id when known.
fn describe_field(path: &str, document: &serde_json::Value) -> String {
    let Some(rest) = path.strip_prefix("cameras[") else {
        return path.to_owned();
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return path.to_owned();
    };
    let id = index.parse::<usize>().ok().and_then(|i| {
        document
            .get("cameras")?
            .get(i)?
            .get("id")?
            .as_str()
            .map(str::to_owned)
    });
    match id {
        Some(id) => format!("cameras[{index}] (id {id:?}){tail}"),
        None => path.to_owned(),
    }
}

/// Parses and validates a rig from JSON text; `path` names the source in errors.
///
/// # Errors
/// [`CalibrationError::Parse`] or a validation error naming camera and field.
pub fn parse_rig(text: &str, path: &Path) -> Result<Rig, CalibrationError> {
    let document: serde_json::Value =
        serde_json::from_str(text).map_err(|e| CalibrationError::Parse {
            path: path.to_owned(),
            field: format!("line {} column {}", e.line(), e.column()),
            reason: e.to_string(),
        })?;
    let file: RigFile =
        serde_path_to_error::deserialize(&document).map_err(|e| CalibrationError::Parse {
            path: path.to_owned(),
            field: describe_field(&e.path().to_string(), &document),
            reason: e.inner().to_string(),
        })?;
    let cameras = file
        .cameras
        .into_iter()
        .map(|c| camera_from_file(c, path))
        .collect::<Result<Vec<_>, _>>()?;
    let rig = Rig {
        name: file.name,
        cameras,
    };
    rig.validate(path)?;
    Ok(rig)
}

/// Loads a rig: a JSON rig file, or a COLMAP text model folder.
///
/// # Errors
/// I/O, parse or validation errors naming the file, camera and field.
pub fn load_rig(path: &Path) -> Result<Rig, CalibrationError> {
    if path.is_dir() {
        return super::colmap::import_colmap(path);
    }
    let text = std::fs::read_to_string(path).map_err(|source| CalibrationError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_rig(&text, path)
}

/// Serialises a rig to pretty JSON.
#[must_use]
pub fn rig_to_json(rig: &Rig) -> String {
    let file = RigFile {
        name: rig.name.clone(),
        cameras: rig.cameras.iter().map(camera_to_file).collect(),
    };
    // Serialising plain structs of numbers and strings cannot fail.
    serde_json::to_string_pretty(&file).unwrap_or_default()
}

/// Writes a rig as JSON, atomically (temporary file, then rename).
///
/// # Errors
/// Validation or I/O errors.
pub fn save_rig(rig: &Rig, path: &Path) -> Result<(), CalibrationError> {
    rig.validate(path)?;
    crate::fsutil::write_atomic(path, rig_to_json(rig).as_bytes()).map_err(|source| {
        CalibrationError::Io {
            path: path.to_owned(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    fn test_rig() -> Rig {
        let mut cameras = Vec::new();
        for i in 0..3 {
            let angle = f64::from(i) * 2.0;
            let eye = Point3::new(6.0 * angle.cos(), 6.0 * angle.sin(), 3.0);
            let mut c = Camera::look_at(
                &format!("cam{i}"),
                640,
                360,
                510.5,
                &eye,
                &Point3::new(0.0, 0.0, 1.0),
            )
            .unwrap();
            c.distortion = Distortion::from_array([-0.1, 0.01, 0.0005, -0.0002, 0.001]);
            c.time_offset_ns = i64::from(i) * 1000;
            cameras.push(c);
        }
        Rig {
            name: "test".into(),
            cameras,
        }
    }

    #[test]
    fn json_round_trip() {
        let rig = test_rig();
        let text = rig_to_json(&rig);
        let back = parse_rig(&text, Path::new("mem.json")).unwrap();
        assert_eq!(back.cameras.len(), 3);
        for (a, b) in rig.cameras.iter().zip(&back.cameras) {
            assert_eq!(a.id, b.id);
            assert!(
                (a.cam_from_world.to_homogeneous() - b.cam_from_world.to_homogeneous())
                    .abs()
                    .max()
                    < 1e-12
            );
            assert_eq!(a.distortion, b.distortion);
            assert_eq!(a.time_offset_ns, b.time_offset_ns);
        }
    }

    #[test]
    fn malformed_field_is_named() {
        let text = rig_to_json(&test_rig()).replacen("\"fx\": 510.5", "\"fx\": \"wide\"", 1);
        let err = parse_rig(&text, Path::new("bad.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.json") && err.contains("cam0") && err.contains("fx"),
            "{err}"
        );
    }

    #[test]
    fn negative_focal_and_bad_rotation_are_rejected() {
        let text = rig_to_json(&test_rig()).replacen("\"fy\": 510.5", "\"fy\": -3.0", 1);
        let err = parse_rig(&text, Path::new("r.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cam0") && err.contains("fy"), "{err}");

        let mut rig = test_rig();
        let json = rig_to_json(&rig);
        let mut doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        doc["cameras"][1]["cam_from_world"]["rotation"][0][0] = serde_json::json!(2.0);
        let err = parse_rig(&doc.to_string(), Path::new("r.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cam1") && err.contains("rotation"), "{err}");

        rig.cameras[2].id = "cam0".into();
        let err = parse_rig(&rig_to_json(&rig), Path::new("r.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("duplicate"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let text = rig_to_json(&test_rig()).replacen("\"fx\"", "\"focal\": 1.0, \"fx\"", 1);
        let err = parse_rig(&text, Path::new("r.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("focal") && err.contains("cam0"), "{err}");
    }
}
