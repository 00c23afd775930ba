//! The backdrop proxy: what lies beyond the reconstruction (far stands,
//! sky) is drawn by projecting the real cameras onto a vertical cylinder
//! around the venue, above the ground plane. Its radius is measured, not
//! assumed: [`fit_backdrop`] sweeps candidate radii and keeps the one where
//! neighbouring cameras agree best on the pixels above the horizon (the
//! stands), as a one-parameter plane sweep.

use nalgebra::{Point2, Point3, Vector3};
use rayon::prelude::*;

use super::Backdrop;
use crate::calibration::Camera;
use crate::ingest::RgbaImage;

/// Candidate radii tried, log-spaced.
const RADIUS_CANDIDATES: usize = 64;
/// Smallest candidate, as a multiple of the farthest camera's distance
/// from the centre (the cameras stand inside the stands).
const MIN_RADIUS_FACTOR: f64 = 1.1;
/// Largest candidate, same unit.
const MAX_RADIUS_FACTOR: f64 = 40.0;
/// Sampling step over each image, pixels.
const SAMPLE_STEP_PX: usize = 3;
/// Half-size of the matched patch, pixels (patch = 2h+1 square, 2 px apart).
const PATCH_HALF: i64 = 2;

fn grey(image: &RgbaImage, x: f64, y: f64) -> Option<f64> {
    let (w, h) = (f64::from(image.width), f64::from(image.height));
    if x < 0.0 || y < 0.0 || x > w - 1.0 || y > h - 1.0 {
        return None;
    }
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = (
        (x0 + 1).min(image.width - 1),
        (y0 + 1).min(image.height - 1),
    );
    let (fx, fy) = (x - f64::from(x0), y - f64::from(y0));
    let g = |xx: u32, yy: u32| {
        let p = image.pixel(xx, yy);
        0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])
    };
    let top = g(x0, y0) * (1.0 - fx) + g(x1, y0) * fx;
    let bottom = g(x0, y1) * (1.0 - fx) + g(x1, y1) * fx;
    Some(top * (1.0 - fy) + bottom * fy)
}

/// Where the ray from `origin` along `ray` leaves a vertical cylinder of
/// `radius_m` around `centre` (the far root), or `None`.
fn wall_hit(
    origin: &Point3<f64>,
    ray: &Vector3<f64>,
    centre: &Point2<f64>,
    radius_m: f64,
) -> Option<Point3<f64>> {
    let (ox, oy) = (origin.x - centre.x, origin.y - centre.y);
    let a = ray.x * ray.x + ray.y * ray.y;
    if a < 1e-12 {
        return None;
    }
    let b = ox * ray.x + oy * ray.y;
    let c = ox * ox + oy * oy - radius_m * radius_m;
    let disc = b * b - a * c;
    if disc < 0.0 {
        return None;
    }
    let t = (-b + disc.sqrt()) / a;
    (t > 0.0).then(|| origin + ray * t)
}

/// Zero-mean normalised cross-correlation of two patches.
fn ncc(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma) * (x - ma);
        bb += (y - mb) * (y - mb);
    }
    // Plain patches (sky) say nothing about the radius.
    const MIN_VARIANCE: f64 = 4.0;
    (aa > MIN_VARIANCE * n && bb > MIN_VARIANCE * n).then(|| ab / (aa * bb).sqrt())
}

/// Fits the backdrop cylinder to the views (undistorted pinhole cameras and
/// their images): centred on `centre_xy`, on the ground at `ground_z_m`.
/// Each camera's upward pixels are carried onto each candidate cylinder
/// and into its nearest neighbour; the radius with the best mean patch NCC
/// wins. `None` with fewer than two views or no textured upward pixels.
#[must_use]
pub fn fit_backdrop(
    views: &[(Camera, &RgbaImage)],
    centre_xy: Point2<f64>,
    ground_z_m: f64,
) -> Option<Backdrop> {
    if views.len() < 2 {
        return None;
    }
    let farthest_m = views
        .iter()
        .map(|(c, _)| {
            let p = c.centre_in_world();
            (p.x - centre_xy.x).hypot(p.y - centre_xy.y)
        })
        .fold(0.0f64, f64::max)
        .max(1.0);
    let (r0, r1) = (
        MIN_RADIUS_FACTOR * farthest_m,
        MAX_RADIUS_FACTOR * farthest_m,
    );
    let radii: Vec<f64> = (0..RADIUS_CANDIDATES)
        .map(|i| r0 * (r1 / r0).powf(i as f64 / (RADIUS_CANDIDATES - 1) as f64))
        .collect();
    // Each view's nearest neighbour by camera centre.
    let pairs: Vec<(usize, usize)> = (0..views.len())
        .filter_map(|k| {
            let ck = views[k].0.centre_in_world();
            (0..views.len())
                .filter(|&n| n != k)
                .min_by(|&a, &b| {
                    let da = (views[a].0.centre_in_world() - ck).norm();
                    let db = (views[b].0.centre_in_world() - ck).norm();
                    da.total_cmp(&db)
                })
                .map(|n| (k, n))
        })
        .collect();
    let scores: Vec<(f64, usize)> = radii
        .par_iter()
        .map(|&radius_m| {
            let (mut sum, mut count) = (0.0, 0usize);
            for &(k, n) in &pairs {
                let (camera, image) = &views[k];
                let (other, other_image) = &views[n];
                let origin = camera.centre_in_world();
                let world_from_cam = camera.cam_from_world.inverse();
                for y in (0..camera.height as usize).step_by(SAMPLE_STEP_PX) {
                    for x in (0..camera.width as usize).step_by(SAMPLE_STEP_PX) {
                        let pixel = Point2::new(x as f64, y as f64);
                        let ray = world_from_cam.rotation * camera.ray_in_cam(&pixel);
                        // Upward rays meet the wall whatever its radius.
                        if ray.z <= 0.0 || origin.z < ground_z_m {
                            continue;
                        }
                        let mut a = Vec::with_capacity(25);
                        let mut b = Vec::with_capacity(25);
                        for dy in -PATCH_HALF..=PATCH_HALF {
                            for dx in -PATCH_HALF..=PATCH_HALF {
                                let px = Point2::new(
                                    pixel.x + 2.0 * dx as f64,
                                    pixel.y + 2.0 * dy as f64,
                                );
                                let ray = world_from_cam.rotation * camera.ray_in_cam(&px);
                                let Some(hit) = wall_hit(&origin, &ray, &centre_xy, radius_m)
                                else {
                                    continue;
                                };
                                let Some(q) = other.project(&hit) else {
                                    continue;
                                };
                                if let (Some(ga), Some(gb)) =
                                    (grey(image, px.x, px.y), grey(other_image, q.x, q.y))
                                {
                                    a.push(ga);
                                    b.push(gb);
                                }
                            }
                        }
                        if a.len() == 25
                            && let Some(score) = ncc(&a, &b)
                        {
                            sum += score;
                            count += 1;
                        }
                    }
                }
            }
            (
                if count > 0 {
                    sum / count as f64
                } else {
                    f64::NAN
                },
                count,
            )
        })
        .collect();
    let (best, _) = scores
        .iter()
        .enumerate()
        .filter(|(_, (score, count))| score.is_finite() && *count > 0)
        .max_by(|a, b| a.1.0.total_cmp(&b.1.0))?;
    tracing::info!(
        radius_m = radii[best],
        score = scores[best].0,
        samples = scores[best].1,
        "backdrop fitted"
    );
    Some(Backdrop {
        centre_xy_m: [centre_xy.x, centre_xy.y],
        radius_m: radii[best],
        ground_z_m,
    })
}

/// Where the ray from `origin` along `ray` meets the backdrop proxy: the
/// ground inside the cylinder, else the wall.
#[must_use]
pub fn backdrop_hit(
    origin: &Point3<f64>,
    ray: &Vector3<f64>,
    backdrop: &Backdrop,
) -> Option<Point3<f64>> {
    let centre = Point2::new(backdrop.centre_xy_m[0], backdrop.centre_xy_m[1]);
    if ray.z < 0.0 && origin.z > backdrop.ground_z_m {
        let t = (backdrop.ground_z_m - origin.z) / ray.z;
        let ground = origin + ray * t;
        if (ground.x - centre.x).hypot(ground.y - centre.y) <= backdrop.radius_m {
            return Some(ground);
        }
    }
    wall_hit(origin, ray, &centre, backdrop.radius_m)
}

/// Share of the radius from which a point counts as on the wall (backdrop
/// hits on the wall sit at the radius up to rounding).
pub const WALL_FROM_RADIUS_SHARE: f64 = 0.999;

/// Index of `point_in_world` in the backdrop colour table (`2 * bins`
/// entries, see [`colour_table`]). Inside the cylinder a point falls in the
/// ring of ground at its distance from the axis (bins `0..bins` over
/// `0..radius`); on the wall, in the band at its height above the ground
/// (bins `bins..2 * bins` over heights `0..radius`; higher is the top bin).
/// The ground's outermost ring and the wall's lowest band are neighbours.
#[must_use]
pub fn colour_bin(point_in_world: &Point3<f64>, backdrop: &Backdrop, bins: usize) -> usize {
    let bins = bins.max(1);
    let radius_m = backdrop.radius_m.max(f64::EPSILON);
    let from_axis_m = (point_in_world.x - backdrop.centre_xy_m[0])
        .hypot(point_in_world.y - backdrop.centre_xy_m[1]);
    let top = bins as f64 - 1.0;
    if from_axis_m < WALL_FROM_RADIUS_SHARE * radius_m {
        (from_axis_m / radius_m * bins as f64).clamp(0.0, top) as usize
    } else {
        let height_m = point_in_world.z - backdrop.ground_z_m;
        bins + (height_m / radius_m * bins as f64).clamp(0.0, top) as usize
    }
}

/// Sectors of azimuth around the backdrop's axis in the colour table
/// (`BACKDROP_AZIMUTH_SECTORS` in `splat.wgsl`): the stands' brightness
/// follows the sun around the ring (on the demo capture the sunlit side is
/// half again as bright as the far side), so a ring-wide mean paints an
/// unseen stretch of the stands in the wrong light.
pub const AZIMUTH_SECTORS: usize = 16;
/// Fewest samples a (sector, bin) entry needs to stand on its own; others
/// are interpolated from the nearest sectors on either side.
const MIN_SECTOR_SAMPLES: f64 = 8.0;

/// Azimuth of `point_in_world` around the backdrop's axis as a share of
/// the full turn (`0..=1`), counter-clockwise from -x.
fn azimuth_share(point_in_world: &Point3<f64>, backdrop: &Backdrop) -> f64 {
    let azimuth = (point_in_world.y - backdrop.centre_xy_m[1])
        .atan2(point_in_world.x - backdrop.centre_xy_m[0]);
    (azimuth + std::f64::consts::PI) / std::f64::consts::TAU
}

/// Index of `point_in_world` in a table of [`colour_table`]: its azimuth
/// sector's `2 * bins` entries (sectors counter-clockwise from -x), at its
/// [`colour_bin`].
fn colour_index(point_in_world: &Point3<f64>, backdrop: &Backdrop, bins: usize) -> usize {
    let sector = ((azimuth_share(point_in_world, backdrop) * AZIMUTH_SECTORS as f64) as usize)
        .min(AZIMUTH_SECTORS - 1);
    sector * 2 * bins.max(1) + colour_bin(point_in_world, backdrop, bins)
}

/// The colour of `point_in_world` in a table of [`colour_table`]: its
/// [`colour_bin`], interpolated in azimuth between the two nearest sector
/// centres (no seams where sectors meet). `unseen_colour` in `splat.wgsl`.
#[must_use]
pub fn table_colour(
    table: &[[f32; 4]],
    point_in_world: &Point3<f64>,
    backdrop: &Backdrop,
) -> [f32; 3] {
    let per_sector = (table.len() / AZIMUTH_SECTORS).max(1);
    let bin = colour_bin(point_in_world, backdrop, per_sector / 2);
    let position = (azimuth_share(point_in_world, backdrop) * AZIMUTH_SECTORS as f64 - 0.5)
        .rem_euclid(AZIMUTH_SECTORS as f64) as f32;
    let first = (position as usize).min(AZIMUTH_SECTORS - 1);
    let second = (first + 1) % AZIMUTH_SECTORS;
    let t = position - first as f32;
    let at = |sector: usize| {
        table
            .get(sector * per_sector + bin)
            .copied()
            .unwrap_or_default()
    };
    let (a, b) = (at(first), at(second));
    [0, 1, 2].map(|k| a[k] * (1.0 - t) + b[k] * t)
}

/// Mean colour (RGB 0..255, A = samples) of the views' pixels by where they
/// meet the backdrop: per azimuth sector ([`AZIMUTH_SECTORS`]) `2 * bins`
/// entries, ground rings by distance from the axis then wall bands by
/// height ([`colour_bin`]); the renderer reads it with [`table_colour`]. An
/// entry with too few samples is interpolated in azimuth between the
/// nearest sectors that have the bin; a bin no sector has takes the nearest
/// filled bin of the ring. This is what a point no camera sees is painted
/// with: the crowd's average at that height of that side of the stands (or
/// the ground's at that distance), never black.
/// Keyed by the wall's own height, not by elevation seen from one point: a
/// band of elevation mixes the stands' foot with the far ground, and its
/// width in metres grows with distance. Empty when no pixel lands anywhere.
#[must_use]
pub fn colour_table(
    views: &[(Camera, &RgbaImage)],
    backdrop: &Backdrop,
    bins: u32,
) -> Vec<[f32; 4]> {
    let bins = bins.max(1) as usize;
    let per_sector = 2 * bins;
    let entries = AZIMUTH_SECTORS * per_sector;
    let per_view: Vec<Vec<[f64; 4]>> = views
        .par_iter()
        .map(|(camera, image)| {
            let mut sums = vec![[0.0f64; 4]; entries];
            let origin = camera.centre_in_world();
            let world_from_cam = camera.cam_from_world.inverse();
            for y in (0..camera.height).step_by(SAMPLE_STEP_PX) {
                for x in (0..camera.width).step_by(SAMPLE_STEP_PX) {
                    let ray = world_from_cam.rotation
                        * camera.ray_in_cam(&Point2::new(f64::from(x), f64::from(y)));
                    let Some(hit) = backdrop_hit(&origin, &ray, backdrop) else {
                        continue;
                    };
                    let bin = colour_index(&hit, backdrop, bins);
                    let p = image.pixel(x, y);
                    for c in 0..3 {
                        sums[bin][c] += f64::from(p[c]);
                    }
                    sums[bin][3] += 1.0;
                }
            }
            sums
        })
        .collect();
    let mut sums = vec![[0.0f64; 4]; entries];
    for view in per_view {
        for (total, s) in sums.iter_mut().zip(view) {
            for c in 0..4 {
                total[c] += s[c];
            }
        }
    }
    // The whole ring's bins, for bins no sector fills.
    let mut ring = vec![[0.0f64; 4]; per_sector];
    for (k, s) in sums.iter().enumerate() {
        for c in 0..4 {
            ring[k % per_sector][c] += s[c];
        }
    }
    let filled: Vec<usize> = (0..per_sector).filter(|&b| ring[b][3] > 0.0).collect();
    if filled.is_empty() {
        return Vec::new();
    }
    let mean = |s: &[f64; 4]| [s[0] / s[3], s[1] / s[3], s[2] / s[3]];
    let ring_mean = |b: usize| {
        let nearest = *filled
            .iter()
            .min_by_key(|&&f| f.abs_diff(b))
            .unwrap_or(&filled[0]);
        mean(&ring[nearest])
    };
    let solid = |sector: usize, b: usize| sums[sector * per_sector + b][3] >= MIN_SECTOR_SAMPLES;
    let mut table = Vec::with_capacity(entries);
    for sector in 0..AZIMUTH_SECTORS {
        for b in 0..per_sector {
            let samples = sums[sector * per_sector + b][3];
            let rgb = if solid(sector, b) {
                mean(&sums[sector * per_sector + b])
            } else {
                // The nearest solid sectors counter-clockwise and clockwise.
                let step = |forward: bool| {
                    (1..AZIMUTH_SECTORS).find_map(|d| {
                        let other = if forward {
                            (sector + d) % AZIMUTH_SECTORS
                        } else {
                            (sector + AZIMUTH_SECTORS - d) % AZIMUTH_SECTORS
                        };
                        solid(other, b).then_some((d as f64, other))
                    })
                };
                match (step(true), step(false)) {
                    (Some((d_ccw, ccw)), Some((d_cw, cw))) => {
                        let (a, c) = (
                            mean(&sums[ccw * per_sector + b]),
                            mean(&sums[cw * per_sector + b]),
                        );
                        let t = d_ccw / (d_ccw + d_cw);
                        [0, 1, 2].map(|k| a[k] * (1.0 - t) + c[k] * t)
                    }
                    _ => ring_mean(b),
                }
            };
            table.push([rgb[0] as f32, rgb[1] as f32, rgb[2] as f32, samples as f32]);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_hit_is_on_the_cylinder_ahead_of_the_origin() {
        let origin = Point3::new(3.0, -2.0, 1.5);
        let ray = Vector3::new(-0.3, 1.0, 0.2);
        let hit = wall_hit(&origin, &ray, &Point2::new(1.0, 1.0), 20.0).unwrap();
        assert!(((hit.x - 1.0).hypot(hit.y - 1.0) - 20.0).abs() < 1e-9);
        assert!((hit - origin).dot(&ray) > 0.0);
        assert!(wall_hit(&origin, &Vector3::z(), &Point2::origin(), 20.0).is_none());
    }

    #[test]
    fn colour_bins_are_ground_rings_then_wall_bands() {
        let backdrop = Backdrop {
            centre_xy_m: [1.0, -1.0],
            radius_m: 30.0,
            ground_z_m: 0.0,
        };
        let bin = |x: f64, y: f64, z: f64| colour_bin(&Point3::new(x, y, z), &backdrop, 90);
        // Ground: by distance from the axis, whatever the direction.
        assert_eq!(bin(1.0, -1.0, 0.0), 0);
        assert_eq!(bin(1.0 + 10.0, -1.0, 0.0), 30);
        assert_eq!(bin(1.0, -1.0 - 10.0, 0.0), 30);
        assert_eq!(bin(1.0 + 29.9, -1.0, 0.0), 89);
        // Wall: by height above the ground, whatever the azimuth.
        assert_eq!(bin(1.0 + 30.0, -1.0, 0.0), 90);
        assert_eq!(bin(1.0, -1.0 + 30.0, 5.0), 105);
        assert_eq!(bin(1.0 - 30.0, -1.0, 5.0), 105);
        assert_eq!(bin(1.0 + 30.0, -1.0, 500.0), 179);
        assert_eq!(bin(1.0 + 30.0, -1.0, -3.0), 90);
    }

    #[test]
    fn unseen_stands_take_the_light_of_their_own_side() {
        // Two cameras at the centre, one facing the sunlit stands (+x, grey
        // 200), one the shaded ones (+y, grey 50); nobody faces -x or -y.
        let backdrop = Backdrop {
            centre_xy_m: [0.0, 0.0],
            radius_m: 30.0,
            ground_z_m: 0.0,
        };
        let eye = Point3::new(0.0, 0.0, 5.0);
        let view = |id: &str, target: Point3<f64>, grey: u8| {
            // A wide, short view: +-39 degrees of azimuth, +-3 m of height.
            let camera = Camera::look_at(id, 320, 40, 200.0, &eye, &target).unwrap();
            let image = RgbaImage {
                width: 320,
                height: 40,
                rgba: std::sync::Arc::new([grey, grey, grey, 255].repeat(320 * 40)),
            };
            (camera, image)
        };
        let views = [
            view("sunlit", Point3::new(30.0, 0.0, 5.0), 200),
            view("shaded", Point3::new(0.0, 30.0, 5.0), 50),
        ];
        let borrowed: Vec<_> = views.iter().map(|(c, i)| (c.clone(), i)).collect();
        let table = colour_table(&borrowed, &backdrop, 90);
        assert_eq!(table.len(), AZIMUTH_SECTORS * 2 * 90);
        let grey_at = |azimuth_deg: f64| {
            let a = azimuth_deg.to_radians();
            let point = Point3::new(30.0 * a.cos(), 30.0 * a.sin(), 5.0);
            table_colour(&table, &point, &backdrop)[0]
        };
        // Each side keeps its own light (a ring-wide mean would give 125).
        assert!((grey_at(0.0) - 200.0).abs() < 1.0, "{}", grey_at(0.0));
        assert!((grey_at(90.0) - 50.0).abs() < 1.0, "{}", grey_at(90.0));
        // The unseen side, equally far from both, lies between them.
        let unseen = grey_at(225.0);
        assert!((unseen - 125.0).abs() < 20.0, "{unseen}");
        // No seams: neighbouring azimuths differ little.
        for step in 0..360 {
            let d = (grey_at(f64::from(step)) - grey_at(f64::from(step) + 1.0)).abs();
            assert!(d < 15.0, "{d} between {step} and {} degrees", step + 1);
        }
    }

    #[test]
    fn plain_patches_do_not_score() {
        assert_eq!(ncc(&[5.0; 25], &[7.0; 25]), None);
        let a: Vec<f64> = (0..25).map(|i| f64::from(i * 7 % 11) * 10.0).collect();
        let b: Vec<f64> = a.iter().map(|v| 2.0 * v + 3.0).collect();
        assert!((ncc(&a, &b).unwrap() - 1.0).abs() < 1e-12);
    }
}
