//! CPU reference of `shaders/reconstruct/plane_sweep.wgsl`, in f32 and in
//! the same order of operations, so tests can compare the GPU kernel with it.
//! Keep the two in step.

use glam::{Vec2, Vec3};
use rayon::prelude::*;

use crate::gpu::gpu_types::{CameraGpu, SweepParamsGpu};

const MAX_FINE: u32 = 16;
const INVALID_SCORE: f32 = -1.0;

/// Borrowed view of one camera's packed data.
struct Cam<'a> {
    gpu: &'a CameraGpu,
    gray: &'a [f32],
}

impl Cam<'_> {
    fn width(&self) -> u32 {
        self.gpu.size[0]
    }
    fn height(&self) -> u32 {
        self.gpu.size[1]
    }
    fn row(&self, i: usize) -> Vec3 {
        let r = self.gpu.cam_from_world_rows[i];
        Vec3::new(r[0], r[1], r[2])
    }
    fn cam_from_world_point(&self, p: Vec3) -> Vec3 {
        let r = &self.gpu.cam_from_world_rows;
        Vec3::new(self.row(0).dot(p) + r[0][3], self.row(1).dot(p) + r[1][3], self.row(2).dot(p) + r[2][3])
    }
    fn world_from_cam_dir(&self, d: Vec3) -> Vec3 {
        self.row(0) * d.x + self.row(1) * d.y + self.row(2) * d.z
    }
    fn rotate_to_cam(&self, v: Vec3) -> Vec3 {
        Vec3::new(self.row(0).dot(v), self.row(1).dot(v), self.row(2).dot(v))
    }
    fn centre_in_world(&self) -> Vec3 {
        let r = &self.gpu.cam_from_world_rows;
        -self.world_from_cam_dir(Vec3::new(r[0][3], r[1][3], r[2][3]))
    }
    fn ray_in_cam(&self, p: Vec2) -> Vec3 {
        let k = self.gpu.intrinsics;
        Vec3::new((p.x - k[2]) / k[0], (p.y - k[3]) / k[1], 1.0)
    }
    fn pixel_from_cam(&self, p: Vec3) -> Vec2 {
        let k = self.gpu.intrinsics;
        Vec2::new(k[0] * p.x / p.z + k[2], k[1] * p.y / p.z + k[3])
    }
    fn gray_clamped(&self, x: i32, y: i32) -> f32 {
        let cx = x.clamp(0, self.width() as i32 - 1) as usize;
        let cy = y.clamp(0, self.height() as i32 - 1) as usize;
        self.gray[self.gpu.size[2] as usize + cy * self.width() as usize + cx]
    }
    fn bilinear(&self, p: Vec2) -> f32 {
        let base = p.floor();
        let f = p - base;
        let (x, y) = (base.x as i32, base.y as i32);
        let mix = |a: f32, b: f32, t: f32| a * (1.0 - t) + b * t;
        let top = mix(self.gray_clamped(x, y), self.gray_clamped(x + 1, y), f.x);
        let bottom = mix(self.gray_clamped(x, y + 1), self.gray_clamped(x + 1, y + 1), f.x);
        mix(top, bottom, f.y)
    }
}

fn score_at(params: &SweepParamsGpu, cams: &[Cam], r: &Cam, pixel: Vec2, depth: f32, ref_centered: &[f32; 9], ref_norm: f32) -> f32 {
    let dilation = params.tuning[2];
    let point_in_world = r.centre_in_world() + depth * r.world_from_cam_dir(r.ray_in_cam(pixel));
    let step_x_world = r.world_from_cam_dir(Vec3::new(dilation / r.gpu.intrinsics[0], 0.0, 0.0)) * depth;
    let step_y_world = r.world_from_cam_dir(Vec3::new(0.0, dilation / r.gpu.intrinsics[1], 0.0)) * depth;
    let (mut best0, mut best1, mut valid) = (INVALID_SCORE, INVALID_SCORE, 0u32);
    for k in 0..params.counts[1] as usize {
        let nb = &cams[params.neighbours[k] as usize];
        let centre_in_nb = nb.cam_from_world_point(point_in_world);
        let step_x = nb.rotate_to_cam(step_x_world);
        let step_y = nb.rotate_to_cam(step_y_world);
        let mut values = [0f32; 9];
        let mut ok = true;
        let mut sum = 0.0;
        for j in 0..3 {
            for i in 0..3 {
                let p_cam = centre_in_nb + (i - 1) as f32 * step_x + (j - 1) as f32 * step_y;
                if p_cam.z <= 1e-3 {
                    ok = false;
                }
                let p = nb.pixel_from_cam(p_cam);
                if p.x < 0.0 || p.y < 0.0 || p.x > (nb.width() - 1) as f32 || p.y > (nb.height() - 1) as f32 {
                    ok = false;
                }
                let v = if ok { nb.bilinear(p) } else { 0.0 };
                values[(j * 3 + i) as usize] = v;
                sum += v;
            }
        }
        if !ok {
            continue;
        }
        let mean = sum / 9.0;
        let (mut cov, mut var_nb) = (0.0, 0.0);
        for m in 0..9 {
            let d = values[m] - mean;
            cov += d * ref_centered[m];
            var_nb += d * d;
        }
        let ncc = if var_nb > 1e-10 { cov / (ref_norm * var_nb.sqrt()) } else { 0.0 };
        valid += 1;
        if ncc > best0 {
            best1 = best0;
            best0 = ncc;
        } else if ncc > best1 {
            best1 = ncc;
        }
    }
    if valid < 2 { INVALID_SCORE } else { 0.5 * (best0 + best1) }
}

/// Runs the sweep for `params.counts[0]` on the CPU; returns (depth_m, score) per pixel.
#[must_use]
pub fn sweep_cpu(params: &SweepParamsGpu, cameras: &[CameraGpu], gray: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let cams: Vec<Cam> = cameras.iter().map(|gpu| Cam { gpu, gray }).collect();
    let r = &cams[params.counts[0] as usize];
    let (width, height) = (r.width() as usize, r.height() as usize);
    let results: Vec<(f32, f32)> = (0..width * height)
        .into_par_iter()
        .map(|index| sweep_pixel(params, &cams, r, (index % width) as i32, (index / width) as i32))
        .collect();
    results.into_iter().unzip()
}

fn sweep_pixel(params: &SweepParamsGpu, cams: &[Cam], r: &Cam, x: i32, y: i32) -> (f32, f32) {
    let invalid = (0.0, INVALID_SCORE);
    let dilation = params.tuning[2] as i32;
    let mut ref_centered = [0f32; 9];
    let mut sum = 0.0;
    for j in 0..3 {
        for i in 0..3 {
            let v = r.gray_clamped(x + (i - 1) * dilation, y + (j - 1) * dilation);
            ref_centered[(j * 3 + i) as usize] = v;
            sum += v;
        }
    }
    let mean = sum / 9.0;
    let mut sq = 0.0;
    for v in &mut ref_centered {
        *v -= mean;
        sq += *v * *v;
    }
    if (sq / 9.0f32).sqrt() < params.tuning[0] {
        return invalid;
    }
    let ref_norm = sq.sqrt();
    let pixel = Vec2::new(x as f32, y as f32);
    let origin = r.centre_in_world();
    let dir = r.world_from_cam_dir(r.ray_in_cam(pixel));
    let safe = |v: f32| if v.abs() < 1e-9 { 1e-9 } else { v };
    let safe_dir = Vec3::new(safe(dir.x), safe(dir.y), safe(dir.z));
    let roi_min = Vec3::new(params.roi_min[0], params.roi_min[1], params.roi_min[2]);
    let roi_max = Vec3::new(params.roi_max[0], params.roi_max[1], params.roi_max[2]);
    let t1 = (roi_min - origin) / safe_dir;
    let t2 = (roi_max - origin) / safe_dir;
    let t_near = t1.min(t2).max_element().max(params.tuning[1]);
    let t_far = t1.max(t2).min_element();
    if t_far <= t_near {
        return invalid;
    }
    let coarse = params.counts[2].max(2);
    let step = (t_far - t_near) / coarse as f32;
    let (mut best_score, mut best_depth) = (INVALID_SCORE, 0.0);
    for s in 0..coarse {
        let depth = t_near + (s as f32 + 0.5) * step;
        let score = score_at(params, cams, r, pixel, depth, &ref_centered, ref_norm);
        if score > best_score {
            best_score = score;
            best_depth = depth;
        }
    }
    if best_score <= INVALID_SCORE {
        return invalid;
    }
    let fine = params.counts[3].clamp(3, MAX_FINE);
    let fine_step = 2.0 * step / (fine - 1) as f32;
    let mut fine_scores = [0f32; MAX_FINE as usize];
    let mut best_k = 0usize;
    for k in 0..fine as usize {
        let depth = best_depth - step + k as f32 * fine_step;
        fine_scores[k] = score_at(params, cams, r, pixel, depth, &ref_centered, ref_norm);
        if fine_scores[k] > fine_scores[best_k] {
            best_k = k;
        }
    }
    let mut depth = best_depth - step + best_k as f32 * fine_step;
    let score = fine_scores[best_k];
    if best_k > 0 && best_k + 1 < fine as usize {
        let (l, rr) = (fine_scores[best_k - 1], fine_scores[best_k + 1]);
        let denominator = l - 2.0 * score + rr;
        if l > INVALID_SCORE && rr > INVALID_SCORE && denominator < -1e-6 {
            depth += (0.5 * (l - rr) / denominator).clamp(-0.5, 0.5) * fine_step;
        }
    }
    (depth, score)
}
