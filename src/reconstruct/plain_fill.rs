//! Depth for plain (textureless) regions of a static scene: stereo cannot
//! match inside a uniformly coloured prop face, but it does match the face's
//! outline (its edges against the ground and its other faces). Each plain,
//! unmatched region of one colour is bounded by matched pixels; when those
//! lie on one plane (fitted by RANSAC), the region gets that plane's depths.
//!
//! A fill is a guess by one view; fusion keeps its points only where
//! another view's depth map (filled or matched) agrees, as for any depth.
//! This is for the venue, built at leisure from clean plates: its props and
//! boards are planar. CPU only (one pass per view, in parallel).

use nalgebra::{Matrix3, Point2, Point3, Vector3};
use rayon::prelude::*;

use super::plane_sweep::DepthMap;
use super::{Roi, View};

/// Half-size of the window whose colour spread says "plain", pixels.
const PLAIN_WINDOW_HALF: i64 = 2;
/// Largest colour standard deviation (0..1, per channel, mean over RGB) of
/// a plain window.
const PLAIN_MAX_STD: f64 = 0.012;
/// Largest colour step (0..1, max over RGB) between neighbouring pixels of
/// one region.
const REGION_MAX_STEP: f64 = 0.03;
/// Smallest region filled, pixels.
const REGION_MIN_PX: usize = 40;
/// Width of the ring of matched pixels around a region, pixels.
const RING_PX: i64 = 3;
/// Fewest matched ring pixels a plane is fitted to.
const RING_MIN_POINTS: usize = 24;
/// RANSAC hypotheses per region.
const RANSAC_ITERATIONS: usize = 256;
/// A ring point is on the plane within this share of its depth.
const PLANE_TOLERANCE_RELATIVE: f64 = 0.003;
/// Share of the ring on the plane for the fill to be trusted. A prop face's
/// ring also holds the ground beside and behind it: about 30-50 % of it is on
/// the face's plane on the `crossing` capture's plain prop.
const MIN_INLIER_SHARE: f64 = 0.3;
/// The ring's inliers must surround the region: present in at least this
/// many of the 4 quadrants around its centre.
const MIN_QUADRANTS: usize = 3;
/// Rays meeting the plane at more than this angle from its normal are not
/// filled (grazing: a small plane error is a large depth error), degrees.
const MAX_RAY_ANGLE_DEG: f64 = 80.0;
/// Score given to filled depths (fusion keeps depths at or above its
/// `min_score`; this is above the default 0.5).
pub const FILLED_SCORE: f32 = 0.6;

/// What [`fill_plain_regions`] did, summed over views.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FillReport {
    /// Plain regions big enough to try.
    pub regions: usize,
    /// Regions filled from a plane.
    pub filled_regions: usize,
    /// Pixels given a depth.
    pub filled_pixels: usize,
}

/// Fills each view's plain, unmatched regions from the plane of their
/// matched outline (see the module doc). `maps[i]` is `views[i]`'s full
/// resolution depth map; depths at or above `min_score` count as matched.
pub fn fill_plain_regions(
    views: &[View],
    maps: &mut [DepthMap],
    roi: &Roi,
    min_score: f32,
) -> FillReport {
    maps.par_iter_mut()
        .zip(views.par_iter())
        .map(|(map, view)| fill_view(view, map, roi, min_score))
        .reduce(FillReport::default, |a, b| FillReport {
            regions: a.regions + b.regions,
            filled_regions: a.filled_regions + b.filled_regions,
            filled_pixels: a.filled_pixels + b.filled_pixels,
        })
}

fn rgb(view: &View, x: i64, y: i64) -> [f64; 3] {
    let p = view.image.pixel(x as u32, y as u32);
    [
        f64::from(p[0]) / 255.0,
        f64::from(p[1]) / 255.0,
        f64::from(p[2]) / 255.0,
    ]
}

/// Per pixel, whether its window's colour is plain.
fn plain_mask(view: &View) -> Vec<bool> {
    let (w, h) = (i64::from(view.image.width), i64::from(view.image.height));
    (0..w * h)
        .into_par_iter()
        .map(|i| {
            let (x, y) = (i % w, i / w);
            if x < PLAIN_WINDOW_HALF
                || y < PLAIN_WINDOW_HALF
                || x >= w - PLAIN_WINDOW_HALF
                || y >= h - PLAIN_WINDOW_HALF
            {
                return false;
            }
            let (mut sum, mut sum_sq, mut n) = ([0.0f64; 3], [0.0f64; 3], 0.0);
            for dy in -PLAIN_WINDOW_HALF..=PLAIN_WINDOW_HALF {
                for dx in -PLAIN_WINDOW_HALF..=PLAIN_WINDOW_HALF {
                    let c = rgb(view, x + dx, y + dy);
                    for k in 0..3 {
                        sum[k] += c[k];
                        sum_sq[k] += c[k] * c[k];
                    }
                    n += 1.0;
                }
            }
            let std = (0..3)
                .map(|k| (sum_sq[k] / n - (sum[k] / n).powi(2)).max(0.0).sqrt())
                .sum::<f64>()
                / 3.0;
            std <= PLAIN_MAX_STD
        })
        .collect()
}

/// A plane n . p = d (|n| = 1) in world coordinates.
#[derive(Debug, Clone, Copy)]
struct Plane {
    normal: Vector3<f64>,
    offset: f64,
}

impl Plane {
    fn through(a: &Point3<f64>, b: &Point3<f64>, c: &Point3<f64>) -> Option<Self> {
        let normal = (b - a).cross(&(c - a));
        let norm = normal.norm();
        (norm > 1e-9).then(|| {
            let normal = normal / norm;
            Self {
                normal,
                offset: normal.dot(&a.coords),
            }
        })
    }

    /// Least-squares plane through points (smallest eigenvector).
    fn fit(points: &[&Point3<f64>]) -> Option<Self> {
        let n = points.len() as f64;
        let centroid = points
            .iter()
            .fold(Vector3::zeros(), |acc, p| acc + p.coords)
            / n;
        let covariance = points.iter().fold(Matrix3::zeros(), |acc, p| {
            let d = p.coords - centroid;
            acc + d * d.transpose()
        });
        let eigen = covariance.symmetric_eigen();
        let (k, _) = eigen
            .eigenvalues
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))?;
        let normal = eigen.eigenvectors.column(k).into_owned();
        let normal = normal.try_normalize(1e-12)?;
        Some(Self {
            normal,
            offset: normal.dot(&centroid),
        })
    }

    /// Whether a ring point lies on the plane (within
    /// [`PLANE_TOLERANCE_RELATIVE`] of its depth).
    fn holds(&self, r: &RingPoint) -> bool {
        (self.normal.dot(&r.point.coords) - self.offset).abs()
            <= PLANE_TOLERANCE_RELATIVE * r.depth_m
    }
}

/// A deterministic pseudo-random index below `n` (RANSAC sampling).
fn pick(seed: u64, n: usize) -> usize {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % n as u64) as usize
}

/// A matched ring point: world position, its depth, pixel.
struct RingPoint {
    point: Point3<f64>,
    depth_m: f64,
    pixel: (i64, i64),
}

fn fill_view(view: &View, map: &mut DepthMap, roi: &Roi, min_score: f32) -> FillReport {
    let mut report = FillReport::default();
    let camera = &view.camera;
    let (w, h) = (i64::from(camera.width), i64::from(camera.height));
    if (map.width, map.height) != (camera.width, camera.height) {
        return report;
    }
    let matched = |i: usize| map.depth_m[i] > 0.0 && map.score[i] >= min_score;
    let plain = plain_mask(view);
    let origin = camera.centre_in_world();
    let world_from_cam = camera.cam_from_world.inverse();
    let mut region_of = vec![u32::MAX; (w * h) as usize];
    let mut fills: Vec<(usize, f32)> = Vec::new();
    for start in 0..(w * h) as usize {
        if !plain[start] || matched(start) || region_of[start] != u32::MAX {
            continue;
        }
        // Flood the region: plain, unmatched, neighbours of one colour.
        let label = start as u32;
        let mut region = vec![start];
        region_of[start] = label;
        let mut next = 0;
        while next < region.len() {
            let i = region[next];
            next += 1;
            let (x, y) = ((i as i64) % w, (i as i64) / w);
            let here = rgb(view, x, y);
            for (nx, ny) in [(x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)] {
                if nx < 0 || ny < 0 || nx >= w || ny >= h {
                    continue;
                }
                let j = (ny * w + nx) as usize;
                if region_of[j] != u32::MAX || !plain[j] || matched(j) {
                    continue;
                }
                let there = rgb(view, nx, ny);
                if (0..3).any(|k| (here[k] - there[k]).abs() > REGION_MAX_STEP) {
                    continue;
                }
                region_of[j] = label;
                region.push(j);
            }
        }
        if region.len() < REGION_MIN_PX {
            continue;
        }
        report.regions += 1;
        // The matched ring around it.
        let mut ring = Vec::new();
        let mut in_ring = std::collections::HashSet::new();
        for &i in &region {
            let (x, y) = ((i as i64) % w, (i as i64) / w);
            for dy in -RING_PX..=RING_PX {
                for dx in -RING_PX..=RING_PX {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w || ny >= h {
                        continue;
                    }
                    let j = (ny * w + nx) as usize;
                    if matched(j) && in_ring.insert(j) {
                        let depth_m = f64::from(map.depth_m[j]);
                        ring.push(RingPoint {
                            point: camera.unproject(&Point2::new(nx as f64, ny as f64), depth_m),
                            depth_m,
                            pixel: (nx, ny),
                        });
                    }
                }
            }
        }
        if ring.len() < RING_MIN_POINTS {
            continue;
        }
        let Some(plane) = ransac_plane(&ring, label) else {
            continue;
        };
        let inliers: Vec<&RingPoint> = ring.iter().filter(|r| plane.holds(r)).collect();
        if (inliers.len() as f64) < MIN_INLIER_SHARE * ring.len() as f64
            || !surrounds(&inliers, &region, w)
        {
            continue;
        }
        let cos_limit = MAX_RAY_ANGLE_DEG.to_radians().cos();
        let mut filled = 0;
        for &i in &region {
            let pixel = Point2::new((i as i64 % w) as f64, (i as i64 / w) as f64);
            let ray_in_cam = camera.ray_in_cam(&pixel);
            let ray = world_from_cam.rotation * ray_in_cam;
            let along = plane.normal.dot(&ray);
            if along.abs() < cos_limit * ray.norm() {
                continue;
            }
            let t = (plane.offset - plane.normal.dot(&origin.coords)) / along;
            let point = origin + ray * t;
            let inside = (0..3).all(|k| point[k] >= roi.0[k] && point[k] <= roi.1[k]);
            if t <= 0.0 || !inside {
                continue;
            }
            // `ray_in_cam` has z = 1: the ray parameter is the z-depth.
            fills.push((i, t as f32));
            filled += 1;
        }
        if filled > 0 {
            report.filled_regions += 1;
            report.filled_pixels += filled;
        }
    }
    for (i, depth_m) in fills {
        map.depth_m[i] = depth_m;
        map.score[i] = FILLED_SCORE;
    }
    report
}

/// The plane most ring points lie on (RANSAC, then least squares on its
/// inliers), or `None`.
fn ransac_plane(ring: &[RingPoint], seed: u32) -> Option<Plane> {
    let n = ring.len();
    let mut best: Option<(usize, Plane)> = None;
    for k in 0..RANSAC_ITERATIONS as u64 {
        let s = (u64::from(seed) << 20) ^ (k * 3);
        let (a, b, c) = (pick(s, n), pick(s + 1, n), pick(s + 2, n));
        if a == b || b == c || a == c {
            continue;
        }
        let Some(plane) = Plane::through(&ring[a].point, &ring[b].point, &ring[c].point) else {
            continue;
        };
        let inliers = ring.iter().filter(|r| plane.holds(r)).count();
        if best.as_ref().is_none_or(|(most, _)| inliers > *most) {
            best = Some((inliers, plane));
        }
    }
    let (_, plane) = best?;
    let inliers: Vec<&Point3<f64>> = ring
        .iter()
        .filter(|r| plane.holds(r))
        .map(|r| &r.point)
        .collect();
    if inliers.len() < 3 {
        return None;
    }
    Plane::fit(&inliers).or(Some(plane))
}

/// Whether the inlier pixels lie on at least [`MIN_QUADRANTS`] sides of
/// the region's centre.
fn surrounds(inliers: &[&RingPoint], region: &[usize], w: i64) -> bool {
    let n = region.len() as f64;
    let (cx, cy) = region.iter().fold((0.0, 0.0), |(sx, sy), &i| {
        (sx + (i as i64 % w) as f64, sy + (i as i64 / w) as f64)
    });
    let (cx, cy) = (cx / n, cy / n);
    let mut quadrants = [false; 4];
    for r in inliers {
        let (dx, dy) = (r.pixel.0 as f64 - cx, r.pixel.1 as f64 - cy);
        let q = match (dx >= 0.0, dy >= 0.0) {
            (true, true) => 0,
            (false, true) => 1,
            (false, false) => 2,
            (true, false) => 3,
        };
        quadrants[q] = true;
    }
    quadrants.iter().filter(|q| **q).count() >= MIN_QUADRANTS
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::calibration::Camera;
    use crate::ingest::RgbaImage;

    const WIDTH: u32 = 160;
    const HEIGHT: u32 = 120;
    /// The plain prop face: the plane y = FACE_Y, |x| <= 0.5, 0 <= z <= 1.
    const FACE_Y: f64 = -0.5;

    fn camera() -> Camera {
        Camera::look_at(
            "cam",
            WIDTH,
            HEIGHT,
            300.0,
            &Point3::new(0.3, -8.0, 1.5),
            &Point3::new(0.0, 0.0, 0.5),
        )
        .expect("camera")
    }

    /// True z-depth of pixel (x, y) and whether it is on the face.
    fn truth(camera: &Camera, x: u32, y: u32) -> Option<(f64, bool)> {
        let origin = camera.centre_in_world();
        let ray_in_cam = camera.ray_in_cam(&Point2::new(f64::from(x), f64::from(y)));
        let ray = camera.cam_from_world.inverse().rotation * ray_in_cam;
        let t_face = (FACE_Y - origin.y) / ray.y;
        let hit = origin + ray * t_face;
        if t_face > 0.0 && hit.x.abs() <= 0.5 && (0.0..=1.0).contains(&hit.z) {
            return Some((t_face, true));
        }
        let t_ground = -origin.z / ray.z;
        (t_ground > 0.0).then_some((t_ground, false))
    }

    /// The face is plain grey, the rest hash noise; stereo matched
    /// everything but the face's interior (its 2 px outline is matched).
    /// `outline_error(x, y)` scales the matched depths within 8 px of the
    /// face by (1 + error).
    fn scene(outline_error: impl Fn(u32, u32) -> f64) -> (View, DepthMap, Vec<Option<f64>>) {
        let camera = camera();
        let mut rgba = Vec::new();
        let mut depth_m = Vec::new();
        let mut score = Vec::new();
        let mut face_truth = Vec::new();
        let on_face = |x: i64, y: i64| {
            x >= 0 && y >= 0 && truth(&camera, x as u32, y as u32).is_some_and(|(_, face)| face)
        };
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let hit = truth(&camera, x, y);
                let face = hit.is_some_and(|(_, f)| f);
                let noise = (pick(u64::from(y * WIDTH + x), 200) + 20) as u8;
                rgba.extend(if face {
                    [128, 128, 130, 255]
                } else {
                    [noise / 2, noise, noise / 3, 255]
                });
                let interior = face
                    && (-2..=2).all(|d: i64| {
                        on_face(i64::from(x) + d, i64::from(y))
                            && on_face(i64::from(x), i64::from(y) + d)
                    });
                face_truth.push(interior.then(|| hit.map(|(t, _)| t)).flatten());
                let near_face = (-8..=8).any(|dy: i64| {
                    (-8..=8).any(|dx: i64| on_face(i64::from(x) + dx, i64::from(y) + dy))
                });
                match hit {
                    Some((t, _)) if !interior => {
                        let t = if near_face {
                            t * (1.0 + outline_error(x, y))
                        } else {
                            t
                        };
                        depth_m.push(t as f32);
                        score.push(0.9);
                    }
                    _ => {
                        depth_m.push(0.0);
                        score.push(-1.0);
                    }
                }
            }
        }
        let view = View {
            rig_index: 0,
            camera,
            image: RgbaImage {
                width: WIDTH,
                height: HEIGHT,
                rgba: Arc::new(rgba),
            },
        };
        let map = DepthMap {
            width: WIDTH,
            height: HEIGHT,
            depth_m,
            score,
            volume: Vec::new(),
        };
        (view, map, face_truth)
    }

    fn roi() -> Roi {
        (Point3::new(-3.0, -3.0, -0.01), Point3::new(3.0, 3.0, 2.0))
    }

    #[test]
    fn a_plain_face_gets_the_plane_of_its_outline() {
        let (view, map, face_truth) = scene(|_, _| 0.0);
        let interior = face_truth.iter().flatten().count();
        assert!(interior > 300, "the face's interior is {interior} px");
        let mut maps = vec![map.clone()];
        let report = fill_plain_regions(std::slice::from_ref(&view), &mut maps, &roi(), 0.5);
        assert_eq!(report.filled_regions, 1, "{report:?}");
        let mut within = 0;
        for (i, truth) in face_truth.iter().enumerate() {
            match truth {
                Some(t) => {
                    let got = f64::from(maps[0].depth_m[i]);
                    if (got - t).abs() <= 0.002 * t {
                        within += 1;
                    }
                    assert!((maps[0].score[i] - FILLED_SCORE).abs() < 1e-6 || got == 0.0);
                }
                // Matched pixels are left alone.
                None => assert_eq!(maps[0].depth_m[i], map.depth_m[i]),
            }
        }
        assert!(
            within as f64 >= 0.95 * interior as f64,
            "{within}/{interior} filled within 0.2 %"
        );
    }

    #[test]
    fn an_outline_off_any_plane_is_not_filled() {
        // The depths around the face scattered by up to +-10 %: no plane
        // holds its outline.
        let (view, map, _) =
            scene(|x, y| (pick(u64::from(x * 7919 + y), 2001) as f64 - 1000.0) * 1e-4);
        let mut maps = vec![map.clone()];
        let report = fill_plain_regions(std::slice::from_ref(&view), &mut maps, &roi(), 0.5);
        assert_eq!(report.filled_pixels, 0, "{report:?}");
        assert_eq!(maps[0].depth_m, map.depth_m);
    }
}
