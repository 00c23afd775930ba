//! Camera models, rig files and the calibration solvers.
//!
//! # Conventions
//! - World: metres, right-handed, **z up**, ground plane z = 0.
//! - Camera (optical) frame: OpenCV, x right, y down, z forward.
//! - Poses are stored as `cam_from_world` (R, t): `X_cam = R * X_world + t`,
//!   the OpenCV and COLMAP convention.
//! - Pixels: (0, 0) is the centre of the top-left pixel (COLMAP puts it at
//!   (0.5, 0.5); the COLMAP importer/exporter shifts by half a pixel).
//! - Intrinsics fx, fy, cx, cy in pixels; distortion OpenCV (k1, k2, p1, p2, k3).
//! - Precision: f64 on the CPU; f32 only at the GPU boundary.
//! - Calibration boards: the board frame is OpenCV's object-point frame
//!   (see [`BoardSpec`]); a ring's world frame is the board at the first
//!   placement two cameras share, or the venue's when surveyed points are
//!   given.

mod board;
mod bundle;
mod camera;
mod colmap;
mod detect;
mod rig;
mod solve;
mod zhang;

pub use board::{BoardSpec, BoardSpecError};
pub use camera::{Camera, Distortion};
pub use colmap::{export_colmap, import_colmap};
pub use detect::{BoardDetection, BoardDetector, DetectMiss, refine_corner};
pub use rig::{CalibrationError, Rig, load_rig, save_rig};
pub use solve::{
    CalibrateError, CalibrateOptions, Calibration, CalibrationReport, CameraDetections,
    CameraReport, MIN_VIEWS, Survey, ViewDetection, calibrate, check_rig,
};
