//! Rendering: point clouds to RGBA frames from virtual cameras, and the
//! camera paths (orbit templates) that fly those cameras.

pub mod backdrop;
pub mod camera_path;
pub mod cpu_ref;
pub mod quality;
pub mod replay;
mod splat;
pub mod track;

pub use backdrop::fit_backdrop;
pub use camera_path::{
    ArcDirection, ArcPath, CameraPath, Easing, Keyframe, KeyframePath, OrbitPath, PathError,
};
pub use replay::{BoundReplay, Playlist, ReplayFrame, ReplayTemplate, TimeBehaviour};
pub use splat::{
    BACKDROP_COLOUR_BINS, Backdrop, BlendInputs, GpuCloud, MAX_BLENDED_SOURCES, RenderTarget,
    SEE_THROUGH_HITS, SEE_THROUGH_PROBES, SPLAT_PIXEL_WORKGROUP_EDGE, SPLAT_POINT_WORKGROUP,
    SourceViews, SplatRenderer, SplatStyle, rig_focus, select_sources, splat_view,
};
pub use track::PivotTrack;

/// Errors of rendering.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A source camera's image does not have the camera's size.
    #[error(
        "source camera {camera:?} is {width}x{height} but its image is {got_width}x{got_height}"
    )]
    SourceSize {
        /// Camera id.
        camera: String,
        /// Camera width, pixels.
        width: u32,
        /// Camera height, pixels.
        height: u32,
        /// Image width, pixels.
        got_width: u32,
        /// Image height, pixels.
        got_height: u32,
    },
    /// GPU failure.
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
}

/// The rig's cameras that have an image, as pinhole cameras with their
/// undistorted images: the sources of view-dependent colour.
#[must_use]
pub fn undistorted_sources(
    rig: &crate::calibration::Rig,
    images: &[Option<crate::ingest::RgbaImage>],
) -> Vec<(crate::calibration::Camera, crate::ingest::RgbaImage)> {
    use rayon::prelude::*;
    rig.cameras
        .par_iter()
        .zip(images.par_iter())
        .filter_map(|(camera, image)| {
            let image = image.as_ref()?;
            ((image.width, image.height) == (camera.width, camera.height)).then(|| {
                (
                    camera.pinhole(),
                    crate::reconstruct::undistort(camera, image),
                )
            })
        })
        .collect()
}
