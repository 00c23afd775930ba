//! GPU driver of `shaders/render/splat.wgsl`: the cloud is uploaded once,
//! each frame clears the depth and colour-sum buffers, runs splat_depth ->
//! splat_color -> resolve in one command buffer, then reads the RGBA frame
//! back.

use bytemuck::Zeroable;

use crate::calibration::Camera;
use crate::gpu::gpu_types::{CameraGpu, PointGpu, SplatViewGpu};
use crate::gpu::{Access, GpuContext, GpuError, bind_buffers, dispatch_size, storage_layout};
use crate::reconstruct::PointCloud;

/// Workgroup size of the per-point passes (`@workgroup_size(256, 1, 1)`).
pub const SPLAT_POINT_WORKGROUP: u32 = 256;
/// Workgroup edge of the per-pixel passes (`@workgroup_size(16, 16, 1)`).
pub const SPLAT_PIXEL_WORKGROUP_EDGE: u32 = 16;

/// Look of the splats.
#[derive(Debug, Clone, Copy)]
pub struct SplatStyle {
    /// Largest splat radius, pixels.
    pub max_radius_px: u32,
    /// Hole-fill search radius, pixels.
    pub hole_fill_px: u32,
    /// Splats within this relative depth of the nearest are blended.
    pub depth_tolerance: f32,
    /// Multiplier on each point's radius.
    pub radius_scale: f32,
    /// Background at the top of the frame (linear RGB 0..1).
    pub background_top: [f32; 3],
    /// Background at the bottom.
    pub background_bottom: [f32; 3],
}

impl Default for SplatStyle {
    fn default() -> Self {
        Self {
            max_radius_px: 6,
            hole_fill_px: 2,
            depth_tolerance: 0.01,
            radius_scale: 0.7,
            background_top: [0.35, 0.55, 0.85],
            background_bottom: [0.75, 0.82, 0.9],
        }
    }
}

/// Converts a cloud to GPU points.
#[must_use]
pub fn gpu_points(cloud: &PointCloud) -> Vec<PointGpu> {
    (0..cloud.len())
        .map(|i| {
            let c = cloud.colors[i];
            PointGpu {
                position_in_world: cloud.positions_in_world[i],
                radius_m: cloud.radii_m.get(i).copied().unwrap_or(0.01),
                color_rgba: u32::from(c[0])
                    | (u32::from(c[1]) << 8)
                    | (u32::from(c[2]) << 16)
                    | (255 << 24),
                pad: [0; 3],
            }
        })
        .collect()
}

/// The per-view uniforms.
#[must_use]
pub fn splat_view(camera: &Camera, point_count: usize, style: &SplatStyle) -> SplatViewGpu {
    const NEAR_PLANE_M: f32 = 0.05;
    let [t0, t1, t2] = style.background_top;
    let [b0, b1, b2] = style.background_bottom;
    SplatViewGpu {
        camera: CameraGpu::new(camera, 0),
        counts: [
            point_count as u32,
            style.max_radius_px.max(1),
            style.hole_fill_px,
            0,
        ],
        tuning: [style.depth_tolerance, style.radius_scale, NEAR_PLANE_M, 0.0],
        background_top: [t0, t1, t2, 0.0],
        background_bottom: [b0, b1, b2, 0.0],
    }
}

/// A cloud resident on the GPU.
pub struct GpuCloud {
    buffer: wgpu::Buffer,
    count: usize,
}

impl GpuCloud {
    /// Number of points.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Per-size buffers, reused frame after frame.
pub struct RenderTarget {
    width: u32,
    height: u32,
    depth: wgpu::Buffer,
    sums: wgpu::Buffer,
    color: wgpu::Buffer,
}

impl RenderTarget {
    /// Frame size.
    #[must_use]
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

/// Compiled splat pipelines.
pub struct SplatRenderer {
    layout: wgpu::BindGroupLayout,
    depth: wgpu::ComputePipeline,
    color: wgpu::ComputePipeline,
    resolve: wgpu::ComputePipeline,
}

impl SplatRenderer {
    /// Compiles the three passes (one module, one shared layout).
    #[must_use]
    pub fn new(ctx: &GpuContext) -> Self {
        let module = ctx.shader_module(
            "splat",
            &crate::gpu::with_common(crate::shader!("render/splat.wgsl")),
        );
        let (layout, pipeline_layout) = storage_layout(
            &ctx.device,
            "splat",
            &[
                Access::Uniform,
                Access::ReadOnly,
                Access::ReadWrite,
                Access::ReadWrite,
                Access::ReadWrite,
            ],
        );
        let make = |entry: &str| ctx.compute_pipeline(entry, &module, &pipeline_layout, entry);
        Self {
            depth: make("splat_depth"),
            color: make("splat_color"),
            resolve: make("resolve"),
            layout,
        }
    }

    /// Uploads a cloud.
    #[must_use]
    pub fn upload(&self, ctx: &GpuContext, cloud: &PointCloud) -> GpuCloud {
        let points = gpu_points(cloud);
        let count = points.len();
        // A binding must hold at least one point, even for an empty cloud.
        let padded = if points.is_empty() {
            vec![PointGpu::zeroed()]
        } else {
            points
        };
        GpuCloud {
            buffer: ctx.storage_buffer(
                "splat points",
                bytemuck::cast_slice(&padded),
                wgpu::BufferUsages::empty(),
            ),
            count,
        }
    }

    /// Allocates frame buffers for `width` x `height`.
    #[must_use]
    pub fn target(&self, ctx: &GpuContext, width: u32, height: u32) -> RenderTarget {
        let pixels = u64::from(width) * u64::from(height);
        RenderTarget {
            width,
            height,
            depth: ctx.storage_buffer_zeroed("splat depth", pixels * 4),
            sums: ctx.storage_buffer_zeroed("splat colour sums", pixels * 16),
            color: ctx.storage_buffer_zeroed("splat colour", pixels * 4),
        }
    }

    /// Renders `cloud` from `camera` into `target` and reads back RGBA8.
    /// The camera's size must equal the target's (it is rescaled if not).
    ///
    /// # Errors
    /// GPU validation or readback errors.
    pub fn render(
        &self,
        ctx: &GpuContext,
        cloud: &GpuCloud,
        target: &RenderTarget,
        camera: &Camera,
        style: &SplatStyle,
    ) -> Result<Vec<u8>, GpuError> {
        let camera = if (camera.width, camera.height) == (target.width, target.height) {
            camera.clone()
        } else {
            camera.scaled(target.width, target.height)
        };
        ctx.with_validation("splat render", || {
            let view = splat_view(&camera, cloud.count, style);
            let view_buffer = ctx.uniform_buffer("splat view", bytemuck::bytes_of(&view));
            let bind_group = bind_buffers(
                &ctx.device,
                "splat",
                &self.layout,
                &[
                    &view_buffer,
                    &cloud.buffer,
                    &target.depth,
                    &target.sums,
                    &target.color,
                ],
            );
            let pixel_groups = (
                target.width.div_ceil(SPLAT_PIXEL_WORKGROUP_EDGE),
                target.height.div_ceil(SPLAT_PIXEL_WORKGROUP_EDGE),
            );
            let point_groups = dispatch_size(cloud.count as u32, SPLAT_POINT_WORKGROUP);
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("splat"),
                });
            encoder.clear_buffer(&target.depth, 0, None);
            encoder.clear_buffer(&target.sums, 0, None);
            for (pipeline, groups) in [
                (&self.depth, point_groups),
                (&self.color, point_groups),
                (&self.resolve, pixel_groups),
            ] {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("splat pass"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &bind_group, &[]);
                pass.dispatch_workgroups(groups.0, groups.1, 1);
            }
            ctx.queue.submit([encoder.finish()]);
            ctx.read_buffer(
                &target.color,
                u64::from(target.width) * u64::from(target.height) * 4,
            )
        })
    }
}
