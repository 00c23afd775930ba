//! CPU reference of `shaders/render/splat.wgsl` (same passes, same integer
//! arithmetic), so tests can check the GPU renderer: [`render_cpu`] for
//! flat colours, [`render_view_cpu`] for colour blended from the real
//! cameras. Keep the two in step.

use glam::{Vec2, Vec3};

use super::splat::{
    BACKDROP_COLOUR_BINS, BlendInputs, SEE_THROUGH_HITS, SplatStyle, gpu_points, rig_focus,
    select_sources, splat_view,
};
use crate::calibration::Camera;
use crate::gpu::gpu_types::{CameraGpu, PointGpu, SplatViewGpu};
use crate::ingest::RgbaImage;
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

/// Inverted depth bits of every pixel (0 = empty), as `splat_depth`.
fn splat_depth_cpu(points: &[PointGpu], view: &SplatViewGpu) -> Vec<u32> {
    let (width, height) = (view.camera.size[0] as usize, view.camera.size[1] as usize);
    let mut depth = vec![0u32; width * height];
    for p in points {
        if let Some(s) = project_point(view, p) {
            let inverted = u32::MAX - s.depth.to_bits();
            for_each_pixel(view, &s, |i, _| depth[i] = depth[i].max(inverted));
        }
    }
    depth
}

/// `close_source_depth`: the nearest depth within `reach` pixels.
fn close_depth(raw: &[u32], width: usize, height: usize, reach: i64) -> Vec<u32> {
    let mut out = vec![0u32; raw.len()];
    for y in 0..height as i64 {
        for x in 0..width as i64 {
            let mut nearest = 0u32;
            for dy in -reach..=reach {
                for dx in -reach..=reach {
                    let (xx, yy) = (x + dx, y + dy);
                    if xx < 0 || yy < 0 || xx >= width as i64 || yy >= height as i64 {
                        continue;
                    }
                    nearest = nearest.max(raw[yy as usize * width + xx as usize]);
                }
            }
            out[y as usize * width + x as usize] = nearest;
        }
    }
    out
}

/// The 8 directions of the see-through test, in the GPU's order.
const DIRECTIONS: [(i64, i64); 8] = [
    (1, 0),
    (-1, 0),
    (0, -1),
    (0, 1),
    (1, 1),
    (-1, -1),
    (1, -1),
    (-1, 1),
];

/// `probe_depth`: the first splat depth nearer than `limit` from `x`, `y`
/// along `step`, every `stride` px up to `radius` px, in the inverted depth
/// bits `depth`.
fn probe_depth(
    depth: &[u32],
    (width, height): (usize, usize),
    (x, y): (i64, i64),
    (sx, sy): (i64, i64),
    (radius, stride, limit): (i64, i64, f32),
) -> Option<f32> {
    let mut r = stride;
    while r <= radius {
        let (qx, qy) = (x + sx * r, y + sy * r);
        if qx < 0 || qy < 0 || qx >= width as i64 || qy >= height as i64 {
            return None;
        }
        let d = depth_of_bits(depth[qy as usize * width + qx as usize]);
        if d > 0.0 && d < limit {
            return Some(d);
        }
        r += stride;
    }
    None
}

/// `see_through_fill`: `own` (the splat depth at `x`, `y` of the inverted
/// depth bits `depth`), or the mean depth of a nearer surface met in at
/// least `SEE_THROUGH_HITS` of 8 directions within the radius
/// (`see_through` = radius px, stride px, nearer fraction).
fn see_through_fill(
    depth: &[u32],
    (width, height): (usize, usize),
    (x, y): (i64, i64),
    own: f32,
    see_through: [f32; 4],
) -> f32 {
    let [radius, stride, nearer, _] = see_through;
    if radius < 1.0 {
        return own;
    }
    let reach = (radius as i64, (stride as i64).max(1), own * (1.0 - nearer));
    let (mut sum, mut hits) = (0.0f32, 0u32);
    for (k, &step) in DIRECTIONS.iter().enumerate() {
        // Too few directions left to reach the count (the GPU's early exits).
        if hits + (8 - k as u32) < SEE_THROUGH_HITS {
            return own;
        }
        if let Some(d) = probe_depth(depth, (width, height), (x, y), step, reach) {
            sum += d;
            hits += 1;
        }
    }
    if hits >= SEE_THROUGH_HITS {
        sum / hits as f32
    } else {
        own
    }
}

/// The raw depth bits with every splat seen through a hole in a nearer
/// surface moved onto it (`close_source_depth`'s front half).
fn fill_see_through(
    raw: &[u32],
    (width, height): (usize, usize),
    see_through: [f32; 4],
) -> Vec<u32> {
    let mut out = vec![0u32; raw.len()];
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let own = depth_of_bits(raw[i]);
            if own > 0.0 {
                let filled =
                    see_through_fill(raw, (width, height), (x as i64, y as i64), own, see_through);
                out[i] = u32::MAX - filled.to_bits();
            }
        }
    }
    out
}

fn depth_of_bits(bits: u32) -> f32 {
    if bits == 0 {
        0.0
    } else {
        f32::from_bits(u32::MAX - bits)
    }
}

struct CamF32 {
    rows: [[f32; 4]; 3],
    k: [f32; 4],
    size: [u32; 2],
}

impl CamF32 {
    fn new(g: &CameraGpu) -> Self {
        Self {
            rows: g.cam_from_world_rows,
            k: g.intrinsics,
            size: [g.size[0], g.size[1]],
        }
    }
    fn to_cam(&self, p: Vec3) -> Vec3 {
        let r = |i: usize| {
            Vec3::new(self.rows[i][0], self.rows[i][1], self.rows[i][2]).dot(p) + self.rows[i][3]
        };
        Vec3::new(r(0), r(1), r(2))
    }
    fn dir_to_world(&self, d: Vec3) -> Vec3 {
        let row = |i: usize| Vec3::new(self.rows[i][0], self.rows[i][1], self.rows[i][2]);
        row(0) * d.x + row(1) * d.y + row(2) * d.z
    }
    fn centre(&self) -> Vec3 {
        -self.dir_to_world(Vec3::new(self.rows[0][3], self.rows[1][3], self.rows[2][3]))
    }
    fn ray(&self, x: f32, y: f32) -> Vec3 {
        Vec3::new(
            (x - self.k[2]) / self.k[0],
            (y - self.k[3]) / self.k[1],
            1.0,
        )
    }
    fn pixel(&self, p: Vec3) -> Vec2 {
        Vec2::new(
            self.k[0] * p.x / p.z + self.k[2],
            self.k[1] * p.y / p.z + self.k[3],
        )
    }
}

fn sample_bilinear(image: &RgbaImage, pixel: Vec2) -> Vec3 {
    let (x0, y0) = (pixel.x.floor() as u32, pixel.y.floor() as u32);
    let (x1, y1) = (
        (x0 + 1).min(image.width - 1),
        (y0 + 1).min(image.height - 1),
    );
    let f = pixel - Vec2::new(x0 as f32, y0 as f32);
    let texel = |x: u32, y: u32| {
        let p = image.pixel(x, y);
        Vec3::new(f32::from(p[0]), f32::from(p[1]), f32::from(p[2])) / 255.0
    };
    let top = texel(x0, y0).lerp(texel(x1, y0), f.x);
    let bottom = texel(x0, y1).lerp(texel(x1, y1), f.x);
    255.0 * top.lerp(bottom, f.y)
}

/// The unstructured-lumigraph blend of the sources that see a point, in
/// selection order (as the GPU sums them): `hits` holds (source, pixel,
/// angle to the virtual ray in radians) of each; the widest angle is the
/// threshold, w = (1 - a / threshold) / a; the nearest in angle alone when
/// it is the only one or no weight is left.
fn blend_hits(
    hits: &[(usize, Vec2, f32)],
    min_angle: f32,
    sample: &dyn Fn(usize, Vec2) -> Vec3,
) -> Vec3 {
    let mut nearest = hits[0];
    for hit in &hits[1..] {
        if hit.2 < nearest.2 {
            nearest = *hit;
        }
    }
    let first = || sample(nearest.0, nearest.1);
    if hits.len() == 1 {
        return first();
    }
    let threshold = hits.iter().fold(0.0f32, |t, h| t.max(h.2));
    let (mut sum, mut total) = (Vec3::ZERO, 0.0f32);
    for &(k, p, angle) in hits {
        let w = (1.0 - angle / threshold).max(0.0) / angle.max(min_angle);
        if w > 0.0 {
            sum += sample(k, p) * w;
            total += w;
        }
    }
    if total <= 0.0 { first() } else { sum / total }
}

/// Renders like the GPU's view-dependent path (`splat_depth` for every
/// source and the view, `close_source_depth`, `blend`), single-threaded.
/// `sources` are pinhole cameras with their images. Returns RGBA8.
#[must_use]
pub fn render_view_cpu(
    cloud: &PointCloud,
    camera: &Camera,
    style: &SplatStyle,
    sources: &[(Camera, &RgbaImage)],
) -> Vec<u8> {
    let points = gpu_points(cloud);
    let cameras: Vec<Camera> = sources.iter().map(|(c, _)| c.clone()).collect();
    let focus = rig_focus(&cameras).unwrap_or_else(nalgebra::Point3::origin);
    let table = style.backdrop.map_or_else(Vec::new, |b| {
        super::backdrop::colour_table(sources, &b, BACKDROP_COLOUR_BINS)
    });
    let blend = BlendInputs {
        selected: select_sources(&cameras, camera, &focus),
        focus_in_world: [focus.x as f32, focus.y as f32, focus.z as f32],
        colour_bins: if table.is_empty() {
            0
        } else {
            BACKDROP_COLOUR_BINS
        },
        source_pixels: 0,
        selected_cameras: Vec::new(),
    };
    let view = splat_view(camera, points.len(), style, &blend);
    // Per source: (raw, closed) depth maps.
    let source_depths: Vec<(Vec<u32>, Vec<u32>)> = cameras
        .iter()
        .map(|c| {
            let v = splat_view(c, points.len(), style, &BlendInputs::default());
            let raw = splat_depth_cpu(&points, &v);
            let size = (c.width as usize, c.height as usize);
            let closed = close_depth(&raw, size.0, size.1, i64::from(style.occluder_grow_px));
            (fill_see_through(&raw, size, v.see_through), closed)
        })
        .collect();
    let source_cams: Vec<CamF32> = cameras
        .iter()
        .map(|c| CamF32::new(&CameraGpu::new(c, 0)))
        .collect();
    let depth = splat_depth_cpu(&points, &view);
    let cam = CamF32::new(&view.camera);
    let (width, height) = (camera.width as usize, camera.height as usize);
    let depth_at = |x: i64, y: i64| depth_of_bits(depth[y as usize * width + x as usize]);
    let surface_depth = |x: i64, y: i64| {
        let own = depth_at(x, y);
        if own > 0.0 {
            return see_through_fill(&depth, (width, height), (x, y), own, view.see_through);
        }
        // `surface_depth`'s order: down before up.
        let steps = [
            (1, 0),
            (-1, 0),
            (0, 1),
            (0, -1),
            (1, 1),
            (-1, -1),
            (1, -1),
            (-1, 1),
        ];
        let reach = (i64::from(view.counts[2]), 1, f32::MAX);
        let (mut sum, mut hits) = (0.0f32, 0u32);
        for (k, &step) in steps.iter().enumerate() {
            if hits + (8 - k as u32) < 6 {
                return 0.0;
            }
            if let Some(d) = probe_depth(&depth, (width, height), (x, y), step, reach) {
                sum += d;
                hits += 1;
            }
        }
        if hits >= 6 { sum / hits as f32 } else { 0.0 }
    };
    let [bx, by, radius, ground_z] = view.backdrop;
    let backdrop_depth = |origin: Vec3, ray: Vec3| -> f32 {
        if radius <= 0.0 {
            return 0.0;
        }
        let centre = Vec2::new(bx, by);
        if ray.z < 0.0 && origin.z > ground_z {
            let t = (ground_z - origin.z) / ray.z;
            let g = Vec2::new(origin.x, origin.y) + Vec2::new(ray.x, ray.y) * t - centre;
            if g.dot(g) <= radius * radius {
                return t;
            }
        }
        let o = Vec2::new(origin.x, origin.y) - centre;
        let d = Vec2::new(ray.x, ray.y);
        let a = d.dot(d);
        if a < 1e-12 {
            return 0.0;
        }
        let b = o.dot(d);
        let c = o.dot(o) - radius * radius;
        let disc = b * b - a * c;
        if disc < 0.0 {
            return 0.0;
        }
        let t = (-b + disc.sqrt()) / a;
        if t > 0.0 { t } else { 0.0 }
    };
    let unseen = |point: Vec3, y: f32| -> Vec3 {
        if table.is_empty() {
            let t = y / (height as f32 - 1.0).max(1.0);
            let top = Vec3::from_slice(&view.background_top[..3]);
            let bottom = Vec3::from_slice(&view.background_bottom[..3]);
            return (top * (1.0 - t) + bottom * t) * 255.0;
        }
        let Some(backdrop) = style.backdrop.as_ref() else {
            return Vec3::from_slice(&table[0][..3]);
        };
        let point_in_world =
            nalgebra::Point3::new(f64::from(point.x), f64::from(point.y), f64::from(point.z));
        Vec3::from_array(super::backdrop::table_colour(
            &table,
            &point_in_world,
            backdrop,
        ))
    };
    let pack = |c: Vec3| {
        let q = c.clamp(Vec3::ZERO, Vec3::splat(255.0)) + Vec3::splat(0.5);
        [q.x as u8, q.y as u8, q.z as u8, 255]
    };
    let origin = cam.centre();
    let mut out = Vec::with_capacity(width * height * 4);
    for y in 0..height {
        for x in 0..width {
            let ray = cam.dir_to_world(cam.ray(x as f32, y as f32));
            let mut surface = surface_depth(x as i64, y as i64);
            if surface > 0.0
                && radius > 0.0
                && ray.z < 0.0
                && (origin.z + ray.z * surface - ground_z).abs() < view.blend[3]
            {
                surface = (ground_z - origin.z) / ray.z;
            }
            let backdrop = backdrop_depth(origin, ray);
            let mut depth = surface;
            if backdrop > 0.0 && (depth <= 0.0 || backdrop < depth) {
                depth = backdrop;
            }
            if depth <= 0.0 {
                out.extend(pack(unseen(origin + ray * 1000.0, y as f32)));
                continue;
            }
            let point = origin + ray * depth;
            let virtual_dir = (point - origin).normalize();
            let mut hits: Vec<(usize, Vec2, f32)> = Vec::with_capacity(4);
            for &k in blend.selected.iter().take(4) {
                let src = &source_cams[k as usize];
                let p_src = src.to_cam(point);
                if p_src.z <= view.tuning[2] {
                    continue;
                }
                let p = src.pixel(p_src);
                if p.x < 0.0
                    || p.y < 0.0
                    || p.x > src.size[0] as f32 - 1.0
                    || p.y > src.size[1] as f32 - 1.0
                {
                    continue;
                }
                let at = p.y.round() as usize * src.size[0] as usize + p.x.round() as usize;
                let (raw, closed) = &source_depths[k as usize];
                let seen = depth_of_bits(raw[at]);
                let matches =
                    seen > 0.0 && (p_src.z - seen).abs() <= seen * view.blend[0] + view.tuning[3];
                let nearest = depth_of_bits(closed[at]);
                let tolerance_m = if seen > 0.0 {
                    view.blend[1]
                } else {
                    view.gap_visibility[0]
                };
                if !matches
                    && nearest > 0.0
                    && p_src.z > nearest * (1.0 + view.blend[0]) + tolerance_m
                {
                    continue;
                }
                let angle = virtual_dir
                    .dot((point - src.centre()).normalize())
                    .clamp(-1.0, 1.0)
                    .acos();
                hits.push((k as usize, p, angle));
            }
            let colour = if hits.is_empty() {
                unseen(point, y as f32)
            } else {
                let sample = |k: usize, p: Vec2| sample_bilinear(sources[k].1, p);
                blend_hits(&hits, view.blend[2], &sample)
            };
            out.extend(pack(colour));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: (usize, usize) = (40, 40);
    const SEE_THROUGH: [f32; 4] = [8.0, 1.0, 0.005, 0.0];

    /// Inverted depth bits of a 40 x 40 map from `depth_m(x, y)`.
    fn map(depth_m: impl Fn(usize, usize) -> f32) -> Vec<u32> {
        (0..SIZE.0 * SIZE.1)
            .map(|i| u32::MAX - depth_m(i % SIZE.0, i / SIZE.0).to_bits())
            .collect()
    }

    fn fill_at(depth: &[u32], x: i64, y: i64) -> f32 {
        let own = depth_of_bits(depth[y as usize * SIZE.0 + x as usize]);
        see_through_fill(depth, SIZE, (x, y), own, SEE_THROUGH)
    }

    #[test]
    fn see_through_fill_closes_holes_only() {
        // A wall at 5 m with a 6 px hole showing 8 m: filled with 5 m.
        let hole = |x: usize, y: usize| (17..23).contains(&x) && (17..23).contains(&y);
        let wall = map(|x, y| if hole(x, y) { 8.0 } else { 5.0 });
        assert!((fill_at(&wall, 19, 20) - 5.0).abs() < 1e-6);
        assert_eq!(fill_at(&wall, 5, 5), 5.0);
        // The same hole wider than the radius reaches: left alone.
        let wide = map(|x, _| if (10..30).contains(&x) { 8.0 } else { 5.0 });
        assert_eq!(fill_at(&wide, 20, 20), 8.0);
        // The gap between two legs, open below: left alone.
        let legs = map(|x, y| {
            if (17..23).contains(&x) && y > 15 {
                8.0
            } else {
                5.0
            }
        });
        assert_eq!(fill_at(&legs, 20, 25), 8.0);
        // Ground seen from above: each row down is 1 % nearer. Three
        // directions lead down, so it is never surrounded.
        let ground = map(|_, y| 10.0 * 0.99f32.powi(y as i32));
        assert_eq!(
            fill_at(&ground, 20, 20),
            depth_of_bits(ground[20 * SIZE.0 + 20])
        );
        // Off: the depth as it is.
        let off = see_through_fill(&wall, SIZE, (19, 20), 8.0, [0.0; 4]);
        assert_eq!(off, 8.0);
        // The filled map moves the hole only.
        let filled = fill_see_through(&wall, SIZE, SEE_THROUGH);
        assert!(
            filled
                .iter()
                .all(|&b| (depth_of_bits(b) - 5.0).abs() < 1e-6)
        );
    }
}
