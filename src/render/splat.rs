//! GPU driver of `shaders/render/splat.wgsl`: the cloud is uploaded once,
//! each frame clears the depth and colour-sum buffers, runs splat_depth ->
//! splat_color -> resolve (flat point colours) or splat_depth -> blend
//! (view-dependent colour from the real cameras, [`SourceViews`]) in one
//! command buffer, then reads the RGBA frame back.

use bytemuck::Zeroable;

use nalgebra::{Matrix3, Point3, Vector3};

use super::RenderError;
use crate::calibration::Camera;
use crate::gpu::gpu_types::{CameraGpu, PointGpu, SplatViewGpu};
use crate::gpu::{Access, GpuContext, GpuError, bind_buffers, dispatch_size, storage_layout};
use crate::ingest::RgbaImage;
use crate::reconstruct::PointCloud;

/// Workgroup size of the per-point passes (`@workgroup_size(256, 1, 1)`).
pub const SPLAT_POINT_WORKGROUP: u32 = 256;
/// Workgroup edge of the per-pixel passes (`@workgroup_size(16, 16, 1)`).
pub const SPLAT_PIXEL_WORKGROUP_EDGE: u32 = 16;

/// Of the 8 directions probed by the see-through fill, how many must meet
/// the nearer surface (WGSL twin `SEE_THROUGH_HITS`): a pixel beside a
/// surface is open on two sides or more.
pub const SEE_THROUGH_HITS: u32 = 7;

/// The see-through fill probes at most this many pixels per direction
/// (larger radii step over pixels): its cost does not grow with the
/// output resolution.
pub const SEE_THROUGH_PROBES: u32 = 10;

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
    /// Where no point lands, the real cameras are projected onto this proxy
    /// of the far venue (view-dependent mode only).
    pub backdrop: Option<Backdrop>,
    /// A source camera sees a surface point if its own splatted depth
    /// there matches the point's within this fraction plus
    /// `visibility_match_m`, or else if nothing within `occluder_grow_px`
    /// is nearer than the point by this fraction plus
    /// `visibility_tolerance_m`.
    pub visibility_tolerance: f32,
    /// See `visibility_tolerance`, metres.
    pub visibility_match_m: f32,
    /// See `visibility_tolerance`, metres.
    pub visibility_tolerance_m: f32,
    /// Replaces `visibility_tolerance_m` where the source's own depth map
    /// is empty at the point (a hole-filled depth lies between the splats
    /// around it), metres.
    pub gap_visibility_tolerance_m: f32,
    /// Reach of the nearest-depth (closed) source maps, pixels: gaps
    /// between sparse splats still occlude.
    pub occluder_grow_px: u32,
    /// With a backdrop, surface points this close to the ground (metres)
    /// are drawn on the ground plane (flat fields: the plane is exact where
    /// the reconstruction is noisy); 0 = off.
    pub ground_snap_m: f32,
    /// See-through fill (view-dependent mode, in the view and in the
    /// sources' depth maps): a splat with a nearer surface around it in at
    /// least [`SEE_THROUGH_HITS`] of 8 directions, within this share of the
    /// image height, lies behind a hole in that surface and takes its mean
    /// depth there; 0 = off.
    pub see_through_share: f32,
    /// See `see_through_share`: the surrounding surface counts when it is
    /// nearer than the splat by this fraction.
    pub see_through_nearer: f32,
}

impl SplatStyle {
    /// The style for colour blended from the real cameras: the splats only
    /// give depth, so they are somewhat larger than for flat colours; where
    /// the ground still shows through a hole in a player or a prop, the
    /// see-through fill closes it, in the view and in the sources' depth
    /// maps. A source sees a point unless something at least 10 cm nearer
    /// covers it within 2 px (players' splats are sparse at their
    /// silhouettes), or 30 cm where its own map is empty there. Tuned on the leave-one-out views of the demo and
    /// crossing captures (larger splats fatten the players' outlines).
    #[must_use]
    pub fn view_dependent() -> Self {
        Self {
            radius_scale: 1.0,
            visibility_tolerance_m: 0.1,
            gap_visibility_tolerance_m: 0.3,
            occluder_grow_px: 2,
            see_through_share: 10.0 / 360.0,
            ..Self::default()
        }
    }
}

/// Proxy geometry of what lies beyond the reconstruction: the ground plane
/// inside a vertical cylinder (the stands), both seen from inside.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Backdrop {
    /// Cylinder axis, world x and y, metres.
    pub centre_xy_m: [f64; 2],
    /// Cylinder radius, metres.
    pub radius_m: f64,
    /// Ground height, metres (0 by the world convention).
    pub ground_z_m: f64,
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
            backdrop: None,
            visibility_tolerance: 0.01,
            visibility_match_m: 0.05,
            visibility_tolerance_m: 0.05,
            gap_visibility_tolerance_m: 0.05,
            occluder_grow_px: 2,
            ground_snap_m: 0.03,
            see_through_share: 0.0,
            see_through_nearer: 0.005,
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

/// Bins of each half of the backdrop colour table (ground rings, wall
/// bands: `backdrop::colour_bin`).
pub const BACKDROP_COLOUR_BINS: u32 = 90;
/// Largest number of source views blended per pixel.
pub const MAX_BLENDED_SOURCES: usize = 4;
/// Blend angles below this count as this, radians (a source at the
/// virtual camera's pose takes all the weight without dividing by zero).
const MIN_BLEND_ANGLE_RAD: f32 = 1e-5;

/// What the blend pass needs besides the style.
#[derive(Debug, Clone, Default)]
pub struct BlendInputs {
    /// Source views to blend, nearest first (empty: flat point colours).
    pub selected: Vec<u32>,
    /// Where the sources look, world metres.
    pub focus_in_world: [f32; 3],
    /// Bins of the backdrop colour table (0: none, gradient fill).
    pub colour_bins: u32,
    /// Pixels of all source images (where the closed depth maps start).
    pub source_pixels: u32,
    /// The selected sources' cameras, in `selected` order.
    pub selected_cameras: Vec<CameraGpu>,
}

/// The per-view uniforms.
#[must_use]
pub fn splat_view(
    camera: &Camera,
    point_count: usize,
    style: &SplatStyle,
    blend: &BlendInputs,
) -> SplatViewGpu {
    const NEAR_PLANE_M: f32 = 0.05;
    let [t0, t1, t2] = style.background_top;
    let [b0, b1, b2] = style.background_bottom;
    let count = blend.selected.len().min(MAX_BLENDED_SOURCES);
    let backdrop = style.backdrop.map_or([0.0; 4], |b| {
        [
            b.centre_xy_m[0] as f32,
            b.centre_xy_m[1] as f32,
            b.radius_m as f32,
            b.ground_z_m as f32,
        ]
    });
    SplatViewGpu {
        camera: CameraGpu::new(camera, 0),
        counts: [
            point_count as u32,
            style.max_radius_px.max(1),
            style.hole_fill_px,
            style.occluder_grow_px,
        ],
        tuning: [
            style.depth_tolerance,
            style.radius_scale,
            NEAR_PLANE_M,
            style.visibility_match_m,
        ],
        background_top: [t0, t1, t2, 0.0],
        background_bottom: [b0, b1, b2, 0.0],
        sources: [count as u32, blend.source_pixels, 0, 0],
        backdrop,
        blend: [
            style.visibility_tolerance,
            style.visibility_tolerance_m,
            MIN_BLEND_ANGLE_RAD,
            style.ground_snap_m,
        ],
        focus: [
            blend.focus_in_world[0],
            blend.focus_in_world[1],
            blend.focus_in_world[2],
            blend.colour_bins as f32,
        ],
        see_through: see_through(style, camera.height),
        gap_visibility: [style.gap_visibility_tolerance_m, 0.0, 0.0, 0.0],
        selected_cameras: {
            let mut cameras = [CameraGpu::zeroed(); MAX_BLENDED_SOURCES];
            for (slot, camera) in cameras.iter_mut().zip(&blend.selected_cameras) {
                *slot = *camera;
            }
            cameras
        },
    }
}

/// The point nearest to all cameras' optical axes (least squares): where a
/// ring looks. `None` when the axes are (nearly) parallel.
#[must_use]
pub fn rig_focus(cameras: &[Camera]) -> Option<Point3<f64>> {
    let mut a = Matrix3::zeros();
    let mut b = Vector3::zeros();
    for camera in cameras {
        let centre = camera.centre_in_world().coords;
        let axis = camera.cam_from_world.rotation.inverse() * Vector3::z();
        let projector = Matrix3::identity() - axis * axis.transpose();
        a += projector;
        b += projector * centre;
    }
    let solution = a.try_inverse()? * b;
    solution
        .iter()
        .all(|v| v.is_finite())
        .then(|| Point3::from(solution))
}

/// The see-through fill's GPU parameters for an image `height_px` tall:
/// radius (px), probe stride (px), nearer fraction, unused.
fn see_through(style: &SplatStyle, height_px: u32) -> [f32; 4] {
    let radius_px = (style.see_through_share.max(0.0) * height_px as f32).round();
    if radius_px < 1.0 {
        return [0.0; 4];
    }
    let stride_px = (radius_px / SEE_THROUGH_PROBES as f32).ceil().max(1.0);
    [radius_px, stride_px, style.see_through_nearer, 0.0]
}

/// The (at most [`MAX_BLENDED_SOURCES`]) sources whose view of `focus` is
/// nearest in angle to the virtual camera's, nearest first.
#[must_use]
pub fn select_sources(
    cameras: &[Camera],
    virtual_camera: &Camera,
    focus: &Point3<f64>,
) -> Vec<u32> {
    let virtual_centre = virtual_camera.centre_in_world();
    let virtual_dir = (focus - virtual_centre).normalize();
    let mut by_angle: Vec<(f64, u32)> = cameras
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let dir = (focus - c.centre_in_world()).normalize();
            (virtual_dir.dot(&dir).clamp(-1.0, 1.0).acos(), k as u32)
        })
        .filter(|(angle, _)| angle.is_finite())
        .collect();
    by_angle.sort_by(|a, b| a.0.total_cmp(&b.0));
    by_angle
        .into_iter()
        .take(MAX_BLENDED_SOURCES)
        .map(|(_, k)| k)
        .collect()
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

/// The real cameras of one instant on the GPU, for view-dependent colour:
/// their (undistorted, pinhole) images and their depth maps of the cloud.
pub struct SourceViews {
    cameras: Vec<Camera>,
    cameras_gpu: Vec<CameraGpu>,
    focus: Point3<f64>,
    colour_bins: u32,
    source_pixels: u32,
    colours: wgpu::Buffer,
    pixels: wgpu::Buffer,
    depth: wgpu::Buffer,
}

impl SourceViews {
    /// The source cameras.
    #[must_use]
    pub fn cameras(&self) -> &[Camera] {
        &self.cameras
    }

    /// Where the sources look (selection of the nearest sources).
    #[must_use]
    pub fn focus(&self) -> Point3<f64> {
        self.focus
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
    blend: wgpu::ComputePipeline,
    close: wgpu::ComputePipeline,
    /// Stand-ins for the source bindings when there are no sources.
    no_words: wgpu::Buffer,
    no_colours: wgpu::Buffer,
    /// Stand-in for the colour sums of the source depth pass.
    no_sums: wgpu::Buffer,
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
                Access::ReadOnly,
                Access::ReadOnly,
                Access::ReadOnly,
            ],
        );
        let make = |entry: &str| ctx.compute_pipeline(entry, &module, &pipeline_layout, entry);
        Self {
            depth: make("splat_depth"),
            color: make("splat_color"),
            resolve: make("resolve"),
            blend: make("blend"),
            close: make("close_source_depth"),
            layout,
            no_words: ctx.storage_buffer_zeroed("no source pixels", 4),
            no_colours: ctx.storage_buffer_zeroed("no backdrop colours", 16),
            no_sums: ctx.storage_buffer_zeroed("no colour sums", 16),
        }
    }

    /// Uploads the real cameras of an instant (`views`: pinhole cameras and
    /// their undistorted images of the same size) and draws each one's depth
    /// map of `cloud` for the visibility test.
    ///
    /// # Errors
    /// An image whose size is not its camera's; GPU errors.
    pub fn sources(
        &self,
        ctx: &GpuContext,
        views: &[(Camera, &RgbaImage)],
        cloud: &GpuCloud,
        style: &SplatStyle,
    ) -> Result<SourceViews, RenderError> {
        let mut cameras_gpu = Vec::with_capacity(views.len());
        let mut words: Vec<u32> = Vec::new();
        for (camera, image) in views {
            if (image.width, image.height) != (camera.width, camera.height) {
                return Err(RenderError::SourceSize {
                    camera: camera.id.clone(),
                    width: camera.width,
                    height: camera.height,
                    got_width: image.width,
                    got_height: image.height,
                });
            }
            cameras_gpu.push(CameraGpu::new(camera, words.len() as u32));
            words.extend(
                image
                    .rgba
                    .chunks_exact(4)
                    .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]])),
            );
        }
        let cameras: Vec<Camera> = views.iter().map(|(c, _)| c.clone()).collect();
        let focus = rig_focus(&cameras).unwrap_or_else(|| {
            let sum = cameras
                .iter()
                .fold(Vector3::zeros(), |acc, c| acc + c.centre_in_world().coords);
            Point3::from(sum / cameras.len().max(1) as f64)
        });
        let pixel_count = words.len().max(1);
        words.resize(pixel_count, 0);
        let table = style.backdrop.map_or_else(Vec::new, |backdrop| {
            super::backdrop::colour_table(views, &backdrop, BACKDROP_COLOUR_BINS)
        });
        let colour_bins = if table.is_empty() {
            0
        } else {
            BACKDROP_COLOUR_BINS
        };
        let table = if table.is_empty() {
            vec![[0.0f32; 4]]
        } else {
            table
        };
        let sources = SourceViews {
            focus,
            colour_bins,
            source_pixels: pixel_count as u32,
            colours: ctx.storage_buffer(
                "backdrop colours",
                bytemuck::cast_slice(&table),
                wgpu::BufferUsages::empty(),
            ),
            pixels: ctx.storage_buffer(
                "source pixels",
                bytemuck::cast_slice(&words),
                wgpu::BufferUsages::empty(),
            ),
            depth: ctx.storage_buffer_zeroed("source depth", pixel_count as u64 * 8),
            cameras,
            cameras_gpu,
        };
        let raw_depth = ctx.storage_buffer_zeroed("source raw depth", pixel_count as u64 * 4);
        ctx.with_validation("source depth maps", || {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("source depth maps"),
                });
            let point_groups = dispatch_size(cloud.count as u32, SPLAT_POINT_WORKGROUP);
            let mut keep_alive = Vec::with_capacity(sources.cameras_gpu.len());
            for (camera, camera_gpu) in sources.cameras.iter().zip(&sources.cameras_gpu) {
                let mut view = splat_view(
                    camera,
                    cloud.count,
                    style,
                    &BlendInputs {
                        source_pixels: pixel_count as u32,
                        ..BlendInputs::default()
                    },
                );
                view.camera = *camera_gpu;
                let view_buffer = ctx.uniform_buffer("source view", bytemuck::bytes_of(&view));
                let bind_group = bind_buffers(
                    &ctx.device,
                    "source depth",
                    &self.layout,
                    &[
                        &view_buffer,
                        &cloud.buffer,
                        &raw_depth,
                        &self.no_sums,
                        &sources.depth,
                        &self.no_words,
                        &self.no_words,
                        &self.no_colours,
                    ],
                );
                {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("source depth pass"),
                        timestamp_writes: None,
                    });
                    pass.set_pipeline(&self.depth);
                    pass.set_bind_group(0, &bind_group, &[]);
                    pass.dispatch_workgroups(point_groups.0, point_groups.1, 1);
                }
                {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("source depth closing"),
                        timestamp_writes: None,
                    });
                    pass.set_pipeline(&self.close);
                    pass.set_bind_group(0, &bind_group, &[]);
                    pass.dispatch_workgroups(
                        camera.width.div_ceil(SPLAT_PIXEL_WORKGROUP_EDGE),
                        camera.height.div_ceil(SPLAT_PIXEL_WORKGROUP_EDGE),
                        1,
                    );
                }
                keep_alive.push(view_buffer);
            }
            ctx.queue.submit([encoder.finish()]);
            ctx.wait_idle()
        })?;
        Ok(sources)
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

    /// Renders `cloud` from `camera` into `target` and reads back RGBA8:
    /// colours blended from `sources` when given, else the points' own.
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
        sources: Option<&SourceViews>,
    ) -> Result<Vec<u8>, GpuError> {
        let camera = if (camera.width, camera.height) == (target.width, target.height) {
            camera.clone()
        } else {
            camera.scaled(target.width, target.height)
        };
        ctx.with_validation("splat render", || {
            let blend = sources.map_or_else(BlendInputs::default, |s| {
                let selected = select_sources(&s.cameras, &camera, &s.focus);
                BlendInputs {
                    selected_cameras: selected
                        .iter()
                        .filter_map(|&k| s.cameras_gpu.get(k as usize).copied())
                        .collect(),
                    selected,
                    focus_in_world: [s.focus.x as f32, s.focus.y as f32, s.focus.z as f32],
                    colour_bins: s.colour_bins,
                    source_pixels: s.source_pixels,
                }
            });
            let selected = &blend.selected;
            let view = splat_view(&camera, cloud.count, style, &blend);
            let view_buffer = ctx.uniform_buffer("splat view", bytemuck::bytes_of(&view));
            let (source_pixels, source_depth, colours) = match sources {
                Some(s) => (&s.pixels, &s.depth, &s.colours),
                None => (&self.no_words, &self.no_words, &self.no_colours),
            };
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
                    source_pixels,
                    source_depth,
                    colours,
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
            let passes = if selected.is_empty() {
                encoder.clear_buffer(&target.sums, 0, None);
                vec![
                    (&self.depth, point_groups),
                    (&self.color, point_groups),
                    (&self.resolve, pixel_groups),
                ]
            } else {
                vec![(&self.depth, point_groups), (&self.blend, pixel_groups)]
            };
            for (pipeline, groups) in passes {
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
