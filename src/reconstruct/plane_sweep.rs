//! GPU driver of `shaders/reconstruct/plane_sweep.wgsl`.
//!
//! All undistorted grey images are uploaded once, packed in one storage
//! buffer; then one dispatch per reference camera (16x16 workgroups over its
//! pixels) writes its depth and score maps, which are read back for fusion.

use crate::gpu::gpu_types::{CameraGpu, SweepParamsGpu};
use crate::gpu::{Access, GpuContext, GpuError, bind_buffers, storage_layout};

/// Workgroup edge of `plane_sweep.wgsl`'s `sweep` (`@workgroup_size(16, 16, 1)`).
pub const SWEEP_WORKGROUP_EDGE: u32 = 16;

/// Compiled plane-sweep pipeline.
pub struct PlaneSweep {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
}

/// One reference camera's result at one level.
#[derive(Debug, Clone, Default)]
pub struct DepthMap {
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// z-depth per pixel, metres (0 = none).
    pub depth_m: Vec<f32>,
    /// Photo-consistency score per pixel (NCC, -1 = none).
    pub score: Vec<f32>,
    /// The coarsest level's cost volume when asked for
    /// (`SweepParamsGpu::support[2]` = 1), else empty: per pixel, the first
    /// depth (m), the depth step (m; 0 = not swept) and each depth
    /// sample's score ([`super::sgm`]).
    pub volume: Vec<f32>,
}

/// Packed cameras and grey images, resident on the GPU.
pub struct SweepInputs {
    cameras: Vec<CameraGpu>,
    camera_buffer: wgpu::Buffer,
    gray_buffer: wgpu::Buffer,
}

/// Words of the cost volume a pass writes (0 unless it is a coarsest-level
/// pass asked for one): `counts[2]` (clamped as the kernel does) + 2 per
/// pixel.
#[must_use]
pub fn volume_words(params: &SweepParamsGpu, width: u32, height: u32) -> u64 {
    if !writes_volume(params) {
        return 0;
    }
    let samples = params.counts[2].clamp(3, MAX_SAMPLES);
    u64::from(width) * u64::from(height) * u64::from(samples + 2)
}

/// Whether a pass writes its cost volume: a coarsest-level pass (mode 0)
/// asked for one (`support[2]` = 1).
#[must_use]
pub fn writes_volume(params: &SweepParamsGpu) -> bool {
    params.counts[3] == 0 && params.support[2] >= 0.5
}

/// Most depth samples along a ray (`MAX_SAMPLES` in the kernel).
pub const MAX_SAMPLES: u32 = 64;

impl PlaneSweep {
    /// Compiles the kernel.
    #[must_use]
    pub fn new(ctx: &GpuContext) -> Self {
        let module = ctx.shader_module(
            "plane sweep",
            &crate::gpu::with_common(crate::shader!("reconstruct/plane_sweep.wgsl")),
        );
        let (layout, pipeline_layout) = storage_layout(
            &ctx.device,
            "plane sweep",
            &[
                Access::Uniform,
                Access::ReadOnly,
                Access::ReadOnly,
                Access::ReadOnly,
                Access::ReadWrite,
                Access::ReadWrite,
                Access::ReadWrite,
            ],
        );
        let pipeline = ctx.compute_pipeline("plane sweep", &module, &pipeline_layout, "sweep");
        Self { layout, pipeline }
    }

    /// Uploads all cameras (every view at every level) and grey pixels once.
    #[must_use]
    pub fn upload(&self, ctx: &GpuContext, cameras: &[CameraGpu], gray: &[f32]) -> SweepInputs {
        SweepInputs {
            cameras: cameras.to_vec(),
            camera_buffer: ctx.storage_buffer(
                "sweep cameras",
                bytemuck::cast_slice(cameras),
                wgpu::BufferUsages::empty(),
            ),
            gray_buffer: ctx.storage_buffer(
                "sweep grey",
                bytemuck::cast_slice(gray),
                wgpu::BufferUsages::empty(),
            ),
        }
    }

    /// Runs one pass (one reference camera at one level); `prior` is the
    /// coarser level's depth map (mode 1) or empty (mode 0).
    ///
    /// # Errors
    /// GPU validation or readback errors.
    pub fn run(
        &self,
        ctx: &GpuContext,
        inputs: &SweepInputs,
        params: &SweepParamsGpu,
        prior: &[f32],
    ) -> Result<DepthMap, GpuError> {
        ctx.with_validation("plane sweep", || {
            let reference = inputs.cameras[params.counts[0] as usize];
            let (width, height) = (reference.size[0], reference.size[1]);
            let bytes = u64::from(width) * u64::from(height) * 4;
            let params_buffer = ctx.uniform_buffer("sweep params", bytemuck::bytes_of(params));
            let prior_buffer = ctx.storage_buffer(
                "sweep prior",
                bytemuck::cast_slice(prior),
                wgpu::BufferUsages::empty(),
            );
            let depth_buffer = ctx.storage_buffer_zeroed("sweep depth", bytes);
            let score_buffer = ctx.storage_buffer_zeroed("sweep score", bytes);
            let volume_bytes = volume_words(params, width, height) * 4;
            let volume_buffer = ctx.storage_buffer_zeroed("sweep volume", volume_bytes);
            let bind_group = bind_buffers(
                &ctx.device,
                "plane sweep",
                &self.layout,
                &[
                    &params_buffer,
                    &inputs.camera_buffer,
                    &inputs.gray_buffer,
                    &prior_buffer,
                    &depth_buffer,
                    &score_buffer,
                    &volume_buffer,
                ],
            );
            ctx.dispatch(
                "sweep",
                &self.pipeline,
                &bind_group,
                (
                    width.div_ceil(SWEEP_WORKGROUP_EDGE),
                    height.div_ceil(SWEEP_WORKGROUP_EDGE),
                ),
            );
            let depth_m = bytemuck::pod_collect_to_vec(&ctx.read_buffer(&depth_buffer, bytes)?);
            let score = bytemuck::pod_collect_to_vec(&ctx.read_buffer(&score_buffer, bytes)?);
            let volume = if volume_bytes > 0 {
                bytemuck::pod_collect_to_vec(&ctx.read_buffer(&volume_buffer, volume_bytes)?)
            } else {
                Vec::new()
            };
            Ok(DepthMap {
                width,
                height,
                depth_m,
                score,
                volume,
            })
        })
    }
}
