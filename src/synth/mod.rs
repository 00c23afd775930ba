//! Synthetic captures: a deterministic procedural scene filmed by a camera
//! ring, rendered with our own wgpu raycaster, with exact ground truth.
//!
//! This is a *source* beside `ingest` (it stands in for real cameras): it
//! writes a capture folder (rig JSON, one H.264 MP4 per camera, lossless PNG
//! frames and depth maps of the freeze instant) that the pipeline then reads
//! like any other capture. Tests and the demo use it; nothing downstream of
//! ingest reads its ground truth.

pub mod board;
mod capture;
pub mod cpu_ref;
pub mod raycast;
pub mod scene;

pub use board::{BoardCapture, BoardCaptureSettings, board_capture, calibration_ring};
pub use capture::{
    CaptureManifest, CaptureSettings, PLATE_EXPOSURE, SyntheticCapture, TRUTH_SAMPLE_M, Truth,
    load_truth, write_capture,
};
pub use raycast::{RaycastImage, Raycaster};
pub use scene::{Scene, demo_rig};

/// Errors of the synthetic generator.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// GPU failure.
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    /// Writing the capture failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Encoding a camera's video failed.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    /// Writing the rig failed.
    #[error(transparent)]
    Calibration(#[from] crate::calibration::CalibrationError),
    /// PNG encoding failed.
    #[error("{path}: {reason}")]
    Image {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        reason: String,
    },
}
