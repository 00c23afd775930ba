//! Replays: a camera move around a frozen instant, bound to a rig, with its
//! time behaviour, and playlists of replays.
//!
//! A replay plays in three parts:
//!
//! 1. **Slow motion in**: the real frames of the opening camera, from
//!    `time.before_s` before the instant up to it, at `time.slow_motion`
//!    (0.5 = half speed); every recorded frame is used and, where the speed
//!    needs more frames than were recorded, neighbours are blended.
//! 2. **The move**, frozen at the instant: `orbit`, `arc` (between two real
//!    cameras) or `keyframes`. Every move opens and closes on a real
//!    camera's exact pose (an arc by construction; the others ease from and
//!    into the real camera nearest their ends during `snap_s`), so the cut
//!    between real and virtual frames is clean.
//! 3. **Resume**: the closing camera's real frames from the instant on,
//!    for `time.after_s` of capture time, at `time.resume_speed`.
//!
//! Poses between real cameras interpolate position, rotation (slerp) and
//! intrinsics; a replay at output size `w` x `h` scales each real camera's
//! intrinsics to it.

use std::path::{Path, PathBuf};

use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};

use super::camera_path::{CameraPath, Easing, PathError, parse_json, read_text};
use crate::calibration::{Camera, Rig};

/// Time behaviour of a replay around its frozen instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeBehaviour {
    /// Capture seconds played before the instant (0 = open on the freeze).
    pub before_s: f64,
    /// Speed of that lead-in (0 < s <= 1; 0.5 = half speed).
    pub slow_motion: f64,
    /// Capture seconds played after the move (0 = end on the freeze).
    pub after_s: f64,
    /// Speed of the resume (> 0).
    pub resume_speed: f64,
    /// Seconds at each end of an orbit or keyframe move spent easing from
    /// and into the nearest real camera's pose.
    pub snap_s: f64,
}

impl Default for TimeBehaviour {
    fn default() -> Self {
        Self {
            before_s: 0.0,
            slow_motion: 0.5,
            after_s: 0.0,
            resume_speed: 1.0,
            snap_s: 0.5,
        }
    }
}

/// A replay template: a move and its time behaviour. JSON: a camera path
/// (see [`CameraPath`]) with an optional `time` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayTemplate {
    /// The camera move over the frozen instant.
    pub path: CameraPath,
    /// Slow motion in, resume out.
    pub time: TimeBehaviour,
}

impl ReplayTemplate {
    /// Parses a template (a path object, optionally with `time`).
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
        let time = match document.as_object_mut().and_then(|o| o.remove("time")) {
            Some(value) => serde_path_to_error::deserialize(value)
                .map_err(|e| invalid(format!("time.{}", e.path()), e.inner().to_string()))?,
            None => TimeBehaviour::default(),
        };
        let path_text = document.to_string();
        let template = Self {
            path: CameraPath::parse(&path_text, path)?,
            time,
        };
        template.validate(path)?;
        Ok(template)
    }

    /// Loads a template file.
    ///
    /// # Errors
    /// I/O or validation errors.
    pub fn load(path: &Path) -> Result<Self, PathError> {
        Self::parse(&read_text(path)?, path)
    }

    fn validate(&self, path: &Path) -> Result<(), PathError> {
        let bad = |field: &str, reason: String| PathError::Invalid {
            path: path.to_owned(),
            field: format!("time.{field}"),
            reason,
        };
        let t = &self.time;
        for (field, value) in [
            ("before_s", t.before_s),
            ("after_s", t.after_s),
            ("snap_s", t.snap_s),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(bad(field, format!("must be >= 0 seconds, got {value}")));
            }
        }
        if !(t.slow_motion > 0.0 && t.slow_motion <= 1.0) {
            return Err(bad(
                "slow_motion",
                format!("must be in (0, 1], got {}", t.slow_motion),
            ));
        }
        if !(t.resume_speed.is_finite() && t.resume_speed > 0.0) {
            return Err(bad(
                "resume_speed",
                format!("must be positive, got {}", t.resume_speed),
            ));
        }
        if 2.0 * t.snap_s > self.path.duration_s() {
            return Err(bad(
                "snap_s",
                format!(
                    "twice it ({} s) exceeds the move's duration_s ({} s)",
                    2.0 * t.snap_s,
                    self.path.duration_s()
                ),
            ));
        }
        Ok(())
    }
}

/// What one output frame of a replay shows.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayFrame {
    /// Real frames of rig camera `camera`: the two recorded frames around
    /// `capture_ns` are blended (the caller picks them from the buffer).
    Real {
        /// Rig index.
        camera: usize,
        /// Capture time, rig clock ns.
        capture_ns: i64,
    },
    /// The frozen instant seen from `camera` (output size, pinhole).
    Virtual {
        /// The virtual camera.
        camera: Camera,
    },
}

/// A template bound to a rig and a frozen instant: every output frame.
#[derive(Debug, Clone)]
pub struct BoundReplay {
    /// The template.
    pub template: ReplayTemplate,
    /// The frozen instant, ns.
    pub instant_ns: i64,
    /// Rig index of the camera the replay opens on.
    pub open_camera: usize,
    /// Rig index of the camera it closes on.
    pub close_camera: usize,
    rig: Rig,
    width: u32,
    height: u32,
}

/// Interpolates two cameras of the same output size: position lerp,
/// rotation slerp, intrinsics lerp.
#[must_use]
pub fn interpolate_cameras(a: &Camera, b: &Camera, t: f64) -> Camera {
    let (ca, cb) = (a.centre_in_world(), b.centre_in_world());
    let centre = ca + (cb - ca) * t;
    let ra = a.cam_from_world.rotation;
    let rb = b.cam_from_world.rotation;
    let rotation = ra
        .try_slerp(&rb, t, 1e-9)
        .unwrap_or(if t < 0.5 { ra } else { rb });
    let lerp = |x: f64, y: f64| x + (y - x) * t;
    Camera {
        id: "virtual".into(),
        fx: lerp(a.fx, b.fx),
        fy: lerp(a.fy, b.fy),
        cx: lerp(a.cx, b.cx),
        cy: lerp(a.cy, b.cy),
        cam_from_world: pose_from(rotation, &centre),
        ..a.clone()
    }
}

fn pose_from(rotation: UnitQuaternion<f64>, centre: &Point3<f64>) -> Isometry3<f64> {
    let translation: Vector3<f64> = -(rotation * centre.coords);
    Isometry3::from_parts(Translation3::from(translation), rotation)
}

/// The rig camera whose pose is nearest `camera`'s (centre distance plus
/// 2 m per radian of viewing-direction difference).
#[must_use]
pub fn nearest_camera(rig: &Rig, camera: &Camera) -> Option<usize> {
    let axis = |c: &Camera| c.cam_from_world.rotation.inverse() * Vector3::z();
    let cost = |c: &Camera| {
        (c.centre_in_world() - camera.centre_in_world()).norm() + 2.0 * axis(c).angle(&axis(camera))
    };
    (0..rig.cameras.len()).min_by(|&a, &b| cost(&rig.cameras[a]).total_cmp(&cost(&rig.cameras[b])))
}

impl BoundReplay {
    /// Binds `template` to `rig` (camera ids resolved, opening and closing
    /// cameras chosen) at `instant_ns`, for `width` x `height` output.
    ///
    /// # Errors
    /// A camera id not in the rig; a move without a defined pose.
    pub fn bind(
        template: &ReplayTemplate,
        rig: &Rig,
        instant_ns: i64,
        width: u32,
        height: u32,
        source: &Path,
    ) -> Result<Self, PathError> {
        let path = template.path.bind(rig, source)?;
        check_pivot(&path, rig, source)?;
        let duration = path.duration_s();
        let undefined = |at: &str| PathError::Invalid {
            path: source.to_owned(),
            field: "type".into(),
            reason: format!("the move has no camera at its {at} (straight above the pivot?)"),
        };
        let first = path
            .camera_at(0.0, width, height)
            .ok_or_else(|| undefined("start"))?;
        let last = path
            .camera_at(duration, width, height)
            .ok_or_else(|| undefined("end"))?;
        let (open_camera, close_camera) = match path.end_cameras(rig) {
            Some(ends) => ends,
            None => (
                nearest_camera(rig, &first).ok_or_else(|| undefined("start"))?,
                nearest_camera(rig, &last).ok_or_else(|| undefined("end"))?,
            ),
        };
        Ok(Self {
            template: ReplayTemplate {
                path,
                time: template.time,
            },
            instant_ns,
            open_camera,
            close_camera,
            rig: rig.clone(),
            width,
            height,
        })
    }

    /// The same replay turning around `pivot` (a tracked pivot, found at
    /// its instant); the opening and closing cameras are chosen again.
    ///
    /// # Errors
    /// As [`Self::bind`]: a pivot outside the rig's volume, a move without
    /// a defined pose.
    pub fn with_pivot(&self, pivot: &Point3<f64>, source: &Path) -> Result<Self, PathError> {
        let template = ReplayTemplate {
            path: self.template.path.with_pivot(pivot),
            time: self.template.time,
        };
        Self::bind(
            &template,
            &self.rig,
            self.instant_ns,
            self.width,
            self.height,
            source,
        )
    }

    /// Output seconds of the slow motion in, the move, the resume.
    #[must_use]
    pub fn parts_s(&self) -> [f64; 3] {
        let t = &self.template.time;
        [
            t.before_s / t.slow_motion,
            self.template.path.duration_s(),
            t.after_s / t.resume_speed,
        ]
    }

    /// Output frames at `fps` (the move always has its first and last frame).
    #[must_use]
    pub fn frame_count(&self, fps: u32) -> u64 {
        self.parts_s()
            .iter()
            .map(|s| (s * f64::from(fps)).round() as u64)
            .sum::<u64>()
            .max(1)
    }

    fn real_pose(&self, index: usize) -> Camera {
        self.rig.cameras[index]
            .pinhole()
            .scaled(self.width, self.height)
    }

    /// The move's camera at move time `t_s`: the path, eased from the
    /// opening camera's and into the closing camera's exact pose.
    #[must_use]
    pub fn move_camera(&self, t_s: f64) -> Option<Camera> {
        let path = &self.template.path;
        let camera = path.camera_at(t_s, self.width, self.height)?;
        if path.end_cameras(&self.rig).is_some() {
            return Some(camera);
        }
        let snap = self.template.time.snap_s;
        let duration = path.duration_s();
        if snap <= 0.0 {
            return Some(camera);
        }
        let ease = |x: f64| Easing::EaseInOut.apply(x.clamp(0.0, 1.0));
        let camera = if t_s < snap {
            interpolate_cameras(&self.real_pose(self.open_camera), &camera, ease(t_s / snap))
        } else if t_s > duration - snap {
            interpolate_cameras(
                &camera,
                &self.real_pose(self.close_camera),
                ease((t_s - (duration - snap)) / snap),
            )
        } else {
            camera
        };
        Some(camera)
    }

    /// Output frame `index` at `fps`.
    #[must_use]
    pub fn frame(&self, index: u64, fps: u32) -> Option<ReplayFrame> {
        let fps_f = f64::from(fps);
        let [lead_in, moving, _] = self.parts_s();
        let n_in = (lead_in * fps_f).round() as u64;
        let n_move = (moving * fps_f).round() as u64;
        let t = &self.template.time;
        let ns = |s: f64| (s * 1e9).round() as i64;
        if index < n_in {
            // Capture time runs from instant - before_s towards the instant.
            let capture_s = -t.before_s + index as f64 / fps_f * t.slow_motion;
            return Some(ReplayFrame::Real {
                camera: self.open_camera,
                capture_ns: self.instant_ns + ns(capture_s),
            });
        }
        if index < n_in + n_move {
            let k = index - n_in;
            let time_s = if n_move > 1 {
                moving * k as f64 / (n_move - 1) as f64
            } else {
                0.0
            };
            return self
                .move_camera(time_s)
                .map(|camera| ReplayFrame::Virtual { camera });
        }
        let k = index - n_in - n_move;
        let capture_s = (k + 1) as f64 / fps_f * t.resume_speed;
        Some(ReplayFrame::Real {
            camera: self.close_camera,
            capture_ns: self.instant_ns + ns(capture_s),
        })
    }
}

/// How far outside the rig's volume of interest a pivot may lie, metres.
const PIVOT_MARGIN_M: f64 = 1.0;

/// A move's pivot must lie in (or within a metre of) the volume the rig
/// reconstructs: a pivot elsewhere flies around nothing.
fn check_pivot(path: &CameraPath, rig: &Rig, source: &Path) -> Result<(), PathError> {
    let pivot = match path {
        CameraPath::Orbit(o) => Point3::from(o.pivot),
        CameraPath::Arc(a) => match &a.resolved {
            Some(resolved) => resolved.2,
            None => return Ok(()),
        },
        CameraPath::Keyframes(_) => return Ok(()),
    };
    // A rig without a common ground area has no volume to check against.
    let Ok((min, max)) = crate::reconstruct::default_roi(rig, 2.5) else {
        return Ok(());
    };
    let inside =
        (0..3).all(|k| pivot[k] >= min[k] - PIVOT_MARGIN_M && pivot[k] <= max[k] + PIVOT_MARGIN_M);
    if inside {
        return Ok(());
    }
    Err(PathError::Invalid {
        path: source.to_owned(),
        field: "pivot".into(),
        reason: format!(
            "[{:.2}, {:.2}, {:.2}] lies outside the volume the rig sees ([{:.1}, {:.1}, {:.1}] to [{:.1}, {:.1}, {:.1}] m)",
            pivot.x, pivot.y, pivot.z, min.x, min.y, min.z, max.x, max.y, max.z
        ),
    })
}

/// One element of a playlist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaylistEntry {
    /// The instant to freeze, seconds on the capture's clock.
    pub instant_s: f64,
    /// Template file (relative to the playlist) or inline template.
    pub template: serde_json::Value,
    /// Playback speed of the whole element (1 = as the template says).
    #[serde(default = "one")]
    pub speed: f64,
}

fn one() -> f64 {
    1.0
}

/// A playlist: replays cut one after the other into one reel.
#[derive(Debug, Clone, PartialEq)]
pub struct Playlist {
    /// (instant ns, template) in play order.
    pub replays: Vec<(i64, ReplayTemplate)>,
}

/// Scales a template's speed: every duration divided by `speed`.
fn with_speed(mut template: ReplayTemplate, speed: f64) -> ReplayTemplate {
    template.path = template.path.scaled_duration(1.0 / speed);
    template.time.snap_s /= speed;
    template.time.slow_motion = (template.time.slow_motion * speed).min(1.0);
    template.time.resume_speed *= speed;
    template
}

impl Playlist {
    /// Loads a reel description: a playlist `{"playlist": [...]}` or a
    /// single template (then `default_instant_s` is its instant).
    ///
    /// # Errors
    /// I/O or validation errors, naming the entry and field.
    pub fn load(path: &Path, default_instant_s: f64) -> Result<Self, PathError> {
        let text = read_text(path)?;
        let invalid = |field: String, reason: String| PathError::Invalid {
            path: path.to_owned(),
            field,
            reason,
        };
        let document = parse_json(&text, path)?;
        let Some(entries) = document.get("playlist") else {
            let template = ReplayTemplate::parse(&text, path)?;
            return Ok(Self {
                replays: vec![(secs_to_ns(default_instant_s), template)],
            });
        };
        let entries: Vec<PlaylistEntry> = serde_path_to_error::deserialize(entries.clone())
            .map_err(|e| invalid(format!("playlist{}", e.path()), e.inner().to_string()))?;
        if entries.is_empty() {
            return Err(invalid("playlist".into(), "is empty".into()));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut replays = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let field = |name: &str| format!("playlist[{i}].{name}");
            if !(entry.instant_s.is_finite() && entry.instant_s >= 0.0) {
                return Err(invalid(
                    field("instant_s"),
                    format!("must be >= 0, got {}", entry.instant_s),
                ));
            }
            if !(entry.speed.is_finite() && entry.speed > 0.0) {
                return Err(invalid(
                    field("speed"),
                    format!("must be positive, got {}", entry.speed),
                ));
            }
            let template = match &entry.template {
                serde_json::Value::String(file) => {
                    let file: PathBuf = base.join(file);
                    ReplayTemplate::load(&file)?
                }
                inline @ serde_json::Value::Object(_) => {
                    ReplayTemplate::parse(&inline.to_string(), path).map_err(|e| match e {
                        PathError::Invalid {
                            field: f, reason, ..
                        } => invalid(format!("{}.{f}", field("template")), reason),
                        other => other,
                    })?
                }
                _ => {
                    return Err(invalid(
                        field("template"),
                        "must be a file name or a template object".into(),
                    ));
                }
            };
            replays.push((
                secs_to_ns(entry.instant_s),
                with_speed(template, entry.speed),
            ));
        }
        Ok(Self { replays })
    }
}

fn secs_to_ns(s: f64) -> i64 {
    (s * 1e9).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::demo_rig;

    fn arc_template(extra: &str) -> String {
        format!(
            r#"{{"type": "arc", "from": "cam0", "to": "cam4", "duration_s": 3.0, "easing": "ease_in_out"{extra}}}"#
        )
    }

    #[test]
    fn an_arc_opens_and_closes_on_the_real_cameras() {
        let rig = demo_rig(8, 640, 360);
        let template = ReplayTemplate::parse(
            &arc_template(r#", "time": {"before_s": 0.5, "slow_motion": 0.5, "after_s": 1.0, "resume_speed": 1.0}"#),
            Path::new("t.json"),
        )
        .unwrap();
        let bound = BoundReplay::bind(
            &template,
            &rig,
            1_000_000_000,
            1280,
            720,
            Path::new("t.json"),
        )
        .unwrap();
        assert_eq!((bound.open_camera, bound.close_camera), (0, 4));
        assert_eq!(bound.parts_s(), [1.0, 3.0, 1.0]);
        assert_eq!(bound.frame_count(30), 150);
        // Slow motion in: real frames of cam0 from 0.5 s before, half speed.
        assert_eq!(
            bound.frame(0, 30),
            Some(ReplayFrame::Real {
                camera: 0,
                capture_ns: 500_000_000
            })
        );
        let Some(ReplayFrame::Real { capture_ns, .. }) = bound.frame(29, 30) else {
            panic!("frame 29 is real");
        };
        assert!((capture_ns - (1_000_000_000 - 500_000_000 / 30)).abs() < 10);
        // The move's first and last frames are the real poses.
        for (index, camera) in [(30, 0), (119, 4)] {
            let Some(ReplayFrame::Virtual { camera: v }) = bound.frame(index, 30) else {
                panic!("frame {index} is virtual");
            };
            let real = rig.cameras[camera].scaled(1280, 720);
            assert!((v.centre_in_world() - real.centre_in_world()).norm() < 1e-9);
            assert!(
                v.cam_from_world
                    .rotation
                    .angle_to(&real.cam_from_world.rotation)
                    < 1e-9
            );
            assert!((v.fx - real.fx).abs() < 1e-9);
        }
        assert_eq!(
            bound.frame(120, 30),
            Some(ReplayFrame::Real {
                camera: 4,
                capture_ns: 1_000_000_000 + 33_333_333
            })
        );
    }

    #[test]
    fn an_orbit_eases_from_and_into_the_nearest_cameras() {
        let rig = demo_rig(8, 640, 360);
        let template =
            ReplayTemplate::parse(r#"{"type": "orbit", "pivot": [0, 0, 0.9], "radius_m": 6.5, "height_m": 2.2, "start_angle_deg": 10, "sweep_deg": 180, "duration_s": 4, "easing": "linear", "fov_deg": 50}"#, Path::new("o.json")).unwrap();
        let bound = BoundReplay::bind(&template, &rig, 0, 640, 360, Path::new("o.json")).unwrap();
        let first = bound.move_camera(0.0).unwrap();
        let last = bound.move_camera(4.0).unwrap();
        let open = &rig.cameras[bound.open_camera];
        let close = &rig.cameras[bound.close_camera];
        assert!((first.centre_in_world() - open.centre_in_world()).norm() < 1e-9);
        assert!((last.centre_in_world() - close.centre_in_world()).norm() < 1e-9);
        assert_ne!(bound.open_camera, bound.close_camera);
        // Mid-move it is the orbit.
        let mid = bound.move_camera(2.0).unwrap();
        let orbit = template.path.camera_at(2.0, 640, 360).unwrap();
        assert!((mid.centre_in_world() - orbit.centre_in_world()).norm() < 1e-9);
    }

    #[test]
    fn invalid_templates_name_the_field() {
        let rig = demo_rig(8, 640, 360);
        let cases = [
            (
                arc_template(r#", "time": {"slow_motion": 2.0}"#),
                "time.slow_motion",
            ),
            (arc_template(r#", "time": {"after_s": -1}"#), "time.after_s"),
            (arc_template(r#", "time": {"speed": 1}"#), "time"),
            (arc_template("").replace("3.0", "-3.0"), "duration_s"),
            (arc_template("").replace("ease_in_out", "wobbly"), "easing"),
            (arc_template(r#", "track": "ball""#), "track"),
            (arc_template(r#", "track": {"near": [1e999, 0]}"#), "line 1"),
        ];
        for (text, field) in cases {
            let error = ReplayTemplate::parse(&text, Path::new("t.json"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(field), "{text}: {error}");
        }
        let unknown = ReplayTemplate::parse(
            &arc_template("").replace("cam4", "cam99"),
            Path::new("t.json"),
        )
        .unwrap();
        let error = BoundReplay::bind(&unknown, &rig, 0, 640, 360, Path::new("t.json"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("to") && error.contains("cam99"), "{error}");
    }

    #[test]
    fn example_templates_and_playlists_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/paths");
        let rig = demo_rig(8, 640, 360);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            if text.contains("\"playlist\"") {
                let playlist = Playlist::load(&path, 0.5).unwrap();
                assert!(!playlist.replays.is_empty(), "{}", path.display());
                continue;
            }
            let template = ReplayTemplate::load(&path).unwrap();
            BoundReplay::bind(&template, &rig, 0, 640, 360, &path).unwrap();
        }
    }

    #[test]
    fn a_moved_pivot_moves_the_orbit() {
        let rig = demo_rig(8, 640, 360);
        let template = ReplayTemplate::parse(
            r#"{"type": "orbit", "pivot": [0, 0, 0.9], "radius_m": 6.5, "height_m": 2.2,
                "start_angle_deg": 0, "sweep_deg": 180, "duration_s": 4, "easing": "linear",
                "fov_deg": 50, "track": "action", "time": {"snap_s": 0.5}}"#,
            Path::new("t.json"),
        )
        .unwrap();
        assert_eq!(
            template.path.track(),
            Some(crate::render::PivotTrack::Action)
        );
        let bound = BoundReplay::bind(&template, &rig, 0, 640, 360, Path::new("t.json")).unwrap();
        let moved = bound
            .with_pivot(&Point3::new(-1.0, 0.5, 0.9), Path::new("t.json"))
            .unwrap();
        assert_eq!(
            moved.template.path.pivot(),
            Some(Point3::new(-1.0, 0.5, 0.9))
        );
        let mid = moved.move_camera(2.0).unwrap().centre_in_world();
        assert!(
            (mid - Point3::new(-1.0 + 6.5 * (90f64).to_radians().cos(), 0.5 + 6.5, 2.2)).norm()
                < 1e-6,
            "{mid}"
        );
        // A pivot outside the rig's volume is refused, naming it.
        let error = bound
            .with_pivot(&Point3::new(40.0, 0.0, 0.9), Path::new("t.json"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("pivot"), "{error}");
    }
}
