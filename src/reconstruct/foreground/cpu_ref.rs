//! CPU reference of `shaders/reconstruct/foreground.wgsl` (`segment`, `hull`,
//! `sweep`), in f32 and in the same order of operations, so tests can compare
//! the GPU kernels with it. Keep the two in step.

use glam::{Vec2, Vec3};
use rayon::prelude::*;

use super::{
    INVALID_SCORE, NO_VIEW, SEGMENT_FOREGROUND, SEGMENT_NO_CARVE, TEXTURELESS_SCORE, decode_pixel,
};
use crate::gpu::gpu_types::{CameraGpu, ForegroundParamsGpu};
use crate::reconstruct::cpu_ref::Cam;

const WINDOW_RADIUS: i32 = 1;
const WINDOW_SIDE: i32 = 2 * WINDOW_RADIUS + 1;
const WINDOW_TAPS: usize = (WINDOW_SIDE * WINDOW_SIDE) as usize;
const BISECTIONS: u32 = 4;
/// Pixels averaged by `segment`: the pixel and its 4 neighbours (WGSL order).
const CROSS: [(i32, i32); 5] = [(0, -1), (-1, 0), (0, 0), (1, 0), (0, 1)];
const SECOND_RUN_REACH_M: f32 = 0.6;
const INSIDE_STRIDE: f32 = 2.0;
const MAX_SWEEP_SAMPLES: u32 = 96;
const MIN_WINDOW_TAPS: i32 = 5;
const WIDE_WINDOW: f32 = 3.0;

const CHANNELS: usize = 1;
const NORMAL_SPAN_PX: f32 = 2.0;
const NORMAL_MAX_JUMP_M_PER_PX: f32 = 0.05;
const MIN_NORMAL_COS: f32 = 0.2;
/// The fronto-parallel plane's normal in the camera frame.
pub const FRONTO: Vec3 = Vec3::new(0.0, 0.0, -1.0);
const PROPAGATION: [(i32, i32); 8] = [
    (-1, 0),
    (1, 0),
    (0, -1),
    (0, 1),
    (-3, 0),
    (3, 0),
    (0, -3),
    (0, 3),
];
const REFINE_SAMPLES: u32 = 2;
const NORMAL_PERTURBATION: f32 = 0.6;

/// The reference window of one pixel (per channel, mean-centred).
struct RefWindow {
    centered: [f32; CHANNELS * WINDOW_TAPS],
    inside: [bool; WINDOW_TAPS],
    taps: f32,
    /// RGB (0..1) of the reference pixel.
    rgb: Vec3,
    norm: f32,
    dilation: f32,
    /// Normal (camera frame) of the plane the window lies on.
    normal: Vec3,
}
const FINE_SAMPLES: i32 = 3;

/// RGB (0..1) of a packed RGBA8 word.
pub(crate) fn unpack_rgb(c: u32) -> Vec3 {
    Vec3::new(
        (c & 255) as f32,
        ((c >> 8) & 255) as f32,
        ((c >> 16) & 255) as f32,
    ) / 255.0
}

/// `segment`: the foreground mask of every view (packed like `colors`'
/// frames): [`SEGMENT_FOREGROUND`], [`SEGMENT_NO_CARVE`] or 0.
#[must_use]
pub fn segment_cpu(
    params: &ForegroundParamsGpu,
    cameras: &[CameraGpu],
    colors: &[u32],
) -> Vec<u32> {
    let plate_offset = params.offsets[0] as usize;
    let mut mask = vec![0u32; plate_offset];
    let views = (params.counts[0] as usize).min(cameras.len());
    for cam in &cameras[..views] {
        let (w, h) = (cam.size[0] as i32, cam.size[1] as i32);
        let offset = cam.size[2] as usize;
        let view_mask: Vec<u32> = (0..w * h)
            .into_par_iter()
            .map(|index| {
                let (px, py) = (index % w, index / w);
                let mut frame = Vec3::ZERO;
                let mut plate = Vec3::ZERO;
                for (dx, dy) in CROSS {
                    let x = (px + dx).clamp(0, w - 1);
                    let y = (py + dy).clamp(0, h - 1);
                    let i = offset + (y * w + x) as usize;
                    frame += unpack_rgb(colors[i]);
                    plate += unpack_rgb(colors[plate_offset + i]);
                }
                frame /= 5.0;
                plate /= 5.0;
                let plate_sq = plate.dot(plate);
                let alpha = frame.dot(plate) / plate_sq.max(1e-6);
                let distortion =
                    (frame - alpha * plate).length() / plate_sq.sqrt().max(params.segment[3]);
                if distortion > params.segment[0]
                    || alpha < params.segment[1]
                    || alpha > params.segment[2]
                {
                    SEGMENT_FOREGROUND
                } else if alpha < params.tuning[0] {
                    SEGMENT_NO_CARVE
                } else {
                    0
                }
            })
            .collect();
        mask[offset..offset + view_mask.len()].copy_from_slice(&view_mask);
    }
    mask
}

struct Views<'a> {
    params: &'a ForegroundParamsGpu,
    cams: Vec<Cam<'a>>,
    quads: &'a [u32],
    /// The frames, RGBA8 (packed like the masks).
    colors: &'a [u32],
    /// The occlusion-aware pass's hint depths (packed like the masks).
    hint: &'a [f32],
}

impl Views<'_> {
    fn quad_at(&self, view: usize, x: i32, y: i32, plane: usize) -> u32 {
        let cam = &self.cams[view];
        let cx = x.clamp(0, cam.width() as i32 - 1) as usize;
        let cy = y.clamp(0, cam.height() as i32 - 1) as usize;
        self.quads[plane * self.params.offsets[0] as usize
            + cam.gpu.size[2] as usize
            + cy * cam.width() as usize
            + cx]
    }

    fn texel(&self, view: usize, x: i32, y: i32, plane: usize) -> f32 {
        (self.quad_at(view, x, y, plane) & 255) as f32 / 255.0
    }

    fn bilinear(&self, view: usize, p: Vec2, plane: usize) -> f32 {
        let base = p.floor();
        let f = p - base;
        let q = self.quad_at(view, base.x as i32, base.y as i32, plane);
        let mix = |a: f32, b: f32, t: f32| a * (1.0 - t) + b * t;
        let top = mix((q & 255) as f32, ((q >> 8) & 255) as f32, f.x);
        let bottom = mix(((q >> 16) & 255) as f32, (q >> 24) as f32, f.x);
        mix(top, bottom, f.y) / 255.0
    }

    fn rgb_at(&self, view: usize, x: i32, y: i32) -> Vec3 {
        let cam = &self.cams[view];
        let cx = x.clamp(0, cam.width() as i32 - 1) as usize;
        let cy = y.clamp(0, cam.height() as i32 - 1) as usize;
        unpack_rgb(self.colors[cam.gpu.size[2] as usize + cy * cam.width() as usize + cx])
    }

    fn bilinear_rgb(&self, view: usize, p: Vec2) -> Vec3 {
        let base = p.floor();
        let f = p - base;
        let (x, y) = (base.x as i32, base.y as i32);
        let top = self
            .rgb_at(view, x, y)
            .lerp(self.rgb_at(view, x + 1, y), f.x);
        let bottom = self
            .rgb_at(view, x, y + 1)
            .lerp(self.rgb_at(view, x + 1, y + 1), f.x);
        top.lerp(bottom, f.y)
    }

    fn outside_step(&self, mask: &[u32], point: Vec3, skip: usize) -> f32 {
        let mut step = 0.0f32;
        for (v, cam) in self.cams.iter().enumerate() {
            if v == skip {
                continue;
            }
            let c = cam.cam_from_world_point(point);
            if c.z <= 1e-3 {
                continue;
            }
            let p = cam.pixel_from_cam(c);
            let (x, y) = (p.x.round() as i32, p.y.round() as i32);
            if x < 0 || y < 0 || x >= cam.width() as i32 || y >= cam.height() as i32 {
                continue;
            }
            let index = cam.gpu.size[2] as usize + y as usize * cam.width() as usize + x as usize;
            let distance_px = mask[index];
            if distance_px > 0 {
                step = step.max(0.5 * distance_px as f32 * c.z / cam.gpu.intrinsics[0]);
            }
        }
        step
    }

    fn inside_silhouettes(&self, mask: &[u32], point: Vec3, skip: usize) -> bool {
        self.outside_step(mask, point, skip) == 0.0
    }

    fn roi_segment(&self, origin: Vec3, dir: Vec3) -> (f32, f32) {
        let tiny = 1e-9;
        let safe = |d: f32| if d.abs() < tiny { tiny } else { d };
        let safe_dir = Vec3::new(safe(dir.x), safe(dir.y), safe(dir.z));
        let roi_min = Vec3::new(
            self.params.roi_min[0],
            self.params.roi_min[1],
            self.params.roi_min[2],
        );
        let roi_max = Vec3::new(
            self.params.roi_max[0],
            self.params.roi_max[1],
            self.params.roi_max[2],
        );
        let t1 = (roi_min - origin) / safe_dir;
        let t2 = (roi_max - origin) / safe_dir;
        let t_near =
            t1.x.min(t2.x)
                .max(t1.y.min(t2.y))
                .max(t1.z.min(t2.z))
                .max(self.params.roi_max[3]);
        let t_far = t1.x.max(t2.x).min(t1.y.max(t2.y)).min(t1.z.max(t2.z));
        (t_near, t_far)
    }

    fn hull_runs(&self, mask: &[u32], packed: u32, bounds: [f32; 4]) -> [f32; 4] {
        let (view, y, x) = decode_pixel(packed);
        let cam = &self.cams[view];
        let origin = cam.centre_in_world();
        let dir = cam.world_from_cam_dir(cam.ray_in_cam(Vec2::new(x as f32, y as f32)));
        let (mut near, mut far) = self.roi_segment(origin, dir);
        if bounds[3] > 0.5 {
            (near, far) = (near.max(bounds[0]), far.min(bounds[1]));
        }
        let mut runs = [0.0f32; 4];
        if far <= near {
            return runs;
        }
        let step = self.params.roi_min[3];
        let metric = dir.length();
        let inside = |t: f32| self.inside_silhouettes(mask, origin + t * dir, view);
        let mut run_count = 0usize;
        let mut in_run = false;
        let (mut start, mut previous, mut t) = (0.0f32, near, near);
        for k in 0..self.params.counts[3] {
            let outside = self.outside_step(mask, origin + t * dir, view);
            let occupied = outside == 0.0;
            if occupied && !in_run {
                let (mut lo, mut hi) = (previous, t);
                for _ in (0..BISECTIONS).filter(|_| k > 0) {
                    let mid = 0.5 * (lo + hi);
                    if inside(mid) {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                start = hi;
                in_run = true;
            } else if !occupied && in_run {
                let (mut lo, mut hi) = (previous, t);
                for _ in 0..BISECTIONS {
                    let mid = 0.5 * (lo + hi);
                    if inside(mid) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                runs[2 * run_count] = start;
                runs[2 * run_count + 1] = lo;
                run_count += 1;
                in_run = false;
                if run_count == 2 {
                    break;
                }
            }
            if t >= far || (run_count > 0 && t > runs[0] + SECOND_RUN_REACH_M) {
                break;
            }
            previous = t;
            let stride = if in_run { INSIDE_STRIDE * step } else { step };
            t = (t + stride.max(outside / metric)).min(far);
        }
        if in_run {
            runs[2 * run_count] = start;
            runs[2 * run_count + 1] = t;
        }
        runs
    }

    /// Mean of the two best neighbours' scores, the best alone with
    /// `best_only` (as `refine` scores).
    fn score_at(
        &self,
        view: usize,
        pixel: Vec2,
        depth: f32,
        window: &RefWindow,
        best_only: bool,
    ) -> f32 {
        let r = &self.cams[view];
        let origin = r.centre_in_world();
        let ray0 = r.ray_in_cam(pixel);
        let point = origin + depth * r.world_from_cam_dir(ray0);
        // The taps one spacing right and down, on the window's plane.
        let dilation = window.dilation;
        let point_in_cam = ray0 * depth;
        let n = window.normal;
        let ray_x = ray0 + Vec3::new(dilation / r.gpu.intrinsics[0], 0.0, 0.0);
        let ray_y = ray0 + Vec3::new(0.0, dilation / r.gpu.intrinsics[1], 0.0);
        let step_x =
            r.world_from_cam_dir(ray_x * (n.dot(point_in_cam) / n.dot(ray_x)) - point_in_cam);
        let step_y =
            r.world_from_cam_dir(ray_y * (n.dot(point_in_cam) / n.dot(ray_y)) - point_in_cam);
        let (mut best0, mut best1) = (INVALID_SCORE, INVALID_SCORE);
        let mut valid = 0;
        for &nb_index in &self.params.neighbours[view] {
            if nb_index == NO_VIEW {
                continue;
            }
            let nb = &self.cams[nb_index as usize];
            let c = nb.cam_from_world_point(point);
            let cx = nb.cam_from_world_point(point + step_x);
            let cy = nb.cam_from_world_point(point + step_y);
            if c.z <= 1e-3 || cx.z <= 1e-3 || cy.z <= 1e-3 {
                continue;
            }
            let p0 = nb.pixel_from_cam(c);
            if self.visibility_pass() && self.occluded(nb_index as usize, p0, c.z) {
                continue;
            }
            let du = nb.pixel_from_cam(cx) - p0;
            let dv = nb.pixel_from_cam(cy) - p0;
            let reach = WINDOW_RADIUS as f32 * (du.abs() + dv.abs());
            let limit = Vec2::new((nb.width() - 1) as f32, (nb.height() - 1) as f32);
            if (p0 - reach).cmplt(Vec2::ZERO).any() || (p0 + reach).cmpgt(limit).any() {
                continue;
            }
            let (mut sum, mut sum_sq, mut cov) = (Vec3::ZERO, 0.0f32, 0.0f32);
            for j in -WINDOW_RADIUS..=WINDOW_RADIUS {
                for i in -WINDOW_RADIUS..=WINDOW_RADIUS {
                    let tap = ((j + WINDOW_RADIUS) * WINDOW_SIDE + i + WINDOW_RADIUS) as usize;
                    if !window.inside[tap] {
                        continue;
                    }
                    let at = p0 + i as f32 * du + j as f32 * dv;
                    for c in 0..CHANNELS {
                        let v = self.bilinear(nb_index as usize, at, c);
                        sum[c] += v;
                        sum_sq += v * v;
                        cov += v * window.centered[c * WINDOW_TAPS + tap];
                    }
                }
            }
            let var_nb = (sum_sq - sum.dot(sum) / window.taps).max(0.0);
            let ncc = if var_nb > 1e-10 {
                cov / (window.norm * var_nb.sqrt())
            } else {
                0.0
            } - self.params.tuning[1]
                * (self.bilinear_rgb(nb_index as usize, p0) - window.rgb)
                    .abs()
                    .dot(Vec3::splat(1.0 / 3.0));
            valid += 1;
            if ncc > best0 {
                best1 = best0;
                best0 = ncc;
            } else if ncc > best1 {
                best1 = ncc;
            }
        }
        if valid < 2 {
            // One neighbour is enough once the occluded ones are known.
            return if valid == 1 && self.visibility_pass() {
                best0
            } else {
                INVALID_SCORE
            };
        }
        if best_only {
            best0
        } else {
            0.5 * (best0 + best1)
        }
    }

    fn visibility_pass(&self) -> bool {
        self.params.visibility[0] > 0.5
    }

    /// The hint depth of `view` at pixel `p` (0 = none or outside).
    fn hint_at(&self, view: usize, p: Vec2) -> f32 {
        let cam = &self.cams[view];
        let (x, y) = (p.x.round() as i32, p.y.round() as i32);
        if x < 0 || y < 0 || x >= cam.width() as i32 || y >= cam.height() as i32 {
            return 0.0;
        }
        self.hint
            .get(cam.gpu.size[2] as usize + y as usize * cam.width() as usize + x as usize)
            .copied()
            .unwrap_or(0.0)
    }

    fn hint_point(&self, view: usize, p: Vec2) -> Vec3 {
        self.cams[view].ray_in_cam(p) * self.hint_at(view, p)
    }

    /// The hint surface's normal (camera frame, towards the camera) at
    /// pixel `p`; [`FRONTO`] where a hint is missing, the surface jumps or
    /// the plane is too grazing.
    fn hint_normal(&self, view: usize, p: Vec2) -> Vec3 {
        let s = NORMAL_SPAN_PX;
        let c = self.hint_point(view, p);
        let xp = self.hint_point(view, p + Vec2::new(s, 0.0));
        let xm = self.hint_point(view, p - Vec2::new(s, 0.0));
        let yp = self.hint_point(view, p + Vec2::new(0.0, s));
        let ym = self.hint_point(view, p - Vec2::new(0.0, s));
        let jump = NORMAL_MAX_JUMP_M_PER_PX * s;
        if [c, xp, xm, yp, ym].iter().any(|q| q.z <= 0.0) {
            return FRONTO;
        }
        if [xp, xm, yp, ym].iter().any(|q| (q.z - c.z).abs() > jump) {
            return FRONTO;
        }
        let cross = (xp - xm).cross(yp - ym);
        let len = cross.length();
        if len < 1e-12 {
            return FRONTO;
        }
        let mut n = cross / len;
        if n.dot(c) > 0.0 {
            n = -n;
        }
        if -n.dot(c) < MIN_NORMAL_COS * c.length() {
            return FRONTO;
        }
        n
    }

    fn occluded(&self, view: usize, p: Vec2, depth: f32) -> bool {
        let h = self.hint_at(view, p);
        h > 0.0 && h < depth - self.params.visibility[1]
    }

    /// The reference window at `dilation` px spacing; `norm` is 0 when too
    /// plain, -1 when too few taps are inside the silhouette.
    fn reference_window(
        &self,
        mask: &[u32],
        view: usize,
        x: u32,
        y: u32,
        dilation: f32,
    ) -> RefWindow {
        let r = &self.cams[view];
        let mut window = RefWindow {
            centered: [0.0; CHANNELS * WINDOW_TAPS],
            inside: [false; WINDOW_TAPS],
            taps: 0.0,
            rgb: Vec3::ZERO,
            norm: 0.0,
            dilation,
            normal: FRONTO,
        };
        let step = dilation as i32;
        let mut sum = Vec3::ZERO;
        for j in -WINDOW_RADIUS..=WINDOW_RADIUS {
            for k in -WINDOW_RADIUS..=WINDOW_RADIUS {
                let tx = (x as i32 + k * step).clamp(0, r.width() as i32 - 1);
                let ty = (y as i32 + j * step).clamp(0, r.height() as i32 - 1);
                let tap = ((j + WINDOW_RADIUS) * WINDOW_SIDE + k + WINDOW_RADIUS) as usize;
                let index = r.gpu.size[2] as usize + ty as usize * r.width() as usize + tx as usize;
                let inside = mask[index] == 0;
                window.inside[tap] = inside;
                if inside {
                    window.taps += 1.0;
                }
                for c in 0..CHANNELS {
                    let v = if inside {
                        self.texel(view, tx, ty, c)
                    } else {
                        0.0
                    };
                    window.centered[c * WINDOW_TAPS + tap] = v;
                    sum[c] += v;
                }
            }
        }
        if window.taps < MIN_WINDOW_TAPS as f32 {
            window.norm = -1.0;
            return window;
        }
        let mean = sum / window.taps;
        let mut sq = 0.0f32;
        for c in 0..CHANNELS {
            for m in 0..WINDOW_TAPS {
                let i = c * WINDOW_TAPS + m;
                window.centered[i] = if window.inside[m] {
                    window.centered[i] - mean[c]
                } else {
                    0.0
                };
                sq += window.centered[i] * window.centered[i];
            }
        }
        if (sq / (window.taps * CHANNELS as f32)).sqrt() >= self.params.sweep[0] {
            window.norm = sq.sqrt();
        }
        window
    }

    /// The window `sweep` and `refine` match with: at `sweep[1]` spacing
    /// or, where too plain there, WIDE_WINDOW times wider.
    /// Both carry the reference pixel's colour.
    fn matching_window(&self, mask: &[u32], view: usize, x: u32, y: u32) -> RefWindow {
        let mut window = self.reference_window(mask, view, x, y, self.params.sweep[1]);
        if window.norm == 0.0 {
            window = self.reference_window(mask, view, x, y, self.params.sweep[1] * WIDE_WINDOW);
        }
        window.rgb = self.rgb_at(view, x as i32, y as i32);
        window
    }

    fn sweep_pixel(&self, mask: &[u32], packed: u32, runs: [f32; 4]) -> [f32; 2] {
        if runs[1] <= runs[0] {
            return [0.0, INVALID_SCORE];
        }
        let (view, y, x) = decode_pixel(packed);
        let hull_front = runs[0];
        let mut runs = runs;
        if self.visibility_pass() {
            // Search only around the pixel's own depth in the first pass's cloud.
            let own = self.hint_at(view, Vec2::new(x as f32, y as f32));
            if own > 0.0 {
                let reach = self.params.visibility[2];
                runs = [own - reach + self.params.sweep[2], own + reach, 0.0, 0.0];
            }
        }
        let mut window = self.matching_window(mask, view, x, y);
        if window.norm < 0.0 {
            return [0.0, INVALID_SCORE];
        }
        if window.norm == 0.0 {
            return [hull_front, TEXTURELESS_SCORE];
        }
        let pixel = Vec2::new(x as f32, y as f32);
        if self.visibility_pass() {
            window.normal = self.hint_normal(view, pixel);
        }
        let step = self.params.sweep[2];
        let score = |depth: f32| self.score_at(view, pixel, depth, &window, false);
        let (mut best_depth, mut best_score) = (0.0f32, INVALID_SCORE);
        for run in 0..2 {
            let (near, far) = (runs[2 * run], runs[2 * run + 1]);
            if far <= near {
                continue;
            }
            let first = (near - step).max(self.params.roi_max[3]);
            let last = far.min(near + self.params.sweep[3]);
            let count = (((last - first) / step).ceil() as u32 + 1).clamp(2, MAX_SWEEP_SAMPLES);
            for k in 0..count {
                let depth = first + k as f32 * step;
                let s = score(depth);
                if s > best_score {
                    (best_score, best_depth) = (s, depth);
                }
            }
        }
        if best_score <= INVALID_SCORE {
            return [0.0, INVALID_SCORE];
        }
        if self.params.visibility[3] > 0.5 {
            // Coarse depths: a first pass that only seeds the occlusion-aware one, or a pass `refine` follows.
            return [best_depth, best_score];
        }
        let fine = 0.25 * step;
        let centre = best_depth;
        for k in (-FINE_SAMPLES..=FINE_SAMPLES).filter(|&k| k != 0) {
            let depth = centre + k as f32 * fine;
            let s = score(depth);
            if s > best_score {
                (best_score, best_depth) = (s, depth);
            }
        }
        let (l, rr) = (score(best_depth - fine), score(best_depth + fine));
        let mut depth = best_depth;
        let denominator = l - 2.0 * best_score + rr;
        if l > INVALID_SCORE && rr > INVALID_SCORE && denominator < -1e-6 {
            depth += (0.5 * (l - rr) / denominator).clamp(-0.5, 0.5) * fine;
        }
        [depth, best_score]
    }
}

fn views<'a>(
    params: &'a ForegroundParamsGpu,
    cameras: &'a [CameraGpu],
    quads: &'a [u32],
    colors: &'a [u32],
) -> Views<'a> {
    let count = (params.counts[0] as usize).min(cameras.len());
    Views {
        params,
        cams: cameras[..count]
            .iter()
            .map(|gpu| Cam { gpu, gray: &[] })
            .collect(),
        quads,
        colors,
        hint: &[],
    }
}

/// `hull`: the first two visual-hull runs (near, far) of each listed
/// pixel, searched within its `bounds` (as `hull` reads them).
#[must_use]
pub fn hull_cpu(
    params: &ForegroundParamsGpu,
    cameras: &[CameraGpu],
    mask: &[u32],
    pixels: &[u32],
    bounds: &[[f32; 4]],
) -> Vec<[f32; 4]> {
    let v = views(params, cameras, &[], &[]);
    pixels
        .par_iter()
        .zip(bounds)
        .map(|(&p, &b)| v.hull_runs(mask, p, b))
        .collect()
}

/// What `sweep` and `refine` read besides their pass's own inputs: the
/// views' cameras, the bilinear quads (as built by
/// [`super::bilinear_quads`]), the frames' colours, the hull's distance map (0 inside a
/// silhouette), the listed pixels and their hull runs.
#[derive(Debug, Clone, Copy)]
pub struct ListedPixels<'a> {
    /// The views' cameras.
    pub cameras: &'a [CameraGpu],
    /// Bilinear quads of the frames.
    pub quads: &'a [u32],
    /// The frames (and plates after them), RGBA8, as `pack_frame_set` packs them.
    pub colors: &'a [u32],
    /// The hull's distance map (packed like the masks).
    pub mask: &'a [u32],
    /// Listed pixels (view << 24 | y << 12 | x).
    pub pixels: &'a [u32],
    /// Per listed pixel, its hull runs.
    pub runs: &'a [[f32; 4]],
}

/// `sweep`: (depth, score) of each listed pixel within its hull runs;
/// `hint` holds the occlusion-aware pass's depths (read only when
/// `params.visibility[0]` is 1).
#[must_use]
pub fn sweep_cpu(
    params: &ForegroundParamsGpu,
    listed: &ListedPixels<'_>,
    hint: &[f32],
) -> Vec<[f32; 2]> {
    let mut v = views(params, listed.cameras, listed.quads, listed.colors);
    v.hint = hint;
    listed
        .pixels
        .par_iter()
        .zip(listed.runs)
        .map(|(&p, &r)| v.sweep_pixel(listed.mask, p, r))
        .collect()
}

/// The integer hash of `refine`'s perturbations: a uniform number in [0, 1).
fn hash01(a: u32, b: u32) -> f32 {
    let mut h = a.wrapping_mul(0x9E37_79B9) ^ b.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 16;
    h = h.wrapping_mul(0x7FEB_352D);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846C_A68B);
    h ^= h >> 16;
    (h >> 8) as f32 / 16_777_216.0
}

/// One pixel's search in `refine`: its window, the depths allowed, and
/// the best plane and score so far.
struct PlaneSearch {
    view: usize,
    pixel: Vec2,
    window: RefWindow,
    span: (f32, f32),
    plane: [f32; 4],
    score: f32,
}

impl Views<'_> {
    fn try_plane(&self, search: &mut PlaneSearch, depth: f32, n: Vec3) {
        if !(depth > search.span.0 && depth < search.span.1) {
            return;
        }
        search.window.normal = n;
        let s = self.score_at(search.view, search.pixel, depth, &search.window, true);
        if s > search.score {
            search.plane = [depth, n.x, n.y, n.z];
            search.score = s;
        }
    }

    /// One `refine` iteration of listed pixel `i`: (plane, score).
    #[allow(clippy::too_many_arguments)]
    fn refine_pixel(
        &self,
        mask: &[u32],
        pixel_index: &[u32],
        [planes, planes_before]: [&[[f32; 4]]; 2],
        scores: &[f32],
        runs: [f32; 4],
        i: usize,
        packed: u32,
        iteration: u32,
    ) -> ([f32; 4], f32) {
        let own = planes[i];
        let (view, y, x) = decode_pixel(packed);
        let window = self.matching_window(mask, view, x, y);
        if window.norm <= 0.0 {
            return (own, scores[i]);
        }
        let cam = &self.cams[view];
        let pixel = Vec2::new(x as f32, y as f32);
        let ray0 = cam.ray_in_cam(pixel);
        let mut search = PlaneSearch {
            view,
            pixel,
            window,
            span: (runs[0] - 2.0 * self.params.sweep[2], runs[1].max(runs[3])),
            plane: own,
            score: scores[i],
        };
        if iteration == 0 && own[0] > 0.0 {
            // The sweep's score is a two-neighbour mean: scored again as
            // candidates are.
            search.window.normal = Vec3::new(own[1], own[2], own[3]);
            search.score = self.score_at(view, pixel, own[0], &search.window, true);
        }
        let (w, h) = (cam.width() as i32, cam.height() as i32);
        for (dx, dy) in PROPAGATION {
            let (qx, qy) = (x as i32 + dx, y as i32 + dy);
            if qx < 0 || qy < 0 || qx >= w || qy >= h {
                continue;
            }
            let j = pixel_index[cam.gpu.size[2] as usize + (qy * w + qx) as usize];
            if j == NO_VIEW {
                continue;
            }
            let plane = planes[j as usize];
            // Unchanged in the previous iteration: tried there already.
            if plane[0] <= 0.0 || plane == planes_before[j as usize] {
                continue;
            }
            let n = Vec3::new(plane[1], plane[2], plane[3]);
            let denominator = n.dot(ray0);
            if denominator.abs() < 1e-4 {
                continue;
            }
            let neighbour_point = cam.ray_in_cam(Vec2::new(qx as f32, qy as f32)) * plane[0];
            let depth = n.dot(neighbour_point) / denominator;
            self.try_plane(&mut search, depth, n);
        }
        if search.plane[0] > 0.0 {
            let seed = packed ^ (iteration << 28);
            let scale = (-(iteration as f32)).exp2();
            let n0 = Vec3::new(search.plane[1], search.plane[2], search.plane[3]);
            let d0 = search.plane[0];
            let depth_reach = self.params.sweep[2] * scale;
            for k in 0..REFINE_SAMPLES {
                let dd = (hash01(seed, 4 * k) - 0.5) * 2.0 * depth_reach;
                let t = Vec3::new(
                    hash01(seed, 4 * k + 1) - 0.5,
                    hash01(seed, 4 * k + 2) - 0.5,
                    hash01(seed, 4 * k + 3) - 0.5,
                ) * (NORMAL_PERTURBATION * scale);
                let mut n = n0 + t;
                let len = n.length();
                n = if len > 1e-6 { n / len } else { n0 };
                if n.dot(ray0) > -MIN_NORMAL_COS * ray0.length() {
                    n = n0;
                }
                self.try_plane(&mut search, d0 + dd, n);
                self.try_plane(&mut search, d0 + dd, n0);
            }
        }
        (search.plane, search.score)
    }
}

/// `refine`'s inputs before the first iteration, for either backend: per
/// listed pixel its plane (the occlusion-aware sweep's depth with the
/// hint's normal; depth 0 where the sweep found none or the pixel is
/// textureless) and its (depth, score).
#[must_use]
pub fn initial_planes(
    params: &ForegroundParamsGpu,
    cameras: &[CameraGpu],
    pixels: &[u32],
    results: &[[f32; 2]],
    hint: &[f32],
) -> (Vec<[f32; 4]>, Vec<[f32; 2]>) {
    let mut v = views(params, cameras, &[], &[]);
    v.hint = hint;
    pixels
        .par_iter()
        .zip(results)
        .map(|(&p, r)| {
            if r[0] > 0.0 && r[1] > INVALID_SCORE && r[1] != TEXTURELESS_SCORE {
                let (view, y, x) = decode_pixel(p);
                let n = v.hint_normal(view, Vec2::new(x as f32, y as f32));
                ([r[0], n.x, n.y, n.z], *r)
            } else {
                ([0.0, FRONTO.x, FRONTO.y, FRONTO.z], [0.0, INVALID_SCORE])
            }
        })
        .unzip()
}

/// Per pixel of every view (packed like the masks), its index in `pixels`;
/// [`NO_VIEW`] where not listed.
#[must_use]
pub fn pixel_index(cameras: &[CameraGpu], pixels: &[u32], total_pixels: usize) -> Vec<u32> {
    let mut index = vec![NO_VIEW; total_pixels];
    for (i, &p) in pixels.iter().enumerate() {
        let (view, y, x) = decode_pixel(p);
        let cam = &cameras[view];
        index[cam.size[2] as usize + (y * cam.size[0] + x) as usize] = i as u32;
    }
    index
}

/// `refine`, one iteration (`params.offsets[1]` its index,
/// `params.visibility[0]` 0): the next planes and (depth, score) of each
/// listed pixel, from `planes` and `results` as [`initial_planes`] or the
/// previous iteration left them. `planes_before` are the planes the
/// previous iteration started from (all zero before the first): a
/// neighbour's plane equal to it is not tried again.
#[must_use]
pub fn refine_cpu(
    params: &ForegroundParamsGpu,
    listed: &ListedPixels<'_>,
    pixel_index: &[u32],
    [planes, planes_before]: [&[[f32; 4]]; 2],
    results: &[[f32; 2]],
) -> (Vec<[f32; 4]>, Vec<[f32; 2]>) {
    let v = views(params, listed.cameras, listed.quads, listed.colors);
    let scores: Vec<f32> = results.iter().map(|r| r[1]).collect();
    listed
        .pixels
        .par_iter()
        .enumerate()
        .map(|(i, &p)| {
            let (plane, score) = v.refine_pixel(
                listed.mask,
                pixel_index,
                [planes, planes_before],
                &scores,
                listed.runs[i],
                i,
                p,
                params.offsets[1],
            );
            (plane, [plane[0], score])
        })
        .unzip()
}

/// `iterations` of [`refine_cpu`] from `planes` and `results`, numbered
/// from 0 as the GPU driver numbers them.
#[must_use]
pub fn refine_iterations_cpu(
    params: &ForegroundParamsGpu,
    listed: &ListedPixels<'_>,
    pixel_index: &[u32],
    planes: Vec<[f32; 4]>,
    results: Vec<[f32; 2]>,
    iterations: u32,
) -> (Vec<[f32; 4]>, Vec<[f32; 2]>) {
    let mut params = *params;
    let (mut planes, mut results) = (planes, results);
    let mut planes_before = vec![[0.0; 4]; planes.len()];
    for iteration in 0..iterations {
        params.offsets[1] = iteration;
        let (next_planes, next_results) = refine_cpu(
            &params,
            listed,
            pixel_index,
            [&planes, &planes_before],
            &results,
        );
        planes_before = std::mem::replace(&mut planes, next_planes);
        results = next_results;
    }
    (planes, results)
}
