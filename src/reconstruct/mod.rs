//! Reconstruction: one frame set plus the rig -> a coloured point cloud.
//!
//! Method (v1): plane-sweep multi-view stereo on the GPU followed by
//! cross-view depth-consistency fusion on the CPU.
//! 1. Each usable view is undistorted to a pinhole image and converted to grey.
//! 2. For each view, up to `max_neighbours` cameras with the most similar
//!    viewing direction are chosen; the GPU kernel sweeps depths along each
//!    pixel ray inside the volume of interest (ROI) and scores them by NCC
//!    (`plane_sweep.rs`, `shaders/reconstruct/plane_sweep.wgsl`).
//! 3. Depth maps are fused into points that at least two other views
//!    confirm (`fusion.rs`).
//!
//! A CPU reference of the kernel (`cpu_ref.rs`) is selectable with
//! [`Backend::Cpu`]; tests compare the two.

pub mod cpu_ref;
pub mod eval;
pub mod foreground;
mod fusion;
pub mod plain_fill;
pub mod plane_sweep;
pub mod ply;
pub mod sgm;
pub mod venue;

use std::path::PathBuf;
use std::time::Instant;

use nalgebra::{Point2, Point3};
use rayon::prelude::*;

use crate::calibration::{Camera, Rig};
use crate::gpu::GpuContext;
use crate::gpu::gpu_types::{CameraGpu, SweepParamsGpu};

use crate::ingest::RgbaImage;

pub use plane_sweep::DepthMap;

/// Errors of reconstruction.
#[derive(Debug, thiserror::Error)]
pub enum ReconstructError {
    /// Fewer than two cameras have a usable image.
    #[error(
        "only {usable} usable camera image(s) (need at least 2); missing or unusable: {missing:?}"
    )]
    NotEnoughCameras {
        /// Usable cameras.
        usable: usize,
        /// Cameras without a usable image.
        missing: Vec<String>,
    },
    /// An image does not match its camera.
    #[error(
        "camera {camera:?}: image is {got_width}x{got_height} but the rig says {width}x{height}"
    )]
    ImageSize {
        /// Camera id.
        camera: String,
        /// Rig width.
        width: u32,
        /// Rig height.
        height: u32,
        /// Image width.
        got_width: u32,
        /// Image height.
        got_height: u32,
    },
    /// The volume of interest is empty or seen by too few cameras.
    #[error("volume of interest is empty: {0}")]
    EmptyRoi(String),
    /// The clean plates cannot be used.
    #[error("clean plates {dir}: {reason}")]
    Plates {
        /// The folder given.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// GPU failure.
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    /// File I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A malformed PLY file.
    #[error("{path}: {reason}")]
    Ply {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A coloured point cloud in world coordinates (f32: it is GPU- and
/// file-bound data).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointCloud {
    /// Positions, metres.
    pub positions_in_world: Vec<[f32; 3]>,
    /// sRGB colours.
    pub colors: Vec<[u8; 3]>,
    /// Unit normals (empty when unknown).
    pub normals: Vec<[f32; 3]>,
    /// Splat radii, metres.
    pub radii_m: Vec<f32>,
}

impl PointCloud {
    /// Number of points.
    #[must_use]
    pub fn len(&self) -> usize {
        self.positions_in_world.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.positions_in_world.is_empty()
    }

    /// Appends another cloud's points (normals are kept only if both have them).
    pub fn append(&mut self, other: PointCloud) {
        let keep_normals = self.normals.len() == self.len() && other.normals.len() == other.len();
        self.positions_in_world.extend(other.positions_in_world);
        self.colors.extend(other.colors);
        self.radii_m.extend(other.radii_m);
        if keep_normals {
            self.normals.extend(other.normals);
        } else {
            self.normals.clear();
        }
    }
}

/// Where the sweep kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// wgpu compute.
    Gpu,
    /// The rayon CPU reference.
    Cpu,
}

/// An axis-aligned box in world coordinates, metres.
pub type Roi = (Point3<f64>, Point3<f64>);

/// Most vertical plane orientations the sweep tries
/// ([`ReconstructSettings::vertical_planes`]).
pub const MAX_VERTICAL_PLANES: u32 = 8;

/// Tuning of the reconstruction.
#[derive(Debug, Clone)]
pub struct ReconstructSettings {
    /// Volume of interest; `None`: derived from the rig ([`default_roi`]).
    pub roi: Option<Roi>,
    /// Pyramid levels (1 = full resolution only); each halves the size.
    pub levels: u32,
    /// Depth samples along each ray at the coarsest level (max 64).
    pub coarse_samples: u32,
    /// Depth samples around the coarser level's depth at finer levels (max 64).
    pub refine_samples: u32,
    /// Half-width of the refinement search at the second-coarsest level,
    /// metres; each finer level searches 0.4 times the previous one.
    pub refine_radius_m: f32,
    /// Minimum grey std-dev of a reference window (0..1) to attempt matching.
    pub min_texture_std: f32,
    /// Spacing of the 3x3 matching window at full resolution, pixels
    /// (1 px at coarser levels).
    pub window_dilation_px: f32,
    /// Neighbour views per reference view (max 4).
    pub max_neighbours: usize,
    /// Largest angle between viewing directions of neighbours, degrees.
    pub max_neighbour_angle_deg: f64,
    /// Minimum NCC score of a depth to be fused.
    pub min_score: f32,
    /// Views (besides the reference) that must confirm a point.
    pub min_consistent_views: usize,
    /// A point fewer views confirm is still fused when its score reaches
    /// this and no other view sees through it (their depth there lies
    /// beyond it: free space): a surface only one camera sees, such as a
    /// torso turned to a missing camera or half hidden by another player,
    /// has nothing to confirm it but may still be right. `None`: every
    /// point needs its confirmations.
    pub unconfirmed_min_score: Option<f32>,
    /// Reprojection tolerance of the consistency check, pixels.
    pub max_reprojection_px: f64,
    /// Relative depth tolerance of the consistency check.
    pub max_relative_depth: f64,
    /// Fused points are merged in cubes of this edge, metres.
    pub voxel_m: f64,
    /// Also fuse points between neighbouring kept pixels of a depth map
    /// (edge midpoints and 2x2 centres on the same surface): the surface is
    /// sampled at half the pixel pitch. For the small foreground; the venue
    /// would grow fourfold.
    pub densify: bool,
    /// Foreground reconstruction only: iterations of its PatchMatch-style
    /// `refine` (`None`: the foreground's default). Each one costs about
    /// 0.15 s per 8 x 640x360 frame set on the software adapter.
    pub foreground_refine_iterations: Option<u32>,
    /// Vertical plane orientations the sweep tries besides fronto-parallel
    /// and horizontal (0..=[`MAX_VERTICAL_PLANES`]), their yaws spread over
    /// +-90 degrees from facing the ray: prop sides and walls seen
    /// obliquely. Each costs as much as one of the other two.
    pub vertical_planes: u32,
    /// Score a depth by its best neighbour's NCC alone, not the mean of the
    /// two best: a surface that only two cameras see (a prop's side) can
    /// then be matched, at the price of more noise.
    pub best_neighbour_only: bool,
    /// Give plain, unmatched regions the depths of the plane their matched
    /// outline lies on ([`plain_fill`]): textureless prop faces of the venue.
    pub fill_plain_regions: bool,
    /// Adaptive support of the matching window: a tap's weight falls with
    /// its grey's difference from the centre pixel's (this sigma, grey
    /// 0..1) and its distance (sigma [`SUPPORT_SIGMA_TAPS`] taps), so that
    /// a window straddling a depth edge is matched mostly by the centre's
    /// side (less fattening). 0 = every tap weighs the same.
    pub support_sigma_grey: f32,
    /// Weight, in a neighbour's matching score, of the difference between
    /// the reference pixel's grey (0..1) and the neighbour's where the
    /// candidate projects: the score is the NCC less this times that
    /// difference. NCC is blind to a smooth gradient's shift, the grey is
    /// not; 0 = NCC alone, for rigs whose cameras are not colour-matched.
    /// The venue uses 1; per frame it stays 0 (1 changed neither F-score
    /// of `reconstruct --images` by more than 0.003, session 19).
    pub grey_weight: f32,
    /// Semi-global aggregation of the coarsest level's costs ([`sgm`]);
    /// `None` = each pixel's best depth alone.
    pub coarse_aggregation: Option<sgm::Penalties>,
    /// Where the sweep runs.
    pub backend: Backend,
}

/// The per-frame reconstruction's semi-global aggregation at the coarsest
/// level. Measured (session 16) on `timeslice reconstruct --images` without
/// a clean plate, whole scene: demo F@1cm 0.853 -> 0.863, F@2cm 0.921 ->
/// 0.927; crossing F@1cm 0.800 -> 0.815, F@2cm 0.886 -> 0.895 (0.03 / 0.15,
/// 0.03 / 0.08 and 0.06 / 0.15 gave 0.808-0.812 at 1 cm on crossing).
pub const COARSE_AGGREGATION: sgm::Penalties = sgm::Penalties {
    small: 0.05,
    large: 0.3,
};

/// The per-frame reconstruction's [`ReconstructSettings::unconfirmed_min_score`]:
/// a depth fewer than `min_consistent_views` (2) other views confirm is
/// still fused when it scores this and no view sees through it. Measured
/// (session 20) on `timeslice reconstruct --images`, whole scene: crossing
/// F@1cm / F@2cm 0.816 / 0.896 -> 0.862 / 0.923, demo 0.863 / 0.928 ->
/// 0.895 / 0.948, precision@2cm 0.995 -> 0.985 (0.55: 0.856 / 0.921 and
/// 0.889 / 0.947; 0.8: 0.861 / 0.920 and 0.894 / 0.945).
pub const UNCONFIRMED_MIN_SCORE: f32 = 0.7;

/// Spatial sigma of the adaptive support, in window taps
/// ([`ReconstructSettings::support_sigma_grey`]).
pub const SUPPORT_SIGMA_TAPS: f32 = 2.0;

impl Default for ReconstructSettings {
    fn default() -> Self {
        Self {
            roi: None,
            levels: 3,
            coarse_samples: 32,
            refine_samples: 5,
            refine_radius_m: 0.2,
            min_texture_std: 0.01,
            window_dilation_px: 2.0,
            max_neighbours: 3,
            max_neighbour_angle_deg: 100.0,
            min_score: 0.5,
            min_consistent_views: 2,
            unconfirmed_min_score: Some(UNCONFIRMED_MIN_SCORE),
            max_reprojection_px: 1.0,
            max_relative_depth: 0.005,
            voxel_m: 0.004,
            densify: false,
            foreground_refine_iterations: None,
            vertical_planes: 0,
            best_neighbour_only: false,
            fill_plain_regions: false,
            support_sigma_grey: 0.0,
            grey_weight: 0.0,
            coarse_aggregation: Some(COARSE_AGGREGATION),
            backend: Backend::Gpu,
        }
    }
}

/// One camera's undistorted image ready for matching.
#[derive(Debug, Clone)]
pub struct View {
    /// Rig index of the camera.
    pub rig_index: usize,
    /// Pinhole camera (distortion removed).
    pub camera: Camera,
    /// Undistorted RGBA image.
    pub image: RgbaImage,
}

/// Timings and counts of one reconstruction.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReconstructReport {
    /// Cameras used.
    pub views_used: usize,
    /// Cameras skipped (no image).
    pub views_missing: Vec<String>,
    /// The ROI used, metres: [min xyz, max xyz].
    pub roi: [[f64; 3]; 2],
    /// Preparation (undistort, grey), ms.
    pub prepare_ms: f64,
    /// Plane sweep (all views), ms.
    pub sweep_ms: f64,
    /// Fusion, ms.
    pub fusion_ms: f64,
    /// Points out.
    pub points: usize,
}

/// Undistorts an image to the pinhole version of `camera` (bilinear).
#[must_use]
pub fn undistort(camera: &Camera, image: &RgbaImage) -> RgbaImage {
    if camera.distortion.is_zero() {
        return image.clone();
    }
    let pinhole = camera.pinhole();
    let (w, h) = (camera.width as usize, camera.height as usize);
    let rows: Vec<Vec<u8>> = (0..h)
        .into_par_iter()
        .map(|y| {
            let mut row = vec![0u8; w * 4];
            for x in 0..w {
                let ray = pinhole.ray_in_cam(&Point2::new(x as f64, y as f64));
                let (xd, yd) = camera.distortion.distort(ray.x, ray.y);
                let (u, v) = (camera.fx * xd + camera.cx, camera.fy * yd + camera.cy);
                if u < 0.0 || v < 0.0 || u > (w - 1) as f64 || v > (h - 1) as f64 {
                    continue;
                }
                let (x0, y0) = (u.floor() as u32, v.floor() as u32);
                let (x1, y1) = ((x0 + 1).min(w as u32 - 1), (y0 + 1).min(h as u32 - 1));
                let (fx, fy) = (u - f64::from(x0), v - f64::from(y0));
                for c in 0..4 {
                    let s = |xx: u32, yy: u32| f64::from(image.pixel(xx, yy)[c]);
                    let top = s(x0, y0) * (1.0 - fx) + s(x1, y0) * fx;
                    let bottom = s(x0, y1) * (1.0 - fx) + s(x1, y1) * fx;
                    row[x * 4 + c] = (top * (1.0 - fy) + bottom * fy).round() as u8;
                }
            }
            row
        })
        .collect();
    RgbaImage {
        width: image.width,
        height: image.height,
        rgba: std::sync::Arc::new(rows.concat()),
    }
}

/// The default volume of interest: the ground area (z = 0) that at least
/// three cameras see, from 5 cm below the ground to `height_m` above it.
///
/// # Errors
/// [`ReconstructError::EmptyRoi`] when no ground point is seen by three cameras.
pub fn default_roi(rig: &Rig, height_m: f64) -> Result<Roi, ReconstructError> {
    const GRID_STEP_M: f64 = 0.25;
    const GRID_HALF_EXTENT_M: f64 = 60.0;
    const MIN_CAMERAS: usize = 3;
    let n = (2.0 * GRID_HALF_EXTENT_M / GRID_STEP_M) as i64;
    let mut min = Point3::new(f64::INFINITY, f64::INFINITY, -0.05);
    let mut max = Point3::new(f64::NEG_INFINITY, f64::NEG_INFINITY, height_m);
    for i in 0..=n {
        for j in 0..=n {
            let p = Point3::new(
                -GRID_HALF_EXTENT_M + i as f64 * GRID_STEP_M,
                -GRID_HALF_EXTENT_M + j as f64 * GRID_STEP_M,
                0.0,
            );
            let seen = rig
                .cameras
                .iter()
                .filter(|c| {
                    c.project(&p).is_some_and(|q| {
                        q.x >= 0.0
                            && q.y >= 0.0
                            && q.x < f64::from(c.width)
                            && q.y < f64::from(c.height)
                    })
                })
                .count();
            if seen >= MIN_CAMERAS {
                min.x = min.x.min(p.x);
                min.y = min.y.min(p.y);
                max.x = max.x.max(p.x);
                max.y = max.y.max(p.y);
            }
        }
    }
    if !(min.x.is_finite() && max.x > min.x && max.y > min.y) {
        return Err(ReconstructError::EmptyRoi(format!(
            "no ground area is seen by {MIN_CAMERAS} cameras of rig {:?}",
            rig.name
        )));
    }
    Ok((min, max))
}

/// Neighbours of view `r`: most similar viewing directions (towards the ROI
/// centre) first, within the angle limit.
pub(crate) fn neighbours(
    views: &[View],
    r: usize,
    roi_centre: &Point3<f64>,
    settings: &ReconstructSettings,
) -> Vec<u32> {
    let direction = |v: &View| (roi_centre - v.camera.centre_in_world()).normalize();
    let d_ref = direction(&views[r]);
    let mut ranked: Vec<(f64, usize)> = views
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != r)
        .map(|(i, v)| {
            (
                d_ref
                    .dot(&direction(v))
                    .clamp(-1.0, 1.0)
                    .acos()
                    .to_degrees(),
                i,
            )
        })
        .filter(|(angle, _)| *angle <= settings.max_neighbour_angle_deg)
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    ranked
        .into_iter()
        .take(settings.max_neighbours.min(4))
        .map(|(_, i)| i as u32)
        .collect()
}

/// Prepares the views of one frame set: checks sizes, drops missing
/// cameras (reported), undistorts.
///
/// # Errors
/// Size mismatch, or fewer than two usable views.
pub fn prepare_views(
    rig: &Rig,
    images: &[Option<RgbaImage>],
) -> Result<(Vec<View>, Vec<String>), ReconstructError> {
    let mut missing = Vec::new();
    let mut usable = Vec::new();
    for (i, camera) in rig.cameras.iter().enumerate() {
        let Some(image) = images.get(i).and_then(Option::as_ref) else {
            missing.push(camera.id.clone());
            continue;
        };
        if image.width != camera.width || image.height != camera.height {
            return Err(ReconstructError::ImageSize {
                camera: camera.id.clone(),
                width: camera.width,
                height: camera.height,
                got_width: image.width,
                got_height: image.height,
            });
        }
        usable.push((i, camera, image));
    }
    if usable.len() < 2 {
        return Err(ReconstructError::NotEnoughCameras {
            usable: usable.len(),
            missing,
        });
    }
    if !missing.is_empty() {
        tracing::warn!(?missing, "reconstructing without some cameras");
    }
    let views = usable
        .into_par_iter()
        .map(|(rig_index, camera, image)| View {
            rig_index,
            camera: camera.pinhole(),
            image: undistort(camera, image),
        })
        .collect();
    Ok((views, missing))
}

/// Narrowest image the coarsest pyramid level may have, pixels: below it
/// the 5x5 window covers too much of the scene to match reliably.
const MIN_COARSE_WIDTH_PX: u32 = 160;

/// Pyramid levels actually used: at most `requested`, and no more than keep
/// the coarsest level at least [`MIN_COARSE_WIDTH_PX`] wide.
#[must_use]
pub fn effective_levels(views: &[View], requested: u32) -> u32 {
    let narrowest = views.iter().map(|v| v.camera.width).min().unwrap_or(0);
    let mut levels = 1;
    while levels < requested.clamp(1, 5) && narrowest >> levels >= MIN_COARSE_WIDTH_PX {
        levels += 1;
    }
    levels
}

/// Halves a grey image (2x2 box filter; odd last row/column dropped).
fn downsample(gray: &[f32], width: u32, height: u32) -> (Vec<f32>, u32, u32) {
    let (w, h) = ((width / 2).max(1), (height / 2).max(1));
    let at = |x: u32, y: u32| gray[(y.min(height - 1) * width + x.min(width - 1)) as usize];
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            out.push(
                0.25 * (at(2 * x, 2 * y)
                    + at(2 * x + 1, 2 * y)
                    + at(2 * x, 2 * y + 1)
                    + at(2 * x + 1, 2 * y + 1)),
            );
        }
    }
    (out, w, h)
}

/// Packs views for the GPU as an image pyramid: camera `level * V + view`
/// is view `view` at `level` (0 = full resolution), with its pixel offset
/// into the returned grey buffer.
#[must_use]
pub fn pack_views(views: &[View], levels: u32) -> (Vec<CameraGpu>, Vec<f32>) {
    let mut per_level: Vec<Vec<(Camera, Vec<f32>)>> = Vec::new();
    let full: Vec<(Camera, Vec<f32>)> = views
        .iter()
        .map(|view| {
            let gray = view
                .image
                .rgba
                .chunks_exact(4)
                .map(|p| {
                    (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
                        / 255.0
                })
                .collect();
            (view.camera.clone(), gray)
        })
        .collect();
    per_level.push(full);
    for level in 1..levels.max(1) as usize {
        let next = per_level[level - 1]
            .iter()
            .map(|(camera, gray)| {
                let (small, w, h) = downsample(gray, camera.width, camera.height);
                (camera.scaled(w, h), small)
            })
            .collect();
        per_level.push(next);
    }
    let mut cameras = Vec::new();
    let mut gray = Vec::new();
    for level in &per_level {
        for (camera, pixels) in level {
            cameras.push(CameraGpu::new(camera, gray.len() as u32));
            gray.extend_from_slice(pixels);
        }
    }
    (cameras, gray)
}

/// Sweep parameters of view `r` at `level` (0 = full resolution) of a
/// pyramid with `levels` levels and `view_count` views per level.
#[must_use]
pub fn sweep_params(
    views: &[View],
    r: usize,
    level: u32,
    prior_size: (u32, u32),
    roi: &Roi,
    settings: &ReconstructSettings,
) -> SweepParamsGpu {
    let levels = settings.levels.max(1);
    let centre = nalgebra::center(&roi.0, &roi.1);
    let base = (level as usize) * views.len();
    let nbs = neighbours(views, r, &centre, settings);
    let mut neighbour_slots = [0u32; 4];
    for (slot, nb) in neighbour_slots.iter_mut().zip(&nbs) {
        *slot = base as u32 + nb;
    }
    let coarsest = level + 1 == levels;
    let refinements_done = levels - 1 - level; // 1 at the second-coarsest level
    let radius_m = settings.refine_radius_m * 0.4f32.powi(refinements_done as i32 - 1);
    SweepParamsGpu {
        counts: [
            (base + r) as u32,
            nbs.len() as u32,
            if coarsest {
                settings.coarse_samples
            } else {
                settings.refine_samples
            },
            if coarsest {
                0
            } else if level == 0 {
                2
            } else {
                1
            },
        ],
        neighbours: neighbour_slots,
        roi_min: [roi.0.x as f32, roi.0.y as f32, roi.0.z as f32, 0.0],
        roi_max: [roi.1.x as f32, roi.1.y as f32, roi.1.z as f32, 0.0],
        tuning: [
            settings.min_texture_std,
            0.1,
            if level == 0 {
                settings.window_dilation_px
            } else {
                1.0
            },
            if coarsest { 0.0 } else { radius_m },
        ],
        prior_size: [
            prior_size.0,
            prior_size.1,
            settings.vertical_planes.min(MAX_VERTICAL_PLANES),
            u32::from(settings.best_neighbour_only),
        ],
        support: [
            settings.support_sigma_grey,
            SUPPORT_SIGMA_TAPS,
            if coarsest && settings.coarse_aggregation.is_some() {
                1.0
            } else {
                0.0
            },
            settings.grey_weight,
        ],
    }
}

/// Checks that a volume of interest is a non-empty box of finite numbers.
///
/// # Errors
/// [`ReconstructError::EmptyRoi`].
pub fn check_roi(roi: &Roi) -> Result<(), ReconstructError> {
    let finite = (0..3).all(|k| roi.0[k].is_finite() && roi.1[k].is_finite());
    if !(finite && roi.1.x > roi.0.x && roi.1.y > roi.0.y && roi.1.z > roi.0.z) {
        return Err(ReconstructError::EmptyRoi(format!(
            "min {:?} is not below max {:?}",
            roi.0.coords.as_slice(),
            roi.1.coords.as_slice()
        )));
    }
    Ok(())
}

/// Reconstructs one instant: `images[i]` is rig camera i's frame (or `None`).
///
/// # Errors
/// Too few cameras, size mismatches, an empty ROI, or GPU errors.
pub fn reconstruct(
    ctx: Option<&GpuContext>,
    rig: &Rig,
    images: &[Option<RgbaImage>],
    settings: &ReconstructSettings,
) -> Result<(PointCloud, ReconstructReport), ReconstructError> {
    reconstruct_with_progress(ctx, rig, images, settings, &|_, _| {})
}

/// As [`reconstruct`], calling `progress(done, total)` after each sweep pass
/// (one view at one pyramid level).
///
/// # Errors
/// As [`reconstruct`].
pub fn reconstruct_with_progress(
    ctx: Option<&GpuContext>,
    rig: &Rig,
    images: &[Option<RgbaImage>],
    settings: &ReconstructSettings,
    progress: &dyn Fn(u64, u64),
) -> Result<(PointCloud, ReconstructReport), ReconstructError> {
    let started = Instant::now();
    let roi = match settings.roi {
        Some(roi) => roi,
        None => default_roi(rig, 2.5)?,
    };
    check_roi(&roi)?;
    let (views, missing) = prepare_views(rig, images)?;
    let levels = effective_levels(&views, settings.levels);
    let (cameras, gray) = pack_views(&views, levels);
    let prepare_ms = started.elapsed().as_secs_f64() * 1e3;
    let sweep_started = Instant::now();
    let gpu = match (settings.backend, ctx) {
        (Backend::Gpu, Some(ctx)) => {
            let sweep = plane_sweep::PlaneSweep::new(ctx);
            let inputs = sweep.upload(ctx, &cameras, &gray);
            Some((ctx, sweep, inputs))
        }
        _ => None,
    };
    let level_settings = ReconstructSettings {
        levels,
        ..settings.clone()
    };
    let mut maps: Vec<DepthMap> = vec![DepthMap::default(); views.len()];
    let passes = u64::from(levels) * views.len() as u64;
    let mut passes_done = 0;
    let mut aggregate_ms = 0.0;
    for level in (0..levels).rev() {
        let mut next = Vec::with_capacity(views.len());
        for (r, prior) in maps.iter().enumerate() {
            let params = sweep_params(
                &views,
                r,
                level,
                (prior.width, prior.height),
                &roi,
                &level_settings,
            );
            let mut map = match &gpu {
                Some((ctx, sweep, inputs)) => sweep.run(ctx, inputs, &params, &prior.depth_m)?,
                None => cpu_ref::sweep_cpu(&params, &cameras, &gray, &prior.depth_m),
            };
            // Only the coarsest pass writes a cost volume (`sweep_params`).
            if let Some(penalties) = settings.coarse_aggregation {
                let aggregate_started = Instant::now();
                if sgm::aggregate(&mut map, penalties) {
                    aggregate_ms += aggregate_started.elapsed().as_secs_f64() * 1e3;
                }
                map.volume = Vec::new();
            }
            next.push(map);
            passes_done += 1;
            progress(passes_done, passes);
        }
        maps = next;
    }
    if settings.fill_plain_regions {
        let fill_started = Instant::now();
        let filled = plain_fill::fill_plain_regions(&views, &mut maps, &roi, settings.min_score);
        tracing::info!(
            ?filled,
            fill_ms = fill_started.elapsed().as_secs_f64() * 1e3,
            "plain regions filled from their outlines (counted in the sweep's time)"
        );
    }
    if settings.coarse_aggregation.is_some() {
        tracing::info!(
            aggregate_ms,
            "coarsest level aggregated on the CPU (counted in the sweep's time)"
        );
    }
    let sweep_ms = sweep_started.elapsed().as_secs_f64() * 1e3;
    let fusion_started = Instant::now();
    let cloud = fusion::fuse(&views, &maps, settings);
    let fusion_ms = fusion_started.elapsed().as_secs_f64() * 1e3;
    if cloud.is_empty() {
        tracing::warn!(
            "reconstruction produced no points (no texture, no overlap, or a wrong rig?)"
        );
    }
    let report = ReconstructReport {
        views_used: views.len(),
        views_missing: missing,
        roi: [[roi.0.x, roi.0.y, roi.0.z], [roi.1.x, roi.1.y, roi.1.z]],
        prepare_ms,
        sweep_ms,
        fusion_ms,
        points: cloud.len(),
    };
    tracing::info!(
        points = report.points,
        sweep_ms = report.sweep_ms,
        fusion_ms = report.fusion_ms,
        "reconstructed"
    );
    Ok((cloud, report))
}
