//! Depths of plain (textureless) foreground pixels from colour consistency:
//! the front of the photo hull along each pixel's ray (Kutulakos and Seitz,
//! "A Theory of Shape by Space Carving", 2000, restricted to one ray).
//!
//! Stereo has nothing to match on a plain kit, and the visual hull's front
//! lies centimetres in front of it wherever two figures merge into one
//! silhouette in the side views. Colour still separates them: a point in
//! front of the plain surface projects, in some view that sees it, onto
//! something of another colour (the other figure, skin, the ground); a
//! point on a Lambertian surface shows the same colour in every view that
//! sees it. So each plain pixel's ray is marched from the hull's front and
//! stops at the first depth that every view seeing it agrees with in
//! colour. Whether a view sees the point is read from the depth maps the
//! matcher already made (a surface there more than `occlusion_margin_m` in
//! front of the point hides it).
//!
//! CPU only, like the mask clean-up: it touches the few plain pixels
//! (~8k of ~40k listed on `crossing`) with early exits.

use glam::{Vec2, Vec3};
use rayon::prelude::*;

use super::{PackedFrameSet, decode_pixel};
use crate::gpu::gpu_types::CameraGpu;
use crate::reconstruct::cpu_ref::Cam;
use crate::reconstruct::plane_sweep::DepthMap;

/// Tuning of the photo-hull depths.
#[derive(Debug, Clone, Copy)]
pub struct PhotoHullSettings {
    /// Whether plain pixels take the photo hull's front depth.
    pub enabled: bool,
    /// A pixel is plain below this grey std-dev of its 3x3 window (0..1).
    pub max_texture_std: f32,
    /// Two views disagree above this mean absolute difference of their
    /// 3x3-averaged RGB (0..1).
    pub max_color_difference: f32,
    /// A surface this far (m) in front of the point in a view's depth map
    /// hides it from that view.
    pub occlusion_margin_m: f32,
    /// Step along the ray, metres.
    pub step_m: f32,
    /// Whether a point outside any view's (undilated) silhouette is empty.
    pub outside_silhouette_carves: bool,
}

impl Default for PhotoHullSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_texture_std: 0.01,
            max_color_difference: 0.08,
            occlusion_margin_m: 0.03,
            step_m: 0.005,
            outside_silhouette_carves: true,
        }
    }
}

/// Per view: the 3x3 mean RGB of every pixel and its grey 3x3 std-dev.
struct Smoothed {
    rgb: Vec<Vec3>,
    gray_std: Vec<f32>,
}

fn smoothed(packed: &PackedFrameSet, camera: &CameraGpu) -> Smoothed {
    let (w, h) = (camera.size[0] as i32, camera.size[1] as i32);
    let offset = camera.size[2] as usize;
    let rgb_at = |x: i32, y: i32| {
        let x = x.clamp(0, w - 1) as usize;
        let y = y.clamp(0, h - 1) as usize;
        let c = packed.colors[offset + y * w as usize + x];
        Vec3::new(
            (c & 255) as f32,
            ((c >> 8) & 255) as f32,
            ((c >> 16) & 255) as f32,
        ) / 255.0
    };
    let n = (w * h) as usize;
    let (mut rgb, mut gray_std) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for y in 0..h {
        for x in 0..w {
            let (mut sum, mut gray_sum, mut gray_sq) = (Vec3::ZERO, 0.0f32, 0.0f32);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let c = rgb_at(x + dx, y + dy);
                    let g = 0.299 * c.x + 0.587 * c.y + 0.114 * c.z;
                    sum += c;
                    gray_sum += g;
                    gray_sq += g * g;
                }
            }
            let mean = gray_sum / 9.0;
            rgb.push(sum / 9.0);
            gray_std.push((gray_sq / 9.0 - mean * mean).max(0.0).sqrt());
        }
    }
    Smoothed { rgb, gray_std }
}

/// Per pixel, the nearest depth of its 3x3 neighbourhood in `map`
/// (infinite where there is none): what the view sees in front of a point.
fn nearest_depths(map: &DepthMap) -> Vec<f32> {
    let (w, h) = (map.width as usize, map.height as usize);
    let mut out = vec![f32::INFINITY; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut nearest = f32::INFINITY;
            for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let d = map.depth_m[yy * w + xx];
                    if d > 0.0 {
                        nearest = nearest.min(d);
                    }
                }
            }
            out[y * w + x] = nearest;
        }
    }
    out
}

/// Per listed pixel, the photo hull's front depth (m) if the pixel is
/// plain and some depth within its hull runs is colour-consistent; `None`
/// otherwise. `masks` are the views' cleaned silhouettes (a view votes
/// only where the point falls inside its silhouette), `maps` the matcher's
/// depth maps (visibility).
#[must_use]
pub fn plain_depths(
    packed: &PackedFrameSet,
    masks: &[Vec<u8>],
    list: &[u32],
    runs: &[[f32; 4]],
    maps: &[DepthMap],
    settings: &PhotoHullSettings,
) -> Vec<Option<f32>> {
    let smooth: Vec<Smoothed> = packed
        .cameras
        .par_iter()
        .map(|c| smoothed(packed, c))
        .collect();
    let nearest: Vec<Vec<f32>> = maps.par_iter().map(nearest_depths).collect();
    let cams: Vec<Cam<'_>> = packed
        .cameras
        .iter()
        .map(|gpu| Cam { gpu, gray: &[] })
        .collect();
    list.par_iter()
        .zip(runs)
        .map(|(&packed_pixel, run)| {
            let (view, y, x) = decode_pixel(packed_pixel);
            let cam = &cams[view];
            let i = (y * cam.width() + x) as usize;
            if smooth[view].gray_std[i] >= settings.max_texture_std {
                return None;
            }
            let own_rgb = smooth[view].rgb[i];
            let origin = cam.centre_in_world();
            let dir = cam.world_from_cam_dir(cam.ray_in_cam(Vec2::new(x as f32, y as f32)));
            let consistent = |z: f32| {
                let point = origin + z * dir;
                cams.iter().enumerate().all(|(n, other)| {
                    if n == view {
                        return true;
                    }
                    let point_in_cam = other.cam_from_world_point(point);
                    if point_in_cam.z <= 1e-3 {
                        return true;
                    }
                    let p = other.pixel_from_cam(point_in_cam).round();
                    if p.x < 0.0
                        || p.y < 0.0
                        || p.x >= other.width() as f32
                        || p.y >= other.height() as f32
                    {
                        return true;
                    }
                    let j = p.y as usize * other.width() as usize + p.x as usize;
                    let hidden = nearest[n][j] < point_in_cam.z - settings.occlusion_margin_m;
                    if masks[n][j] == 0 {
                        // Outside a silhouette: empty, seen or not.
                        return !settings.outside_silhouette_carves;
                    }
                    if hidden {
                        return true;
                    }
                    let difference = (smooth[n].rgb[j] - own_rgb).abs();
                    (difference.x + difference.y + difference.z) / 3.0
                        <= settings.max_color_difference
                })
            };
            for (front, back) in [(run[0], run[1]), (run[2], run[3])] {
                if back <= front {
                    continue;
                }
                let steps = ((back - front) / settings.step_m).ceil() as u32;
                for k in 0..=steps {
                    let z = (front + k as f32 * settings.step_m).min(back);
                    if consistent(z) {
                        return Some(z);
                    }
                }
            }
            None
        })
        .collect()
}
