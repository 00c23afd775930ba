//! `timeslice calibrate`'s solver: board detections per camera in, a rig and
//! a report out.
//!
//! 1. Per camera: homographies, Zhang's intrinsics, board poses, then a
//!    single-camera bundle adjustment with outlier rejection (corners far
//!    off the fit, then whole views far worse than the camera's median).
//! 2. A ring: cameras that saw the same board placement (the same view name,
//!    i.e. the same synchronised frame) are linked; the links must connect
//!    every camera, or the error names the separate groups. The world frame
//!    is the board at the first placement two cameras share. Camera poses
//!    are chained outwards from it, board placements seen by one camera only
//!    are placed through that camera, and one bundle adjustment refines all
//!    intrinsics, distortion, camera poses and board poses.
//! 3. Surveyed points (optional) move the world frame to the venue's: each
//!    camera that sees four or more solves its pose by PnP, the rig is moved
//!    rigidly onto those poses, and the points join the final adjustment.

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::{Isometry3, Matrix3, Point2, Point3, UnitQuaternion, Vector3};
use serde::Serialize;

use super::board::BoardSpec;
use super::bundle::{
    Bundle, BundleCamera, BundleTarget, IntrinsicBlock, Observation, SolveOptions, intrinsic_block,
};
use super::camera::{Camera, Distortion};
use super::rig::Rig;
use super::zhang::{
    PinholeGuess, homography, intrinsics_from_homographies, null_vector, pose_from_homography,
};

/// Fewest views with a detected board for a camera to be calibrated.
pub const MIN_VIEWS: usize = 3;
/// Below this largest tilt between board and image plane, degrees, the
/// focal length is unobservable.
const MIN_TILT_DEG: f64 = 5.0;
/// `--check` warns about a camera that turned more than this, degrees…
const DRIFT_WARN_DEG: f64 = 0.1;
/// …or moved more than this, millimetres.
const DRIFT_WARN_MM: f64 = 5.0;
/// A corner is an outlier beyond this many robust standard deviations…
const OUTLIER_SIGMAS: f64 = 6.0;
/// …and never below this, pixels.
const OUTLIER_FLOOR_PX: f64 = 2.0;
/// A view is rejected when its RMS exceeds this multiple of the camera's
/// median view RMS…
const VIEW_REJECT_RATIO: f64 = 3.0;
/// …and this, pixels.
const VIEW_REJECT_FLOOR_PX: f64 = 1.0;

/// Errors of the calibration solver. Each names the camera (or file) at fault.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// Too few images with a board.
    #[error(
        "camera {camera:?}: the {board} board was found in {found} of {images} images; \
         at least {MIN_VIEWS} are needed{hint}"
    )]
    TooFewViews {
        /// Camera id.
        camera: String,
        /// The board looked for.
        board: BoardSpec,
        /// Images with a board.
        found: usize,
        /// Images given.
        images: usize,
        /// A hint (e.g. the grid size seen instead), starting with "; ".
        hint: String,
    },
    /// The views cannot determine the intrinsics.
    #[error("camera {camera:?}: degenerate views: {reason}")]
    Degenerate {
        /// Camera id.
        camera: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The cameras do not share views enough to be put in one frame.
    #[error(
        "the cameras are not connected through shared board views: {groups}; \
         add views in which a camera of one group and a camera of another both see the board"
    )]
    Disconnected {
        /// The groups, e.g. `{cam0, cam1} | {cam2}`.
        groups: String,
    },
    /// Two cameras of a ring, with a board whose corner order cannot be told.
    #[error(
        "board {board} looks the same turned half round (both corner counts are {parity}), \
         so cameras of a ring may number its corners from opposite ends; use a board with one \
         odd and one even corner count (e.g. 9x6)"
    )]
    SymmetricBoard {
        /// The board.
        board: BoardSpec,
        /// "odd" or "even".
        parity: &'static str,
    },
    /// Surveyed points that cannot fix the world frame.
    #[error("surveyed points: {reason}")]
    Survey {
        /// What is wrong.
        reason: String,
    },
    /// A rig given to `--check` that does not fit the views.
    #[error("camera {camera:?}: {reason}")]
    Check {
        /// Camera id.
        camera: String,
        /// What is wrong.
        reason: String,
    },
}

/// One image of one camera.
#[derive(Debug, Clone)]
pub struct ViewDetection {
    /// View name: the same name in two cameras means the same board
    /// placement (a synchronised frame).
    pub name: String,
    /// Board corners in OpenCV order, pixels; `None` when no board was found.
    pub corners_px: Option<Vec<Point2<f64>>>,
    /// When no board was found and a grid of another size was, its size.
    pub grid_seen: Option<(usize, usize)>,
}

/// Everything one camera saw.
#[derive(Debug, Clone)]
pub struct CameraDetections {
    /// Camera id.
    pub id: String,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Its images, in order.
    pub views: Vec<ViewDetection>,
}

/// Surveyed points: world positions and where cameras see them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    /// Point name -> world position `[x, y, z]`, metres (venue frame, z up).
    pub points: BTreeMap<String, [f64; 3]>,
    /// Camera id -> point name -> pixel `[u, v]` (pixel centres at integers).
    pub pixels: BTreeMap<String, BTreeMap<String, [f64; 2]>>,
}

/// Solver settings.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    /// Cameras above this RMS get a warning, pixels.
    pub warn_rms_px: f64,
    /// A name for the rig written.
    pub rig_name: String,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        Self {
            warn_rms_px: 0.5,
            rig_name: "calibrated".into(),
        }
    }
}

/// Per-camera figures of the report.
#[derive(Debug, Clone, Serialize)]
pub struct CameraReport {
    /// Camera id.
    pub id: String,
    /// RMS reprojection error over the corners used, pixels.
    pub rms_px: f64,
    /// Views whose board was used.
    pub views_used: usize,
    /// Views with a board that were rejected as outliers.
    pub views_rejected: usize,
    /// Images in which no board was found.
    pub views_without_board: usize,
    /// Corners used.
    pub corners_used: usize,
    /// Corners rejected as outliers (inside views that were kept).
    pub corners_rejected: usize,
    /// Focal length x, pixels.
    pub fx: f64,
    /// Focal length y, pixels.
    pub fy: f64,
    /// Principal point x, pixels.
    pub cx: f64,
    /// Principal point y, pixels.
    pub cy: f64,
    /// `[k1, k2, p1, p2, k3]`.
    pub distortion: [f64; 5],
    /// `--check` only: how far the camera turned since the rig was made, degrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_deg: Option<f64>,
    /// `--check` only: how far the camera moved since the rig was made, millimetres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_mm: Option<f64>,
    /// Set when the camera is not fit for air.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The calibration report (`--report report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationReport {
    /// "calibrate" or "check".
    pub mode: &'static str,
    /// The board, as given.
    pub board: String,
    /// RMS over every corner used, pixels.
    pub rms_px: f64,
    /// The warning threshold, pixels.
    pub warn_rms_px: f64,
    /// Surveyed points used (0 without a survey).
    pub survey_points_used: usize,
    /// Per camera.
    pub cameras: Vec<CameraReport>,
    /// Every warning, one line each.
    pub warnings: Vec<String>,
}

/// A solved rig and its report.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// The rig.
    pub rig: Rig,
    /// The report.
    pub report: CalibrationReport,
}

/// A camera's state through the pipeline.
struct CameraState {
    id: String,
    width: u32,
    height: u32,
    intrinsics: IntrinsicBlock,
    /// View name -> (corners, `cam_from_board`, inlier flags).
    views: BTreeMap<String, ViewState>,
    views_rejected: usize,
    views_without_board: usize,
}

#[derive(Clone)]
struct ViewState {
    corners_px: Vec<Point2<f64>>,
    cam_from_board: Isometry3<f64>,
    inliers: Vec<bool>,
}

impl ViewState {
    /// A view with every corner an inlier.
    fn new(corners_px: &[Point2<f64>], cam_from_board: Isometry3<f64>) -> Self {
        Self {
            inliers: vec![true; corners_px.len()],
            corners_px: corners_px.to_vec(),
            cam_from_board,
        }
    }
}

/// Calibrates one camera or a ring from board detections.
///
/// # Errors
/// [`CalibrateError`] naming the camera or cameras at fault.
pub fn calibrate(
    board: BoardSpec,
    cameras: &[CameraDetections],
    survey: Option<&Survey>,
    options: &CalibrateOptions,
) -> Result<Calibration, CalibrateError> {
    let mut states = cameras
        .iter()
        .map(|c| calibrate_single(board, c))
        .collect::<Result<Vec<_>, _>>()?;
    ring_board_check(board, states.len())?;
    let world_view = check_connected(&states)?;
    let mut cams_from_world = chain_poses(&states, &world_view);
    let mut bundle = ring_bundle(board, &states, &cams_from_world, &world_view);
    solve_with_rejection(&mut bundle, &mut states, board);
    cams_from_world = bundle.cameras.iter().map(|c| c.cam_from_world).collect();
    let mut survey_points_used = 0;
    if let Some(survey) = survey {
        survey_points_used = apply_survey(&mut bundle, &states, survey)?;
        bundle.solve(SolveOptions::default());
        cams_from_world = bundle.cameras.iter().map(|c| c.cam_from_world).collect();
    }
    for (state, camera) in states.iter_mut().zip(&bundle.cameras) {
        state.intrinsics = camera.intrinsics;
    }
    let rig = Rig {
        name: options.rig_name.clone(),
        cameras: states
            .iter()
            .zip(&cams_from_world)
            .map(|(state, cam_from_world)| rig_camera(state, cam_from_world))
            .collect(),
    };
    let report = build_report(
        "calibrate",
        board,
        &bundle,
        &states,
        survey_points_used,
        options,
        None,
    );
    Ok(Calibration { rig, report })
}

fn rig_camera(state: &CameraState, cam_from_world: &Isometry3<f64>) -> Camera {
    let k = state.intrinsics;
    Camera {
        id: state.id.clone(),
        width: state.width,
        height: state.height,
        fx: k[0],
        fy: k[1],
        cx: k[2],
        cy: k[3],
        distortion: Distortion::from_array([k[4], k[5], k[6], k[7], k[8]]),
        cam_from_world: *cam_from_world,
        time_offset_ns: 0,
        source: None,
    }
}

/// Cameras of a ring must agree on the corner numbering: the board must
/// not look the same turned half round.
fn ring_board_check(board: BoardSpec, cameras: usize) -> Result<(), CalibrateError> {
    if cameras > 1 && board.is_half_turn_symmetric() {
        return Err(CalibrateError::SymmetricBoard {
            board,
            parity: if board.cols.is_multiple_of(2) {
                "even"
            } else {
                "odd"
            },
        });
    }
    Ok(())
}

/// Step 1 for one camera.
fn calibrate_single(
    board: BoardSpec,
    detections: &CameraDetections,
) -> Result<CameraState, CalibrateError> {
    let found: Vec<&ViewDetection> = detections
        .views
        .iter()
        .filter(|v| v.corners_px.is_some())
        .collect();
    if found.len() < MIN_VIEWS {
        let hint = detections
            .views
            .iter()
            .filter_map(|v| v.grid_seen)
            .max_by_key(|(c, r)| c * r)
            .map_or_else(String::new, |(c, r)| {
                format!(
                    "; a {c}x{r} grid of inner corners was seen instead: is --board {}x{} right?",
                    board.cols, board.rows
                )
            });
        return Err(CalibrateError::TooFewViews {
            camera: detections.id.clone(),
            board,
            found: found.len(),
            images: detections.views.len(),
            hint,
        });
    }
    let plane = board.corners_in_plane();
    let homographies: Vec<Matrix3<f64>> = found
        .iter()
        .filter_map(|v| v.corners_px.as_ref().and_then(|c| homography(&plane, c)))
        .collect();
    let degenerate = |reason: &str| CalibrateError::Degenerate {
        camera: detections.id.clone(),
        reason: reason.to_owned(),
    };
    let pinhole = intrinsics_from_homographies(&homographies, detections.width, detections.height)
        .ok_or_else(|| {
            degenerate(
                "the focal length cannot be found from these views (are they all \
                     fronto-parallel?); tilt the board 20-45 degrees in several views",
            )
        })?;
    let mut views = BTreeMap::new();
    for (view, h) in found.iter().zip(&homographies) {
        let (Some(corners), Some(pose)) = (&view.corners_px, pose_from_homography(h, &pinhole))
        else {
            continue;
        };
        views.insert(view.name.clone(), ViewState::new(corners, pose));
    }
    let max_tilt_deg = views
        .values()
        .map(|v| {
            let normal_in_cam = v.cam_from_board.rotation * Vector3::z();
            normal_in_cam.z.abs().clamp(0.0, 1.0).acos().to_degrees()
        })
        .fold(0.0, f64::max);
    if max_tilt_deg < MIN_TILT_DEG {
        return Err(degenerate(&format!(
            "the board is never tilted more than {max_tilt_deg:.1} degrees from the image \
             plane, so the focal length is unobservable; tilt it 20-45 degrees in several views"
        )));
    }
    let state = CameraState {
        id: detections.id.clone(),
        width: detections.width,
        height: detections.height,
        intrinsics: intrinsic_block(
            pinhole.fx,
            pinhole.fy,
            pinhole.cx,
            pinhole.cy,
            Distortion::default(),
        ),
        views,
        views_rejected: 0,
        views_without_board: detections.views.len() - found.len(),
    };
    // Single-camera adjustment: the camera is the world, boards move.
    let mut bundle = Bundle::default();
    bundle.cameras.push(BundleCamera {
        intrinsics: state.intrinsics,
        cam_from_world: Isometry3::identity(),
        intrinsics_free: true,
        pose_free: false,
    });
    let names: Vec<String> = state.views.keys().cloned().collect();
    for name in &names {
        let view = &state.views[name];
        let target = bundle.targets.len();
        bundle.targets.push(BundleTarget {
            world_from_target: view.cam_from_board,
            free: true,
        });
        push_view_observations(&mut bundle, board, 0, target, view);
    }
    let mut one = vec![state];
    solve_with_rejection(&mut bundle, &mut one, board);
    let mut state = one.pop().ok_or_else(|| degenerate("no camera state"))?;
    state.intrinsics = bundle.cameras[0].intrinsics;
    for (name, target) in names.iter().zip(&bundle.targets) {
        if let Some(view) = state.views.get_mut(name) {
            view.cam_from_board = target.world_from_target;
        }
    }
    if state.views.len() < MIN_VIEWS {
        return Err(degenerate(&format!(
            "only {} views are left after rejecting outliers; at least {MIN_VIEWS} are needed",
            state.views.len()
        )));
    }
    Ok(state)
}

fn push_view_observations(
    bundle: &mut Bundle,
    board: BoardSpec,
    camera: usize,
    target: usize,
    view: &ViewState,
) {
    for (k, (pixel, inlier)) in view.corners_px.iter().zip(&view.inliers).enumerate() {
        bundle.observations.push(Observation {
            camera,
            target,
            point_in_target: board.corner_in_board(k),
            pixel: *pixel,
            inlier: *inlier,
        });
    }
}

/// Solves, rejects outlier corners and views, and solves again until
/// nothing more is rejected. Targets must map to views in the order the
/// observations were pushed; rejected views are dropped from `states`.
fn solve_with_rejection(bundle: &mut Bundle, states: &mut [CameraState], board: BoardSpec) {
    let per_view = board.corner_count();
    for round in 0..4 {
        let summary = bundle.solve(SolveOptions::default());
        tracing::debug!(
            round,
            iterations = summary.iterations,
            rms_px = summary.rms_px,
            "bundle adjustment"
        );
        let mut changed = false;
        // Corners: robust sigma from the median inlier residual.
        let norms: Vec<Option<f64>> = bundle
            .observations
            .iter()
            .map(|o| bundle.residual(o).map(|r| r.norm()))
            .collect();
        let mut inlier_norms: Vec<f64> = bundle
            .observations
            .iter()
            .zip(&norms)
            .filter(|(o, _)| o.inlier)
            .filter_map(|(_, norm)| *norm)
            .collect();
        inlier_norms.sort_by(f64::total_cmp);
        let median = inlier_norms
            .get(inlier_norms.len() / 2)
            .copied()
            .unwrap_or(0.0);
        let threshold = (OUTLIER_SIGMAS * 1.4826 * median).max(OUTLIER_FLOOR_PX);
        for (observation, norm) in bundle.observations.iter_mut().zip(&norms) {
            if observation.inlier && norm.is_none_or(|r| r > threshold) {
                observation.inlier = false;
                changed = true;
            }
        }
        // Views: those that lost many corners are wrong detections (a
        // shifted or turned grid fits only in part); then, per camera,
        // those far worse than the camera's median view.
        for first in (0..bundle.observations.len()).step_by(per_view.max(1)) {
            let end = (first + per_view).min(bundle.observations.len());
            let chunk = &mut bundle.observations[first..end];
            let lost = chunk.iter().filter(|o| !o.inlier).count();
            if lost > 0 && lost < chunk.len() && lost * 5 > chunk.len() {
                for o in chunk.iter_mut() {
                    o.inlier = false;
                }
                states[chunk[0].camera].views_rejected += 1;
                changed = true;
            }
        }
        let view_rms = view_rms(bundle, &norms, per_view);
        for (camera_index, state) in states.iter_mut().enumerate() {
            let mut rms: Vec<f64> = view_rms
                .iter()
                .filter(|v| v.camera == camera_index)
                .map(|v| v.rms_px)
                .collect();
            rms.sort_by(f64::total_cmp);
            let median = rms.get(rms.len() / 2).copied().unwrap_or(0.0);
            for view in view_rms.iter().filter(|v| v.camera == camera_index) {
                if view.rms_px > VIEW_REJECT_RATIO * median && view.rms_px > VIEW_REJECT_FLOOR_PX {
                    for o in &mut bundle.observations[view.first..view.first + per_view] {
                        o.inlier = false;
                    }
                    state.views_rejected += 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Keep the inlier flags with the views; drop views with no inlier left.
    // Each camera's views were pushed in name order, one chunk each.
    let names: Vec<Vec<String>> = states
        .iter()
        .map(|state| state.views.keys().cloned().collect())
        .collect();
    let mut next_view = vec![0usize; states.len()];
    for chunk in bundle.observations.chunks(per_view.max(1)) {
        let camera = chunk[0].camera;
        let ordinal = next_view[camera];
        next_view[camera] += 1;
        if let Some(view) = names[camera]
            .get(ordinal)
            .and_then(|name| states[camera].views.get_mut(name))
        {
            view.inliers = chunk.iter().map(|o| o.inlier).collect();
        }
    }
    for state in states.iter_mut() {
        state.views.retain(|_, v| v.inliers.iter().any(|i| *i));
    }
}

struct ViewRms {
    camera: usize,
    first: usize,
    rms_px: f64,
}

/// RMS of each view's inlier corners, from residual norms computed once.
fn view_rms(bundle: &Bundle, norms: &[Option<f64>], per_view: usize) -> Vec<ViewRms> {
    let mut out = Vec::new();
    let mut first = 0;
    while first + per_view <= bundle.observations.len() {
        let chunk = &bundle.observations[first..first + per_view];
        let inliers: Vec<f64> = chunk
            .iter()
            .zip(&norms[first..first + per_view])
            .filter(|(o, _)| o.inlier)
            .filter_map(|(_, norm)| norm.map(|r| r * r))
            .collect();
        if !inliers.is_empty() {
            out.push(ViewRms {
                camera: chunk[0].camera,
                first,
                rms_px: (inliers.iter().sum::<f64>() / inliers.len() as f64).sqrt(),
            });
        }
        first += per_view;
    }
    out
}

/// Finds the connected groups of cameras (linked by shared view names) and
/// returns the world view: the first view name two cameras share (or, for
/// one camera, its first view).
fn check_connected(states: &[CameraState]) -> Result<String, CalibrateError> {
    if states.len() == 1 {
        return states[0]
            .views
            .keys()
            .next()
            .cloned()
            .ok_or_else(|| CalibrateError::Degenerate {
                camera: states[0].id.clone(),
                reason: "no views left".into(),
            });
    }
    let mut group: Vec<usize> = (0..states.len()).collect();
    fn root(group: &mut [usize], mut i: usize) -> usize {
        while group[i] != i {
            group[i] = group[group[i]];
            i = group[i];
        }
        i
    }
    let mut shared: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, state) in states.iter().enumerate() {
        for name in state.views.keys() {
            shared.entry(name).or_default().push(index);
        }
    }
    for cameras in shared.values() {
        for pair in cameras.windows(2) {
            let (a, b) = (root(&mut group, pair[0]), root(&mut group, pair[1]));
            group[a] = b;
        }
    }
    let mut groups: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (index, state) in states.iter().enumerate() {
        let r = root(&mut group, index);
        groups.entry(r).or_default().push(state.id.as_str());
    }
    if groups.len() > 1 {
        let groups = groups
            .values()
            .map(|ids| format!("{{{}}}", ids.join(", ")))
            .collect::<Vec<_>>()
            .join(" | ");
        return Err(CalibrateError::Disconnected { groups });
    }
    shared
        .iter()
        .find(|(_, cameras)| cameras.len() >= 2)
        .map(|(name, _)| (*name).to_owned())
        .ok_or_else(|| CalibrateError::Disconnected {
            groups: "no view is shared by two cameras".into(),
        })
}

/// Initial `cam_from_world` per camera, chained outwards from the world view
/// through shared views (each new camera averages over every shared view
/// whose board is already placed).
fn chain_poses(states: &[CameraState], world_view: &str) -> Vec<Isometry3<f64>> {
    let mut cams: Vec<Option<Isometry3<f64>>> = states
        .iter()
        .map(|s| s.views.get(world_view).map(|v| v.cam_from_board))
        .collect();
    loop {
        // Place every board seen by a placed camera.
        let mut boards: BTreeMap<&str, Isometry3<f64>> = BTreeMap::new();
        for (state, cam) in states.iter().zip(&cams) {
            let Some(cam_from_world) = cam else { continue };
            for (name, view) in &state.views {
                boards
                    .entry(name)
                    .or_insert_with(|| cam_from_world.inverse() * view.cam_from_board);
            }
        }
        let mut progress = false;
        for (index, state) in states.iter().enumerate() {
            if cams[index].is_some() {
                continue;
            }
            let estimates: Vec<Isometry3<f64>> = state
                .views
                .iter()
                .filter_map(|(name, view)| {
                    boards
                        .get(name.as_str())
                        .map(|world_from_board| view.cam_from_board * world_from_board.inverse())
                })
                .collect();
            if let Some(mean) = mean_pose(&estimates) {
                cams[index] = Some(mean);
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    cams.into_iter()
        .map(|c| c.unwrap_or_else(Isometry3::identity))
        .collect()
}

/// Chordal mean of rotations (sign-aligned quaternion average) and mean of
/// translations.
fn mean_pose(poses: &[Isometry3<f64>]) -> Option<Isometry3<f64>> {
    let first = poses.first()?;
    let mut q_sum = nalgebra::Vector4::<f64>::zeros();
    let mut t_sum = Vector3::zeros();
    for pose in poses {
        let q = pose.rotation.coords;
        let aligned = if q.dot(&first.rotation.coords) < 0.0 {
            -q
        } else {
            q
        };
        q_sum += aligned;
        t_sum += pose.translation.vector;
    }
    let rotation = UnitQuaternion::from_quaternion(nalgebra::Quaternion::from(q_sum));
    Some(Isometry3::from_parts(
        (t_sum / poses.len() as f64).into(),
        rotation,
    ))
}

/// The ring problem: one target per view name, the world view fixed.
fn ring_bundle(
    board: BoardSpec,
    states: &[CameraState],
    cams_from_world: &[Isometry3<f64>],
    world_view: &str,
) -> Bundle {
    let mut bundle = Bundle::default();
    let mut targets: BTreeMap<&str, usize> = BTreeMap::new();
    for (state, cam_from_world) in states.iter().zip(cams_from_world) {
        bundle.cameras.push(BundleCamera {
            intrinsics: state.intrinsics,
            cam_from_world: *cam_from_world,
            intrinsics_free: true,
            pose_free: true,
        });
        for (name, view) in &state.views {
            targets.entry(name).or_insert_with(|| {
                bundle.targets.push(BundleTarget {
                    world_from_target: cam_from_world.inverse() * view.cam_from_board,
                    free: name != world_view,
                });
                bundle.targets.len() - 1
            });
        }
    }
    for (camera, state) in states.iter().enumerate() {
        for (name, view) in &state.views {
            push_view_observations(&mut bundle, board, camera, targets[name.as_str()], view);
        }
    }
    bundle
}

/// Moves the solved ring into the survey's frame and adds the surveyed
/// points as fixed-world observations. Returns the number of points used.
fn apply_survey(
    bundle: &mut Bundle,
    states: &[CameraState],
    survey: &Survey,
) -> Result<usize, CalibrateError> {
    let bad = |reason: String| CalibrateError::Survey { reason };
    for camera in survey.pixels.keys() {
        if !states.iter().any(|s| &s.id == camera) {
            return Err(bad(format!(
                "camera {camera:?} is not one of the cameras being calibrated"
            )));
        }
    }
    let mut estimates = Vec::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    let venue = bundle.targets.len();
    bundle.targets.push(BundleTarget {
        world_from_target: Isometry3::identity(),
        free: false,
    });
    for (camera_index, state) in states.iter().enumerate() {
        let Some(seen) = survey.pixels.get(&state.id) else {
            continue;
        };
        let mut points = Vec::new();
        for (name, pixel) in seen {
            let world = survey.points.get(name).ok_or_else(|| {
                bad(format!(
                    "camera {:?} sees point {name:?}, which has no position",
                    state.id
                ))
            })?;
            if !world.iter().chain(pixel.iter()).all(|v| v.is_finite()) {
                return Err(bad(format!(
                    "point {name:?}: coordinates must be finite numbers"
                )));
            }
            points.push((Point3::from(*world), Point2::from(*pixel), name.as_str()));
        }
        let camera = &bundle.cameras[camera_index];
        let venue_from_cam = solve_pnp(&camera.intrinsics, &points)
            .ok_or_else(|| {
                bad(format!(
                    "camera {:?}: its {} points do not fix its pose (need 4 on a plane or 6 \
                     in general position)",
                    state.id,
                    points.len()
                ))
            })?
            .inverse();
        // venue_from_board_world = venue_from_cam * cam_from_board_world.
        estimates.push(venue_from_cam * camera.cam_from_world);
        for (world, pixel, name) in points {
            used.insert(name);
            bundle.observations.push(Observation {
                camera: camera_index,
                target: venue,
                point_in_target: world,
                pixel,
                inlier: true,
            });
        }
    }
    let venue_from_board_world = mean_pose(&estimates)
        .ok_or_else(|| bad("no calibrated camera sees a surveyed point".into()))?;
    let board_world_from_venue = venue_from_board_world.inverse();
    for camera in &mut bundle.cameras {
        camera.cam_from_world *= board_world_from_venue;
    }
    for target in bundle.targets.iter_mut().take(venue) {
        target.world_from_target = venue_from_board_world * target.world_from_target;
        // The venue now fixes the gauge; every board placement is free.
        target.free = true;
    }
    Ok(used.len())
}

/// `cam_from_world` from world points and their pixels, then refined.
fn solve_pnp(
    intrinsics: &IntrinsicBlock,
    points: &[(Point3<f64>, Point2<f64>, &str)],
) -> Option<Isometry3<f64>> {
    if points.len() < 4 {
        return None;
    }
    let distortion = Distortion::from_array([
        intrinsics[4],
        intrinsics[5],
        intrinsics[6],
        intrinsics[7],
        intrinsics[8],
    ]);
    let normalised: Vec<Point2<f64>> = points
        .iter()
        .map(|(_, p, _)| {
            let (x, y) = distortion.undistort(
                (p.x - intrinsics[2]) / intrinsics[0],
                (p.y - intrinsics[3]) / intrinsics[1],
            );
            Point2::new(x, y)
        })
        .collect();
    // Plane through the points (smallest principal axis).
    let n = points.len() as f64;
    let centroid = points
        .iter()
        .fold(Vector3::zeros(), |acc, (w, _, _)| acc + w.coords)
        / n;
    let mut scatter = Matrix3::zeros();
    for (w, _, _) in points {
        let d = w.coords - centroid;
        scatter += d * d.transpose();
    }
    let eigen = scatter.symmetric_eigen();
    let mut order = [0usize, 1, 2];
    order.sort_by(|a, b| eigen.eigenvalues[*b].total_cmp(&eigen.eigenvalues[*a]));
    let spread = eigen.eigenvalues[order[0]].max(1e-300);
    let initial = if eigen.eigenvalues[order[2]] / spread < 1e-6 {
        // Coplanar: a homography from plane coordinates.
        let axis_u = eigen.eigenvectors.column(order[0]).into_owned();
        let axis_v = eigen.eigenvectors.column(order[1]).into_owned();
        let axis_n = axis_u.cross(&axis_v);
        let world_from_plane = Isometry3::from_parts(
            centroid.into(),
            UnitQuaternion::from_rotation_matrix(&nalgebra::Rotation3::from_matrix_unchecked(
                Matrix3::from_columns(&[axis_u, axis_v, axis_n]),
            )),
        );
        let plane_points: Vec<Point2<f64>> = points
            .iter()
            .map(|(w, _, _)| {
                let p = world_from_plane.inverse() * w;
                Point2::new(p.x, p.y)
            })
            .collect();
        let h = homography(&plane_points, &normalised)?;
        pose_from_homography(&h, &PinholeGuess::NORMALISED)? * world_from_plane.inverse()
    } else {
        if points.len() < 6 {
            return None;
        }
        dlt_pose(points, &normalised)?
    };
    let mut bundle = Bundle::default();
    bundle.cameras.push(BundleCamera {
        intrinsics: *intrinsics,
        cam_from_world: initial,
        intrinsics_free: false,
        pose_free: true,
    });
    bundle.targets.push(BundleTarget {
        world_from_target: Isometry3::identity(),
        free: false,
    });
    for (world, pixel, _) in points {
        bundle.observations.push(Observation {
            camera: 0,
            target: 0,
            point_in_target: *world,
            pixel: *pixel,
            inlier: true,
        });
    }
    bundle.solve(SolveOptions::default());
    Some(bundle.cameras[0].cam_from_world)
}

/// Direct linear transform for `[R | t]` from normalised image points.
fn dlt_pose(
    points: &[(Point3<f64>, Point2<f64>, &str)],
    normalised: &[Point2<f64>],
) -> Option<Isometry3<f64>> {
    let mut a = nalgebra::DMatrix::<f64>::zeros(2 * points.len(), 12);
    for (i, ((w, _, _), q)) in points.iter().zip(normalised).enumerate() {
        let x = [w.x, w.y, w.z, 1.0];
        for c in 0..4 {
            a[(2 * i, c)] = x[c];
            a[(2 * i, 8 + c)] = -q.x * x[c];
            a[(2 * i + 1, 4 + c)] = x[c];
            a[(2 * i + 1, 8 + c)] = -q.y * x[c];
        }
    }
    let p = null_vector(a)?;
    let m = Matrix3::new(p[0], p[1], p[2], p[4], p[5], p[6], p[8], p[9], p[10]);
    let t = Vector3::new(p[3], p[7], p[11]);
    let svd = m.svd(true, true);
    let scale = svd.singular_values.mean();
    let mut rotation = svd.u? * svd.v_t?;
    let mut t = t / scale;
    if m.determinant() < 0.0 {
        rotation = -rotation;
        t = -t;
    }
    if rotation.determinant() < 0.0 {
        return None;
    }
    Some(Isometry3::from_parts(
        t.into(),
        UnitQuaternion::from_rotation_matrix(&nalgebra::Rotation3::from_matrix_unchecked(rotation)),
    ))
}

/// Report figures from a solved problem.
fn build_report(
    mode: &'static str,
    board: BoardSpec,
    bundle: &Bundle,
    states: &[CameraState],
    survey_points_used: usize,
    options: &CalibrateOptions,
    drift: Option<&[(f64, f64)]>,
) -> CalibrationReport {
    let mut warnings = Vec::new();
    let cameras = states
        .iter()
        .enumerate()
        .map(|(index, state)| {
            let rms_px = bundle.rms_px(Some(index));
            // Corners rejected inside views that were kept.
            let mut per_target: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
            for o in bundle.observations.iter().filter(|o| o.camera == index) {
                let entry = per_target.entry(o.target).or_default();
                if o.inlier {
                    entry.0 += 1;
                } else {
                    entry.1 += 1;
                }
            }
            let used: usize = per_target.values().map(|(u, _)| u).sum();
            let rejected: usize = per_target
                .values()
                .filter(|(u, _)| *u > 0)
                .map(|(_, r)| r)
                .sum();
            let k = bundle.cameras[index].intrinsics;
            let warning = (rms_px > options.warn_rms_px).then(|| {
                format!(
                    "camera {:?}: RMS {rms_px:.3} px is above {:.2} px: not fit for air",
                    state.id, options.warn_rms_px
                )
            });
            if let Some(w) = &warning {
                warnings.push(w.clone());
            }
            CameraReport {
                id: state.id.clone(),
                rms_px,
                views_used: state.views.len(),
                views_rejected: state.views_rejected,
                views_without_board: state.views_without_board,
                corners_used: used,
                corners_rejected: rejected,
                fx: k[0],
                fy: k[1],
                cx: k[2],
                cy: k[3],
                distortion: [k[4], k[5], k[6], k[7], k[8]],
                drift_deg: drift.map(|d| d[index].0),
                drift_mm: drift.map(|d| d[index].1),
                warning,
            }
        })
        .collect();
    CalibrationReport {
        mode,
        board: board.to_string(),
        rms_px: bundle.rms_px(None),
        warn_rms_px: options.warn_rms_px,
        survey_points_used,
        cameras,
        warnings,
    }
}

/// `--check`: measures an existing rig against new board views. Board
/// placements are solved with the rig held fixed, giving each camera's RMS
/// as the rig stands; then each camera's pose alone is re-solved against
/// placements solved from the other cameras, giving how far it has turned
/// and moved (a bumped camera shows up here).
///
/// # Errors
/// [`CalibrateError`] when a camera is missing from the rig, has too few
/// views, or the views do not connect.
pub fn check_rig(
    board: BoardSpec,
    rig: &Rig,
    cameras: &[CameraDetections],
    options: &CalibrateOptions,
) -> Result<CalibrationReport, CalibrateError> {
    let mut states = Vec::new();
    for detections in cameras {
        let camera = rig
            .camera(&detections.id)
            .ok_or_else(|| CalibrateError::Check {
                camera: detections.id.clone(),
                reason: format!("not in the rig (its cameras: {})", rig.camera_ids()),
            })?;
        if (camera.width, camera.height) != (detections.width, detections.height) {
            return Err(CalibrateError::Check {
                camera: detections.id.clone(),
                reason: format!(
                    "images are {}x{} but the rig says {}x{}",
                    detections.width, detections.height, camera.width, camera.height
                ),
            });
        }
        states.push(check_state(board, camera, detections)?);
    }
    ring_board_check(board, states.len())?;
    let world_view = check_connected(&states)?;
    let cams_from_world: Vec<Isometry3<f64>> = states
        .iter()
        .map(|s| {
            rig.camera(&s.id)
                .map_or_else(Isometry3::identity, |c| c.cam_from_world)
        })
        .collect();
    let mut bundle = ring_bundle(board, &states, &cams_from_world, &world_view);
    for camera in &mut bundle.cameras {
        camera.intrinsics_free = false;
        camera.pose_free = false;
    }
    for target in &mut bundle.targets {
        target.free = true;
    }
    // Targets start from the first camera that saw them; place each from the
    // rig instead (every camera's own view, through its rig pose).
    bundle.solve(SolveOptions::default());
    // Each camera is measured against placements solved from the others.
    // A bumped camera also drags its neighbours' figures, so the worst
    // camera over the threshold is set aside and everyone is measured again
    // without it, until no other camera is over.
    let mut moved = BTreeSet::new();
    let drift = loop {
        let drift: Vec<(f64, f64)> = (0..states.len())
            .map(|index| {
                let mut excluded = moved.clone();
                excluded.remove(&index);
                camera_drift(&bundle, index, &excluded)
            })
            .collect();
        let worst = drift
            .iter()
            .enumerate()
            .filter(|(index, (deg, mm))| {
                !moved.contains(index) && (*deg > DRIFT_WARN_DEG || *mm > DRIFT_WARN_MM)
            })
            .max_by(|a, b| (a.1.0 / DRIFT_WARN_DEG).total_cmp(&(b.1.0 / DRIFT_WARN_DEG)));
        match worst {
            Some((index, _)) if moved.len() + 2 < states.len() => {
                moved.insert(index);
            }
            _ => break drift,
        }
    };
    let mut report = build_report("check", board, &bundle, &states, 0, options, Some(&drift));
    for camera in &mut report.cameras {
        if camera.warning.is_none()
            && (camera.drift_deg.unwrap_or(0.0) > DRIFT_WARN_DEG
                || camera.drift_mm.unwrap_or(0.0) > DRIFT_WARN_MM)
        {
            let w = format!(
                "camera {:?}: moved {:.3} deg / {:.1} mm since the rig was made: recalibrate",
                camera.id,
                camera.drift_deg.unwrap_or(0.0),
                camera.drift_mm.unwrap_or(0.0)
            );
            report.warnings.push(w.clone());
            camera.warning = Some(w);
        }
    }
    Ok(report)
}

/// How far camera `index` has turned (degrees) and moved (millimetres):
/// its pose re-solved against board placements solved from the other
/// cameras, except those in `excluded`.
fn camera_drift(bundle: &Bundle, index: usize, excluded: &BTreeSet<usize>) -> (f64, f64) {
    let others = |camera: usize| camera != index && !excluded.contains(&camera);
    let mut alone = bundle.clone();
    for o in &mut alone.observations {
        o.inlier = others(o.camera);
    }
    alone.solve(SolveOptions::default());
    let placed: BTreeSet<usize> = bundle
        .observations
        .iter()
        .filter(|o| others(o.camera))
        .map(|o| o.target)
        .collect();
    for o in &mut alone.observations {
        // Only this camera's corners, on placements the others fixed.
        o.inlier = o.camera == index && placed.contains(&o.target);
    }
    for target in &mut alone.targets {
        target.free = false;
    }
    let before = alone.cameras[index].cam_from_world;
    if !alone.observations.iter().any(|o| o.inlier) {
        return (0.0, 0.0);
    }
    alone.cameras[index].pose_free = true;
    alone.solve(SolveOptions::default());
    let after = alone.cameras[index].cam_from_world;
    let turned_deg = before.rotation.angle_to(&after.rotation).to_degrees();
    let moved_mm =
        (before.inverse().translation.vector - after.inverse().translation.vector).norm() * 1000.0;
    (turned_deg, moved_mm)
}

/// A camera's views with board poses from the rig's intrinsics.
fn check_state(
    board: BoardSpec,
    camera: &Camera,
    detections: &CameraDetections,
) -> Result<CameraState, CalibrateError> {
    let plane = board.corners_in_plane();
    let mut views = BTreeMap::new();
    for view in &detections.views {
        let Some(corners) = &view.corners_px else {
            continue;
        };
        let normalised: Vec<Point2<f64>> = corners
            .iter()
            .map(|p| {
                let ray = camera.ray_in_cam(p);
                Point2::new(ray.x, ray.y)
            })
            .collect();
        let Some(pose) = homography(&plane, &normalised)
            .and_then(|h| pose_from_homography(&h, &PinholeGuess::NORMALISED))
        else {
            continue;
        };
        views.insert(view.name.clone(), ViewState::new(corners, pose));
    }
    if views.is_empty() {
        return Err(CalibrateError::TooFewViews {
            camera: detections.id.clone(),
            board,
            found: 0,
            images: detections.views.len(),
            hint: String::new(),
        });
    }
    Ok(CameraState {
        id: detections.id.clone(),
        width: detections.width,
        height: detections.height,
        intrinsics: intrinsic_block(
            camera.fx,
            camera.fy,
            camera.cx,
            camera.cy,
            camera.distortion,
        ),
        views_without_board: detections.views.len() - views.len(),
        views,
        views_rejected: 0,
    })
}
