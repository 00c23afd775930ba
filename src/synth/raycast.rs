//! GPU raycaster for the synthetic scene (`shaders/synth/raycast.wgsl`).
//!
//! One dispatch per image: 16x16 workgroups over the pixel grid; each
//! invocation traces SS x SS supersamples for colour and one centre ray for
//! the ground-truth z-depth.

use crate::calibration::Camera;
use crate::gpu::gpu_types::{CameraGpu, PrimitiveGpu, RaycastParamsGpu};
use crate::gpu::{Access, GpuContext, GpuError, bind_buffers, storage_layout};

/// Workgroup edge of `raycast.wgsl`'s `main` (`@workgroup_size(16, 16, 1)`).
pub const RAYCAST_WORKGROUP_EDGE: u32 = 16;

/// Unit direction towards the sun (world) and the ambient light fraction.
pub const SUN: [f32; 4] = [0.424_264, -0.318_198, 0.848_528, 0.45];
/// Sky colour at the horizon.
pub const SKY_HORIZON: [f32; 4] = [0.75, 0.82, 0.9, 0.0];
/// Sky colour at the zenith.
pub const SKY_ZENITH: [f32; 4] = [0.35, 0.55, 0.85, 0.0];

/// A rendered synthetic image.
#[derive(Debug, Clone)]
pub struct RaycastImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGBA8, row-major.
    pub rgba: Vec<u8>,
    /// z-depth in metres of each pixel centre (0 where only sky is seen).
    pub depth_m: Vec<f32>,
}

/// Builds the uniforms for one camera.
#[must_use]
pub fn raycast_params(
    camera: &Camera,
    primitive_count: usize,
    supersample: u32,
) -> RaycastParamsGpu {
    RaycastParamsGpu {
        camera: CameraGpu::new(camera, 0),
        sun: SUN,
        counts: [primitive_count as u32, supersample.max(1), 0, 0],
        sky_horizon: SKY_HORIZON,
        sky_zenith: SKY_ZENITH,
    }
}

/// The compiled raycast pipeline.
pub struct Raycaster {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
}

impl Raycaster {
    /// Compiles the shader.
    #[must_use]
    pub fn new(ctx: &GpuContext) -> Self {
        let module = ctx.shader_module(
            "synth raycast",
            &crate::gpu::with_common(crate::shader!("synth/raycast.wgsl")),
        );
        let (layout, pipeline_layout) = storage_layout(
            &ctx.device,
            "synth raycast",
            &[
                Access::Uniform,
                Access::ReadOnly,
                Access::ReadWrite,
                Access::ReadWrite,
            ],
        );
        let pipeline = ctx.compute_pipeline("synth raycast", &module, &pipeline_layout, "main");
        Self { layout, pipeline }
    }

    /// Renders `primitives` as seen by `camera` (distortion ignored: the
    /// generator's cameras are pinhole), with its ground-truth depth.
    ///
    /// # Errors
    /// GPU validation or readback errors.
    pub fn render(
        &self,
        ctx: &GpuContext,
        camera: &Camera,
        primitives: &[PrimitiveGpu],
        supersample: u32,
    ) -> Result<RaycastImage, GpuError> {
        self.render_with(ctx, camera, primitives, supersample, true)
    }

    /// As [`Self::render`]; `with_depth = false` skips reading the depth
    /// back (`depth_m` is then empty), for frames that need no truth.
    ///
    /// # Errors
    /// GPU validation or readback errors.
    pub fn render_with(
        &self,
        ctx: &GpuContext,
        camera: &Camera,
        primitives: &[PrimitiveGpu],
        supersample: u32,
        with_depth: bool,
    ) -> Result<RaycastImage, GpuError> {
        let (width, height) = (camera.width, camera.height);
        let pixel_count = u64::from(width) * u64::from(height);
        ctx.with_validation("synth raycast", || {
            let params = raycast_params(camera, primitives.len(), supersample);
            let params_buffer = ctx.uniform_buffer("raycast params", bytemuck::bytes_of(&params));
            let primitive_buffer = ctx.storage_buffer(
                "primitives",
                bytemuck::cast_slice(primitives),
                wgpu::BufferUsages::empty(),
            );
            let color_buffer = ctx.storage_buffer_zeroed("raycast colour", pixel_count * 4);
            let depth_buffer = ctx.storage_buffer_zeroed("raycast depth", pixel_count * 4);
            let bind_group = bind_buffers(
                &ctx.device,
                "synth raycast",
                &self.layout,
                &[
                    &params_buffer,
                    &primitive_buffer,
                    &color_buffer,
                    &depth_buffer,
                ],
            );
            ctx.dispatch(
                "raycast",
                &self.pipeline,
                &bind_group,
                (
                    width.div_ceil(RAYCAST_WORKGROUP_EDGE),
                    height.div_ceil(RAYCAST_WORKGROUP_EDGE),
                ),
            );
            let rgba = ctx.read_buffer(&color_buffer, pixel_count * 4)?;
            let depth_bytes = if with_depth {
                ctx.read_buffer(&depth_buffer, pixel_count * 4)?
            } else {
                Vec::new()
            };
            Ok(RaycastImage {
                width,
                height,
                rgba,
                depth_m: bytemuck::pod_collect_to_vec(&depth_bytes),
            })
        })
    }
}

/// The exact visible surface of a rendered image as a point cloud: each
/// pixel with a depth, unprojected, with its colour and a splat radius of
/// `radius_per_footprint` pixel footprints; only points `keep` accepts.
#[must_use]
pub fn surface_cloud(
    camera: &Camera,
    image: &RaycastImage,
    radius_per_footprint: f64,
    keep: impl Fn(&nalgebra::Point3<f64>) -> bool,
) -> crate::reconstruct::PointCloud {
    let mut cloud = crate::reconstruct::PointCloud::default();
    for (i, &depth) in image.depth_m.iter().enumerate() {
        if depth <= 0.0 {
            continue;
        }
        let pixel = nalgebra::Point2::new(
            f64::from(i as u32 % image.width),
            f64::from(i as u32 / image.width),
        );
        let p = camera.unproject(&pixel, f64::from(depth));
        if !keep(&p) {
            continue;
        }
        cloud
            .positions_in_world
            .push([p.x as f32, p.y as f32, p.z as f32]);
        cloud.colors.push([
            image.rgba[i * 4],
            image.rgba[i * 4 + 1],
            image.rgba[i * 4 + 2],
        ]);
        cloud
            .radii_m
            .push((radius_per_footprint * f64::from(depth) / camera.fx) as f32);
    }
    cloud
}

/// Scales the RGB of an RGBA8 image by `exposure` (rounded, saturating):
/// the clean plates' lighting change.
pub fn apply_exposure(rgba: &mut [u8], exposure: f32) {
    for pixel in rgba.chunks_exact_mut(4) {
        for c in &mut pixel[..3] {
            *c = (f32::from(*c) * exposure).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Renders `primitives` from every camera of `rig` (SS x SS supersampled,
/// RGB scaled by `exposure`), as ingest would deliver the frames.
///
/// # Errors
/// GPU errors.
pub fn render_rig(
    ctx: &GpuContext,
    rig: &crate::calibration::Rig,
    primitives: &[PrimitiveGpu],
    supersample: u32,
    exposure: f32,
) -> Result<Vec<crate::ingest::RgbaImage>, GpuError> {
    let raycaster = Raycaster::new(ctx);
    rig.cameras
        .iter()
        .map(|camera| {
            let mut image = raycaster.render_with(ctx, camera, primitives, supersample, false)?;
            apply_exposure(&mut image.rgba, exposure);
            Ok(crate::ingest::RgbaImage {
                width: image.width,
                height: image.height,
                rgba: std::sync::Arc::new(image.rgba),
            })
        })
        .collect()
}
