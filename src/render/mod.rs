//! Rendering: point clouds to RGBA frames from virtual cameras, and the
//! camera paths (orbit templates) that fly those cameras.

pub mod camera_path;
pub mod cpu_ref;
mod splat;

pub use camera_path::{CameraPath, Easing, OrbitPath, PathError};
pub use splat::{
    GpuCloud, RenderTarget, SPLAT_PIXEL_WORKGROUP_EDGE, SPLAT_POINT_WORKGROUP, SplatRenderer,
    SplatStyle, splat_view,
};
