//! GPU driver of `shaders/reconstruct/foreground.wgsl`: the frame set is
//! uploaded once; `segment` runs over every pixel of every view; the CPU
//! cleans the masks and lists the foreground pixels; `hull` and `sweep` run
//! over the list, then `refine` iterates on the occlusion-aware sweep's
//! planes. Each kernel is submitted and waited for on its own, so its wall
//! time is the GPU time of that kernel.

use std::time::Instant;

use crate::gpu::gpu_types::{CameraGpu, ForegroundParamsGpu};
use crate::gpu::{Access, GpuContext, GpuError, bind_buffers, dispatch_size, storage_layout};

/// Workgroup edge of `segment` (`@workgroup_size(16, 16, 1)`).
pub const SEGMENT_WORKGROUP_EDGE: u32 = 16;
/// Workgroup size of `hull`, `sweep` and `refine` (`@workgroup_size(64, 1, 1)`).
pub const LIST_WORKGROUP_SIZE: u32 = 64;

/// The compiled kernels.
pub struct ForegroundKernels {
    layout: wgpu::BindGroupLayout,
    segment: wgpu::ComputePipeline,
    hull: wgpu::ComputePipeline,
    sweep: wgpu::ComputePipeline,
    refine: wgpu::ComputePipeline,
}

/// A frame set resident on the GPU.
pub struct Resident {
    cameras: wgpu::Buffer,
    colors: wgpu::Buffer,
    mask: wgpu::Buffer,
    quads: wgpu::Buffer,
    /// The occlusion-aware pass's hint depths (packed like `mask`).
    hint: wgpu::Buffer,
    /// Stand-ins for `refine`'s bindings while the other kernels run.
    empty_read: wgpu::Buffer,
    empty_write: wgpu::Buffer,
    mask_bytes: u64,
    views: Vec<CameraGpu>,
}

/// What every kernel over the listed pixels binds: the dispatch size, the
/// uniforms with the list's length and row stride filled in (and
/// uploaded), the list and the per-pixel hull runs (or, for `hull`, the
/// bounds it reads first) uploaded.
struct ListInputs {
    groups: (u32, u32),
    params: ForegroundParamsGpu,
    params_buffer: wgpu::Buffer,
    pixel_buffer: wgpu::Buffer,
    runs_buffer: wgpu::Buffer,
}

impl ListInputs {
    /// `[params, pixels, runs, result]`, as the bind groups take them.
    fn with_result<'a>(&'a self, result: &'a wgpu::Buffer) -> [&'a wgpu::Buffer; 4] {
        [
            &self.params_buffer,
            &self.pixel_buffer,
            &self.runs_buffer,
            result,
        ]
    }
}

fn list_inputs(
    ctx: &GpuContext,
    params: &ForegroundParamsGpu,
    pixels: &[u32],
    runs: &[[f32; 4]],
) -> ListInputs {
    let count = pixels.len() as u32;
    let groups = dispatch_size(count, LIST_WORKGROUP_SIZE);
    let mut params = *params;
    params.counts[1] = count;
    params.counts[2] = groups.0 * LIST_WORKGROUP_SIZE;
    ListInputs {
        groups,
        params,
        params_buffer: ctx.uniform_buffer("fg params", bytemuck::bytes_of(&params)),
        pixel_buffer: ctx.storage_buffer(
            "fg pixels",
            bytemuck::cast_slice(pixels),
            wgpu::BufferUsages::empty(),
        ),
        runs_buffer: ctx.storage_buffer(
            "fg hull runs",
            bytemuck::cast_slice(runs),
            wgpu::BufferUsages::COPY_SRC,
        ),
    }
}

/// Wall time of one kernel (submit to completion), ms.
fn timed(ctx: &GpuContext, run: impl FnOnce()) -> Result<f64, GpuError> {
    let started = Instant::now();
    run();
    ctx.wait_idle()?;
    Ok(started.elapsed().as_secs_f64() * 1e3)
}

impl ForegroundKernels {
    /// Compiles the three kernels.
    #[must_use]
    pub fn new(ctx: &GpuContext) -> Self {
        let module = ctx.shader_module(
            "foreground",
            &crate::gpu::with_common(crate::shader!("reconstruct/foreground.wgsl")),
        );
        let (layout, pipeline_layout) = storage_layout(
            &ctx.device,
            "foreground",
            &[
                Access::Uniform,
                Access::ReadOnly,
                Access::ReadOnly,
                Access::ReadWrite,
                Access::ReadOnly,
                Access::ReadOnly,
                Access::ReadWrite,
                Access::ReadWrite,
                Access::ReadOnly,
                Access::ReadOnly,
                Access::ReadWrite,
                Access::ReadOnly,
                Access::ReadOnly,
            ],
        );
        Self {
            segment: ctx.compute_pipeline("fg segment", &module, &pipeline_layout, "segment"),
            hull: ctx.compute_pipeline("fg hull", &module, &pipeline_layout, "hull"),
            sweep: ctx.compute_pipeline("fg sweep", &module, &pipeline_layout, "sweep"),
            refine: ctx.compute_pipeline("fg refine", &module, &pipeline_layout, "refine"),
            layout,
        }
    }

    /// Uploads cameras, frames + plates (`colors`) and the frames' bilinear
    /// grey quads.
    #[must_use]
    pub fn upload(
        &self,
        ctx: &GpuContext,
        cameras: &[CameraGpu],
        colors: &[u32],
        quads: &[u32],
    ) -> Resident {
        let mask_bytes = colors.len() as u64 / 2 * 4;
        Resident {
            cameras: ctx.storage_buffer(
                "fg cameras",
                bytemuck::cast_slice(cameras),
                wgpu::BufferUsages::empty(),
            ),
            colors: ctx.storage_buffer(
                "fg colours",
                bytemuck::cast_slice(colors),
                wgpu::BufferUsages::empty(),
            ),
            mask: ctx.storage_buffer_zeroed("fg mask", mask_bytes),
            hint: ctx.storage_buffer_zeroed("fg hint", mask_bytes),
            empty_read: ctx.storage_buffer_zeroed("fg empty (read)", 16),
            empty_write: ctx.storage_buffer_zeroed("fg empty (write)", 16),
            quads: ctx.storage_buffer(
                "fg quads",
                bytemuck::cast_slice(quads),
                wgpu::BufferUsages::empty(),
            ),
            mask_bytes,
            views: cameras.to_vec(),
        }
    }

    /// Binds the resident frame set with `[params, pixels, runs, result]`
    /// (stand-ins for `refine`'s buffers).
    fn bind(
        &self,
        ctx: &GpuContext,
        resident: &Resident,
        buffers: [&wgpu::Buffer; 4],
    ) -> wgpu::BindGroup {
        self.bind_refine(
            ctx,
            resident,
            buffers,
            [
                &resident.empty_read,
                &resident.empty_write,
                &resident.empty_read,
                &resident.empty_read,
            ],
        )
    }

    /// Binds the resident frame set with `[params, pixels, runs, result]`
    /// and `refine`'s `[planes, planes_out, pixel_index, planes_before]`.
    fn bind_refine(
        &self,
        ctx: &GpuContext,
        resident: &Resident,
        [params, pixels, runs, result]: [&wgpu::Buffer; 4],
        [planes, planes_out, pixel_index, planes_before]: [&wgpu::Buffer; 4],
    ) -> wgpu::BindGroup {
        bind_buffers(
            &ctx.device,
            "foreground",
            &self.layout,
            &[
                params,
                &resident.cameras,
                &resident.colors,
                &resident.mask,
                &resident.quads,
                pixels,
                runs,
                result,
                &resident.hint,
                planes,
                planes_out,
                pixel_index,
                planes_before,
            ],
        )
    }

    /// Runs `segment`; returns the raw masks (packed like the frames)
    /// and the kernel time in ms.
    ///
    /// # Errors
    /// GPU validation or readback errors.
    pub fn segment(
        &self,
        ctx: &GpuContext,
        resident: &Resident,
        params: &ForegroundParamsGpu,
    ) -> Result<(Vec<u32>, f64), GpuError> {
        ctx.with_validation("fg segment", || {
            let params_buffer = ctx.uniform_buffer("fg params", bytemuck::bytes_of(params));
            let empty = ctx.storage_buffer_zeroed("fg empty", 16);
            let empty_runs = ctx.storage_buffer_zeroed("fg empty runs", 16);
            let empty_result = ctx.storage_buffer_zeroed("fg empty result", 16);
            let bind_group = self.bind(
                ctx,
                resident,
                [&params_buffer, &empty, &empty_runs, &empty_result],
            );
            let (max_w, max_h) = resident
                .views
                .iter()
                .fold((1, 1), |(w, h), c| (c.size[0].max(w), c.size[1].max(h)));
            let ms = timed(ctx, || {
                let mut encoder =
                    ctx.device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("fg segment"),
                        });
                {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("fg segment"),
                        timestamp_writes: None,
                    });
                    pass.set_pipeline(&self.segment);
                    pass.set_bind_group(0, &bind_group, &[]);
                    pass.dispatch_workgroups(
                        max_w.div_ceil(SEGMENT_WORKGROUP_EDGE),
                        max_h.div_ceil(SEGMENT_WORKGROUP_EDGE),
                        resident.views.len() as u32,
                    );
                }
                ctx.queue.submit([encoder.finish()]);
            })?;
            let mask = bytemuck::pod_collect_to_vec(
                &ctx.read_buffer(&resident.mask, resident.mask_bytes)?,
            );
            Ok((mask, ms))
        })
    }

    /// Replaces the resident masks (the cleaned, dilated silhouettes `hull` tests against).
    pub fn set_mask(&self, ctx: &GpuContext, resident: &Resident, mask: &[u32]) {
        ctx.queue
            .write_buffer(&resident.mask, 0, bytemuck::cast_slice(mask));
    }

    /// Replaces the resident hint depths (per pixel of every view, the
    /// z-depth of the first pass's cloud; 0 = none).
    pub fn set_hint(&self, ctx: &GpuContext, resident: &Resident, hint: &[f32]) {
        ctx.queue
            .write_buffer(&resident.hint, 0, bytemuck::cast_slice(hint));
    }

    /// Runs `sweep` alone over the listed pixels with their hull `runs`
    /// (the occlusion-aware pass: `params.visibility` set, hints resident);
    /// returns the (depth, score) results and the kernel time in ms.
    ///
    /// # Errors
    /// GPU validation or readback errors.
    pub fn sweep(
        &self,
        ctx: &GpuContext,
        resident: &Resident,
        params: &ForegroundParamsGpu,
        pixels: &[u32],
        runs: &[[f32; 4]],
    ) -> Result<(Vec<[f32; 2]>, f64), GpuError> {
        ctx.with_validation("fg sweep", || {
            let count = pixels.len() as u32;
            if count == 0 {
                return Ok((Vec::new(), 0.0));
            }
            let inputs = list_inputs(ctx, params, pixels, runs);
            let result_bytes = u64::from(count) * 8;
            let result_buffer = ctx.storage_buffer_zeroed("fg result", result_bytes);
            let bind_group = self.bind(ctx, resident, inputs.with_result(&result_buffer));
            let ms = timed(ctx, || {
                ctx.dispatch("fg sweep", &self.sweep, &bind_group, inputs.groups);
            })?;
            let result =
                bytemuck::pod_collect_to_vec(&ctx.read_buffer(&result_buffer, result_bytes)?);
            Ok((result, ms))
        })
    }

    /// Runs `iterations` of `refine` over the listed pixels from
    /// `planes` and `results` ([`super::cpu_ref::initial_planes`]), each
    /// submitted on its own with its index in `params.offsets[1]`; returns
    /// the final planes, (depth, score) results and the total time in ms.
    /// `params.visibility[0]` must be 0 (two-neighbour scores).
    ///
    /// # Errors
    /// GPU validation or readback errors.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    pub fn refine(
        &self,
        ctx: &GpuContext,
        resident: &Resident,
        params: &ForegroundParamsGpu,
        pixels: &[u32],
        runs: &[[f32; 4]],
        pixel_index: &[u32],
        planes: &[[f32; 4]],
        results: &[[f32; 2]],
        iterations: u32,
    ) -> Result<(Vec<[f32; 4]>, Vec<[f32; 2]>, f64), GpuError> {
        ctx.with_validation("fg refine", || {
            let count = pixels.len() as u32;
            if count == 0 || iterations == 0 {
                return Ok((planes.to_vec(), results.to_vec(), 0.0));
            }
            let inputs = list_inputs(ctx, params, pixels, runs);
            let mut params = inputs.params;
            let result_bytes = u64::from(count) * 8;
            let result_buffer = ctx.storage_buffer(
                "fg result",
                bytemuck::cast_slice(results),
                wgpu::BufferUsages::COPY_SRC,
            );
            let plane_bytes = u64::from(count) * 16;
            let planes_buffer = ctx.storage_buffer(
                "fg planes",
                bytemuck::cast_slice(planes),
                wgpu::BufferUsages::COPY_SRC,
            );
            let planes_out = ctx.storage_buffer_zeroed("fg planes out", plane_bytes);
            // Zero: no plane is "unchanged" in the first iteration.
            let planes_before = ctx.storage_buffer_zeroed("fg planes before", plane_bytes);
            let index_buffer = ctx.storage_buffer(
                "fg pixel index",
                bytemuck::cast_slice(pixel_index),
                wgpu::BufferUsages::empty(),
            );
            let bind_group = self.bind_refine(
                ctx,
                resident,
                inputs.with_result(&result_buffer),
                [&planes_buffer, &planes_out, &index_buffer, &planes_before],
            );
            let ms = timed(ctx, || {
                for iteration in 0..iterations {
                    params.offsets[1] = iteration;
                    ctx.queue
                        .write_buffer(&inputs.params_buffer, 0, bytemuck::bytes_of(&params));
                    ctx.dispatch("fg refine", &self.refine, &bind_group, inputs.groups);
                    // The next iteration reads this one's planes, and the
                    // planes this one started from.
                    let mut encoder =
                        ctx.device
                            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                                label: Some("fg refine planes"),
                            });
                    encoder.copy_buffer_to_buffer(
                        &planes_buffer,
                        0,
                        &planes_before,
                        0,
                        plane_bytes,
                    );
                    encoder.copy_buffer_to_buffer(&planes_out, 0, &planes_buffer, 0, plane_bytes);
                    ctx.queue.submit([encoder.finish()]);
                }
            })?;
            let planes =
                bytemuck::pod_collect_to_vec(&ctx.read_buffer(&planes_buffer, plane_bytes)?);
            let result =
                bytemuck::pod_collect_to_vec(&ctx.read_buffer(&result_buffer, result_bytes)?);
            Ok((planes, result, ms))
        })
    }

    /// Runs `hull` then `sweep` over the listed pixels; returns the hull
    /// runs, the (depth, score) results and both kernel times in ms.
    /// `params.counts` y and z are filled in here. `bounds`: per listed
    /// pixel, the depth range the carving allows its ray
    /// ([`super::hull_depth_bounds`]; all zero: none).
    ///
    /// # Errors
    /// GPU validation or readback errors.
    #[allow(clippy::type_complexity)]
    pub fn hull_and_sweep(
        &self,
        ctx: &GpuContext,
        resident: &Resident,
        params: &ForegroundParamsGpu,
        pixels: &[u32],
        bounds: &[[f32; 4]],
    ) -> Result<(Vec<[f32; 4]>, Vec<[f32; 2]>, [f64; 2]), GpuError> {
        ctx.with_validation("fg hull and sweep", || {
            let count = pixels.len() as u32;
            // `hull` reads each pixel's bounds from its runs first.
            let inputs = list_inputs(ctx, params, pixels, bounds);
            let runs_bytes = u64::from(count) * 16;
            let result_bytes = u64::from(count) * 8;
            let result_buffer = ctx.storage_buffer_zeroed("fg result", result_bytes);
            let bind_group = self.bind(ctx, resident, inputs.with_result(&result_buffer));
            let mut times = [0.0; 2];
            if count == 0 {
                return Ok((Vec::new(), Vec::new(), times));
            }
            for (k, pipeline) in [&self.hull, &self.sweep].into_iter().enumerate() {
                times[k] = timed(ctx, || {
                    ctx.dispatch("fg list kernel", pipeline, &bind_group, inputs.groups);
                })?;
            }
            let runs =
                bytemuck::pod_collect_to_vec(&ctx.read_buffer(&inputs.runs_buffer, runs_bytes)?);
            let result =
                bytemuck::pod_collect_to_vec(&ctx.read_buffer(&result_buffer, result_bytes)?);
            Ok((runs, result, times))
        })
    }
}
