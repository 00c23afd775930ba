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

use super::cpu_ref::unpack_rgb;
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
            max_color_difference: 0.06,
            occlusion_margin_m: 0.08,
            step_m: 0.005,
            outside_silhouette_carves: true,
        }
    }
}

/// What one view contributes, over its silhouette's bounding box (every
/// lookup outside it is outside the silhouette, decided before these are
/// read): per pixel, the 3x3 mean RGB, the grey 3x3 std-dev and the
/// nearest depth of its 3x3 neighbourhood in the depth map (infinite where
/// there is none: what the view sees in front of a point).
struct ViewSamples {
    /// Box origin and width, pixels.
    x0: usize,
    y0: usize,
    box_width: usize,
    box_height: usize,
    rgb: Vec<Vec3>,
    gray_std: Vec<f32>,
    nearest_depth_m: Vec<f32>,
}

impl ViewSamples {
    fn new(packed: &PackedFrameSet, camera: &CameraGpu, mask: &[u8], map: &DepthMap) -> Self {
        let (w, h) = (camera.size[0] as usize, camera.size[1] as usize);
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m != 0) {
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
        }
        let (box_width, box_height) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
        let offset = camera.size[2] as usize;
        let rgb_at = |x: usize, y: usize| unpack_rgb(packed.colors[offset + y * w + x]);
        let n = box_width * box_height;
        let mut samples = Self {
            x0,
            y0,
            box_width,
            box_height,
            rgb: Vec::with_capacity(n),
            gray_std: Vec::with_capacity(n),
            nearest_depth_m: Vec::with_capacity(n),
        };
        for y in y0..y0 + box_height {
            for x in x0..x0 + box_width {
                let (mut sum, mut gray_sum, mut gray_sq) = (Vec3::ZERO, 0.0f32, 0.0f32);
                let mut nearest = f32::INFINITY;
                // Clamped at the image border, as the matcher's windows are.
                for yy in [y.saturating_sub(1), y, (y + 1).min(h - 1)] {
                    for xx in [x.saturating_sub(1), x, (x + 1).min(w - 1)] {
                        let c = rgb_at(xx, yy);
                        let g = 0.299 * c.x + 0.587 * c.y + 0.114 * c.z;
                        sum += c;
                        gray_sum += g;
                        gray_sq += g * g;
                        let d = map.depth_m[yy * w + xx];
                        if d > 0.0 {
                            nearest = nearest.min(d);
                        }
                    }
                }
                let mean = gray_sum / 9.0;
                samples.rgb.push(sum / 9.0);
                samples
                    .gray_std
                    .push((gray_sq / 9.0 - mean * mean).max(0.0).sqrt());
                samples.nearest_depth_m.push(nearest);
            }
        }
        samples
    }

    /// Index of image pixel (x, y) in the box, if inside it.
    fn index(&self, x: usize, y: usize) -> Option<usize> {
        let (bx, by) = (x.checked_sub(self.x0)?, y.checked_sub(self.y0)?);
        (bx < self.box_width && by < self.box_height).then_some(by * self.box_width + bx)
    }
}

/// Per listed pixel, the photo hull's front depth (m) if the pixel is
/// plain and some depth within its hull runs is colour-consistent; `None`
/// otherwise. `masks` are the views' cleaned (undilated) silhouettes: a
/// point outside one is empty, seen or not; `maps` the matcher's depth
/// maps (visibility).
#[must_use]
pub fn plain_depths(
    packed: &PackedFrameSet,
    masks: &[Vec<u8>],
    list: &[u32],
    runs: &[[f32; 4]],
    maps: &[DepthMap],
    settings: &PhotoHullSettings,
) -> Vec<Option<f32>> {
    let samples: Vec<ViewSamples> = packed
        .cameras
        .par_iter()
        .zip(masks)
        .zip(maps)
        .map(|((camera, mask), map)| ViewSamples::new(packed, camera, mask, map))
        .collect();
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
            let i = samples[view].index(x as usize, y as usize)?;
            if samples[view].gray_std[i] >= settings.max_texture_std {
                return None;
            }
            let own_rgb = samples[view].rgb[i];
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
                    let (px, py) = (p.x as usize, p.y as usize);
                    let inside = masks[n][py * other.width() as usize + px] != 0;
                    // Inside a silhouette is inside its box.
                    let Some(j) = samples[n].index(px, py).filter(|_| inside) else {
                        // Outside a silhouette: empty, seen or not.
                        return !settings.outside_silhouette_carves;
                    };
                    if samples[n].nearest_depth_m[j] < point_in_cam.z - settings.occlusion_margin_m
                    {
                        return true;
                    }
                    let difference = (samples[n].rgb[j] - own_rgb).abs();
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

#[cfg(test)]
mod tests {
    use nalgebra::{Point2, Point3};

    use super::*;
    use crate::ingest::RgbaImage;
    use crate::reconstruct::foreground::{
        ForegroundSettings, cpu_ref, foreground_params, pack_red_silhouettes,
    };

    /// Two plain balls of different colours 2 cm apart: where the side
    /// views see them as one silhouette the visual hull bulges between
    /// them; colour tells them apart.
    const BALLS: [([f64; 3], f64, [u8; 3]); 2] = [
        ([0.26, 0.0, 1.0], 0.25, [200, 40, 40]),
        ([-0.26, 0.05, 1.0], 0.25, [40, 60, 200]),
    ];

    /// The nearest ball along the ray of `pixel`: (z-depth, colour).
    fn first_hit(
        camera: &crate::calibration::Camera,
        pixel: Point2<f64>,
    ) -> Option<(f64, [u8; 3])> {
        let ray = camera.ray_in_cam(&pixel);
        let ray = ray / ray.z;
        BALLS
            .iter()
            .filter_map(|&(centre, radius_m, rgb)| {
                let c = (camera.cam_from_world * Point3::from(centre)).coords;
                let (a, b) = (ray.dot(&ray), ray.dot(&c));
                let disc = b * b - a * (c.dot(&c) - radius_m * radius_m);
                (disc >= 0.0).then(|| ((b - disc.sqrt()) / a, rgb))
            })
            .min_by(|x, y| x.0.total_cmp(&y.0))
    }

    #[test]
    fn plain_pixels_land_on_the_surface_the_hull_overshoots() {
        let rig = crate::synth::demo_rig(8, 320, 180);
        let mut true_maps = Vec::new();
        let images: Vec<Option<RgbaImage>> = rig
            .cameras
            .iter()
            .map(|camera| {
                let (w, h) = (camera.width as usize, camera.height as usize);
                let mut rgba = vec![0u8; w * h * 4];
                let mut depth_m = vec![0.0f32; w * h];
                for y in 0..h {
                    for x in 0..w {
                        if let Some((z, rgb)) = first_hit(camera, Point2::new(x as f64, y as f64)) {
                            rgba[(y * w + x) * 4..][..3].copy_from_slice(&rgb);
                            depth_m[y * w + x] = z as f32;
                        }
                    }
                }
                true_maps.push(DepthMap {
                    width: camera.width,
                    height: camera.height,
                    score: vec![1.0; w * h],
                    depth_m,
                    volume: Vec::new(),
                });
                Some(RgbaImage {
                    width: camera.width,
                    height: camera.height,
                    rgba: std::sync::Arc::new(rgba),
                })
            })
            .collect();
        // Both balls have some red: every ball pixel is foreground.
        let (packed, masks, list, distance) = pack_red_silhouettes(&rig, &images);
        let roi = (Point3::new(-1.0, -1.0, 0.0), Point3::new(1.0, 1.0, 2.0));
        let params = foreground_params(&packed, &roi, &ForegroundSettings::default());
        let unbounded = vec![[0.0f32; 4]; list.len()];
        let runs = cpu_ref::hull_cpu(&params, &packed.cameras, &distance, &list, &unbounded);
        // Exact depth maps here: a tight occlusion margin. (The default is
        // wide for the matcher's depths, whose errors would otherwise hide
        // points from views that do see them.)
        let settings = PhotoHullSettings {
            occlusion_margin_m: 0.03,
            ..PhotoHullSettings::default()
        };
        let depths = plain_depths(&packed, &masks, &list, &runs, &true_maps, &settings);
        assert_eq!(depths.len(), list.len());
        // The same march with colour ignored: the undilated silhouettes alone.
        let silhouettes_only = PhotoHullSettings {
            max_color_difference: f32::INFINITY,
            ..settings
        };
        let fronts = plain_depths(&packed, &masks, &list, &runs, &true_maps, &silhouettes_only);

        let (mut plain, mut photo_close, mut hull_close, mut errors_m) = (0, 0, 0, Vec::new());
        let (mut overshoot, mut overshoot_fixed) = (0, 0);
        for (((&p, run), depth), front) in list.iter().zip(&runs).zip(&depths).zip(&fronts) {
            let (view, y, x) = decode_pixel(p);
            let camera = &packed.views[view].camera;
            let Some((truth_m, _)) = first_hit(camera, Point2::new(f64::from(x), f64::from(y)))
            else {
                continue;
            };
            let (Some(depth), Some(front)) = (depth, front) else {
                continue;
            };
            plain += 1;
            let error_m = f64::from(*depth) - truth_m;
            errors_m.push(error_m.abs());
            photo_close += usize::from(error_m.abs() <= 0.02);
            hull_close += usize::from((f64::from(run[0]) - truth_m).abs() <= 0.02);
            if f64::from(*front) < truth_m - 0.02 {
                overshoot += 1;
                overshoot_fixed += usize::from(error_m.abs() <= 0.02);
            }
        }
        errors_m.sort_by(f64::total_cmp);
        let median_m = errors_m[errors_m.len() / 2];
        let (photo_share, hull_share) = (
            photo_close as f64 / plain as f64,
            hull_close as f64 / plain as f64,
        );
        // The balls' rims are not plain (black around them).
        assert!(
            plain * 10 >= list.len() * 6,
            "{plain} of {} listed pixels plain with a depth",
            list.len()
        );
        assert!(median_m <= 0.01, "median error {median_m:.4} m");
        assert!(
            photo_share >= 0.8 && photo_share >= hull_share + 0.3,
            "within 2 cm: photo hull {photo_share:.3}, hull front {hull_share:.3}"
        );
        // Where the silhouettes alone leave the front > 2 cm before the
        // surface (between the balls), colour puts many on it (the rest
        // lie in the photo hull: no view that sees them shows another colour).
        assert!(
            overshoot >= 100 && overshoot_fixed * 3 >= overshoot,
            "{overshoot_fixed} of {overshoot} pixels the silhouettes overshoot are within 2 cm"
        );
    }
}
