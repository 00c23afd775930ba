//! CPU reference of `shaders/render/splat.wgsl` (same passes, same integer
//! arithmetic), so tests can check the GPU renderer. Keep the two in step.

use glam::{Vec2, Vec3};

use super::splat::{SplatStyle, gpu_points, splat_view};
use crate::calibration::Camera;
use crate::gpu::gpu_types::{PointGpu, SplatViewGpu};
use crate::reconstruct::PointCloud;

struct Splat {
    centre: Vec2,
    depth: f32,
    radius_px: f32,
}

fn project_point(view: &SplatViewGpu, p: &PointGpu) -> Option<Splat> {
    let rows = view.camera.cam_from_world_rows;
    let k = view.camera.intrinsics;
    let pw = Vec3::from_array(p.position_in_world);
    let row = |i: usize| Vec3::new(rows[i][0], rows[i][1], rows[i][2]).dot(pw) + rows[i][3];
    let pc = Vec3::new(row(0), row(1), row(2));
    if pc.z <= view.tuning[2] {
        return None;
    }
    let centre = Vec2::new(k[0] * pc.x / pc.z + k[2], k[1] * pc.y / pc.z + k[3]);
    let radius_px = (p.radius_m * view.tuning[1] * k[0] / pc.z).clamp(0.5, view.counts[1] as f32);
    let (w, h) = (view.camera.size[0] as f32, view.camera.size[1] as f32);
    let visible = centre.x > -radius_px
        && centre.y > -radius_px
        && centre.x < w + radius_px
        && centre.y < h + radius_px;
    visible.then_some(Splat {
        centre,
        depth: pc.z,
        radius_px,
    })
}

/// Calls `f(pixel_index, r2)` for each pixel inside the splat's disc.
fn for_each_pixel(view: &SplatViewGpu, s: &Splat, mut f: impl FnMut(usize, f32)) {
    let (width, height) = (view.camera.size[0] as i32, view.camera.size[1] as i32);
    let reach = s.radius_px.ceil() as i32;
    let (cx, cy) = (s.centre.x.round() as i32, s.centre.y.round() as i32);
    for dy in -reach..=reach {
        for dx in -reach..=reach {
            let (x, y) = (cx + dx, cy + dy);
            let offset = Vec2::new(x as f32, y as f32) - s.centre;
            let r2 = offset.dot(offset) / (s.radius_px * s.radius_px);
            if x < 0 || y < 0 || x >= width || y >= height || r2 > 1.0 {
                continue;
            }
            f((y * width + x) as usize, r2);
        }
    }
}

/// Renders like the GPU kernel, single-threaded. Returns RGBA8.
#[must_use]
pub fn render_cpu(cloud: &PointCloud, camera: &Camera, style: &SplatStyle) -> Vec<u8> {
    let points = gpu_points(cloud);
    let view = splat_view(
        camera,
        points.len(),
        style,
        &super::splat::BlendInputs::default(),
    );
    let (width, height) = (camera.width as usize, camera.height as usize);
    // Inverted depth bits, 0 = empty (as the shader).
    let mut depth = vec![0u32; width * height];
    let mut sums = vec![[0u32; 4]; width * height];
    let splats: Vec<(usize, Splat)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i, project_point(&view, p)?)))
        .collect();
    for (_, s) in &splats {
        let inverted = u32::MAX - s.depth.to_bits();
        for_each_pixel(&view, s, |i, _| depth[i] = depth[i].max(inverted));
    }
    for (index, s) in &splats {
        let c = points[*index].color_rgba;
        let rgb = [c & 0xff, (c >> 8) & 0xff, (c >> 16) & 0xff];
        for_each_pixel(&view, s, |i, r2| {
            if s.depth > f32::from_bits(u32::MAX - depth[i]) * (1.0 + view.tuning[0]) {
                return;
            }
            let weight = (255.0 - 191.0 * r2) as u32;
            for k in 0..3 {
                sums[i][k] = sums[i][k].wrapping_add(rgb[k] * weight);
            }
            sums[i][3] += weight;
        });
    }
    let covered = |i: usize| {
        let s = sums[i];
        (s[3] > 0).then(|| {
            let w = s[3] as f32;
            Vec3::new(s[0] as f32 / w, s[1] as f32 / w, s[2] as f32 / w)
        })
    };
    let pack = |c: Vec3| {
        let q = c.clamp(Vec3::ZERO, Vec3::splat(255.0)) + Vec3::splat(0.5);
        [q.x as u8, q.y as u8, q.z as u8, 255]
    };
    let probe = |x: usize, y: usize, (sx, sy): (i32, i32)| {
        for k in 1..=view.counts[2] as i32 {
            let (nx, ny) = (x as i32 + sx * k, y as i32 + sy * k);
            if nx < 0 || ny < 0 || nx >= width as i32 || ny >= height as i32 {
                break;
            }
            if let Some(c) = covered(ny as usize * width + nx as usize) {
                return Some(c);
            }
        }
        None
    };
    let mut out = Vec::with_capacity(width * height * 4);
    for y in 0..height {
        for x in 0..width {
            if let Some(c) = covered(y * width + x) {
                out.extend(pack(c));
                continue;
            }
            // Same probe order and early exits as the shader.
            let (mut sum, mut hits) = (Vec3::ZERO, 0u32);
            let mut look = |directions: &[(i32, i32)]| {
                for &direction in directions {
                    if let Some(c) = probe(x, y, direction) {
                        sum += c;
                        hits += 1;
                    }
                }
                hits
            };
            if look(&[(1, 0), (-1, 0), (0, 1)]) >= 1 && look(&[(0, -1), (1, 1)]) >= 3 {
                look(&[(-1, -1), (1, -1), (-1, 1)]);
            }
            if hits >= 6 {
                out.extend(pack(sum / hits as f32));
                continue;
            }
            let t = y as f32 / (height as f32 - 1.0).max(1.0);
            let top = Vec3::new(
                view.background_top[0],
                view.background_top[1],
                view.background_top[2],
            );
            let bottom = Vec3::new(
                view.background_bottom[0],
                view.background_bottom[1],
                view.background_bottom[2],
            );
            out.extend(pack((top * (1.0 - t) + bottom * t) * 255.0));
        }
    }
    out
}
