//! Depth-map fusion: per-camera depth maps become one coloured point cloud.
//!
//! A reference pixel's 3D point is kept only if at least
//! `min_consistent_views` other cameras agree: the point projects into them,
//! their own depth there unprojects to a point that reprojects into the
//! reference within `max_reprojection_px` and at a relative depth within
//! `max_relative_depth`. A point fewer views confirm is kept too when its
//! score reaches `unconfirmed_min_score` and no other view's depth lies
//! beyond it (a view that sees through the point proves it empty). Kept
//! points average the agreeing estimates (each view's depth there placed on
//! its ray through the exact projection) and colours, get a normal from
//! the depth map's local plane, a splat radius from the pixel footprint,
//! and are merged in a `voxel_m` grid so that
//! surfaces seen by many cameras are not stored many times.

use std::collections::HashMap;

use nalgebra::{Point2, Point3, Vector3};
use rayon::prelude::*;

use super::plane_sweep::DepthMap;
use super::{PointCloud, ReconstructSettings, View};

/// Splat radius as a multiple of the pixel footprint (covers gaps between neighbours).
const RADIUS_PER_FOOTPRINT: f64 = 0.8;
/// Densification joins two kept pixels only when their points lie within
/// this many pixel footprints of each other (same surface; a depth edge
/// between two figures is far wider).
const DENSIFY_MAX_GAP_FOOTPRINTS: f64 = 3.0;

#[derive(Clone)]
struct Candidate {
    position: Point3<f64>,
    color: [f64; 3],
    normal: Vector3<f64>,
    radius_m: f64,
}

fn depth_at(map: &DepthMap, width: u32, x: i64, y: i64, min_score: f32) -> Option<f64> {
    let i = (y * i64::from(width) + x) as usize;
    let d = *map.depth_m.get(i)?;
    (d > 0.0 && map.score[i] >= min_score).then_some(f64::from(d))
}

fn color_at(view: &View, x: u32, y: u32) -> [f64; 3] {
    let p = view.image.pixel(x, y);
    [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])]
}

fn local_normal(
    view: &View,
    map: &DepthMap,
    x: i64,
    y: i64,
    point: &Point3<f64>,
    min_score: f32,
) -> Vector3<f64> {
    let camera = &view.camera;
    let towards_camera = (camera.centre_in_world() - point).normalize();
    let neighbour = |dx: i64, dy: i64| {
        let (nx, ny) = (x + dx, y + dy);
        if nx < 0 || ny < 0 || nx >= i64::from(camera.width) || ny >= i64::from(camera.height) {
            return None;
        }
        let d = depth_at(map, camera.width, nx, ny, min_score)?;
        Some(camera.unproject(&Point2::new(nx as f64, ny as f64), d))
    };
    let (Some(px), Some(py)) = (
        neighbour(1, 0).or_else(|| neighbour(-1, 0)),
        neighbour(0, 1).or_else(|| neighbour(0, -1)),
    ) else {
        return towards_camera;
    };
    let n = (px - point).cross(&(py - point));
    match n.try_normalize(1e-12) {
        Some(n) if n.dot(&towards_camera) < 0.0 => -n,
        Some(n) => n,
        None => towards_camera,
    }
}

/// Fuses depth maps (one per view, same order) into a cloud.
#[must_use]
pub fn fuse(views: &[View], maps: &[DepthMap], settings: &ReconstructSettings) -> PointCloud {
    let candidates: Vec<Candidate> = views
        .par_iter()
        .enumerate()
        .flat_map_iter(|(r, view)| {
            let camera = &view.camera;
            let mut out = Vec::new();
            // Per pixel, its fused candidate (only kept when densifying).
            let mut kept: Vec<Option<usize>> = if settings.densify {
                vec![None; (camera.width * camera.height) as usize]
            } else {
                Vec::new()
            };
            for y in 0..i64::from(camera.height) {
                for x in 0..i64::from(camera.width) {
                    let Some(depth) = depth_at(&maps[r], camera.width, x, y, settings.min_score)
                    else {
                        continue;
                    };
                    let pixel_index = (y * i64::from(camera.width) + x) as usize;
                    let pixel = Point2::new(x as f64, y as f64);
                    let point = camera.unproject(&pixel, depth);
                    let mut sum = point.coords;
                    let mut color = color_at(view, x as u32, y as u32);
                    let mut agree = 0usize;
                    // Views whose depth there lies beyond the point: they
                    // see through it.
                    let mut see_through = 0usize;
                    for (n, other) in views.iter().enumerate() {
                        if n == r {
                            continue;
                        }
                        let point_in_other = other.camera.cam_from_world * point;
                        let Some(p) = other.camera.project_from_cam(&point_in_other) else {
                            continue;
                        };
                        let (ox, oy) = (p.x.round() as i64, p.y.round() as i64);
                        if ox < 0
                            || oy < 0
                            || ox >= i64::from(other.camera.width)
                            || oy >= i64::from(other.camera.height)
                        {
                            continue;
                        }
                        let Some(d_other) =
                            depth_at(&maps[n], other.camera.width, ox, oy, settings.min_score)
                        else {
                            continue;
                        };
                        if d_other > point_in_other.z * (1.0 + settings.max_relative_depth) {
                            see_through += 1;
                        }
                        let point_other = other
                            .camera
                            .unproject(&Point2::new(ox as f64, oy as f64), d_other);
                        let Some(back) = camera.project(&point_other) else {
                            continue;
                        };
                        let depth_back = (camera.cam_from_world * point_other).z;
                        if (back - pixel).norm() <= settings.max_reprojection_px
                            && ((depth_back - depth) / depth).abs() <= settings.max_relative_depth
                        {
                            agree += 1;
                            // Its estimate of this point: its depth on its ray
                            // through the point (the exact projection), not
                            // through the pixel centre (up to half a pixel,
                            // ~6 mm, aside).
                            let estimate_in_other = point_in_other * (d_other / point_in_other.z);
                            sum += other
                                .camera
                                .cam_from_world
                                .inverse_transform_point(&estimate_in_other)
                                .coords;
                            let c = color_at(other, ox as u32, oy as u32);
                            for k in 0..3 {
                                color[k] += c[k];
                            }
                        }
                    }
                    if agree < settings.min_consistent_views
                        && !unconfirmed_kept(settings, see_through, maps[r].score[pixel_index])
                    {
                        continue;
                    }
                    let count = (agree + 1) as f64;
                    let position = Point3::from(sum / count);
                    if settings.densify {
                        kept[pixel_index] = Some(out.len());
                    }
                    out.push(Candidate {
                        position,
                        color: color.map(|c| c / count),
                        normal: local_normal(view, &maps[r], x, y, &position, settings.min_score),
                        radius_m: RADIUS_PER_FOOTPRINT * depth / camera.fx,
                    });
                }
            }
            if settings.densify {
                let between = densify(&out, &kept, camera.width as usize);
                out.extend(between);
            }
            out
        })
        .collect();
    merge_voxels(candidates, settings.voxel_m)
}

/// Whether a point short of its confirmations is kept: a good enough score
/// and no view seeing through it.
fn unconfirmed_kept(settings: &ReconstructSettings, see_through: usize, score: f32) -> bool {
    settings
        .unconfirmed_min_score
        .is_some_and(|min| see_through == 0 && score >= min)
}

/// Points between kept neighbouring pixels of one depth map: the midpoint
/// of each horizontal and vertical pair and the centre of each 2x2 block
/// whose points lie on one surface (within [`DENSIFY_MAX_GAP_FOOTPRINTS`]
/// pixel footprints of each other). Positions, colours and normals are
/// averaged: the surface between samples is taken as locally flat, as the
/// splats that render it do.
fn densify(out: &[Candidate], kept: &[Option<usize>], width: usize) -> Vec<Candidate> {
    let height = kept.len() / width.max(1);
    let at = |x: usize, y: usize| kept[y * width + x].map(|i| &out[i]);
    let joined = |members: &[&Candidate]| {
        let n = members.len() as f64;
        let centre = members
            .iter()
            .fold(Vector3::zeros(), |s, c| s + c.position.coords)
            / n;
        // Footprint from the mean radius (radius = RADIUS_PER_FOOTPRINT * footprint).
        let footprint_m =
            members.iter().map(|c| c.radius_m).sum::<f64>() / n / RADIUS_PER_FOOTPRINT;
        let max_gap_m = DENSIFY_MAX_GAP_FOOTPRINTS * footprint_m;
        let same_surface = members.iter().enumerate().all(|(i, a)| {
            members[i + 1..]
                .iter()
                .all(|b| (a.position - b.position).norm() <= max_gap_m)
        });
        same_surface.then(|| {
            let color: [f64; 3] =
                std::array::from_fn(|k| members.iter().map(|c| c.color[k]).sum::<f64>() / n);
            let normal = members.iter().fold(Vector3::zeros(), |s, c| s + c.normal);
            Candidate {
                position: Point3::from(centre),
                color,
                normal: normal.try_normalize(1e-12).unwrap_or(members[0].normal),
                radius_m: members.iter().map(|c| c.radius_m).sum::<f64>() / n,
            }
        })
    };
    let mut extra = Vec::new();
    for y in 0..height {
        for x in 0..width {
            let Some(a) = at(x, y) else { continue };
            let right = (x + 1 < width).then(|| at(x + 1, y)).flatten();
            let down = (y + 1 < height).then(|| at(x, y + 1)).flatten();
            let diagonal = (x + 1 < width && y + 1 < height)
                .then(|| at(x + 1, y + 1))
                .flatten();
            if let Some(b) = right {
                extra.extend(joined(&[a, b]));
            }
            if let Some(b) = down {
                extra.extend(joined(&[a, b]));
            }
            if let (Some(b), Some(c), Some(d)) = (right, down, diagonal) {
                extra.extend(joined(&[a, b, c, d]));
            }
        }
    }
    extra
}

/// Averages the candidates per cube of `voxel_m`: the candidates are
/// sorted by cube (then by their order, so each cube sums its members in
/// the order they came), and each run of one cube becomes a point. The
/// points come out in cube order.
fn merge_voxels(candidates: Vec<Candidate>, voxel_m: f64) -> PointCloud {
    let cube_of = |c: &Candidate| {
        [
            (c.position.x / voxel_m).floor() as i64,
            (c.position.y / voxel_m).floor() as i64,
            (c.position.z / voxel_m).floor() as i64,
        ]
    };
    let mut keyed: Vec<([i64; 3], usize)> = candidates
        .par_iter()
        .enumerate()
        .map(|(i, c)| (cube_of(c), i))
        .collect();
    keyed.par_sort_unstable();
    let cubes: Vec<&[([i64; 3], usize)]> = keyed.chunk_by(|a, b| a.0 == b.0).collect();
    let points: Vec<MergedPoint> = cubes
        .par_iter()
        .map(|members| {
            let (mut position, mut normal) = (Vector3::zeros(), Vector3::zeros());
            let (mut color, mut radius_m) = ([0.0f64; 3], 0.0);
            for &(_, i) in *members {
                let c = &candidates[i];
                position += c.position.coords;
                for (sum, value) in color.iter_mut().zip(c.color) {
                    *sum += value;
                }
                normal += c.normal;
                radius_m += c.radius_m;
            }
            let count = members.len() as f64;
            let p = position / count;
            let n = normal.try_normalize(1e-12).unwrap_or_else(Vector3::z);
            MergedPoint {
                position: [p.x as f32, p.y as f32, p.z as f32],
                color: color.map(|c| (c / count).round().clamp(0.0, 255.0) as u8),
                normal: [n.x as f32, n.y as f32, n.z as f32],
                radius_m: (radius_m / count) as f32,
            }
        })
        .collect();
    let mut cloud = PointCloud::default();
    for point in points {
        cloud.positions_in_world.push(point.position);
        cloud.colors.push(point.color);
        cloud.normals.push(point.normal);
        cloud.radii_m.push(point.radius_m);
    }
    cloud
}

/// One cube's average, as the cloud stores it.
struct MergedPoint {
    position: [f32; 3],
    color: [u8; 3],
    normal: [f32; 3],
    radius_m: f32,
}

/// Drops points with fewer than `min_neighbours` other points within
/// `radius_m`: floaters (isolated mismatches hanging in the air) that a
/// lenient fusion lets through. Cells of `radius_m` hash the points; each
/// point looks at its 27 cells.
#[must_use]
pub fn remove_isolated(cloud: PointCloud, radius_m: f64, min_neighbours: usize) -> PointCloud {
    let key = |p: &[f32; 3]| {
        (
            (f64::from(p[0]) / radius_m).floor() as i64,
            (f64::from(p[1]) / radius_m).floor() as i64,
            (f64::from(p[2]) / radius_m).floor() as i64,
        )
    };
    let mut cells: HashMap<(i64, i64, i64), Vec<usize>> = HashMap::new();
    for (i, p) in cloud.positions_in_world.iter().enumerate() {
        cells.entry(key(p)).or_default().push(i);
    }
    let r2 = (radius_m * radius_m) as f32;
    let keep: Vec<bool> = cloud
        .positions_in_world
        .par_iter()
        .map(|p| {
            let (cx, cy, cz) = key(p);
            let mut count = 0usize;
            for dz in -1..=1 {
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let Some(members) = cells.get(&(cx + dx, cy + dy, cz + dz)) else {
                            continue;
                        };
                        for &j in members {
                            let q = cloud.positions_in_world[j];
                            let d2 = (q[0] - p[0]).powi(2)
                                + (q[1] - p[1]).powi(2)
                                + (q[2] - p[2]).powi(2);
                            if d2 <= r2 {
                                count += 1;
                            }
                        }
                    }
                }
            }
            // The point itself is counted once.
            count > min_neighbours
        })
        .collect();
    let pick = |i: usize| keep[i];
    PointCloud {
        positions_in_world: filter_by(&cloud.positions_in_world, pick),
        colors: filter_by(&cloud.colors, pick),
        normals: filter_by(&cloud.normals, pick),
        radii_m: filter_by(&cloud.radii_m, pick),
    }
}

fn filter_by<T: Copy>(values: &[T], keep: impl Fn(usize) -> bool) -> Vec<T> {
    values
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, v)| *v)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(x: f64, y: f64, z: f64) -> Candidate {
        Candidate {
            position: Point3::new(x, y, z),
            color: [100.0, 50.0, 0.0],
            normal: Vector3::z(),
            // Footprint 1 cm.
            radius_m: RADIUS_PER_FOOTPRINT * 0.01,
        }
    }

    /// A view of `depth_m` everywhere (a fronto-parallel plane) at score `score`.
    fn flat_view(eye: Point3<f64>, depth_m: f32, score: f32) -> (View, DepthMap) {
        let (width, height) = (32u32, 24u32);
        let target = Point3::new(0.0, 0.0, 1.0);
        let camera =
            crate::calibration::Camera::look_at("flat", width, height, 40.0, &eye, &target)
                .expect("camera");
        let pixels = (width * height) as usize;
        let view = View {
            rig_index: 0,
            camera,
            image: crate::ingest::RgbaImage {
                width,
                height,
                rgba: std::sync::Arc::new(vec![128; pixels * 4]),
            },
        };
        let map = DepthMap {
            width,
            height,
            depth_m: vec![depth_m; pixels],
            score: vec![score; pixels],
            volume: Vec::new(),
        };
        (view, map)
    }

    /// Fused points on view A's plane (A looks along +y from y = -5) that B
    /// images, away from where B's plane (x = 5 m - B's depth) crosses it.
    fn points_of_a(other_depth_m: f32, score_a: f32, unconfirmed: Option<f32>) -> usize {
        let (view_a, map_a) = flat_view(Point3::new(0.0, -5.0, 1.0), 5.0, score_a);
        // B looks along -x from x = 5: A's plane lies ~5 m in front of it.
        let (view_b, map_b) = flat_view(Point3::new(5.0, 0.0, 1.0), other_depth_m, 0.9);
        let settings = ReconstructSettings {
            min_consistent_views: 1,
            unconfirmed_min_score: unconfirmed,
            ..ReconstructSettings::default()
        };
        let cloud = fuse(&[view_a, view_b], &[map_a, map_b], &settings);
        cloud
            .positions_in_world
            .iter()
            .filter(|p| p[1].abs() < 0.01 && p[0] < 1.5 && (0.0..2.0).contains(&p[2]))
            .count()
    }

    #[test]
    fn an_unconfirmed_point_is_kept_only_when_no_view_sees_through_it() {
        // B's surface 3 m away hides A's plane from B: nothing confirms A's
        // points, nothing contradicts them.
        assert_eq!(points_of_a(3.0, 0.9, None), 0);
        assert!(points_of_a(3.0, 0.9, Some(0.4)) > 100);
        // Below the score floor they stay out.
        assert_eq!(points_of_a(3.0, 0.3, Some(0.4)), 0);
        // B sees 7 m deep, through A's plane: A's points are empty space.
        assert_eq!(points_of_a(7.0, 0.9, Some(0.4)), 0);
    }

    #[test]
    fn densify_fills_between_pixels_of_one_surface_only() {
        // A 3x2 depth map: the left 2x2 block lies on one plane, the right
        // column 30 cm behind it (another figure).
        let out = vec![
            candidate(0.0, 0.0, 1.0),
            candidate(0.01, 0.0, 1.0),
            candidate(0.02, 0.0, 1.3),
            candidate(0.0, 0.01, 1.0),
            candidate(0.01, 0.01, 1.002),
            candidate(0.02, 0.01, 1.3),
        ];
        let kept: Vec<Option<usize>> = (0..6).map(Some).collect();
        let extra = densify(&out, &kept, 3);
        // Same surface: 2 horizontal + 2 vertical midpoints and 1 centre on
        // the left; the right column's vertical pair is one surface too;
        // nothing across the 30 cm step.
        assert_eq!(
            extra.len(),
            6,
            "{:?}",
            extra.iter().map(|c| c.position).collect::<Vec<_>>()
        );
        assert!(
            extra
                .iter()
                .all(|c| c.position.z < 1.01 || c.position.z > 1.29)
        );
        let centre = extra
            .iter()
            .find(|c| (c.position.x - 0.005).abs() < 1e-9 && (c.position.y - 0.005).abs() < 1e-9)
            .expect("2x2 centre");
        assert!((centre.position.z - 1.0005).abs() < 1e-9);
        // A missing pixel leaves its pairs and blocks out.
        let mut holed = kept.clone();
        holed[4] = None;
        assert_eq!(densify(&out, &holed, 3).len(), 3);
    }
}
