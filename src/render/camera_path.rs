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
//! at the pivot.
//!
//! An arc flies between two real cameras of the rig, around a pivot (by
//! default the point the rig looks at), starting and ending on their exact
//! poses and intrinsics:
//!
//! ```json
//! { "type": "arc", "from": "cam0", "to": "cam4", "duration_s": 4,
//!   "easing": "ease_in_out", "direction": "shortest" }
//! ```
//!
//! Keyframes place the camera freely (eye, look_at, fov) or on a real
//! camera, eased between keys:
//!
//! ```json
//! { "type": "keyframes", "easing": "ease_in_out", "keys": [
//!   { "time_s": 0, "camera": "cam2" },
//!   { "time_s": 2, "eye": [0, -5, 3], "look_at": [0, 0, 1], "fov_deg": 40 },
//!   { "time_s": 4, "camera": "cam5" } ] }
//! ```
//!
//! Camera ids are resolved against the rig by [`CameraPath::bind`].
//! Invalid templates are rejected with the field named.

use std::path::{Path, PathBuf};

use nalgebra::Point3;
use serde::{Deserialize, Serialize};

use super::replay::interpolate_cameras;
use super::track::PivotTrack;
use crate::calibration::{Camera, Rig};

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

/// Reads a template or playlist file.
pub(crate) fn read_text(path: &Path) -> Result<String, PathError> {
    std::fs::read_to_string(path).map_err(|source| PathError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Parses JSON; a syntax error names its line and column as the field.
pub(crate) fn parse_json(text: &str, path: &Path) -> Result<serde_json::Value, PathError> {
    serde_json::from_str(text).map_err(|e| PathError::Invalid {
        path: path.to_owned(),
        field: format!("line {} column {}", e.line(), e.column()),
        reason: e.to_string(),
    })
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
    /// Pivot tracking: at the replay's instant the pivot moves on the ground
    /// to the play (see [`super::track`]), keeping its height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<PivotTrack>,
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
            track: None,
        }
    }
}

/// Which way an arc turns around its pivot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArcDirection {
    /// The shorter way round.
    #[default]
    Shortest,
    /// Counter-clockwise seen from above.
    CounterClockwise,
    /// Clockwise seen from above.
    Clockwise,
}

fn ease_in_out() -> Easing {
    Easing::EaseInOut
}

/// A flight between two real cameras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArcPath {
    /// Camera id the arc starts on.
    pub from: String,
    /// Camera id it ends on.
    pub to: String,
    /// Length of the move, seconds.
    pub duration_s: f64,
    /// Speed profile.
    #[serde(default = "ease_in_out")]
    pub easing: Easing,
    /// Centre of the turn, world metres (default: where the rig looks).
    #[serde(default)]
    pub pivot: Option<[f64; 3]>,
    /// Which way round.
    #[serde(default)]
    pub direction: ArcDirection,
    /// Pivot tracking, as for an orbit: the turn's centre follows the play.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<PivotTrack>,
    /// The two cameras and the pivot, once bound to a rig.
    #[serde(skip)]
    pub resolved: Option<Box<(Camera, Camera, Point3<f64>)>>,
}

fn default_fov_deg() -> f64 {
    50.0
}

/// One key of a keyframed move: a real camera, or eye + look_at + fov.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keyframe {
    /// When, seconds from the start of the move.
    pub time_s: f64,
    /// A real camera's exact pose (instead of eye/look_at/fov).
    #[serde(default)]
    pub camera: Option<String>,
    /// Camera position, world metres.
    #[serde(default)]
    pub eye: Option<[f64; 3]>,
    /// Point looked at, world metres.
    #[serde(default)]
    pub look_at: Option<[f64; 3]>,
    /// Horizontal field of view, degrees.
    #[serde(default = "default_fov_deg")]
    pub fov_deg: f64,
    /// The real camera, once bound to a rig.
    #[serde(skip)]
    pub resolved: Option<Box<Camera>>,
}

/// A free move through keyframes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyframePath {
    /// At least two keys, the first at 0 s, times increasing.
    pub keys: Vec<Keyframe>,
    /// Speed profile within each segment.
    #[serde(default = "ease_in_out")]
    pub easing: Easing,
}

/// A camera path (tagged by `type` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CameraPath {
    /// Orbit around a pivot.
    Orbit(OrbitPath),
    /// Between two real cameras.
    Arc(ArcPath),
    /// Free keyframes.
    Keyframes(KeyframePath),
}

fn keyframe_camera(key: &Keyframe, width: u32, height: u32) -> Option<Camera> {
    if let Some(real) = &key.resolved {
        return Some(real.pinhole().scaled(width, height));
    }
    let (eye, look_at) = (Point3::from(key.eye?), Point3::from(key.look_at?));
    let focal_px = f64::from(width) / 2.0 / (key.fov_deg.to_radians() / 2.0).tan();
    Camera::look_at("virtual", width, height, focal_px, &eye, &look_at)
}

fn check_track(
    track: Option<PivotTrack>,
    bad: &dyn Fn(&str, String) -> PathError,
) -> Result<(), PathError> {
    match track {
        Some(PivotTrack::Near(p)) if p.iter().any(|v| !v.is_finite()) => {
            Err(bad("track.near", "must be finite".into()))
        }
        _ => Ok(()),
    }
}

impl CameraPath {
    /// Length in seconds.
    #[must_use]
    pub fn duration_s(&self) -> f64 {
        match self {
            Self::Orbit(o) => o.duration_s,
            Self::Arc(a) => a.duration_s,
            Self::Keyframes(k) => k.keys.last().map_or(0.0, |key| key.time_s),
        }
    }

    /// The same move `factor` times as long.
    #[must_use]
    pub fn scaled_duration(&self, factor: f64) -> Self {
        let mut path = self.clone();
        match &mut path {
            Self::Orbit(o) => o.duration_s *= factor,
            Self::Arc(a) => a.duration_s *= factor,
            Self::Keyframes(k) => k.keys.iter_mut().for_each(|key| key.time_s *= factor),
        }
        path
    }

    /// What the pivot tracks, if anything (orbits and arcs).
    #[must_use]
    pub fn track(&self) -> Option<PivotTrack> {
        match self {
            Self::Orbit(o) => o.track,
            Self::Arc(a) => a.track,
            Self::Keyframes(_) => None,
        }
    }

    /// The pivot the move turns around (an arc's once bound).
    #[must_use]
    pub fn pivot(&self) -> Option<Point3<f64>> {
        match self {
            Self::Orbit(o) => Some(Point3::from(o.pivot)),
            Self::Arc(a) => a
                .resolved
                .as_ref()
                .map(|r| r.2)
                .or_else(|| a.pivot.map(Point3::from)),
            Self::Keyframes(_) => None,
        }
    }

    /// The same move around `pivot` (orbits and arcs; keyframes unchanged).
    #[must_use]
    pub fn with_pivot(&self, pivot: &Point3<f64>) -> Self {
        let mut path = self.clone();
        match &mut path {
            Self::Orbit(o) => o.pivot = [pivot.x, pivot.y, pivot.z],
            Self::Arc(a) => {
                a.pivot = Some([pivot.x, pivot.y, pivot.z]);
                if let Some(resolved) = &mut a.resolved {
                    resolved.2 = *pivot;
                }
            }
            Self::Keyframes(_) => {}
        }
        path
    }

    /// Resolves camera ids against `rig` (and an arc's default pivot).
    ///
    /// # Errors
    /// A camera id not in the rig, named with its field.
    pub fn bind(&self, rig: &Rig, source: &Path) -> Result<Self, PathError> {
        let find = |field: String, id: &str| {
            rig.cameras
                .iter()
                .find(|c| c.id == id)
                .cloned()
                .ok_or_else(|| PathError::Invalid {
                    path: source.to_owned(),
                    field,
                    reason: format!(
                        "camera {id:?} is not in the rig (cameras: {})",
                        rig.camera_ids()
                    ),
                })
        };
        let mut path = self.clone();
        match &mut path {
            Self::Orbit(_) => {}
            Self::Arc(a) => {
                let from = find("from".into(), &a.from)?;
                let to = find("to".into(), &a.to)?;
                let pivot = match a.pivot {
                    Some(p) => Point3::from(p),
                    None => super::rig_focus(&rig.cameras).ok_or_else(|| PathError::Invalid {
                        path: source.to_owned(),
                        field: "pivot".into(),
                        reason: "the rig's cameras look nowhere in common: give a pivot".into(),
                    })?,
                };
                a.resolved = Some(Box::new((from, to, pivot)));
            }
            Self::Keyframes(k) => {
                for (i, key) in k.keys.iter_mut().enumerate() {
                    if let Some(id) = &key.camera {
                        key.resolved = Some(Box::new(find(format!("keys[{i}].camera"), id)?));
                    }
                }
            }
        }
        Ok(path)
    }

    /// Rig indices of the real cameras the move itself starts and ends on
    /// (an arc; keyframes whose first and last keys are cameras).
    #[must_use]
    pub fn end_cameras(&self, rig: &Rig) -> Option<(usize, usize)> {
        let index = |id: &str| rig.cameras.iter().position(|c| c.id == id);
        match self {
            Self::Orbit(_) => None,
            Self::Arc(a) => Some((index(&a.from)?, index(&a.to)?)),
            Self::Keyframes(k) => Some((
                index(k.keys.first()?.camera.as_deref()?)?,
                index(k.keys.last()?.camera.as_deref()?)?,
            )),
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
                check_track(o.track, &bad)?;
                let eye = Point3::new(o.pivot[0] + o.radius_m, o.pivot[1], o.height_m);
                if (eye - Point3::from(o.pivot)).xy().norm() < 1e-6 {
                    return Err(bad("radius_m", "camera would sit on the pivot".into()));
                }
                Ok(())
            }
            Self::Arc(a) => {
                if !(a.duration_s.is_finite() && a.duration_s > 0.0) {
                    return Err(bad(
                        "duration_s",
                        format!("must be positive, got {}", a.duration_s),
                    ));
                }
                if a.from == a.to {
                    return Err(bad(
                        "to",
                        format!("is the same camera as from ({:?})", a.from),
                    ));
                }
                if a.pivot.is_some_and(|p| p.iter().any(|v| !v.is_finite())) {
                    return Err(bad("pivot", "must be finite".into()));
                }
                check_track(a.track, &bad)
            }
            Self::Keyframes(k) => {
                if k.keys.len() < 2 {
                    return Err(bad(
                        "keys",
                        format!("needs at least 2, got {}", k.keys.len()),
                    ));
                }
                for (i, key) in k.keys.iter().enumerate() {
                    let field = |name: &str| format!("keys[{i}].{name}");
                    let expected_first = i == 0 && key.time_s != 0.0;
                    let not_after = i > 0
                        && key.time_s.partial_cmp(&k.keys[i - 1].time_s)
                            != Some(std::cmp::Ordering::Greater);
                    if !key.time_s.is_finite() || expected_first || not_after {
                        return Err(bad(
                            &field("time_s"),
                            format!(
                                "must start at 0 and increase, got {} (previous {})",
                                key.time_s,
                                if i > 0 {
                                    k.keys[i - 1].time_s
                                } else {
                                    f64::NAN
                                }
                            ),
                        ));
                    }
                    match (&key.camera, key.eye, key.look_at) {
                        (Some(_), None, None) => {}
                        (None, Some(eye), Some(look_at)) => {
                            if eye.iter().chain(&look_at).any(|v| !v.is_finite()) {
                                return Err(bad(&field("eye"), "must be finite".into()));
                            }
                            if !(key.fov_deg > 1.0 && key.fov_deg < 170.0) {
                                return Err(bad(
                                    &field("fov_deg"),
                                    format!("must be between 1 and 170, got {}", key.fov_deg),
                                ));
                            }
                            let probe = Keyframe {
                                resolved: None,
                                ..key.clone()
                            };
                            if keyframe_camera(&probe, 64, 36).is_none() {
                                return Err(bad(
                                    &field("look_at"),
                                    "no camera: eye on the target, or looking straight down/up"
                                        .into(),
                                ));
                            }
                        }
                        _ => {
                            return Err(bad(
                                &field("camera"),
                                "give either a camera id, or eye and look_at".into(),
                            ));
                        }
                    }
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
        let mut document = parse_json(text, path)?;
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
            Some("arc") => Self::Arc(
                serde_path_to_error::deserialize(document)
                    .map_err(|e| invalid(e.path().to_string(), e.inner().to_string()))?,
            ),
            Some("keyframes") => Self::Keyframes(
                serde_path_to_error::deserialize(document)
                    .map_err(|e| invalid(e.path().to_string(), e.inner().to_string()))?,
            ),
            Some(other) => {
                return Err(invalid(
                    "type".into(),
                    format!("unknown path type {other:?} (expected orbit, arc or keyframes)"),
                ));
            }
            None => {
                return Err(invalid(
                    "type".into(),
                    "missing (expected orbit, arc or keyframes)".into(),
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
        Self::parse(&read_text(path)?, path)
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
            Self::Arc(a) => {
                let (from, to, pivot) = a.resolved.as_deref()?;
                let progress = a.easing.apply(time_s / a.duration_s);
                let (from, to) = (
                    from.pinhole().scaled(width, height),
                    to.pinhole().scaled(width, height),
                );
                let polar = |c: &Camera| {
                    let d = c.centre_in_world() - pivot;
                    (d.y.atan2(d.x), d.x.hypot(d.y), c.centre_in_world().z)
                };
                let ((a0, r0, z0), (a1, r1, z1)) = (polar(&from), polar(&to));
                let tau = std::f64::consts::TAU;
                let ccw = (a1 - a0).rem_euclid(tau);
                let turn = match a.direction {
                    ArcDirection::CounterClockwise => ccw,
                    ArcDirection::Clockwise => ccw - tau,
                    ArcDirection::Shortest if ccw > std::f64::consts::PI => ccw - tau,
                    ArcDirection::Shortest => ccw,
                };
                let angle = a0 + turn * progress;
                let radius = r0 + (r1 - r0) * progress;
                let centre = Point3::new(
                    pivot.x + radius * angle.cos(),
                    pivot.y + radius * angle.sin(),
                    z0 + (z1 - z0) * progress,
                );
                let mut camera = interpolate_cameras(&from, &to, progress);
                camera.cam_from_world = nalgebra::Isometry3::from_parts(
                    nalgebra::Translation3::from(-(camera.cam_from_world.rotation * centre.coords)),
                    camera.cam_from_world.rotation,
                );
                Some(camera)
            }
            Self::Keyframes(k) => {
                let t = time_s.clamp(0.0, self.duration_s());
                let segment = k
                    .keys
                    .windows(2)
                    .position(|w| t <= w[1].time_s)
                    .unwrap_or(k.keys.len().saturating_sub(2));
                let (a, b) = (k.keys.get(segment)?, k.keys.get(segment + 1)?);
                let local = k.easing.apply((t - a.time_s) / (b.time_s - a.time_s));
                Some(interpolate_cameras(
                    &keyframe_camera(a, width, height)?,
                    &keyframe_camera(b, width, height)?,
                    local,
                ))
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
