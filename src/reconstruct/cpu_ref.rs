//! CPU reference of `shaders/reconstruct/plane_sweep.wgsl`, in f32 and in
//! the same order of operations, so tests can compare the GPU kernel with it.
//! Keep the two in step.

use glam::{Vec2, Vec3};
use rayon::prelude::*;

use super::plane_sweep::{DepthMap, MAX_SAMPLES, writes_volume};
use crate::gpu::gpu_types::{CameraGpu, SweepParamsGpu};

/// Matching window: (2R+1)^2 taps.
const WINDOW_RADIUS: i32 = 2;
const WINDOW_SIDE: i32 = 2 * WINDOW_RADIUS + 1;
const WINDOW_TAPS: usize = (WINDOW_SIDE * WINDOW_SIDE) as usize;
/// Score of a depth no neighbour (or too few) could score.
pub(crate) const INVALID_SCORE: f32 = -1.0;

/// Borrowed view of one camera's packed data (shared with the foreground
/// kernels' reference).
pub(crate) struct Cam<'a> {
    pub(crate) gpu: &'a CameraGpu,
    pub(crate) gray: &'a [f32],
}

impl Cam<'_> {
    pub(crate) fn width(&self) -> u32 {
        self.gpu.size[0]
    }
    pub(crate) fn height(&self) -> u32 {
        self.gpu.size[1]
    }
    pub(crate) fn row(&self, i: usize) -> Vec3 {
        let r = self.gpu.cam_from_world_rows[i];
        Vec3::new(r[0], r[1], r[2])
    }
    pub(crate) fn cam_from_world_point(&self, p: Vec3) -> Vec3 {
        let r = &self.gpu.cam_from_world_rows;
        Vec3::new(
            self.row(0).dot(p) + r[0][3],
            self.row(1).dot(p) + r[1][3],
            self.row(2).dot(p) + r[2][3],
        )
    }
    pub(crate) fn world_from_cam_dir(&self, d: Vec3) -> Vec3 {
        self.row(0) * d.x + self.row(1) * d.y + self.row(2) * d.z
    }
    pub(crate) fn centre_in_world(&self) -> Vec3 {
        let r = &self.gpu.cam_from_world_rows;
        -self.world_from_cam_dir(Vec3::new(r[0][3], r[1][3], r[2][3]))
    }
    pub(crate) fn ray_in_cam(&self, p: Vec2) -> Vec3 {
        let k = self.gpu.intrinsics;
        Vec3::new((p.x - k[2]) / k[0], (p.y - k[3]) / k[1], 1.0)
    }
    pub(crate) fn pixel_from_cam(&self, p: Vec3) -> Vec2 {
        let k = self.gpu.intrinsics;
        Vec2::new(k[0] * p.x / p.z + k[2], k[1] * p.y / p.z + k[3])
    }
    pub(crate) fn gray_clamped(&self, x: i32, y: i32) -> f32 {
        let cx = x.clamp(0, self.width() as i32 - 1) as usize;
        let cy = y.clamp(0, self.height() as i32 - 1) as usize;
        self.gray[self.gpu.size[2] as usize + cy * self.width() as usize + cx]
    }
    pub(crate) fn bilinear(&self, p: Vec2) -> f32 {
        let base = p.floor();
        let f = p - base;
        let (x, y) = (base.x as i32, base.y as i32);
        let mix = |a: f32, b: f32, t: f32| a * (1.0 - t) + b * t;
        let top = mix(self.gray_clamped(x, y), self.gray_clamped(x + 1, y), f.x);
        let bottom = mix(
            self.gray_clamped(x, y + 1),
            self.gray_clamped(x + 1, y + 1),
            f.x,
        );
        mix(top, bottom, f.y)
    }
}

fn window_steps(
    params: &SweepParamsGpu,
    r: &Cam,
    pixel: Vec2,
    depth: f32,
    point_in_world: Vec3,
    orientation: u32,
) -> Option<(Vec3, Vec3)> {
    let dilation = params.tuning[2];
    let dx = r.world_from_cam_dir(Vec3::new(dilation / r.gpu.intrinsics[0], 0.0, 0.0));
    let dy = r.world_from_cam_dir(Vec3::new(0.0, dilation / r.gpu.intrinsics[1], 0.0));
    if orientation == 0 {
        return Some((dx * depth, dy * depth));
    }
    let origin = r.centre_in_world();
    let ray = r.world_from_cam_dir(r.ray_in_cam(pixel));
    let normal = if orientation >= 2 {
        vertical_normal(params, ray, orientation - 2)
    } else {
        Vec3::Z
    };
    let reach = normal.dot(point_in_world - origin);
    let (ray_x, ray_y) = (ray + dx, ray + dy);
    let (along_x, along_y) = (normal.dot(ray_x), normal.dot(ray_y));
    if along_x.abs() < 1e-4 || along_y.abs() < 1e-4 {
        return None;
    }
    Some((
        origin + ray_x * (reach / along_x) - point_in_world,
        origin + ray_y * (reach / along_y) - point_in_world,
    ))
}

/// Normal of vertical plane `k` of `params.prior_size[2]`: turned from
/// facing the ray (seen from above) by a yaw spread evenly over +-90 degrees.
fn vertical_normal(params: &SweepParamsGpu, ray: Vec3, k: u32) -> Vec3 {
    let facing = (Vec2::new(ray.x, ray.y) + Vec2::new(1e-12, 0.0)).normalize();
    let yaw = std::f32::consts::PI * ((k as f32 + 0.5) / params.prior_size[2] as f32 - 0.5);
    let (s, c) = yaw.sin_cos();
    Vec3::new(
        c * facing.x - s * facing.y,
        s * facing.x + c * facing.y,
        0.0,
    )
}

/// Best score over the plane orientations: 0 fronto-parallel, 1 horizontal,
/// then `params.prior_size[2]` vertical ones.
fn score_at(
    params: &SweepParamsGpu,
    cams: &[Cam],
    r: &Cam,
    pixel: Vec2,
    depth: f32,
    window: &RefWindow,
) -> f32 {
    (0..2 + params.prior_size[2])
        .map(|orientation| score_oriented(params, cams, r, pixel, depth, window, orientation))
        .fold(INVALID_SCORE, f32::max)
}

#[allow(clippy::too_many_arguments)]
fn score_oriented(
    params: &SweepParamsGpu,
    cams: &[Cam],
    r: &Cam,
    pixel: Vec2,
    depth: f32,
    window: &RefWindow,
    orientation: u32,
) -> f32 {
    let point_in_world = r.centre_in_world() + depth * r.world_from_cam_dir(r.ray_in_cam(pixel));
    let Some((step_x_world, step_y_world)) =
        window_steps(params, r, pixel, depth, point_in_world, orientation)
    else {
        return INVALID_SCORE;
    };
    let (mut best0, mut best1, mut valid) = (INVALID_SCORE, INVALID_SCORE, 0u32);
    for k in 0..params.counts[1] as usize {
        let nb = &cams[params.neighbours[k] as usize];
        let c = nb.cam_from_world_point(point_in_world);
        let cx = nb.cam_from_world_point(point_in_world + step_x_world);
        let cy = nb.cam_from_world_point(point_in_world + step_y_world);
        if c.z <= 1e-3 || cx.z <= 1e-3 || cy.z <= 1e-3 {
            continue;
        }
        let p0 = nb.pixel_from_cam(c);
        let du = nb.pixel_from_cam(cx) - p0;
        let dv = nb.pixel_from_cam(cy) - p0;
        let reach = WINDOW_RADIUS as f32 * (du.abs() + dv.abs());
        let limit = Vec2::new((nb.width() - 1) as f32, (nb.height() - 1) as f32);
        let low = p0 - reach;
        let high = p0 + reach;
        if low.x < 0.0 || low.y < 0.0 || high.x > limit.x || high.y > limit.y {
            continue;
        }
        let (mut sum, mut sum_sq, mut cov) = (0.0f32, 0.0f32, 0.0f32);
        for j in -WINDOW_RADIUS..=WINDOW_RADIUS {
            for i in -WINDOW_RADIUS..=WINDOW_RADIUS {
                let v = nb.bilinear(p0 + i as f32 * du + j as f32 * dv);
                let m = ((j + WINDOW_RADIUS) * WINDOW_SIDE + i + WINDOW_RADIUS) as usize;
                let wv = window.weight[m] * v;
                sum += wv;
                sum_sq += wv * v;
                cov += v * window.weighted[m];
            }
        }
        let var_nb = (sum_sq - sum * sum / window.weight_sum).max(0.0);
        let ncc = if var_nb > 1e-10 {
            cov / (window.norm * var_nb.sqrt())
        } else {
            0.0
        } - params.support[3] * (nb.bilinear(p0) - window.centre_grey).abs();
        valid += 1;
        if ncc > best0 {
            best1 = best0;
            best0 = ncc;
        } else if ncc > best1 {
            best1 = ncc;
        }
    }
    if params.prior_size[3] == 1 && valid >= 1 {
        best0
    } else if valid < 2 {
        INVALID_SCORE
    } else {
        0.5 * (best0 + best1)
    }
}

/// Runs one sweep pass (`params.counts[0]` is the reference camera) on the
/// CPU; `prior` is the coarser level's depth map for mode 1. Returns the
/// same map as the kernel, cost volume included when asked for.
#[must_use]
pub fn sweep_cpu(
    params: &SweepParamsGpu,
    cameras: &[CameraGpu],
    gray: &[f32],
    prior: &[f32],
) -> DepthMap {
    let cams: Vec<Cam> = cameras.iter().map(|gpu| Cam { gpu, gray }).collect();
    let r = &cams[params.counts[0] as usize];
    let (width, height) = (r.width() as usize, r.height() as usize);
    let with_volume = writes_volume(params);
    let stride = params.counts[2].clamp(3, MAX_SAMPLES) as usize + 2;
    let results: Vec<PixelResult> = (0..width * height)
        .into_par_iter()
        .map(|index| {
            sweep_pixel(
                params,
                &cams,
                r,
                prior,
                (index % width) as i32,
                (index / width) as i32,
            )
        })
        .collect();
    let mut map = DepthMap {
        width: r.width(),
        height: r.height(),
        depth_m: Vec::with_capacity(results.len()),
        score: Vec::with_capacity(results.len()),
        volume: Vec::new(),
    };
    if with_volume {
        map.volume = vec![0.0; results.len() * stride];
    }
    for (index, result) in results.into_iter().enumerate() {
        map.depth_m.push(result.depth_m);
        map.score.push(result.score);
        if let Some(swept) = result.volume {
            map.volume[index * stride..(index + 1) * stride].copy_from_slice(&swept[..stride]);
        }
    }
    map
}

/// One pixel's result: depth, score and, when the pass writes a cost
/// volume, its swept scores as the volume stores them.
struct PixelResult {
    depth_m: f32,
    score: f32,
    volume: Option<[f32; MAX_SAMPLES as usize + 2]>,
}

fn prior_at(params: &SweepParamsGpu, prior: &[f32], x: i32, y: i32) -> f32 {
    let (w, h) = (params.prior_size[0] as i32, params.prior_size[1] as i32);
    if x < 0 || y < 0 || x >= w || y >= h {
        return 0.0;
    }
    prior.get((y * w + x) as usize).copied().unwrap_or(0.0)
}

/// A reference pixel's matching window with its adaptive support.
struct RefWindow {
    /// Support weight per tap (1 everywhere when the support is off).
    weight: [f32; WINDOW_TAPS],
    /// Weight times (grey less the weighted mean), per tap.
    weighted: [f32; WINDOW_TAPS],
    weight_sum: f32,
    /// Grey of the reference pixel.
    centre_grey: f32,
    /// sqrt(sum of weight * (grey less the weighted mean)^2).
    norm: f32,
}

/// The reference window around (x, y); `None` when it is too plain to match
/// (`params.tuning[0]`, on the unweighted std-dev) or flat.
fn ref_window(params: &SweepParamsGpu, r: &Cam, x: i32, y: i32) -> Option<RefWindow> {
    let dilation = params.tuning[2] as i32;
    let mut grey = [0f32; WINDOW_TAPS];
    let (mut sum, mut sum_sq) = (0.0f32, 0.0f32);
    for j in -WINDOW_RADIUS..=WINDOW_RADIUS {
        for i in -WINDOW_RADIUS..=WINDOW_RADIUS {
            let v = r.gray_clamped(x + i * dilation, y + j * dilation);
            grey[((j + WINDOW_RADIUS) * WINDOW_SIDE + i + WINDOW_RADIUS) as usize] = v;
            sum += v;
            sum_sq += v * v;
        }
    }
    let taps = WINDOW_TAPS as f32;
    let plain_variance = (sum_sq - sum * sum / taps).max(0.0) / taps;
    if plain_variance.sqrt() < params.tuning[0] {
        return None;
    }
    let [sigma_grey, sigma_taps, ..] = params.support;
    let centre_grey = grey[WINDOW_TAPS / 2];
    let mut weight = [1f32; WINDOW_TAPS];
    let (mut weight_sum, mut weighted_sum) = (0.0f32, 0.0f32);
    for (m, w) in weight.iter_mut().enumerate() {
        if sigma_grey > 0.0 {
            let dg = (grey[m] - centre_grey) / sigma_grey;
            let di = (m as i32 % WINDOW_SIDE - WINDOW_RADIUS) as f32;
            let dj = (m as i32 / WINDOW_SIDE - WINDOW_RADIUS) as f32;
            let ds2 = (di * di + dj * dj) / (sigma_taps * sigma_taps);
            *w = (-0.5 * (dg * dg + ds2)).exp();
        }
        weight_sum += *w;
        weighted_sum += *w * grey[m];
    }
    let mean = weighted_sum / weight_sum;
    let mut weighted = [0f32; WINDOW_TAPS];
    let mut sq = 0.0f32;
    for m in 0..WINDOW_TAPS {
        let centred = grey[m] - mean;
        sq += weight[m] * centred * centred;
        weighted[m] = weight[m] * centred;
    }
    (sq > 1e-12).then(|| RefWindow {
        weight,
        weighted,
        weight_sum,
        centre_grey,
        norm: sq.sqrt(),
    })
}

fn sweep_pixel(
    params: &SweepParamsGpu,
    cams: &[Cam],
    r: &Cam,
    prior: &[f32],
    x: i32,
    y: i32,
) -> PixelResult {
    let invalid = PixelResult {
        depth_m: 0.0,
        score: INVALID_SCORE,
        volume: None,
    };
    let Some(window) = ref_window(params, r, x, y) else {
        return invalid;
    };
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
    let samples = params.counts[2].clamp(3, MAX_SAMPLES);
    let (first, step) = if params.counts[3] == 0 {
        let step = (t_far - t_near) / samples as f32;
        (t_near + 0.5 * step, step)
    } else {
        let px = x * params.prior_size[0] as i32 / r.width() as i32;
        let py = y * params.prior_size[1] as i32 / r.height() as i32;
        let (mut best_prior, mut best_prior_score) = (0.0, INVALID_SCORE);
        let candidates = if params.counts[3] == 2 { 1 } else { 5 };
        for (ox, oy) in [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
            .into_iter()
            .take(candidates)
        {
            let candidate = prior_at(params, prior, px + ox, py + oy);
            if candidate <= 0.0 {
                continue;
            }
            let s = if candidates == 1 {
                1.0
            } else {
                score_at(params, cams, r, pixel, candidate, &window)
            };
            if s > best_prior_score {
                best_prior_score = s;
                best_prior = candidate;
            }
        }
        if best_prior <= 0.0 {
            return invalid;
        }
        (
            best_prior - params.tuning[3],
            2.0 * params.tuning[3] / (samples - 1) as f32,
        )
    };
    let mut scores = [0f32; MAX_SAMPLES as usize];
    let mut best_k = 0usize;
    for k in 0..samples as usize {
        scores[k] = score_at(params, cams, r, pixel, first + k as f32 * step, &window);
        if scores[k] > scores[best_k] {
            best_k = k;
        }
    }
    let volume = writes_volume(params).then(|| {
        let mut swept = [0f32; MAX_SAMPLES as usize + 2];
        swept[0] = first;
        swept[1] = step;
        swept[2..2 + samples as usize].copy_from_slice(&scores[..samples as usize]);
        swept
    });
    let invalid = PixelResult { volume, ..invalid };
    let score = scores[best_k];
    if score <= INVALID_SCORE {
        return invalid;
    }
    let mut depth = first + best_k as f32 * step;
    if best_k > 0 && best_k + 1 < samples as usize {
        let (l, rr) = (scores[best_k - 1], scores[best_k + 1]);
        let denominator = l - 2.0 * score + rr;
        if l > INVALID_SCORE && rr > INVALID_SCORE && denominator < -1e-6 {
            depth += (0.5 * (l - rr) / denominator).clamp(-0.5, 0.5) * step;
        }
    }
    if depth < t_near || depth > t_far {
        return invalid;
    }
    PixelResult {
        depth_m: depth,
        score,
        volume,
    }
}
