//! Per-frame-set reconstruction of the dynamic foreground (players, ball)
//! against clean plates of the empty venue.
//!
//! 1. `segment` (GPU): each view's frame is compared with its clean plate
//!    (means over a 5-pixel cross);
//!    brightness-ratio and chromatic-distortion tests keep shadows and small
//!    lighting changes in the background.
//! 2. Mask clean-up (CPU): a 3x3 opening removes speckle, a closing fills
//!    pinholes; the foreground pixels are listed; the silhouettes are
//!    dilated by `hull_dilation_px` for the hull test (tolerance for
//!    calibration and segmentation error).
//! 3. `hull` (GPU): per listed pixel, the depth runs of its ray inside the
//!    visual hull of all other silhouettes, within the volume of interest.
//! 4. `sweep` (GPU): plane sweep with NCC against neighbour views, bounded to
//!    the hull runs (so a few dozen depths per pixel instead of the whole
//!    volume); textureless pixels fall back to the hull's front depth.
//! 5. Fusion (CPU, `fusion.rs`): cross-view depth consistency, colours,
//!    normals, voxel merge.
//! 6. Occlusion-aware pass: the fused cloud is splatted into every view
//!    ([`visibility_depths`]); `sweep` runs again, leaving out per candidate
//!    the neighbours in which the cloud lies in front of it, and searching
//!    only around the pixel's own depth in the cloud; fusion runs again on
//!    its depths. (Neighbours that cannot see a point, from self-occlusion
//!    on the bodies, had pulled the first pass's depths ~7 mm behind the
//!    surface.)
//!
//! 7. `refine` (GPU): PatchMatch-style iterations over slanted planes
//!    (depth and normal per pixel, the normal first taken from the hints):
//!    each pixel tries its neighbours' planes and random perturbations of
//!    its best, scored by the two best neighbours; fusion runs on its
//!    result (instead of on the second sweep's, whose depths are then
//!    coarse).
//!    Smooth surfaces spread from where they matched into where the sweep
//!    was ambiguous, and the slanted windows match the bodies' curved
//!    sides better than fronto-parallel ones.
//! 8. Photo hull (CPU, [`photo_hull`]): plain pixels, where stereo has
//!    nothing to match, take the first depth of their hull runs that every
//!    view seeing it agrees with in colour; fusion checks them like the rest.
//!
//! Every kernel has a CPU twin in `cpu_ref.rs` ([`Backend::Cpu`]).

pub mod cpu_ref;
pub mod kernels;
pub mod photo_hull;

use std::time::Instant;

use bytemuck::Zeroable;
use nalgebra::Point3;
use rayon::prelude::*;

use super::plane_sweep::DepthMap;
use super::{
    Backend, PointCloud, ReconstructError, ReconstructSettings, Roi, View, default_roi, neighbours,
    prepare_views, undistort,
};
use crate::calibration::Rig;
use crate::gpu::GpuContext;
use crate::gpu::gpu_types::{CameraGpu, FOREGROUND_MAX_VIEWS, ForegroundParamsGpu};
use crate::ingest::RgbaImage;
pub use kernels::ForegroundKernels;
pub use photo_hull::PhotoHullSettings;

/// "No neighbour" in the neighbour table.
pub const NO_VIEW: u32 = u32::MAX;
/// Score of a pixel without a depth.
pub const INVALID_SCORE: f32 = -1.0;
/// Score of a textureless pixel (its depth is the hull's front).
pub const TEXTURELESS_SCORE: f32 = -0.5;
/// Largest image side a listed pixel can have (12 bits per coordinate).
pub const MAX_SIDE_PX: u32 = 4096;

/// Packs a listed pixel: view << 24 | y << 12 | x.
#[must_use]
pub fn encode_pixel(view: usize, y: u32, x: u32) -> u32 {
    ((view as u32) << 24) | (y << 12) | x
}

/// Unpacks a listed pixel into (view, y, x).
#[must_use]
pub fn decode_pixel(packed: u32) -> (usize, u32, u32) {
    (
        (packed >> 24) as usize,
        (packed >> 12) & 0xfff,
        packed & 0xfff,
    )
}

/// Tuning of the foreground reconstruction.
#[derive(Debug, Clone)]
pub struct ForegroundSettings {
    /// Volume of interest; `None`: derived from the rig.
    pub roi: Option<Roi>,
    /// Largest chromatic distortion (relative to the plate's brightness)
    /// still counted as background.
    pub max_chroma_distortion: f32,
    /// Smallest brightness ratio frame/plate still counted as background (shadows).
    pub min_brightness_ratio: f32,
    /// Largest brightness ratio frame/plate still counted as background.
    pub max_brightness_ratio: f32,
    /// Floor of the plate brightness in the distortion's denominator (dark pixels).
    pub plate_norm_floor: f32,
    /// Background pixels darker than this fraction of their plate are only
    /// shadow-like: a player's shadow, or a dark player in front of a prop
    /// of like colour (a navy leg before a pale blue box fits the shadow
    /// test). They are not reconstructed, but they do not carve the visual
    /// hull either, so such a leg is not cut away in the other views
    /// (0 = every background pixel carves).
    pub max_shadow_ratio: f32,
    /// Silhouette dilation for the hull test, pixels.
    pub hull_dilation_px: u32,
    /// Ray-marching step of the hull, metres (ends refined to 1/32 of it).
    pub hull_step_m: f32,
    /// Upper bound on hull steps per ray.
    pub max_hull_steps: u32,
    /// Minimum grey std-dev of a reference window to attempt matching.
    pub min_texture_std: f32,
    /// Spacing of the 3x3 matching window's taps, pixels.
    pub window_dilation_px: f32,
    /// Weight, in the matching score, of the colour difference (mean
    /// absolute RGB, 0..1) between the reference pixel and the neighbour
    /// where the candidate projects: each neighbour scores its grey NCC
    /// less this times that difference. NCC is blind to a smooth
    /// gradient's shift and to hue, the colour is not; 0 = NCC alone, for
    /// rigs whose cameras are not colour-matched.
    pub colour_weight: f32,
    /// Depth step of the sweep, metres.
    pub depth_step_m: f32,
    /// How far behind the hull's front the sweep searches, metres.
    pub max_depth_below_hull_m: f32,
    /// Whether textureless pixels take the hull's front depth (checked by fusion).
    pub textureless_from_hull: bool,
    /// Depths further than this from their 3x3 neighbours' median are
    /// dropped before fusion, metres (0 = off).
    pub depth_median_tolerance_m: f32,
    /// Whether the occlusion-aware second sweep runs.
    pub visibility_pass: bool,
    /// Iterations of the PatchMatch-style `refine` after the sweeps (0 =
    /// off). 2 by default: crossing F@2cm 0.898 -> 0.903 over 1, for ~0.08 s.
    pub refine_iterations: u32,
    /// Occlusion-aware pass: how far (m) the first cloud may lie in front
    /// of a candidate point in a neighbour before that neighbour counts as
    /// occluded.
    pub occlusion_tolerance_m: f32,
    /// Occlusion-aware pass: search half-range (m) around the pixel's own
    /// depth in the first cloud.
    pub visibility_reach_m: f32,
    /// Occlusion-aware pass: half-size (px) of the square each cloud point
    /// covers in the views' depth buffers (closes the gaps between points).
    pub visibility_splat_px: u32,
    /// Plain pixels' depths from colour consistency ([`photo_hull`]).
    pub photo_hull: PhotoHullSettings,
    /// Fusion (consistency, voxel) settings; `max_neighbours` also picks
    /// the sweep's neighbours (at most 4).
    pub fusion: ReconstructSettings,
    /// Where the kernels run.
    pub backend: Backend,
}

impl Default for ForegroundSettings {
    fn default() -> Self {
        Self {
            roi: None,
            max_chroma_distortion: 0.12,
            min_brightness_ratio: 0.4,
            max_brightness_ratio: 1.25,
            plate_norm_floor: 0.1,
            max_shadow_ratio: 0.9,
            hull_dilation_px: 1,
            hull_step_m: 0.04,
            max_hull_steps: 1024,
            min_texture_std: 0.01,
            window_dilation_px: 1.0,
            colour_weight: 5.0,
            depth_step_m: 0.015,
            max_depth_below_hull_m: 0.4,
            textureless_from_hull: false,
            depth_median_tolerance_m: 0.02,
            visibility_pass: true,
            refine_iterations: 2,
            occlusion_tolerance_m: 0.02,
            visibility_reach_m: 0.03,
            visibility_splat_px: 1,
            photo_hull: PhotoHullSettings::default(),
            fusion: ReconstructSettings {
                max_neighbours: 4,
                min_score: 0.2,
                min_consistent_views: 1,
                unconfirmed_min_score: Some(0.4),
                max_reprojection_px: 2.0,
                densify: true,
                ..ReconstructSettings::default()
            },
            backend: Backend::Gpu,
        }
    }
}

/// Counts and timings of one foreground reconstruction.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ForegroundReport {
    /// Views used.
    pub views_used: usize,
    /// Cameras without a frame or a plate.
    pub views_missing: Vec<String>,
    /// The ROI used, metres: [min xyz, max xyz].
    pub roi: [[f64; 3]; 2],
    /// Foreground pixels (all views) after clean-up.
    pub foreground_pixels: usize,
    /// Box around the coarsely carved visual hull, [min xyz, max xyz] m
    /// (`None`: the silhouettes share no volume).
    pub carved_box: Option<[[f64; 3]; 2]>,
    /// Listed pixels with a non-empty hull run.
    pub hull_pixels: usize,
    /// Listed pixels matched by the sweep.
    pub matched_pixels: usize,
    /// Listed pixels too plain to match (hull depth used if enabled).
    pub textureless_pixels: usize,
    /// Points out.
    pub points: usize,
    /// Undistortion and packing, ms.
    pub prepare_ms: f64,
    /// Upload, ms.
    pub upload_ms: f64,
    /// `segment` kernel incl. mask readback, ms.
    pub segment_ms: f64,
    /// Marking the pixels the venue's props cover ([`hidden_by_props`],
    /// CPU; 0 without a venue), ms.
    pub props_ms: f64,
    /// Mask clean-up, listing and re-upload (CPU), ms.
    pub masks_ms: f64,
    /// `hull` kernel, ms.
    pub hull_ms: f64,
    /// `sweep` kernel, ms.
    pub sweep_ms: f64,
    /// Occlusion-aware pass: the first cloud splatted into the views (CPU), ms.
    pub visibility_ms: f64,
    /// Occlusion-aware pass: the second `sweep`, ms.
    pub sweep2_ms: f64,
    /// `refine`, all iterations, ms.
    pub refine_ms: f64,
    /// Plain pixels given the photo hull's depth.
    pub plain_pixels: usize,
    /// Photo-hull depths of the plain pixels, milliseconds.
    pub photo_hull_ms: f64,
    /// Fusion (CPU; both passes), ms.
    pub fusion_ms: f64,
    /// Everything, ms.
    pub total_ms: f64,
}

/// A frame set packed for the kernels.
#[derive(Debug, Clone)]
pub struct PackedFrameSet {
    /// Undistorted views (rig order, missing cameras dropped).
    pub views: Vec<View>,
    /// GPU cameras, `size[2]` = pixel offset.
    pub cameras: Vec<CameraGpu>,
    /// Frames then plates, RGBA8 as u32.
    pub colors: Vec<u32>,
    /// Bilinear quads of the grey frames ([`bilinear_quads`]).
    pub quads: Vec<u32>,
    /// Pixels of all views (the length of one plane).
    pub pixels: usize,
    /// Cameras dropped (no frame or no plate).
    pub missing: Vec<String>,
}

fn rgba_words(image: &RgbaImage) -> impl Iterator<Item = u32> + '_ {
    image
        .rgba
        .chunks_exact(4)
        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]))
}

/// Undistorts and packs the views that have both a frame and a plate.
///
/// # Errors
/// Size mismatches, or fewer than two usable views.
pub fn pack_frame_set(
    rig: &Rig,
    images: &[Option<RgbaImage>],
    plates: &[Option<RgbaImage>],
) -> Result<PackedFrameSet, ReconstructError> {
    let mut without_plate = Vec::new();
    let usable: Vec<Option<RgbaImage>> = rig
        .cameras
        .iter()
        .enumerate()
        .map(|(i, camera)| {
            let image = images.get(i).cloned().flatten()?;
            if plates.get(i).and_then(Option::as_ref).is_none() {
                without_plate.push(camera.id.clone());
                return None;
            }
            Some(image)
        })
        .collect();
    if !without_plate.is_empty() {
        tracing::warn!(cameras = ?without_plate, "no clean plate: camera left out of the foreground");
    }
    let (views, mut missing) = prepare_views(rig, &usable)?;
    if views.len() > FOREGROUND_MAX_VIEWS {
        return Err(ReconstructError::EmptyRoi(format!(
            "{} views; the foreground kernels take at most {FOREGROUND_MAX_VIEWS}",
            views.len()
        )));
    }
    missing.retain(|id| !without_plate.contains(id));
    missing.extend(without_plate);
    for view in &views {
        let camera = &rig.cameras[view.rig_index];
        if camera.width > MAX_SIDE_PX || camera.height > MAX_SIDE_PX {
            return Err(ReconstructError::EmptyRoi(format!(
                "camera {:?} is {}x{}: the foreground kernels take at most {MAX_SIDE_PX} px a side",
                camera.id, camera.width, camera.height
            )));
        }
    }
    let plates: Vec<RgbaImage> = views
        .par_iter()
        .map(|view| {
            let camera = &rig.cameras[view.rig_index];
            match plates.get(view.rig_index).and_then(Option::as_ref) {
                Some(plate) if plate.width == camera.width && plate.height == camera.height => {
                    Ok(undistort(camera, plate))
                }
                Some(plate) => Err(ReconstructError::ImageSize {
                    camera: format!("{} (clean plate)", camera.id),
                    width: camera.width,
                    height: camera.height,
                    got_width: plate.width,
                    got_height: plate.height,
                }),
                None => Err(ReconstructError::NotEnoughCameras {
                    usable: 0,
                    missing: vec![camera.id.clone()],
                }),
            }
        })
        .collect::<Result<_, _>>()?;
    let mut cameras = Vec::with_capacity(views.len());
    let mut colors = Vec::new();
    for view in &views {
        cameras.push(CameraGpu::new(&view.camera, colors.len() as u32));
        colors.extend(rgba_words(&view.image));
    }
    let pixels = colors.len();
    let quads = bilinear_quads(&views, pixels);
    for plate in &plates {
        colors.extend(rgba_words(plate));
    }
    Ok(PackedFrameSet {
        views,
        cameras,
        colors,
        quads,
        pixels,
        missing,
    })
}

/// Per pixel, the four grey bytes of its 2x2 neighbourhood (x,y), (x+1,y),
/// (x,y+1), (x+1,y+1), clamped at the border: one load per bilinear sample
/// in the sweep. (Colour planes, matched as colour NCC, were measured: 30 %
/// slower and no more accurate on our captures.)
#[must_use]
pub fn bilinear_quads(views: &[View], pixels: usize) -> Vec<u32> {
    let mut quads = vec![0u32; pixels];
    let mut offset = 0;
    for view in views {
        let (w, h) = (view.image.width as usize, view.image.height as usize);
        let gray: Vec<u32> = view
            .image
            .rgba
            .chunks_exact(4)
            .map(|p| {
                let luma =
                    0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
                luma.round().clamp(0.0, 255.0) as u32
            })
            .collect();
        let plane = &mut quads[offset..offset + w * h];
        plane.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            let y1 = (y + 1).min(h - 1);
            for (x, q) in row.iter_mut().enumerate() {
                let x1 = (x + 1).min(w - 1);
                let at = |xx: usize, yy: usize| gray[yy * w + xx];
                *q = at(x, y) | (at(x1, y) << 8) | (at(x, y1) << 16) | (at(x1, y1) << 24);
            }
        });
        offset += w * h;
    }
    quads
}

/// Kernel uniforms for a packed frame set.
#[must_use]
pub fn foreground_params(
    packed: &PackedFrameSet,
    roi: &Roi,
    settings: &ForegroundSettings,
) -> ForegroundParamsGpu {
    let centre = nalgebra::center(&roi.0, &roi.1);
    let mut table = [[NO_VIEW; 4]; FOREGROUND_MAX_VIEWS];
    let neighbour_settings = ReconstructSettings {
        max_neighbours: settings.fusion.max_neighbours.min(4),
        ..settings.fusion.clone()
    };
    for (v, row) in table.iter_mut().enumerate().take(packed.views.len()) {
        for (slot, nb) in
            row.iter_mut()
                .zip(neighbours(&packed.views, v, &centre, &neighbour_settings))
        {
            *slot = nb;
        }
    }
    ForegroundParamsGpu {
        counts: [packed.views.len() as u32, 0, 0, settings.max_hull_steps],
        roi_min: [
            roi.0.x as f32,
            roi.0.y as f32,
            roi.0.z as f32,
            settings.hull_step_m,
        ],
        roi_max: [
            roi.1.x as f32,
            roi.1.y as f32,
            roi.1.z as f32,
            HULL_NEAR_M as f32,
        ],
        segment: [
            settings.max_chroma_distortion,
            settings.min_brightness_ratio,
            settings.max_brightness_ratio,
            settings.plate_norm_floor,
        ],
        sweep: [
            settings.min_texture_std,
            settings.window_dilation_px,
            settings.depth_step_m,
            settings.max_depth_below_hull_m,
        ],
        offsets: [packed.pixels as u32, 0, 0, 0],
        visibility: [
            0.0,
            settings.occlusion_tolerance_m,
            settings.visibility_reach_m,
            // The first pass only seeds the second: coarse depths suffice
            // (the same F-scores on our captures, a third less sweep).
            if settings.visibility_pass { 1.0 } else { 0.0 },
        ],
        tuning: [settings.max_shadow_ratio, settings.colour_weight, 0.0, 0.0],
        neighbours: table,
        cameras: {
            let mut cameras = [CameraGpu::zeroed(); FOREGROUND_MAX_VIEWS];
            cameras[..packed.cameras.len()].copy_from_slice(&packed.cameras);
            cameras
        },
    }
}

/// Binary erosion (`erode`) or dilation with a (2r+1)^2 square, separable;
/// outside the image counts as background for dilation and is ignored for
/// erosion.
fn morph(mask: &[u8], w: usize, h: usize, radius: usize, erode: bool) -> Vec<u8> {
    fn combine(erode: bool, mut window: impl Iterator<Item = u8>) -> u8 {
        if erode {
            u8::from(window.all(|m| m != 0))
        } else {
            u8::from(window.any(|m| m != 0))
        }
    }
    let mut rows = vec![0u8; mask.len()];
    for y in 0..h {
        let row = &mask[y * w..(y + 1) * w];
        for x in 0..w {
            let (lo, hi) = (x.saturating_sub(radius), (x + radius).min(w - 1));
            rows[y * w + x] = combine(erode, row[lo..=hi].iter().copied());
        }
    }
    let mut out = vec![0u8; mask.len()];
    for y in 0..h {
        let (lo, hi) = (y.saturating_sub(radius), (y + radius).min(h - 1));
        for x in 0..w {
            out[y * w + x] = combine(erode, (lo..=hi).map(|k| rows[k * w + x]));
        }
    }
    out
}

/// Cleans one view's raw mask: opening (speckle) then closing (pinholes).
#[must_use]
pub fn clean_mask(raw: &[u8], width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let opened = morph(&morph(raw, w, h, 1, true), w, h, 1, false);
    morph(&morph(&opened, w, h, 1, false), w, h, 1, true)
}

/// Chamfer (1, sqrt 2) distance, in whole pixels, from each pixel to the
/// nearest set pixel of `mask` (0 on it); an image without set pixels gets
/// its diagonal everywhere.
#[must_use]
pub fn distance_to_mask(mask: &[u8], width: u32, height: u32) -> Vec<u32> {
    const DIAGONAL: f32 = std::f32::consts::SQRT_2;
    let (w, h) = (width as usize, height as usize);
    let far = (width + height) as f32;
    let mut d: Vec<f32> = mask
        .iter()
        .map(|&m| if m != 0 { 0.0 } else { far })
        .collect();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let mut best = d[i];
            if x > 0 {
                best = best.min(d[i - 1] + 1.0);
            }
            if y > 0 {
                best = best.min(d[i - w] + 1.0);
                if x > 0 {
                    best = best.min(d[i - w - 1] + DIAGONAL);
                }
                if x + 1 < w {
                    best = best.min(d[i - w + 1] + DIAGONAL);
                }
            }
            d[i] = best;
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let i = y * w + x;
            let mut best = d[i];
            if x + 1 < w {
                best = best.min(d[i + 1] + 1.0);
            }
            if y + 1 < h {
                best = best.min(d[i + w] + 1.0);
                if x + 1 < w {
                    best = best.min(d[i + w + 1] + DIAGONAL);
                }
                if x > 0 {
                    best = best.min(d[i + w - 1] + DIAGONAL);
                }
            }
            d[i] = best;
        }
    }
    // Floor, so the distance never overstates the true Euclidean one by a
    // whole pixel; the kernel halves it again.
    d.into_iter().map(|v| v.floor() as u32).collect()
}

/// `segment`'s value for a foreground pixel.
pub const SEGMENT_FOREGROUND: u32 = 1;
/// A background pixel that does not carve the hull: shadow-like (`segment`
/// writes it where the frame is darker than
/// [`ForegroundSettings::max_shadow_ratio`] of its plate) or covered by a
/// venue prop that may hide a player ([`hidden_by_props`]); 0 is
/// background.
pub const SEGMENT_NO_CARVE: u32 = 2;

/// Cleans the raw masks of every view, lists the foreground pixels and builds
/// the hull's distance maps: per pixel, the distance (px) to the dilated
/// silhouette joined with the pixels that do not carve
/// ([`SEGMENT_NO_CARVE`]), 0 inside (packed like the grey frames).
#[must_use]
pub fn masks_and_list(
    cameras: &[CameraGpu],
    raw: &[u32],
    hull_dilation_px: u32,
) -> (Vec<Vec<u8>>, Vec<u32>, Vec<u32>) {
    let per_view: Vec<(Vec<u8>, Vec<u32>, Vec<u32>)> = cameras
        .par_iter()
        .enumerate()
        .map(|(v, cam)| {
            let (w, h, offset) = (
                cam.size[0] as usize,
                cam.size[1] as usize,
                cam.size[2] as usize,
            );
            view_masks(
                v,
                &raw[offset..offset + w * h],
                w,
                h,
                hull_dilation_px as usize,
            )
        })
        .collect();
    let mut masks = Vec::with_capacity(per_view.len());
    let mut list = Vec::new();
    let mut hull_mask = Vec::with_capacity(raw.len());
    for (clean, view_list, distance) in per_view {
        masks.push(clean);
        list.extend(view_list);
        hull_mask.extend(distance);
    }
    (masks, list, hull_mask)
}

/// One view's clean mask, listed pixels and hull distance map. The work is
/// done on the bounding box of the raw foreground plus a margin (the
/// morphology and dilation cannot reach beyond it); outside it the distance
/// is the distance to the box, a lower bound of the true one (safe for the
/// hull's strides).
fn view_masks(
    view: usize,
    raw: &[u32],
    w: usize,
    h: usize,
    hull_dilation_px: usize,
) -> (Vec<u8>, Vec<u32>, Vec<u32>) {
    let mut clean = vec![0u8; w * h];
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    // The box covers the pixels that do not carve too: a player hidden
    // behind a prop in this view has no foreground pixel here at all.
    for (i, _) in raw.iter().enumerate().filter(|(_, m)| **m != 0) {
        let (x, y) = (i % w, i / w);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    if x0 == usize::MAX {
        return (clean, Vec::new(), vec![(w + h) as u32; w * h]);
    }
    let margin = 4 + hull_dilation_px;
    let (cx0, cy0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
    let (cx1, cy1) = ((x1 + margin).min(w - 1), (y1 + margin).min(h - 1));
    let (cw, ch) = (cx1 - cx0 + 1, cy1 - cy0 + 1);
    let crop: Vec<u8> = (cy0..=cy1)
        .flat_map(|y| {
            raw[y * w + cx0..=y * w + cx1]
                .iter()
                .map(|&m| u8::from(m == SEGMENT_FOREGROUND))
        })
        .collect();
    let crop_clean = clean_mask(&crop, cw as u32, ch as u32);
    let mut dilated = if hull_dilation_px > 0 {
        morph(&crop_clean, cw, ch, hull_dilation_px, false)
    } else {
        crop_clean.clone()
    };
    // Pixels that do not carve are inside for the hull.
    for y in cy0..=cy1 {
        for x in cx0..=cx1 {
            if raw[y * w + x] == SEGMENT_NO_CARVE {
                dilated[(y - cy0) * cw + (x - cx0)] = 1;
            }
        }
    }
    let crop_distance = distance_to_mask(&dilated, cw as u32, ch as u32);
    let mut list = Vec::new();
    let mut distance = vec![0u32; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if (cx0..=cx1).contains(&x) && (cy0..=cy1).contains(&y) {
                let k = (y - cy0) * cw + (x - cx0);
                clean[i] = crop_clean[k];
                distance[i] = crop_distance[k];
                if crop_clean[k] != 0 {
                    list.push(encode_pixel(view, y as u32, x as u32));
                }
            } else {
                let dx = cx0.saturating_sub(x).max(x.saturating_sub(cx1)) as f32;
                let dy = cy0.saturating_sub(y).max(y.saturating_sub(cy1)) as f32;
                distance[i] = (dx.hypot(dy).floor() as u32).max(1);
            }
        }
    }
    (clean, list, distance)
}

/// Cell of the coarse carving that bounds the hull's rays, metres.
const CARVE_CELL_M: f64 = 0.1;

/// Nearest z-depth (m) the hull searches along a ray.
const HULL_NEAR_M: f64 = 0.1;

/// Views that must (possibly) see a carving cell: a point fewer views see
/// cannot be matched, so its hull is not searched.
const MIN_VIEWS_SEEING_CELL: usize = 3;

/// How far each carving cell is grown on every side, in cells, before its
/// depth range bounds the hull's rays (the carving's test is conservative
/// only to about a pixel).
const HULL_BOUND_GROWTH: f64 = 0.5;

/// Cells of the first carving level, in fine cells per side.
const CARVE_COARSE_FACTOR: usize = 4;

/// Coarse voxel carving on the CPU: the cells of `cell_m` in the ROI
/// (indices from its min corner) that at least `MIN_VIEWS_SEEING_CELL`
/// views may see and whose centre every view that sees it projects within
/// the cell's footprint of its silhouette (`distance` maps, 0 inside).
///
/// Two levels: cells `coarse_factor` times larger first, then the fine
/// cells inside the survivors only (1: the fine cells alone, in effect).
/// The test is conservative (a cell survives when its footprint may touch
/// a silhouette), so a fine cell that survives lies in a coarse cell that
/// survived.
fn carve_cells(
    views: &[View],
    distance: &[u32],
    roi: &Roi,
    cell_m: f64,
    coarse_factor: usize,
) -> Vec<[usize; 3]> {
    let counts = (roi.1 - roi.0).map(|e| (e / cell_m).ceil().max(1.0) as usize);
    let mut offset = 0usize;
    let offsets: Vec<usize> = views
        .iter()
        .map(|v| {
            let o = offset;
            offset += (v.camera.width * v.camera.height) as usize;
            o
        })
        .collect();
    // Whether the cell of side `side_m` whose min corner is `corner` may
    // hold foreground that can be matched: at least MIN_VIEWS_SEEING_CELL
    // views may see it, and none sees it outside its silhouette.
    let occupied = |corner: Point3<f64>, side_m: f64| {
        let half_diagonal_m = 0.5 * side_m * 3f64.sqrt();
        let centre = corner + nalgebra::Vector3::repeat(0.5 * side_m);
        let mut seen_by = 0usize;
        for (view, &o) in views.iter().zip(&offsets) {
            let camera = &view.camera;
            let z = (camera.cam_from_world * centre).z;
            if z <= -half_diagonal_m {
                continue;
            }
            let Some(p) = camera.project(&centre).filter(|_| z > half_diagonal_m) else {
                // Around the camera's centre plane: it may see the cell.
                seen_by += 1;
                continue;
            };
            let footprint_px = camera.fx * half_diagonal_m / (z - half_diagonal_m);
            let (x, y) = (p.x.round(), p.y.round());
            let (w, h) = (f64::from(camera.width), f64::from(camera.height));
            if x < -footprint_px - 1.0
                || y < -footprint_px - 1.0
                || x >= w + footprint_px + 1.0
                || y >= h + footprint_px + 1.0
            {
                continue;
            }
            seen_by += 1;
            if x < 0.0 || y < 0.0 || x >= w || y >= h {
                continue;
            }
            let d = distance[o + y as usize * camera.width as usize + x as usize];
            if f64::from(d) > footprint_px + 1.0 {
                return false;
            }
        }
        seen_by >= MIN_VIEWS_SEEING_CELL
    };
    let corner_of = |cell: [usize; 3], side_m: f64| cell_corner(roi, cell, side_m);
    let f = coarse_factor.max(1);
    let coarse_m = cell_m * f as f64;
    let coarse_counts = counts.map(|n| n.div_ceil(f));
    let coarse: Vec<[usize; 3]> = (0..coarse_counts.z)
        .into_par_iter()
        .flat_map_iter(|k| {
            (0..coarse_counts.y).flat_map(move |j| (0..coarse_counts.x).map(move |i| [i, j, k]))
        })
        .filter(|&cell| occupied(corner_of(cell, coarse_m), coarse_m))
        .collect();
    coarse
        .par_iter()
        .flat_map_iter(|&c| {
            (0..f * f * f).map(move |n| {
                [
                    c[0] * f + n % f,
                    c[1] * f + (n / f) % f,
                    c[2] * f + n / (f * f),
                ]
            })
        })
        .filter(|cell| (0..3).all(|a| cell[a] < counts[a]))
        .filter(|&cell| occupied(corner_of(cell, cell_m), cell_m))
        .collect()
}

/// Min corner of cell `cell` (`side_m` wide, indexed from the ROI's min).
fn cell_corner(roi: &Roi, cell: [usize; 3], side_m: f64) -> Point3<f64> {
    roi.0 + nalgebra::Vector3::new(cell[0] as f64, cell[1] as f64, cell[2] as f64) * side_m
}

/// The box around `cells` grown by one cell, clipped to the ROI.
fn box_of_cells(cells: &[[usize; 3]], roi: &Roi, cell_m: f64) -> Option<Roi> {
    if cells.is_empty() {
        return None;
    }
    let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
    for cell in cells {
        for (a, &v) in cell.iter().enumerate() {
            lo[a] = lo[a].min(v);
            hi[a] = hi[a].max(v);
        }
    }
    let min = Point3::from(nalgebra::Vector3::from_fn(|a, _| {
        (roi.0[a] + (lo[a] as f64 - 1.0) * cell_m).max(roi.0[a])
    }));
    let max = Point3::from(nalgebra::Vector3::from_fn(|a, _| {
        (roi.0[a] + (hi[a] as f64 + 2.0) * cell_m).min(roi.1[a])
    }));
    Some((min, max))
}

/// The coarse carving of `roi` against the hull's distance maps: the box
/// around the surviving cells grown by one cell, clipped to the ROI
/// (`None`: nothing survives), and per listed pixel its ray's depth bounds
/// ([`hull_depth_bounds`]), which `hull` reads.
#[must_use]
pub fn hull_bounds(
    packed: &PackedFrameSet,
    distance: &[u32],
    roi: &Roi,
    pixels: &[u32],
) -> (Option<Roi>, Vec<[f32; 4]>) {
    let cells = carve_cells(
        &packed.views,
        distance,
        roi,
        CARVE_CELL_M,
        CARVE_COARSE_FACTOR,
    );
    let bounds = hull_depth_bounds(
        &packed.views,
        &packed.cameras,
        &cells,
        roi,
        CARVE_CELL_M,
        pixels,
    );
    (box_of_cells(&cells, roi, CARVE_CELL_M), bounds)
}

/// Per listed pixel, the z-depth range (m) its ray may meet the hull in,
/// from the carving's surviving `cells`: each cell, grown by
/// `HULL_BOUND_GROWTH` cells on every side, is projected into every view,
/// and each pixel its bounding rectangle covers gets the cube's depth
/// range (of its part at depths the hull searches, >= `HULL_NEAR_M`).
/// `[near, far, 0, 1]`; near > far where no cube covers the pixel (its
/// hull is empty).
#[must_use]
pub fn hull_depth_bounds(
    views: &[View],
    cameras: &[CameraGpu],
    cells: &[[usize; 3]],
    roi: &Roi,
    cell_m: f64,
    pixels: &[u32],
) -> Vec<[f32; 4]> {
    let per_view: Vec<(Vec<f32>, Vec<f32>)> = views
        .par_iter()
        .map(|view| {
            let camera = &view.camera;
            let (w, h) = (camera.width as usize, camera.height as usize);
            let mut near = vec![f32::INFINITY; w * h];
            let mut far = vec![0.0f32; w * h];
            for &cell in cells {
                let corner = cell_corner(roi, cell, cell_m)
                    - nalgebra::Vector3::repeat(HULL_BOUND_GROWTH * cell_m);
                let edge_m = (1.0 + 2.0 * HULL_BOUND_GROWTH) * cell_m;
                let corners_in_cam: [nalgebra::Vector3<f64>; 8] = std::array::from_fn(|n| {
                    let offset = nalgebra::Vector3::new(
                        (n & 1) as f64,
                        ((n >> 1) & 1) as f64,
                        (n >> 2) as f64,
                    ) * edge_m;
                    (camera.cam_from_world * (corner + offset)).coords
                });
                // The image rectangle and depth range of the cube's part the
                // rays can reach (z >= HULL_NEAR_M): its corners there and
                // its edges' crossings of that plane.
                let (mut u, mut v) = (
                    (f64::INFINITY, f64::NEG_INFINITY),
                    (f64::INFINITY, f64::NEG_INFINITY),
                );
                let (mut z_min, mut z_max) = (f64::INFINITY, 0.0f64);
                let mut include = |point_in_cam: nalgebra::Vector3<f64>| {
                    let z = point_in_cam.z.max(HULL_NEAR_M);
                    let (px, py) = (
                        camera.fx * point_in_cam.x / z + camera.cx,
                        camera.fy * point_in_cam.y / z + camera.cy,
                    );
                    u = (u.0.min(px), u.1.max(px));
                    v = (v.0.min(py), v.1.max(py));
                    z_min = z_min.min(z);
                    z_max = z_max.max(z);
                };
                for (a, &ca) in corners_in_cam.iter().enumerate() {
                    if ca.z >= HULL_NEAR_M {
                        include(ca);
                    }
                    for bit in [1usize, 2, 4].into_iter().filter(|&bit| a & bit == 0) {
                        let cb = corners_in_cam[a | bit];
                        if (ca.z < HULL_NEAR_M) != (cb.z < HULL_NEAR_M) {
                            include(ca + (cb - ca) * ((HULL_NEAR_M - ca.z) / (cb.z - ca.z)));
                        }
                    }
                }
                if !z_min.is_finite() {
                    continue;
                }
                if u.0 > w as f64 || v.0 > h as f64 {
                    continue;
                }
                let x0 = u.0.floor().max(0.0) as usize;
                let y0 = v.0.floor().max(0.0) as usize;
                let x1 = u.1.ceil().min(w as f64 - 1.0);
                let y1 = v.1.ceil().min(h as f64 - 1.0);
                if x1 < 0.0 || y1 < 0.0 {
                    continue;
                }
                for y in y0..=y1 as usize {
                    for x in x0..=x1 as usize {
                        let i = y * w + x;
                        near[i] = near[i].min(z_min as f32);
                        far[i] = far[i].max(z_max as f32);
                    }
                }
            }
            (near, far)
        })
        .collect();
    pixels
        .iter()
        .map(|&p| {
            let (view, y, x) = decode_pixel(p);
            let (near, far) = &per_view[view];
            let i = y as usize * cameras[view].size[0] as usize + x as usize;
            if near[i].is_finite() {
                [near[i], far[i], 0.0, 1.0]
            } else {
                [1.0, 0.0, 0.0, 1.0]
            }
        })
        .collect()
}

/// Foreground reconstructor: compiled kernels, reused across frame sets.
pub struct Foreground<'a> {
    ctx: Option<&'a GpuContext>,
    kernels: Option<ForegroundKernels>,
    /// The venue's points above the ground ([`prop_points`]), empty
    /// without a venue.
    props_in_world: Vec<[f32; 3]>,
}

/// Everything one run produces.
#[derive(Debug, Clone)]
pub struct ForegroundResult {
    /// The fused foreground cloud.
    pub cloud: PointCloud,
    /// Counts and timings.
    pub report: ForegroundReport,
    /// Cleaned foreground masks per used view (1 = foreground).
    pub masks: Vec<Vec<u8>>,
    /// Rig indices of the used views.
    pub view_rig_indices: Vec<usize>,
    /// Per used view, the foreground depth map fusion received.
    pub depth_maps: Vec<DepthMap>,
}

impl<'a> Foreground<'a> {
    /// Compiles the kernels on `ctx`, or uses the CPU reference without one.
    #[must_use]
    pub fn new(ctx: Option<&'a GpuContext>) -> Self {
        Self {
            ctx,
            kernels: ctx.map(ForegroundKernels::new),
            props_in_world: Vec::new(),
        }
    }

    /// The static venue's cloud: its props (points above the ground) may
    /// hide players, so a view does not carve the hull where a prop covers
    /// it ([`hidden_by_props`]). Without it, a leg behind a prop in one
    /// view is cut from every view's hull.
    #[must_use]
    pub fn with_venue(mut self, venue: &PointCloud) -> Self {
        self.props_in_world = prop_points(venue);
        self
    }

    /// Reconstructs the foreground of one frame set: `images[i]` and
    /// `plates[i]` are rig camera i's frame and clean plate (or `None`).
    ///
    /// # Errors
    /// Fewer than two usable views, size mismatches, an empty ROI, GPU errors.
    pub fn run(
        &self,
        rig: &Rig,
        images: &[Option<RgbaImage>],
        plates: &[Option<RgbaImage>],
        settings: &ForegroundSettings,
    ) -> Result<ForegroundResult, ReconstructError> {
        let started = Instant::now();
        let roi = match settings.roi {
            Some(roi) => roi,
            None => default_roi(rig, 2.5)?,
        };
        super::check_roi(&roi)?;
        let packed = pack_frame_set(rig, images, plates)?;
        let mut params = foreground_params(&packed, &roi, settings);
        let mut report = ForegroundReport {
            views_used: packed.views.len(),
            views_missing: packed.missing.clone(),
            roi: [[roi.0.x, roi.0.y, roi.0.z], [roi.1.x, roi.1.y, roi.1.z]],
            prepare_ms: started.elapsed().as_secs_f64() * 1e3,
            ..ForegroundReport::default()
        };
        let gpu = match (settings.backend, self.ctx, &self.kernels) {
            (Backend::Gpu, Some(ctx), Some(kernels)) => {
                let upload_started = Instant::now();
                let resident = kernels.upload(ctx, &packed.cameras, &packed.colors, &packed.quads);
                ctx.wait_idle()?;
                report.upload_ms = upload_started.elapsed().as_secs_f64() * 1e3;
                Some((ctx, kernels, resident))
            }
            _ => None,
        };
        let step_started = Instant::now();
        let mut raw = match &gpu {
            Some((ctx, kernels, resident)) => kernels.segment(ctx, resident, &params)?.0,
            None => cpu_ref::segment_cpu(&params, &packed.cameras, &packed.colors),
        };
        report.segment_ms = step_started.elapsed().as_secs_f64() * 1e3;
        if !self.props_in_world.is_empty() {
            let step_started = Instant::now();
            let hidden = hidden_by_props(&packed, &self.props_in_world, &roi, PROP_SPLAT_PX);
            for (m, hidden) in raw.iter_mut().zip(hidden) {
                if *m == 0 && hidden {
                    *m = SEGMENT_NO_CARVE;
                }
            }
            report.props_ms = step_started.elapsed().as_secs_f64() * 1e3;
        }
        let step_started = Instant::now();
        let (masks, list, hull_mask) =
            masks_and_list(&packed.cameras, &raw, settings.hull_dilation_px);
        if let Some((ctx, kernels, resident)) = &gpu {
            kernels.set_mask(ctx, resident, &hull_mask);
        }
        report.foreground_pixels = list.len();
        // The hull marches only through the box the coarse carving leaves,
        // and along each ray only through the depths its cells allow.
        let (carved, bounds) = hull_bounds(&packed, &hull_mask, &roi, &list);
        report.carved_box = carved.map(|b| [[b.0.x, b.0.y, b.0.z], [b.1.x, b.1.y, b.1.z]]);
        let list = if let Some(b) = carved {
            params.roi_min[..3].copy_from_slice(&[b.0.x as f32, b.0.y as f32, b.0.z as f32]);
            params.roi_max[..3].copy_from_slice(&[b.1.x as f32, b.1.y as f32, b.1.z as f32]);
            list
        } else {
            Vec::new()
        };
        report.masks_ms = step_started.elapsed().as_secs_f64() * 1e3;
        let (runs, results) = match &gpu {
            Some((ctx, kernels, resident)) => {
                let (runs, results, times) =
                    kernels.hull_and_sweep(ctx, resident, &params, &list, &bounds)?;
                report.hull_ms = times[0];
                report.sweep_ms = times[1];
                (runs, results)
            }
            None => {
                let step_started = Instant::now();
                let runs = cpu_ref::hull_cpu(&params, &packed.cameras, &hull_mask, &list, &bounds);
                report.hull_ms = step_started.elapsed().as_secs_f64() * 1e3;
                let step_started = Instant::now();
                let listed = listed_pixels(&packed, &hull_mask, &list, &runs);
                let results = cpu_ref::sweep_cpu(&params, &listed, &[]);
                report.sweep_ms = step_started.elapsed().as_secs_f64() * 1e3;
                (runs, results)
            }
        };
        let listed = listed_pixels(&packed, &hull_mask, &list, &runs);
        report.hull_pixels = runs.iter().filter(|r| r[1] > r[0]).count();
        report.matched_pixels = results
            .iter()
            .filter(|r| r[1] > INVALID_SCORE && r[1] != TEXTURELESS_SCORE)
            .count();
        report.textureless_pixels = results.iter().filter(|r| r[1] == TEXTURELESS_SCORE).count();
        let step_started = Instant::now();
        let mut maps = depth_maps(&packed, &list, &results, settings);
        // A cloud that only seeds the second pass is not densified.
        let first_fusion = ReconstructSettings {
            densify: settings.fusion.densify && !settings.visibility_pass,
            ..settings.fusion.clone()
        };
        let mut cloud = super::fusion::fuse(&packed.views, &maps, &first_fusion);
        report.fusion_ms = step_started.elapsed().as_secs_f64() * 1e3;
        let mut results = results;
        let mut hint = Vec::new();
        // Whether the depth maps changed after the first fusion.
        let mut maps_changed = false;
        if settings.visibility_pass && !cloud.is_empty() {
            let step_started = Instant::now();
            hint = visibility_depths(&packed, &cloud, settings.visibility_splat_px);
            report.visibility_ms = step_started.elapsed().as_secs_f64() * 1e3;
            let mut params = params;
            params.visibility[0] = 1.0;
            // With `refine` after it, coarse depths suffice: its random
            // perturbations do the fine search (measured: the same F-scores,
            // half the sweep's time).
            params.visibility[3] = if settings.refine_iterations > 0 {
                1.0
            } else {
                0.0
            };
            results = match &gpu {
                Some((ctx, kernels, resident)) => {
                    kernels.set_hint(ctx, resident, &hint);
                    let (results, ms) = kernels.sweep(ctx, resident, &params, &list, &runs)?;
                    report.sweep2_ms = ms;
                    results
                }
                None => {
                    let step_started = Instant::now();
                    let results = cpu_ref::sweep_cpu(&params, &listed, &hint);
                    report.sweep2_ms = step_started.elapsed().as_secs_f64() * 1e3;
                    results
                }
            };
            if settings.refine_iterations == 0 {
                let step_started = Instant::now();
                maps = depth_maps(&packed, &list, &results, settings);
                maps_changed = true;
                report.fusion_ms += step_started.elapsed().as_secs_f64() * 1e3;
            }
        }
        if settings.refine_iterations > 0 && !list.is_empty() {
            // Without the occlusion-aware pass there are no hints: the
            // planes start fronto-parallel.
            hint.resize(hull_mask.len(), 0.0);
            let mut params = params;
            params.visibility = [0.0; 4];
            params.counts[1] = list.len() as u32;
            let (planes, start) =
                cpu_ref::initial_planes(&params, &packed.cameras, &list, &results, &hint);
            let index = cpu_ref::pixel_index(&packed.cameras, &list, hull_mask.len());
            let refined = match &gpu {
                Some((ctx, kernels, resident)) => {
                    let (_, refined, ms) = kernels.refine(
                        ctx,
                        resident,
                        &params,
                        &list,
                        &runs,
                        &index,
                        &planes,
                        &start,
                        settings.refine_iterations,
                    )?;
                    report.refine_ms = ms;
                    refined
                }
                None => {
                    let step_started = Instant::now();
                    let (_, refined) = cpu_ref::refine_iterations_cpu(
                        &params,
                        &listed,
                        &index,
                        planes,
                        start,
                        settings.refine_iterations,
                    );
                    report.refine_ms = step_started.elapsed().as_secs_f64() * 1e3;
                    refined
                }
            };
            // Pixels no plane reached keep the sweep's result (textureless
            // ones their hull depth).
            for (result, refined) in results.iter_mut().zip(refined) {
                if refined[0] > 0.0 {
                    *result = refined;
                }
            }
            let step_started = Instant::now();
            maps = depth_maps(&packed, &list, &results, settings);
            maps_changed = true;
            report.fusion_ms += step_started.elapsed().as_secs_f64() * 1e3;
        }
        if settings.photo_hull.enabled && !list.is_empty() {
            let step_started = Instant::now();
            let plain = photo_hull::plain_depths(
                &packed,
                &masks,
                &list,
                &runs,
                &maps,
                &settings.photo_hull,
            );
            for (result, depth) in results.iter_mut().zip(plain) {
                if let Some(depth) = depth {
                    *result = [depth, settings.fusion.min_score];
                    report.plain_pixels += 1;
                }
            }
            maps = depth_maps(&packed, &list, &results, settings);
            maps_changed = true;
            report.photo_hull_ms = step_started.elapsed().as_secs_f64() * 1e3;
        }
        if maps_changed {
            let step_started = Instant::now();
            cloud = super::fusion::fuse(&packed.views, &maps, &settings.fusion);
            report.fusion_ms += step_started.elapsed().as_secs_f64() * 1e3;
        }
        report.points = cloud.len();
        report.total_ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::info!(
            points = report.points,
            foreground_pixels = report.foreground_pixels,
            total_ms = report.total_ms,
            "foreground reconstructed"
        );
        Ok(ForegroundResult {
            cloud,
            report,
            masks,
            view_rig_indices: packed.views.iter().map(|v| v.rig_index).collect(),
            depth_maps: maps,
        })
    }
}

/// The inputs `sweep` and `refine` share, for the CPU twins.
fn listed_pixels<'a>(
    packed: &'a PackedFrameSet,
    hull_mask: &'a [u32],
    list: &'a [u32],
    runs: &'a [[f32; 4]],
) -> cpu_ref::ListedPixels<'a> {
    cpu_ref::ListedPixels {
        cameras: &packed.cameras,
        quads: &packed.quads,
        colors: &packed.colors,
        mask: hull_mask,
        pixels: list,
        runs,
    }
}

/// Height (m) above the ground from which a venue point belongs to a prop
/// that may hide a player (the ground hides nothing above it).
const PROP_MIN_HEIGHT_M: f32 = 0.05;

/// Half-size (px) of the square each venue point covers in
/// [`hidden_by_props`] (closes the gaps between the venue's points).
const PROP_SPLAT_PX: u32 = 1;

/// The points of `venue` that belong to its props: higher than
/// `PROP_MIN_HEIGHT_M` above the ground (the ground hides nothing above
/// it). Taken once per venue, not per frame set: most venue points are
/// ground.
#[must_use]
pub fn prop_points(venue: &PointCloud) -> Vec<[f32; 3]> {
    venue
        .positions_in_world
        .iter()
        .filter(|p| p[2] >= PROP_MIN_HEIGHT_M)
        .copied()
        .collect()
}

/// Per pixel of every view (packed like the masks): whether one of the
/// venue's prop points ([`prop_points`]), each covering a (2 `splat_px` +
/// 1)^2 square, lies there nearer than the far end of `roi` (a player in
/// the volume may then be behind it). The stands beyond the volume hide
/// nothing in it.
#[must_use]
pub fn hidden_by_props(
    packed: &PackedFrameSet,
    props_in_world: &[[f32; 3]],
    roi: &Roi,
    splat_px: u32,
) -> Vec<bool> {
    let per_view: Vec<Vec<bool>> = packed
        .views
        .par_iter()
        .map(|view| {
            let camera = &view.camera;
            let mut hidden = vec![false; (camera.width * camera.height) as usize];
            let roi_far_m = (0..8)
                .map(|corner| {
                    let pick = |bit: usize, a: usize| {
                        if corner & bit == 0 {
                            roi.0[a]
                        } else {
                            roi.1[a]
                        }
                    };
                    (camera.cam_from_world * Point3::new(pick(1, 0), pick(2, 1), pick(4, 2))).z
                })
                .fold(f64::NEG_INFINITY, f64::max);
            for p in props_in_world {
                splat_square(camera, p, splat_px, |i, z| {
                    if z < roi_far_m {
                        hidden[i] = true;
                    }
                });
            }
            hidden
        })
        .collect();
    per_view.concat()
}

/// Per pixel of every view (packed like the masks), the z-depth (m) of the
/// nearest point of `cloud`, each point covering a (2 `splat_px` + 1)^2
/// square; 0 where no point falls. The occlusion-aware sweep's hints.
#[must_use]
pub fn visibility_depths(packed: &PackedFrameSet, cloud: &PointCloud, splat_px: u32) -> Vec<f32> {
    let per_view: Vec<Vec<f32>> = packed
        .views
        .par_iter()
        .map(|view| {
            let camera = &view.camera;
            let mut depth = vec![f32::INFINITY; (camera.width * camera.height) as usize];
            for p in &cloud.positions_in_world {
                splat_square(camera, p, splat_px, |i, z| {
                    depth[i] = depth[i].min(z as f32);
                });
            }
            depth
                .into_iter()
                .map(|d| if d.is_finite() { d } else { 0.0 })
                .collect()
        })
        .collect();
    per_view.concat()
}

/// Calls `visit(pixel index, z-depth m)` for every pixel of the (2
/// `splat_px` + 1)^2 square around the projection of `point_in_world` into
/// `camera`, when the point lies in front of it. The views are undistorted:
/// a pinhole projection.
fn splat_square(
    camera: &crate::calibration::Camera,
    point_in_world: &[f32; 3],
    splat_px: u32,
    mut visit: impl FnMut(usize, f64),
) {
    let splat = i64::from(splat_px);
    let (w, h) = (i64::from(camera.width), i64::from(camera.height));
    let point_in_cam = camera.cam_from_world
        * Point3::new(
            f64::from(point_in_world[0]),
            f64::from(point_in_world[1]),
            f64::from(point_in_world[2]),
        );
    if point_in_cam.z <= 1e-3 {
        return;
    }
    let x0 = (camera.fx * point_in_cam.x / point_in_cam.z + camera.cx).round() as i64;
    let y0 = (camera.fy * point_in_cam.y / point_in_cam.z + camera.cy).round() as i64;
    for y in (y0 - splat).max(0)..=(y0 + splat).min(h - 1) {
        for x in (x0 - splat).max(0)..=(x0 + splat).min(w - 1) {
            visit((y * w + x) as usize, point_in_cam.z);
        }
    }
}

/// Drops depths further than `tolerance_m` from the median of their valid
/// 3x3 neighbours (with at least 3 of them): isolated mismatches.
fn reject_depth_outliers(map: &mut DepthMap, tolerance_m: f32) {
    let (w, h) = (map.width as usize, map.height as usize);
    let source = map.depth_m.clone();
    let mut window = Vec::with_capacity(9);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if source[i] <= 0.0 {
                continue;
            }
            window.clear();
            for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let d = source[yy * w + xx];
                    if d > 0.0 {
                        window.push(d);
                    }
                }
            }
            if window.len() < 3 {
                continue;
            }
            window.sort_by(f32::total_cmp);
            if (source[i] - window[window.len() / 2]).abs() > tolerance_m {
                map.depth_m[i] = 0.0;
                map.score[i] = INVALID_SCORE;
            }
        }
    }
}

/// Scatters the listed results into per-view depth maps for fusion.
fn depth_maps(
    packed: &PackedFrameSet,
    list: &[u32],
    results: &[[f32; 2]],
    settings: &ForegroundSettings,
) -> Vec<DepthMap> {
    let mut maps: Vec<DepthMap> = packed
        .cameras
        .iter()
        .map(|c| {
            let n = (c.size[0] * c.size[1]) as usize;
            DepthMap {
                width: c.size[0],
                height: c.size[1],
                depth_m: vec![0.0; n],
                score: vec![INVALID_SCORE; n],
                volume: Vec::new(),
            }
        })
        .collect();
    for (&packed_pixel, &[depth, score]) in list.iter().zip(results) {
        let (view, y, x) = decode_pixel(packed_pixel);
        let map = &mut maps[view];
        let i = (y * map.width + x) as usize;
        let score = if score == TEXTURELESS_SCORE && settings.textureless_from_hull {
            settings.fusion.min_score
        } else {
            score
        };
        if depth > 0.0 && score > INVALID_SCORE {
            map.depth_m[i] = depth;
            map.score[i] = score;
        }
    }
    if settings.depth_median_tolerance_m > 0.0 {
        maps.par_iter_mut()
            .for_each(|map| reject_depth_outliers(map, settings.depth_median_tolerance_m));
    }
    maps
}

/// Test frames packed as their own plates, the foreground being every
/// pixel with some red: the packed frame set, the cleaned masks, the listed
/// pixels and the hull's distance map (1 px dilation).
#[cfg(test)]
fn pack_red_silhouettes(
    rig: &Rig,
    images: &[Option<RgbaImage>],
) -> (PackedFrameSet, Vec<Vec<u8>>, Vec<u32>, Vec<u32>) {
    let packed = pack_frame_set(rig, images, images).unwrap();
    let raw: Vec<u32> = images
        .iter()
        .flatten()
        .flat_map(|image| image.rgba.chunks(4).map(|p| u32::from(p[0] > 0)))
        .collect();
    let (masks, list, distance) = masks_and_list(&packed.cameras, &raw, 1);
    (packed, masks, list, distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two demo-rig views of 64x36 uniform grey, packed as their own plates.
    fn grey_pair() -> PackedFrameSet {
        let rig = crate::synth::demo_rig(2, 64, 36);
        let frame = RgbaImage {
            width: 64,
            height: 36,
            rgba: std::sync::Arc::new(vec![128; 64 * 36 * 4]),
        };
        let images = vec![Some(frame.clone()), Some(frame)];
        pack_frame_set(&rig, &images, &images).unwrap()
    }

    /// A cloud of `points` (black, 1 cm radius).
    fn cloud_of(points: impl IntoIterator<Item = Point3<f64>>) -> PointCloud {
        let mut cloud = PointCloud::default();
        for p in points {
            cloud
                .positions_in_world
                .push([p.x as f32, p.y as f32, p.z as f32]);
            cloud.colors.push([0, 0, 0]);
            cloud.normals.push([0.0, 0.0, 1.0]);
            cloud.radii_m.push(0.01);
        }
        cloud
    }

    /// The z-depth (m) where pixel (x, y) of `camera` meets the ground.
    fn ground_depth(camera: &crate::calibration::Camera, x: f64, y: f64) -> f64 {
        let centre = camera.centre_in_world();
        let at_one = camera.unproject(&nalgebra::Point2::new(x, y), 1.0);
        -centre.z / (at_one.z - centre.z)
    }

    #[test]
    fn colour_places_a_smooth_gradient_that_ncc_alone_cannot() {
        // Ground shaded by a ramp along world y: any window on it is a
        // gradient, and NCC is the same wherever along the epipolar line
        // the neighbour's window lands. The colour there is not.
        let rig = crate::synth::demo_rig(8, 320, 180);
        let shade = |x: u32, y: u32, camera: &crate::calibration::Camera| {
            let depth = ground_depth(camera, f64::from(x), f64::from(y));
            let point = camera.unproject(&nalgebra::Point2::new(f64::from(x), f64::from(y)), depth);
            let grey = (0.5 + 0.8 * point.y).clamp(0.0, 1.0);
            (grey * 255.0).round() as u8
        };
        let images: Vec<Option<RgbaImage>> = rig
            .cameras
            .iter()
            .map(|camera| {
                let (w, h) = (camera.width, camera.height);
                let rgba = (0..h)
                    .flat_map(|y| (0..w).map(move |x| (x, y)))
                    .flat_map(|(x, y)| {
                        let g = shade(x, y, camera);
                        [g, g, g, 255]
                    })
                    .collect();
                Some(RgbaImage {
                    width: w,
                    height: h,
                    rgba: std::sync::Arc::new(rgba),
                })
            })
            .collect();
        let packed = pack_frame_set(&rig, &images, &images).unwrap();
        let camera = &packed.views[0].camera;
        // View 0's pixels whose ground point lies on the ramp (|y| < 0.5 m).
        let (mut pixels, mut truth) = (Vec::new(), Vec::new());
        for y in (90..175).step_by(3) {
            for x in (100..220).step_by(2) {
                let depth = ground_depth(camera, f64::from(x), f64::from(y));
                let point =
                    camera.unproject(&nalgebra::Point2::new(f64::from(x), f64::from(y)), depth);
                if depth > 0.0 && point.y.abs() < 0.5 && point.x.abs() < 2.0 {
                    pixels.push((y << 12) | x);
                    truth.push(depth as f32);
                }
            }
        }
        assert!(pixels.len() > 100, "{} pixels on the ramp", pixels.len());
        let runs: Vec<[f32; 4]> = truth.iter().map(|d| [d - 0.2, d + 0.2, 0.0, 0.0]).collect();
        let inside = vec![0u32; packed.pixels];
        let listed = cpu_ref::ListedPixels {
            cameras: &packed.cameras,
            quads: &packed.quads,
            colors: &packed.colors,
            mask: &inside,
            pixels: &pixels,
            runs: &runs,
        };
        let median_error_m = |colour_weight: f32| {
            let settings = ForegroundSettings {
                colour_weight,
                visibility_pass: false,
                ..ForegroundSettings::default()
            };
            let roi = (Point3::new(-3.0, -3.0, -0.1), Point3::new(3.0, 3.0, 2.2));
            let params = foreground_params(&packed, &roi, &settings);
            let result = cpu_ref::sweep_cpu(&params, &listed, &[]);
            let mut errors: Vec<f32> = result
                .iter()
                .zip(&truth)
                .map(|(r, t)| {
                    if r[0] > 0.0 {
                        (r[0] - t).abs()
                    } else {
                        f32::INFINITY
                    }
                })
                .collect();
            errors.sort_by(f32::total_cmp);
            errors[errors.len() / 2]
        };
        let (ncc_only, with_colour) = (median_error_m(0.0), median_error_m(5.0));
        eprintln!("median depth error: NCC only {ncc_only} m, with the colour {with_colour} m");
        assert!(with_colour < 0.01, "with the colour: {with_colour} m");
        assert!(ncc_only > 3.0 * with_colour, "NCC alone: {ncc_only} m");
    }

    #[test]
    fn visibility_depths_keep_the_nearest_point_over_its_splat() {
        let packed = grey_pair();
        let camera = &packed.views[0].camera;
        let world_from_cam = camera.cam_from_world.inverse();
        // Two points on the ray of pixel (20, 10) of view 0, 5 m and 6 m away.
        let ray_in_cam = nalgebra::Vector3::new(
            (20.0 - camera.cx) / camera.fx,
            (10.0 - camera.cy) / camera.fy,
            1.0,
        );
        let cloud = cloud_of([6.0, 5.0].map(|z| world_from_cam * Point3::from(ray_in_cam * z)));
        let depth = visibility_depths(&packed, &cloud, 1);
        assert_eq!(depth.len(), packed.pixels);
        let at = |x: usize, y: usize| depth[y * 64 + x];
        assert!(
            (at(20, 10) - 5.0).abs() < 1e-3,
            "nearest kept: {}",
            at(20, 10)
        );
        assert!(
            (at(21, 11) - 5.0).abs() < 1e-3,
            "splat covers the 3x3 square"
        );
        assert_eq!(at(22, 10), 0.0, "nothing beyond the splat");
        assert_eq!(at(0, 0), 0.0);
    }

    #[test]
    fn props_hide_above_the_ground_and_before_the_volume_only() {
        let packed = grey_pair();
        let camera = &packed.views[0].camera;
        let roi: Roi = (Point3::new(-3.0, -3.0, -0.05), Point3::new(3.0, 3.0, 2.2));
        let centre_in_world = camera.cam_from_world.inverse() * Point3::origin();
        let away = (Point3::new(0.0, 0.0, 1.0) - centre_in_world).normalize();
        // A prop in the volume, the ground, stands 30 m beyond the volume.
        let prop = Point3::new(0.2, -0.3, 1.0);
        let ground = Point3::new(-1.0, 0.5, 0.0);
        let mut stands = Point3::new(0.0, 0.0, 1.0) + away * 30.0;
        stands.z = 1.0;
        let cloud = cloud_of([prop, ground, stands]);
        let hidden = hidden_by_props(&packed, &prop_points(&cloud), &roi, 1);
        assert_eq!(hidden.len(), packed.pixels);
        let pixel = |p: Point3<f64>| {
            let point_in_cam = camera.cam_from_world * p;
            let x = (camera.fx * point_in_cam.x / point_in_cam.z + camera.cx).round() as usize;
            let y = (camera.fy * point_in_cam.y / point_in_cam.z + camera.cy).round() as usize;
            assert!(x < 64 && y < 36, "{p} is in view 0");
            y * 64 + x
        };
        assert!(hidden[pixel(prop)], "a prop hides what is behind it");
        assert!(hidden[pixel(prop) + 65], "over its 3x3 splat");
        assert!(!hidden[pixel(ground)], "the ground hides nothing above it");
        assert!(!hidden[pixel(stands)], "the stands lie beyond the volume");
        assert_eq!(
            hidden.iter().filter(|h| **h).count(),
            18,
            "3x3 in each view"
        );
    }

    #[test]
    fn cropped_masks_match_the_whole_image_and_bound_the_distance() {
        let (w, h) = (97usize, 61usize);
        let mut raw = vec![0u32; w * h];
        // A blob, a one-pixel speckle (opened away), a hole (closed).
        for y in 20..40 {
            for x in 30..45 {
                raw[y * w + x] = 1;
            }
        }
        raw[30 * w + 37] = 0;
        raw[5 * w + 90] = 1;
        // Shadow-like pixels beside the blob: not listed, but inside for the hull.
        raw[30 * w + 47] = SEGMENT_NO_CARVE;
        raw[30 * w + 48] = SEGMENT_NO_CARVE;
        let camera = CameraGpu {
            cam_from_world_rows: [[0.0; 4]; 3],
            intrinsics: [1.0; 4],
            size: [w as u32, h as u32, 0, 0],
        };
        let (masks, list, distance) = masks_and_list(&[camera], &raw, 1);
        let full_raw: Vec<u8> = raw
            .iter()
            .map(|&m| u8::from(m == SEGMENT_FOREGROUND))
            .collect();
        let full_clean = clean_mask(&full_raw, w as u32, h as u32);
        let mut full_hull = morph(&full_clean, w, h, 1, false);
        full_hull[30 * w + 47] = 1;
        full_hull[30 * w + 48] = 1;
        let full_distance = distance_to_mask(&full_hull, w as u32, h as u32);
        assert_eq!(distance[30 * w + 48], 0, "shadow-like pixels do not carve");
        assert_eq!(distance[30 * w + 49], 1);
        assert_eq!(masks[0][30 * w + 48], 0, "nor are they reconstructed");
        // A view where a prop hides the whole player: nothing is listed, and
        // the hidden pixels do not carve.
        let mut hidden_only = vec![0u32; w * h];
        hidden_only[10 * w + 10] = SEGMENT_NO_CARVE;
        let (_, hidden_list, hidden_distance) = masks_and_list(&[camera], &hidden_only, 1);
        assert!(hidden_list.is_empty());
        assert_eq!(hidden_distance[10 * w + 10], 0);
        assert!(hidden_distance[10 * w + 13] >= 2);
        assert_eq!(masks[0], full_clean);
        assert_eq!(masks[0][5 * w + 90], 0, "speckle removed");
        assert_eq!(masks[0][30 * w + 37], 1, "hole closed");
        assert_eq!(list.len(), full_clean.iter().filter(|m| **m != 0).count());
        assert_eq!(decode_pixel(list[0]), (0, 20, 30));
        for (i, (&d, &f)) in distance.iter().zip(&full_distance).enumerate() {
            assert!(d <= f && (d == 0) == (f == 0), "pixel {i}: {d} vs {f}");
        }
        // Far from the blob the bound still lets the hull stride.
        assert!(distance[60 * w] >= 20);
    }

    /// Eight 160x90 views whose silhouettes are a sphere's: the sphere's
    /// centre and radius, the packed frame set, the hull's distance maps
    /// and the listed pixels.
    fn sphere_views() -> (Point3<f64>, f64, PackedFrameSet, Vec<u32>, Vec<u32>) {
        let rig = crate::synth::demo_rig(8, 160, 90);
        let (centre, radius_m) = (Point3::new(0.6, -0.4, 1.0), 0.35);
        let images: Vec<Option<RgbaImage>> = rig
            .cameras
            .iter()
            .map(|camera| {
                let (w, h) = (camera.width as usize, camera.height as usize);
                let mut rgba = vec![0u8; w * h * 4];
                let z = (camera.cam_from_world * centre).z;
                let radius_px = camera.fx * radius_m / z;
                if let Some(c) = camera.project(&centre) {
                    for y in 0..h {
                        for x in 0..w {
                            if (x as f64 - c.x).hypot(y as f64 - c.y) <= radius_px {
                                rgba[(y * w + x) * 4] = 255;
                            }
                        }
                    }
                }
                Some(RgbaImage {
                    width: camera.width,
                    height: camera.height,
                    rgba: std::sync::Arc::new(rgba),
                })
            })
            .collect();
        let (packed, _, list, distance) = pack_red_silhouettes(&rig, &images);
        (centre, radius_m, packed, distance, list)
    }

    #[test]
    fn two_level_carving_keeps_the_box_of_the_fine_carving() {
        let (centre, _, packed, distance, _) = sphere_views();
        let roi = (Point3::new(-3.0, -3.0, 0.0), Point3::new(3.0, 3.0, 2.2));
        let fine = box_of_cells(
            &carve_cells(&packed.views, &distance, &roi, 0.1, 1),
            &roi,
            0.1,
        )
        .unwrap();
        let two_level = box_of_cells(
            &carve_cells(&packed.views, &distance, &roi, 0.1, CARVE_COARSE_FACTOR),
            &roi,
            0.1,
        )
        .unwrap();
        assert_eq!(fine, two_level);
        for a in 0..3 {
            assert!(fine.0[a] <= centre[a] - 0.35 && fine.1[a] >= centre[a] + 0.35);
            assert!(
                fine.1[a] - fine.0[a] < 2.0,
                "carved to the sphere: {fine:?}"
            );
        }
    }

    #[test]
    fn hull_depth_bounds_hold_the_sphere_along_every_ray() {
        let (centre, radius_m, packed, distance, list) = sphere_views();
        let roi = (Point3::new(-3.0, -3.0, 0.0), Point3::new(3.0, 3.0, 2.2));
        let (carved, bounds) = hull_bounds(&packed, &distance, &roi, &list);
        assert!(carved.is_some());
        assert_eq!(bounds.len(), list.len());
        let (mut hits, mut range_sum_m) = (0usize, 0.0);
        for (&p, b) in list.iter().zip(&bounds) {
            let (view, y, x) = decode_pixel(p);
            let camera = &packed.views[view].camera;
            // The ray's entry and exit z-depths through the sphere.
            let ray = camera.ray_in_cam(&nalgebra::Point2::new(f64::from(x), f64::from(y)));
            let ray = ray / ray.z;
            let c = (camera.cam_from_world * centre).coords;
            let (a2, b2) = (ray.dot(&ray), ray.dot(&c));
            let disc = b2 * b2 - a2 * (c.dot(&c) - radius_m * radius_m);
            assert_eq!(b[3], 1.0, "every listed pixel is bounded");
            if disc < 0.0 {
                continue;
            }
            let (entry, exit) = ((b2 - disc.sqrt()) / a2, (b2 + disc.sqrt()) / a2);
            hits += 1;
            range_sum_m += f64::from(b[1] - b[0]);
            assert!(
                f64::from(b[0]) <= entry && f64::from(b[1]) >= exit,
                "pixel {x},{y} of view {view}: bounds {b:?} miss the sphere's {entry:.3}..{exit:.3}"
            );
        }
        assert!(
            hits * 10 >= list.len() * 8,
            "{hits}/{} rays meet the sphere",
            list.len()
        );
        // The bounds are useful: far shorter than the rays through the ROI.
        let mean_range_m = range_sum_m / hits as f64;
        assert!(mean_range_m < 1.5, "mean bound range {mean_range_m:.2} m");
    }
}
