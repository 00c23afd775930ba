//! CPU reference of `shaders/synth/raycast.wgsl`, line for line in f32, so
//! tests can check the GPU kernel. Keep the two in step.

use glam::{IVec3, Vec2, Vec3};
use rayon::prelude::*;

use super::raycast::{RaycastImage, raycast_params};
use crate::calibration::Camera;
use crate::gpu::gpu_types::{PrimitiveGpu, RaycastParamsGpu};

const NO_HIT: f32 = 1e30;
const MIN_T: f32 = 1e-4;

fn v3(a: [f32; 4]) -> Vec3 {
    Vec3::new(a[0], a[1], a[2])
}

fn hash_u32(x: u32) -> u32 {
    let mut h = x.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    h = ((h >> ((h >> 28) + 4)) ^ h).wrapping_mul(277_803_737);
    (h >> 22) ^ h
}

fn hash3(c: IVec3) -> f32 {
    let h = hash_u32((c.x as u32) ^ hash_u32((c.y as u32) ^ hash_u32(c.z as u32)));
    (h >> 8) as f32 / 16_777_215.0
}

fn mix(a: f32, b: f32, t: f32) -> f32 {
    a * (1.0 - t) + b * t
}

fn value_noise(p: Vec3) -> f32 {
    let cell = p.floor();
    let f = p - cell;
    let w = f * f * (Vec3::splat(3.0) - 2.0 * f);
    let c = cell.as_ivec3();
    let n = |x: i32, y: i32, z: i32| hash3(c + IVec3::new(x, y, z));
    let x00 = mix(n(0, 0, 0), n(1, 0, 0), w.x);
    let x10 = mix(n(0, 1, 0), n(1, 1, 0), w.x);
    let x01 = mix(n(0, 0, 1), n(1, 0, 1), w.x);
    let x11 = mix(n(0, 1, 1), n(1, 1, 1), w.x);
    mix(mix(x00, x10, w.y), mix(x01, x11, w.y), w.z)
}

fn pattern(p: Vec3) -> f32 {
    let n = 0.55 * value_noise(p) + 0.45 * value_noise(p * 2.7 + Vec3::new(17.0, 5.0, 11.0));
    ((n - 0.5) * 2.2 + 0.5).clamp(0.0, 1.0)
}

fn safe_inverse(v: Vec3) -> Vec3 {
    let f = |x: f32| {
        let tiny = 1e-8;
        let s = if x >= 0.0 { 1.0 } else { -1.0 };
        1.0 / if x.abs() < tiny { s * tiny } else { x }
    };
    Vec3::new(f(v.x), f(v.y), f(v.z))
}

fn intersect(prim: &PrimitiveGpu, ro: Vec3, rd: Vec3) -> f32 {
    match prim.kind[0] {
        0 => {
            if rd.z < -1e-6 {
                let t = -ro.z / rd.z;
                let p = ro + t * rd;
                if Vec2::new(p.x, p.y).length() <= prim.a[3] {
                    return t;
                }
            }
            NO_HIT
        }
        1 => {
            let oc = ro - v3(prim.a);
            let b = oc.dot(rd);
            let c = oc.dot(oc) - prim.a[3] * prim.a[3];
            let h = b * b - c;
            if h < 0.0 { NO_HIT } else { -b - h.sqrt() }
        }
        2 => {
            let (pa, pb, r) = (v3(prim.a), v3(prim.b), prim.a[3]);
            let ba = pb - pa;
            let oa = ro - pa;
            let baba = ba.dot(ba);
            let bard = ba.dot(rd);
            let baoa = ba.dot(oa);
            let rdoa = rd.dot(oa);
            let oaoa = oa.dot(oa);
            let qa = baba - bard * bard;
            let qb = baba * rdoa - baoa * bard;
            let qc = baba * oaoa - baoa * baoa - r * r * baba;
            let h = qb * qb - qa * qc;
            if h >= 0.0 {
                let t = (-qb - h.sqrt()) / qa;
                let y = baoa + t * bard;
                if y > 0.0 && y < baba {
                    return t;
                }
                let oc = if y <= 0.0 { oa } else { ro - pb };
                let b2 = rd.dot(oc);
                let c2 = oc.dot(oc) - r * r;
                let h2 = b2 * b2 - c2;
                if h2 > 0.0 {
                    return -b2 - h2.sqrt();
                }
            }
            NO_HIT
        }
        3 => {
            let inv = safe_inverse(rd);
            let t1 = (v3(prim.a) - ro) * inv;
            let t2 = (v3(prim.b) - ro) * inv;
            let tmin = t1.min(t2).max_element();
            let tmax = t1.max(t2).min_element();
            if tmax >= tmin.max(0.0) { tmin } else { NO_HIT }
        }
        4 => {
            let (rxy, oxy) = (Vec2::new(rd.x, rd.y), Vec2::new(ro.x, ro.y));
            let qa = rxy.dot(rxy);
            if qa < 1e-9 {
                return NO_HIT;
            }
            let qb = oxy.dot(rxy);
            let qc = oxy.dot(oxy) - prim.a[3] * prim.a[3];
            let h = qb * qb - qa * qc;
            if h < 0.0 {
                return NO_HIT;
            }
            let t = (-qb + h.sqrt()) / qa;
            let z = ro.z + t * rd.z;
            if (0.0..=prim.b[3]).contains(&z) {
                t
            } else {
                NO_HIT
            }
        }
        _ => NO_HIT,
    }
}

fn normal_at(prim: &PrimitiveGpu, p: Vec3) -> Vec3 {
    match prim.kind[0] {
        1 => (p - v3(prim.a)).normalize(),
        2 => {
            let ba = v3(prim.b) - v3(prim.a);
            let h = ((p - v3(prim.a)).dot(ba) / ba.dot(ba)).clamp(0.0, 1.0);
            (p - (v3(prim.a) + ba * h)).normalize()
        }
        3 => {
            let centre = 0.5 * (v3(prim.a) + v3(prim.b));
            let half_size = 0.5 * (v3(prim.b) - v3(prim.a));
            let q = (p - centre) / half_size;
            let aq = q.abs();
            let sign = |x: f32| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            };
            if aq.x >= aq.y && aq.x >= aq.z {
                Vec3::new(sign(q.x), 0.0, 0.0)
            } else if aq.y >= aq.z {
                Vec3::new(0.0, sign(q.y), 0.0)
            } else {
                Vec3::new(0.0, 0.0, sign(q.z))
            }
        }
        4 => Vec3::new(-p.x, -p.y, 0.0).normalize(),
        _ => Vec3::Z,
    }
}

fn shade(
    params: &RaycastParamsGpu,
    primitives: &[PrimitiveGpu],
    prim: &PrimitiveGpu,
    p: Vec3,
) -> Vec3 {
    let local = if prim.color1[3] > 0.5 {
        p - v3(prim.a)
    } else {
        p
    };
    let t = pattern(local * prim.color0[3]);
    let albedo = v3(prim.color0) * (1.0 - t) + v3(prim.color1) * t;
    let sun = v3(params.sun);
    let n = normal_at(prim, p);
    let mut lambert = n.dot(sun).max(0.0);
    if lambert > 0.0 && occluded(primitives, p + 1e-3 * n, sun) {
        lambert = 0.0;
    }
    albedo * (params.sun[3] + (1.0 - params.sun[3]) * lambert)
}

/// Whether the ray misses a group's bounding sphere, or meets it only beyond `max_t`.
fn group_missed(group: &PrimitiveGpu, ro: Vec3, rd: Vec3, max_t: f32) -> bool {
    let oc = ro - v3(group.a);
    let b = oc.dot(rd);
    let h = b * b - (oc.dot(oc) - group.a[3] * group.a[3]);
    h < 0.0 || -b + h.sqrt() < 0.0 || -b - h.sqrt() > max_t
}

/// Whether the ray hits a shadow caster (not the ground or the stands).
fn occluded(primitives: &[PrimitiveGpu], ro: Vec3, rd: Vec3) -> bool {
    let mut i = 0usize;
    while i < primitives.len() {
        let prim = &primitives[i];
        if prim.kind[0] == 5 {
            let missed = group_missed(prim, ro, rd, NO_HIT);
            i += 1 + if missed { prim.kind[1] as usize } else { 0 };
            continue;
        }
        if prim.kind[0] != 0 && prim.kind[0] != 4 {
            let t = intersect(prim, ro, rd);
            if t > MIN_T && t < NO_HIT {
                return true;
            }
        }
        i += 1;
    }
    false
}

fn trace(
    params: &RaycastParamsGpu,
    primitives: &[PrimitiveGpu],
    ro: Vec3,
    rd: Vec3,
) -> (Vec3, f32) {
    let mut best = (NO_HIT, 0usize);
    let mut i = 0usize;
    while i < primitives.len() {
        let prim = &primitives[i];
        if prim.kind[0] == 5 {
            let missed = group_missed(prim, ro, rd, best.0);
            i += 1 + if missed { prim.kind[1] as usize } else { 0 };
            continue;
        }
        let t = intersect(prim, ro, rd);
        if t > MIN_T && t < best.0 {
            best = (t, i);
        }
        i += 1;
    }
    if best.0 >= NO_HIT {
        let s = (rd.z * 2.0).clamp(0.0, 1.0);
        return (
            v3(params.sky_horizon) * (1.0 - s) + v3(params.sky_zenith) * s,
            NO_HIT,
        );
    }
    (
        shade(params, primitives, &primitives[best.1], ro + best.0 * rd),
        best.0,
    )
}

fn pack_rgba8(c: Vec3) -> [u8; 4] {
    let q = c.clamp(Vec3::ZERO, Vec3::ONE) * 255.0 + Vec3::splat(0.5);
    [q.x as u8, q.y as u8, q.z as u8, 255]
}

/// Renders like the GPU kernel, on the CPU (rayon over rows).
#[must_use]
pub fn raycast_cpu(camera: &Camera, primitives: &[PrimitiveGpu], supersample: u32) -> RaycastImage {
    let params = raycast_params(camera, primitives.len(), supersample);
    let rows = params.camera.cam_from_world_rows;
    let k = params.camera.intrinsics;
    let r_row = |i: usize| Vec3::new(rows[i][0], rows[i][1], rows[i][2]);
    let world_from_cam_dir = |d: Vec3| r_row(0) * d.x + r_row(1) * d.y + r_row(2) * d.z;
    let ro = -world_from_cam_dir(Vec3::new(rows[0][3], rows[1][3], rows[2][3]));
    let ray = |px: f32, py: f32| Vec3::new((px - k[2]) / k[0], (py - k[3]) / k[1], 1.0);
    let (width, height) = (camera.width as usize, camera.height as usize);
    let ss = params.counts[1].max(1);
    let pixels: Vec<([u8; 4], f32)> = (0..width * height)
        .into_par_iter()
        .map(|index| {
            let (x, y) = ((index % width) as f32, (index / width) as f32);
            let centre = ray(x, y);
            let (centre_color, t) = trace(
                &params,
                primitives,
                ro,
                world_from_cam_dir(centre).normalize(),
            );
            let mut sum = if ss == 1 { centre_color } else { Vec3::ZERO };
            for sy in (0..ss).filter(|_| ss > 1) {
                for sx in 0..ss {
                    let ox = (sx as f32 + 0.5) / ss as f32 - 0.5;
                    let oy = (sy as f32 + 0.5) / ss as f32 - 0.5;
                    let rd = world_from_cam_dir(ray(x + ox, y + oy)).normalize();
                    sum += trace(&params, primitives, ro, rd).0;
                }
            }
            let depth = if t >= NO_HIT {
                0.0
            } else {
                t / centre.length()
            };
            (pack_rgba8(sum / (ss * ss) as f32), depth)
        })
        .collect();
    RaycastImage {
        width: camera.width,
        height: camera.height,
        rgba: pixels.iter().flat_map(|p| p.0).collect(),
        depth_m: pixels.iter().map(|p| p.1).collect(),
    }
}
