//! Camera paths: where the virtual camera is at each instant of a replay.
//!
//! An orbit template (JSON) flies around a pivot:
//!
//! ```json
//! { "type": "orbit", "pivot": [0, 0, 0.9], "radius_m": 6.5, "height_m": 2.2,
//!   "start_angle_deg": 0, "sweep_deg": 360, "duration_s": 6,
//!   "easing": "ease_in_out", "fov_deg": 50 }
//! ```
//!
//! Angles are measured in the ground plane from world +x towards +y (a
//! positive sweep turns counter-clockwise seen from above). The camera looks
//! at the pivot. Invalid templates are rejected with the field named.

use std::path::{Path, PathBuf};

use nalgebra::Point3;
use serde::{Deserialize, Serialize};

use crate::calibration::Camera;

/// Errors of camera paths.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A field is malformed or out of range.
    #[error("{path}: field `{field}`: {reason}")]
    Invalid {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
}

/// Speed profile along the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Easing {
    /// Constant speed.
    Linear,
    /// Accelerate from rest.
    EaseIn,
    /// Decelerate to rest.
    EaseOut,
    /// Both (cosine profile).
    EaseInOut,
}

impl Easing {
    /// Maps normalised time `t` in [0, 1] to normalised progress.
    #[must_use]
    pub fn apply(self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match self {
            Self::Linear => t,
            Self::EaseIn => t * t,
            Self::EaseOut => 1.0 - (1.0 - t) * (1.0 - t),
            Self::EaseInOut => 0.5 - 0.5 * (std::f64::consts::PI * t).cos(),
        }
    }
}

/// A circular flight around a pivot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrbitPath {
    /// Point looked at, world metres.
    pub pivot: [f64; 3],
    /// Horizontal distance from the pivot, metres.
    pub radius_m: f64,
    /// Camera height above the ground, metres.
    pub height_m: f64,
    /// Angle at the start, degrees from +x towards +y.
    pub start_angle_deg: f64,
    /// Angle flown (negative: clockwise), degrees.
    pub sweep_deg: f64,
    /// Length of the move, seconds.
    pub duration_s: f64,
    /// Speed profile.
    pub easing: Easing,
    /// Horizontal field of view, degrees.
    pub fov_deg: f64,
}

impl Default for OrbitPath {
    fn default() -> Self {
        Self {
            pivot: [0.0, 0.0, 0.9],
            radius_m: 6.5,
            height_m: 2.2,
            start_angle_deg: 0.0,
            sweep_deg: 360.0,
            duration_s: 6.0,
            easing: Easing::EaseInOut,
            fov_deg: 50.0,
        }
    }
}

/// A camera path (tagged by `type` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CameraPath {
    /// Orbit around a pivot.
    Orbit(OrbitPath),
}

impl CameraPath {
    /// Length in seconds.
    #[must_use]
    pub fn duration_s(&self) -> f64 {
        match self {
            Self::Orbit(o) => o.duration_s,
        }
    }

    /// Checks ranges; `path` names the source in errors.
    ///
    /// # Errors
    /// [`PathError::Invalid`] naming the field.
    pub fn validate(&self, path: &Path) -> Result<(), PathError> {
        let bad = |field: &str, reason: String| PathError::Invalid {
            path: path.to_owned(),
            field: field.to_owned(),
            reason,
        };
        match self {
            Self::Orbit(o) => {
                if !(o.duration_s.is_finite() && o.duration_s > 0.0) {
                    return Err(bad(
                        "duration_s",
                        format!("must be positive, got {}", o.duration_s),
                    ));
                }
                if !(o.radius_m.is_finite() && o.radius_m > 0.0) {
                    return Err(bad(
                        "radius_m",
                        format!("must be positive, got {}", o.radius_m),
                    ));
                }
                if !(o.fov_deg > 1.0 && o.fov_deg < 170.0) {
                    return Err(bad(
                        "fov_deg",
                        format!("must be between 1 and 170, got {}", o.fov_deg),
                    ));
                }
                for (field, v) in [
                    ("height_m", o.height_m),
                    ("start_angle_deg", o.start_angle_deg),
                    ("sweep_deg", o.sweep_deg),
                ] {
                    if !v.is_finite() {
                        return Err(bad(field, "must be finite".into()));
                    }
                }
                if o.pivot.iter().any(|v| !v.is_finite()) {
                    return Err(bad("pivot", "must be finite".into()));
                }
                let eye = Point3::new(o.pivot[0] + o.radius_m, o.pivot[1], o.height_m);
                if (eye - Point3::from(o.pivot)).xy().norm() < 1e-6 {
                    return Err(bad("radius_m", "camera would sit on the pivot".into()));
                }
                Ok(())
            }
        }
    }

    /// Parses and validates a path from JSON text.
    ///
    /// # Errors
    /// [`PathError::Invalid`] naming the field.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PathError> {
        let invalid = |field: String, reason: String| PathError::Invalid {
            path: path.to_owned(),
            field,
            reason,
        };
        let mut document: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            invalid(
                format!("line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        // Dispatch on `type` by hand: inside a serde-tagged enum the field
        // path of an error would be lost.
        let Some(object) = document.as_object_mut() else {
            return Err(invalid(".".into(), "a camera path is a JSON object".into()));
        };
        let kind = object
            .remove("type")
            .and_then(|t| t.as_str().map(str::to_owned));
        let parsed = match kind.as_deref() {
            Some("orbit") => Self::Orbit(
                serde_path_to_error::deserialize(document)
                    .map_err(|e| invalid(e.path().to_string(), e.inner().to_string()))?,
            ),
            Some(other) => {
                return Err(invalid(
                    "type".into(),
                    format!("unknown path type {other:?} (expected \"orbit\")"),
                ));
            }
            None => {
                return Err(invalid(
                    "type".into(),
                    "missing (expected \"orbit\")".into(),
                ));
            }
        };
        parsed.validate(path)?;
        Ok(parsed)
    }

    /// Loads a path file.
    ///
    /// # Errors
    /// I/O or validation errors.
    pub fn load(path: &Path) -> Result<Self, PathError> {
        let text = std::fs::read_to_string(path).map_err(|source| PathError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The virtual camera at `time_s` (clamped to the path), `width` x `height` pixels.
    #[must_use]
    pub fn camera_at(&self, time_s: f64, width: u32, height: u32) -> Option<Camera> {
        match self {
            Self::Orbit(o) => {
                let progress = o.easing.apply(time_s / o.duration_s);
                let angle = (o.start_angle_deg + o.sweep_deg * progress).to_radians();
                let pivot = Point3::from(o.pivot);
                let eye = Point3::new(
                    pivot.x + o.radius_m * angle.cos(),
                    pivot.y + o.radius_m * angle.sin(),
                    o.height_m,
                );
                let focal_px = f64::from(width) / 2.0 / (o.fov_deg.to_radians() / 2.0).tan();
                Camera::look_at("virtual", width, height, focal_px, &eye, &pivot)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_template_is_the_default_orbit() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/paths/orbit_360.json");
        assert_eq!(
            CameraPath::load(&path).unwrap(),
            CameraPath::Orbit(OrbitPath::default())
        );
    }

    #[test]
    fn orbit_starts_ends_and_validates() {
        let path = CameraPath::Orbit(OrbitPath::default());
        let start = path.camera_at(0.0, 1280, 720).unwrap();
        let end = path.camera_at(6.0, 1280, 720).unwrap();
        assert!(
            (start.centre_in_world() - end.centre_in_world()).norm() < 1e-9,
            "a 360 orbit closes"
        );
        let mid = path.camera_at(3.0, 1280, 720).unwrap();
        assert!((mid.centre_in_world() - Point3::new(-6.5, 0.0, 2.2)).norm() < 1e-9);
        let json = serde_json::to_string(&path).unwrap();
        assert_eq!(CameraPath::parse(&json, Path::new("p.json")).unwrap(), path);
        let bad = json.replace("\"duration_s\":6.0", "\"duration_s\":-1.0");
        assert!(
            CameraPath::parse(&bad, Path::new("p.json"))
                .unwrap_err()
                .to_string()
                .contains("duration_s")
        );
        let bad = json.replace("orbit", "spiral");
        assert!(
            CameraPath::parse(&bad, Path::new("p.json"))
                .unwrap_err()
                .to_string()
                .contains("type")
        );
        let bad = json.replace("ease_in_out", "bouncy");
        assert!(
            CameraPath::parse(&bad, Path::new("p.json"))
                .unwrap_err()
                .to_string()
                .contains("easing")
        );
    }
}
