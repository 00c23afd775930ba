//! Plain-old-data structs shared with WGSL, byte for byte.
//!
//! Each struct is `#[repr(C)]`, `Pod`, explicitly padded to 16-byte
//! multiples, and names its WGSL twin. Geometry is f64 on the CPU; it
//! becomes f32 only here, at the GPU boundary.

use bytemuck::{Pod, Zeroable};
use static_assertions::assert_eq_size;

use crate::calibration::Camera;

/// A pinhole camera. WGSL twin: `Camera` in `shaders/common/camera.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct CameraGpu {
    /// Rows of `[R | t]` of `cam_from_world`: `X_cam = R X_world + t`.
    pub cam_from_world_rows: [[f32; 4]; 3],
    /// fx, fy, cx, cy in pixels.
    pub intrinsics: [f32; 4],
    /// width, height, offset of this camera's first pixel in a packed image buffer, unused.
    pub size: [u32; 4],
}
assert_eq_size!(CameraGpu, [u8; 80]);

impl CameraGpu {
    /// Converts a camera (distortion is ignored: images given to GPU kernels
    /// are undistorted first) with `pixel_offset` into a packed image buffer.
    #[must_use]
    pub fn new(camera: &Camera, pixel_offset: u32) -> Self {
        let m = camera.cam_from_world.to_homogeneous();
        let row = |r: usize| {
            [
                m[(r, 0)] as f32,
                m[(r, 1)] as f32,
                m[(r, 2)] as f32,
                m[(r, 3)] as f32,
            ]
        };
        Self {
            cam_from_world_rows: [row(0), row(1), row(2)],
            intrinsics: [
                camera.fx as f32,
                camera.fy as f32,
                camera.cx as f32,
                camera.cy as f32,
            ],
            size: [camera.width, camera.height, pixel_offset, 0],
        }
    }
}

/// One splat of a point cloud. WGSL twin: `Point` in `shaders/render/splat.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct PointGpu {
    /// Position in world, metres.
    pub position_in_world: [f32; 3],
    /// Splat radius, metres.
    pub radius_m: f32,
    /// Colour, RGBA8 packed little-endian (r in the low byte).
    pub color_rgba: u32,
    /// Padding to 32 bytes.
    pub pad: [u32; 3],
}
assert_eq_size!(PointGpu, [u8; 32]);

/// Per-view uniforms of the splat renderer. WGSL twin: `View` in `shaders/render/splat.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct SplatViewGpu {
    /// The virtual camera.
    pub camera: CameraGpu,
    /// Number of points, max splat radius (px), hole-fill radius (px), unused.
    pub counts: [u32; 4],
    /// Depth tolerance (relative), splat radius scale, unused, unused.
    pub tuning: [f32; 4],
    /// Background colour at the top of the image (linear 0..1 RGB, A unused).
    pub background_top: [f32; 4],
    /// Background colour at the bottom of the image.
    pub background_bottom: [f32; 4],
    /// Source views blended per pixel (0 = flat point colours), words of
    /// the source depth maps (the closed maps follow), unused x2.
    pub sources: [u32; 4],
    /// Backdrop proxy: centre x, centre y (m), cylinder radius (m, 0 =
    /// none), ground height z (m).
    pub backdrop: [f32; 4],
    /// Visibility tolerance (relative, absolute m), smallest blend angle
    /// (rad), ground snap height (m).
    pub blend: [f32; 4],
    /// Where the sources look (world m), and the number of bins of the
    /// backdrop colour table (0 = none; see `render::backdrop`).
    pub focus: [f32; 4],
    /// See-through fill: radius (px, 0 = off), probe stride (px), how much
    /// nearer (relative) the surrounding surface must be, unused.
    pub see_through: [f32; 4],
    /// Where a source's own depth map is empty at a point, something this
    /// much nearer (m) in its closed map hides it; unused x3.
    pub gap_visibility: [f32; 4],
    /// The blended sources' cameras, nearest first (`size[2]` = first
    /// pixel in the packed source buffers): uniform, so the per-pixel blend
    /// reads them without a per-pixel indexed load.
    pub selected_cameras: [CameraGpu; 4],
}
assert_eq_size!(SplatViewGpu, [u8; 560]);

/// A scene primitive of the synthetic generator. WGSL twin: `Primitive` in
/// `shaders/synth/raycast.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct PrimitiveGpu {
    /// Kind (see `synth::scene::PrimitiveKind`), unused x3.
    pub kind: [u32; 4],
    /// Kind-specific: sphere centre+radius, capsule p0+radius, box min, disk/cylinder radius in w.
    pub a: [f32; 4],
    /// Kind-specific: capsule p1, box max, cylinder height in w.
    pub b: [f32; 4],
    /// First texture colour (linear RGB) and texture frequency (1/m) in w.
    pub color0: [f32; 4],
    /// Second texture colour (linear RGB) and texture anchor flag in w (1 = local to `a`).
    pub color1: [f32; 4],
}
assert_eq_size!(PrimitiveGpu, [u8; 80]);

/// Uniforms of the synthetic raycaster. WGSL twin: `Params` in `shaders/synth/raycast.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct RaycastParamsGpu {
    /// The camera being rendered.
    pub camera: CameraGpu,
    /// Direction towards the sun (world, unit) and ambient light in w.
    pub sun: [f32; 4],
    /// Number of primitives, supersampling per axis, unused x2.
    pub counts: [u32; 4],
    /// Sky colour at the horizon (linear RGB).
    pub sky_horizon: [f32; 4],
    /// Sky colour at the zenith (linear RGB).
    pub sky_zenith: [f32; 4],
}
assert_eq_size!(RaycastParamsGpu, [u8; 144]);

/// Uniforms of one plane-sweep pass. WGSL twin: `Params` in
/// `shaders/reconstruct/plane_sweep.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct SweepParamsGpu {
    /// Reference camera index, number of neighbours, depth samples, mode (0 = full sweep, 1 = refine around prior).
    pub counts: [u32; 4],
    /// Neighbour camera indices (first `counts[1]` are used).
    pub neighbours: [u32; 4],
    /// Volume of interest minimum corner (world, metres), w unused.
    pub roi_min: [f32; 4],
    /// Volume of interest maximum corner (world, metres), w unused.
    pub roi_max: [f32; 4],
    /// Minimum reference window std-dev (0..1 grey), min depth (m), window dilation (px), refine search radius (m).
    pub tuning: [f32; 4],
    /// Prior (coarser level) depth map width, height; vertical plane
    /// orientations tried besides fronto-parallel and horizontal; 1 = a
    /// depth's score is its best neighbour's NCC alone (else the mean of the
    /// two best).
    pub prior_size: [u32; 4],
    /// Adaptive support of the matching window: grey sigma (0..1 grey; 0 =
    /// every tap weighs the same), spatial sigma (taps); z 1 = the
    /// coarsest level writes its cost volume; w: weight of the difference
    /// between the reference pixel's grey and a neighbour's where the
    /// candidate projects, subtracted from that neighbour's NCC.
    pub support: [f32; 4],
}
assert_eq_size!(SweepParamsGpu, [u8; 112]);

/// Largest number of views in one foreground reconstruction (the size of
/// the neighbour table in [`ForegroundParamsGpu`]).
pub const FOREGROUND_MAX_VIEWS: usize = 64;

/// Uniforms of the foreground kernels. WGSL twin: `Params` in
/// `shaders/reconstruct/foreground.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct ForegroundParamsGpu {
    /// Views, listed pixels, row stride of the 1D invocation index, max hull steps.
    pub counts: [u32; 4],
    /// Volume of interest minimum corner (world, metres); w: hull step (m).
    pub roi_min: [f32; 4],
    /// Volume of interest maximum corner (world, metres); w: min depth (m).
    pub roi_max: [f32; 4],
    /// Max chromatic distortion, min and max brightness ratio, plate norm floor.
    pub segment: [f32; 4],
    /// Min reference std-dev (grey 0..1), window dilation (px), depth step (m), max depth below the hull front (m).
    pub sweep: [f32; 4],
    /// Offset of the clean plates in the colour buffer (pixels), `refine` iteration, unused x2.
    pub offsets: [u32; 4],
    /// Occlusion-aware sweep: x 1 = on (`hint` holds each view's depth of
    /// the first pass's cloud), y: how far (m) a neighbour's hint depth may
    /// lie in front of a candidate before that neighbour counts as
    /// occluded, z: search half-range (m) around the reference pixel's own
    /// hint depth, w 1 = coarse steps only (a first pass that seeds the
    /// occlusion-aware one, or an occlusion-aware pass `refine` follows).
    pub visibility: [f32; 4],
    /// x: brightness ratio below which a background pixel is only
    /// shadow-like (`segment` writes 2: not listed, but it does not carve
    /// the hull); y: weight of the colour difference (mean absolute RGB,
    /// 0..1) in the matching score; z, w unused.
    pub tuning: [f32; 4],
    /// Per view, up to 4 neighbour views (`u32::MAX` = none).
    pub neighbours: [[u32; 4]; FOREGROUND_MAX_VIEWS],
    /// The views' cameras (`size[2]` = pixel offset).
    pub cameras: [CameraGpu; FOREGROUND_MAX_VIEWS],
}
assert_eq_size!(ForegroundParamsGpu, [u8; 6272]);
