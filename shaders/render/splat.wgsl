// Compute-shader point splatting (after Schuetz et al. 2021). The host
// zeroes `depth_bits` and `color_sums` (clear_buffer: plain memset, where
// atomic stores would be locked instructions on a CPU adapter), then:
//   splat_depth  per point: atomicMax of the splat's inverted depth bits
//                over its disc (0 = empty, larger = nearer)
//   splat_color  per point: where the splat is within `tuning.x` (relative)
//                of the nearest depth, atomically add weighted colour
//   resolve      per pixel: average colour; small holes (pixels surrounded
//                by covered pixels in most directions) are filled from
//                their neighbours; the rest gets the background gradient.
// View-dependent mode (`view.sources.x` > 0) replaces splat_color and
// resolve by one pass:
//   blend        per pixel: the surface point (splat depth; a splat seen
//                through a hole in a nearer surface takes that surface's
//                depth; small empty holes are filled from neighbour
//                depths; else the backdrop proxy:
//                ground plane inside a vertical cylinder) is projected into
//                the selected real cameras; those that see it (its depth
//                within tolerance of their own splatted depth map) are
//                blended with unstructured-lumigraph weights on the angle
//                between their ray and the virtual ray. At a real camera's
//                pose that camera's weight dominates: its image comes back.
// splat_depth also draws the source cameras' depth maps: each camera's
// `size.z` is its first pixel in the packed buffer.
// Positive f32 depths compare like their u32 bit patterns, so atomicMax on
// the inverted bits (0xffffffff - bits) is a depth test with 0 as "empty". Integer sums make the result order-independent.
// Twins: `PointGpu`, `SplatViewGpu` (src/gpu/gpu_types.rs); CPU reference
// src/render/cpu_ref.rs (keep in step).

struct Point {
    position: vec3<f32>,
    radius_m: f32,
    color: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

struct View {
    camera: Camera,
    // point count, max splat radius px, hole-fill radius px, source depth
    // closing radius px
    counts: vec4<u32>,
    // depth tolerance (relative), radius scale, near plane (m), a source's
    // own depth matching a point within this (m) sees it
    tuning: vec4<f32>,
    background_top: vec4<f32>,
    background_bottom: vec4<f32>,
    // selected source count (0 = flat colours), words of the raw source
    // depth maps (the closed maps follow), unused x2
    sources: vec4<u32>,
    // backdrop: centre x, centre y, cylinder radius (0 = none), ground z
    backdrop: vec4<f32>,
    // visibility tolerance relative, absolute (m); smallest angle (rad);
    // ground snap height (m)
    blend: vec4<f32>,
    // where the sources look (world m; unused by the shader); bins of each
    // half of the backdrop colour table
    focus: vec4<f32>,
    // see-through fill: radius (px, 0 = off), probe stride (px), how much
    // nearer (relative) the surrounding surface must be, unused
    see_through: vec4<f32>,
    // where a source's own map is empty at a point, something this much
    // nearer (m) in its closed map hides it; unused x3
    gap_visibility: vec4<f32>,
    // the selected sources' cameras (the first `sources.x`), nearest first
    selected_cameras: array<Camera, 4>,
}

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var<storage, read> points: array<Point>;
@group(0) @binding(2) var<storage, read_write> depth_bits: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> color_sums: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> color_out: array<u32>;
@group(0) @binding(5) var<storage, read> source_pixels: array<u32>;
@group(0) @binding(6) var<storage, read> source_depth_bits: array<u32>;
// Mean colour (0..255) of what the sources see where they meet the
// backdrop: per azimuth sector, ground rings then wall bands (`focus.w`
// bins each): the fill where no source sees a point.
@group(0) @binding(7) var<storage, read> backdrop_colours: array<vec4<f32>>;

const POINT_WORKGROUP: u32 = 256u;
// `backdrop::WALL_FROM_RADIUS_SHARE`.
const WALL_FROM_RADIUS_SHARE: f32 = 0.999;
// `backdrop::AZIMUTH_SECTORS`.
const BACKDROP_AZIMUTH_SECTORS: u32 = 16u;
const PI: f32 = 3.14159265358979;
// `splat::SEE_THROUGH_HITS`: of the 8 directions.
const SEE_THROUGH_HITS: u32 = 7u;

struct Splat {
    centre: vec2<f32>,
    depth: f32,
    radius_px: f32,
    visible: bool,
}

fn project_point(p: Point) -> Splat {
    var s: Splat;
    let cam = view.camera;
    let point_in_cam = cam_from_world_point(cam, p.position);
    s.visible = point_in_cam.z > view.tuning.z;
    if !s.visible {
        return s;
    }
    s.centre = pixel_from_cam(cam, point_in_cam);
    s.depth = point_in_cam.z;
    s.radius_px = clamp(p.radius_m * view.tuning.y * cam.intrinsics.x / point_in_cam.z, 0.5, f32(view.counts.y));
    let w = f32(cam.size.x);
    let h = f32(cam.size.y);
    s.visible = s.centre.x > -s.radius_px && s.centre.y > -s.radius_px && s.centre.x < w + s.radius_px && s.centre.y < h + s.radius_px;
    return s;
}

fn point_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * POINT_WORKGROUP;
}

@compute @workgroup_size(256, 1, 1)
fn splat_depth(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = point_index(gid, groups);
    if index >= view.counts.x {
        return;
    }
    let s = project_point(points[index]);
    if !s.visible {
        return;
    }
    let width = i32(view.camera.size.x);
    let inverted_depth = 0xffffffffu - bitcast<u32>(s.depth);
    let rows = disc_rows(s);
    for (var y = rows.x; y <= rows.y; y = y + 1) {
        let span = disc_span(s, y);
        for (var x = span.x; x <= span.y; x = x + 1) {
            let offset = vec2<f32>(f32(x), f32(y)) - s.centre;
            if dot(offset, offset) > s.radius_px * s.radius_px {
                continue;
            }
            // Test before the locked operation: most splats lose (plain
            // loads are cheap, atomics are not on a CPU adapter).
            let at = view.camera.size.z + u32(y * width + x);
            if atomicLoad(&depth_bits[at]) < inverted_depth {
                atomicMax(&depth_bits[at], inverted_depth);
            }
        }
    }
}

// The image rows a splat's disc may cover (first, last), clipped to the
// image.
fn disc_rows(s: Splat) -> vec2<i32> {
    let height = i32(view.camera.size.y);
    return vec2<i32>(max(i32(ceil(s.centre.y - s.radius_px)), 0), min(i32(floor(s.centre.y + s.radius_px)), height - 1));
}

// The columns (first, last) of row `y` a splat's disc may cover, clipped
// to the image: the chord's ends widened by a hundredth of a pixel, so the
// exact disc test inside decides the pixels (the square loop's set, without
// its corners' iterations: the lanes of a CPU adapter run the longest).
fn disc_span(s: Splat, y: i32) -> vec2<i32> {
    let width = i32(view.camera.size.x);
    let dy = f32(y) - s.centre.y;
    let half = sqrt(max(s.radius_px * s.radius_px - dy * dy, 0.0)) + 0.01;
    return vec2<i32>(max(i32(ceil(s.centre.x - half)), 0), min(i32(floor(s.centre.x + half)), width - 1));
}

@compute @workgroup_size(256, 1, 1)
fn splat_color(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = point_index(gid, groups);
    if index >= view.counts.x {
        return;
    }
    let p = points[index];
    let s = project_point(p);
    if !s.visible {
        return;
    }
    let width = i32(view.camera.size.x);
    let rgb = vec3<u32>(p.color & 0xffu, (p.color >> 8u) & 0xffu, (p.color >> 16u) & 0xffu);
    let rows = disc_rows(s);
    for (var y = rows.x; y <= rows.y; y = y + 1) {
        let span = disc_span(s, y);
        for (var x = span.x; x <= span.y; x = x + 1) {
            let offset = vec2<f32>(f32(x), f32(y)) - s.centre;
            let r2 = dot(offset, offset) / (s.radius_px * s.radius_px);
            if r2 > 1.0 {
                continue;
            }
            let i = u32(y * width + x);
            let nearest = bitcast<f32>(0xffffffffu - atomicLoad(&depth_bits[i]));
            if s.depth > nearest * (1.0 + view.tuning.x) {
                continue;
            }
            // Soft edge: weight falls from 255 at the centre to 64 at the rim.
            let weight = u32(255.0 - 191.0 * r2);
            atomicAdd(&color_sums[i * 4u], rgb.x * weight);
            atomicAdd(&color_sums[i * 4u + 1u], rgb.y * weight);
            atomicAdd(&color_sums[i * 4u + 2u], rgb.z * weight);
            atomicAdd(&color_sums[i * 4u + 3u], weight);
        }
    }
}

fn pack_rgb(c: vec3<f32>) -> u32 {
    let q = vec3<u32>(clamp(c, vec3<f32>(0.0), vec3<f32>(255.0)) + vec3<f32>(0.5));
    return q.x | (q.y << 8u) | (q.z << 16u) | (255u << 24u);
}

fn covered_colour(i: u32) -> vec4<f32> {
    let weight = atomicLoad(&color_sums[i * 4u + 3u]);
    if weight == 0u {
        return vec4<f32>(0.0);
    }
    let w = f32(weight);
    return vec4<f32>(
        f32(atomicLoad(&color_sums[i * 4u])) / w,
        f32(atomicLoad(&color_sums[i * 4u + 1u])) / w,
        f32(atomicLoad(&color_sums[i * 4u + 2u])) / w,
        1.0,
    );
}

// First covered pixel from `p` along `step` within the fill radius:
// (colour, 1) or zero.
fn probe(p: vec2<i32>, step: vec2<i32>) -> vec4<f32> {
    let cam = view.camera;
    for (var k = 1; k <= i32(view.counts.z); k = k + 1) {
        let q = p + step * k;
        if q.x < 0 || q.y < 0 || q.x >= i32(cam.size.x) || q.y >= i32(cam.size.y) {
            break;
        }
        let c = covered_colour(u32(q.y) * cam.size.x + u32(q.x));
        if c.w > 0.0 {
            return c;
        }
    }
    return vec4<f32>(0.0);
}

@compute @workgroup_size(16, 16, 1)
fn resolve(@builtin(global_invocation_id) gid: vec3<u32>) {
    let cam = view.camera;
    if gid.x >= cam.size.x || gid.y >= cam.size.y {
        return;
    }
    let i = gid.y * cam.size.x + gid.x;
    let own = covered_colour(i);
    if own.w > 0.0 {
        color_out[i] = pack_rgb(own.rgb);
        return;
    }
    // Hole fill: probe 8 directions up to the fill radius; fill when at
    // least 6 meet a covered pixel (inside a surface, not beside it). Stop
    // as soon as 6 hits are out of reach: background pixels leave after 3.
    let p = vec2<i32>(i32(gid.x), i32(gid.y));
    var found = probe(p, vec2<i32>(1, 0));
    found = found + probe(p, vec2<i32>(-1, 0));
    found = found + probe(p, vec2<i32>(0, 1));
    if found.w >= 1.0 {
        found = found + probe(p, vec2<i32>(0, -1));
        found = found + probe(p, vec2<i32>(1, 1));
        if found.w >= 3.0 {
            found = found + probe(p, vec2<i32>(-1, -1));
            found = found + probe(p, vec2<i32>(1, -1));
            found = found + probe(p, vec2<i32>(-1, 1));
        }
    }
    if found.w >= 6.0 {
        color_out[i] = pack_rgb(found.rgb / found.w);
        return;
    }
    let t = f32(gid.y) / max(f32(cam.size.y) - 1.0, 1.0);
    color_out[i] = pack_rgb(mix(view.background_top.rgb, view.background_bottom.rgb, t) * 255.0);
}

// ---- View-dependent blending ----------------------------------------------

// A source camera's depth map for the visibility test, closed: each empty
// pixel takes the nearest splatted depth within `counts.w` pixels, so the gaps
// between a sparse player's splats still hide the ground behind it (its
// colour must not be painted there). Reads `depth_bits` (the raw map),
// writes the closed map into `color_out` after `sources.y` words, and in
// front the raw map with its see-through holes filled (`see_through_fill`:
// a source must not see the ground through a hole in a prop's splats):
// `source_depth_bits` holds both.
@compute @workgroup_size(16, 16, 1)
fn close_source_depth(@builtin(global_invocation_id) gid: vec3<u32>) {
    let cam = view.camera;
    if gid.x >= cam.size.x || gid.y >= cam.size.y {
        return;
    }
    let reach = i32(view.counts.w);
    var nearest = 0u;
    for (var dy = -reach; dy <= reach; dy = dy + 1) {
        for (var dx = -reach; dx <= reach; dx = dx + 1) {
            let x = i32(gid.x) + dx;
            let y = i32(gid.y) + dy;
            if x < 0 || y < 0 || x >= i32(cam.size.x) || y >= i32(cam.size.y) {
                continue;
            }
            nearest = max(nearest, atomicLoad(&depth_bits[cam.size.z + u32(y) * cam.size.x + u32(x)]));
        }
    }
    let at = cam.size.z + gid.y * cam.size.x + gid.x;
    color_out[view.sources.y + at] = nearest;
    let own = depth_of_bits(atomicLoad(&depth_bits[at]));
    var filled = 0u;
    if own > 0.0 {
        filled = 0xffffffffu - bitcast<u32>(see_through_fill(vec2<i32>(i32(gid.x), i32(gid.y)), own));
    }
    color_out[at] = filled;
}

fn depth_of_bits(bits: u32) -> f32 {
    if bits == 0u {
        return 0.0;
    }
    return bitcast<f32>(0xffffffffu - bits);
}

// How a hole test probes a direction: up to `radius` px, every `stride`
// px, for the first splat nearer than `limit` (m).
struct Reach {
    radius: i32,
    stride: i32,
    limit: f32,
}

// Largest f32: a limit every depth is nearer than.
const ANY_DEPTH: f32 = 3.4028235e38;

// First splatted depth from `p` along `step` within `reach`, or 0. Reads
// the map of `view.camera` (`size.z` is its first pixel).
fn probe_depth(p: vec2<i32>, step: vec2<i32>, reach: Reach) -> f32 {
    let cam = view.camera;
    for (var k = reach.stride; k <= reach.radius; k = k + reach.stride) {
        let q = p + step * k;
        if q.x < 0 || q.y < 0 || q.x >= i32(cam.size.x) || q.y >= i32(cam.size.y) {
            break;
        }
        let d = depth_of_bits(atomicLoad(&depth_bits[cam.size.z + u32(q.y) * cam.size.x + u32(q.x)]));
        if d > 0.0 && d < reach.limit {
            return d;
        }
    }
    return 0.0;
}

// One direction's contribution to a hole test (`surface_depth`,
// `see_through_fill`).
struct Probes {
    sum: f32,
    hits: u32,
}

fn add_probe(acc: Probes, p: vec2<i32>, step: vec2<i32>, reach: Reach) -> Probes {
    var out = acc;
    let d = probe_depth(p, step, reach);
    if d > 0.0 {
        out.sum = out.sum + d;
        out.hits = out.hits + 1u;
    }
    return out;
}

// The pixel's splat depth, or the mean depth around a small hole (>= 6 of 8
// directions meet a splat within the fill radius), or 0. The directions are
// written out (no indexed local array: a CPU adapter spills those to memory
// per lane); after k directions, fewer than 6 - (8 - k) hits leaves early.
fn surface_depth(p: vec2<i32>) -> f32 {
    let cam = view.camera;
    let own = depth_of_bits(atomicLoad(&depth_bits[u32(p.y) * cam.size.x + u32(p.x)]));
    if own > 0.0 {
        return see_through_fill(p, own);
    }
    let reach = Reach(i32(view.counts.z), 1, ANY_DEPTH);
    var acc = Probes(0.0, 0u);
    acc = add_probe(acc, p, vec2<i32>(1, 0), reach);
    acc = add_probe(acc, p, vec2<i32>(-1, 0), reach);
    acc = add_probe(acc, p, vec2<i32>(0, 1), reach);
    if acc.hits < 1u {
        return 0.0;
    }
    acc = add_probe(acc, p, vec2<i32>(0, -1), reach);
    if acc.hits < 2u {
        return 0.0;
    }
    acc = add_probe(acc, p, vec2<i32>(1, 1), reach);
    if acc.hits < 3u {
        return 0.0;
    }
    acc = add_probe(acc, p, vec2<i32>(-1, -1), reach);
    if acc.hits < 4u {
        return 0.0;
    }
    acc = add_probe(acc, p, vec2<i32>(1, -1), reach);
    if acc.hits < 5u {
        return 0.0;
    }
    acc = add_probe(acc, p, vec2<i32>(-1, 1), reach);
    if acc.hits >= 6u {
        return acc.sum / f32(acc.hits);
    }
    return 0.0;
}

// `own` (a splat depth), or, when a nearer surface surrounds the pixel (at
// least SEE_THROUGH_HITS of 8 directions meet it within the see-through
// radius), that surface's mean depth there: the pixel is a hole in it
// through which farther splats (the ground behind a player or a prop) show.
// A pixel beside a surface (the ground at a player's feet, between the
// legs) is open on at least two sides and keeps its depth. The early exits
// leave once too few directions are left to reach SEE_THROUGH_HITS; the
// directions are written out as in `surface_depth`.
fn see_through_fill(p: vec2<i32>, own: f32) -> f32 {
    if view.see_through.x < 1.0 {
        return own;
    }
    let reach = Reach(i32(view.see_through.x), max(i32(view.see_through.y), 1), own * (1.0 - view.see_through.z));
    var acc = Probes(0.0, 0u);
    acc = add_probe(acc, p, vec2<i32>(1, 0), reach);
    acc = add_probe(acc, p, vec2<i32>(-1, 0), reach);
    if acc.hits + 6u < SEE_THROUGH_HITS {
        return own;
    }
    acc = add_probe(acc, p, vec2<i32>(0, -1), reach);
    if acc.hits + 5u < SEE_THROUGH_HITS {
        return own;
    }
    acc = add_probe(acc, p, vec2<i32>(0, 1), reach);
    if acc.hits + 4u < SEE_THROUGH_HITS {
        return own;
    }
    acc = add_probe(acc, p, vec2<i32>(1, 1), reach);
    if acc.hits + 3u < SEE_THROUGH_HITS {
        return own;
    }
    acc = add_probe(acc, p, vec2<i32>(-1, -1), reach);
    if acc.hits + 2u < SEE_THROUGH_HITS {
        return own;
    }
    acc = add_probe(acc, p, vec2<i32>(1, -1), reach);
    if acc.hits + 1u < SEE_THROUGH_HITS {
        return own;
    }
    acc = add_probe(acc, p, vec2<i32>(-1, 1), reach);
    if acc.hits >= SEE_THROUGH_HITS {
        return acc.sum / f32(acc.hits);
    }
    return own;
}

// Depth (along `ray`, whose camera z is 1) where the ray from `origin` meets
// the backdrop proxy: the ground plane inside the cylinder, else the
// cylinder's wall; 0 if there is no backdrop or no hit.
fn backdrop_depth(origin: vec3<f32>, ray: vec3<f32>) -> f32 {
    let radius = view.backdrop.z;
    if radius <= 0.0 {
        return 0.0;
    }
    let centre = view.backdrop.xy;
    if ray.z < 0.0 && origin.z > view.backdrop.w {
        let t = (view.backdrop.w - origin.z) / ray.z;
        let ground = origin.xy + ray.xy * t - centre;
        if dot(ground, ground) <= radius * radius {
            return t;
        }
    }
    // |o + t d| = R in the ground plane: the far root (inside the wall).
    let o = origin.xy - centre;
    let a = dot(ray.xy, ray.xy);
    if a < 1e-12 {
        return 0.0;
    }
    let b = dot(o, ray.xy);
    let c = dot(o, o) - radius * radius;
    let disc = b * b - a * c;
    if disc < 0.0 {
        return 0.0;
    }
    let t = (-b + sqrt(disc)) / a;
    return select(0.0, t, t > 0.0);
}

// Bilinear RGB (0..255) of the source image `image` (width, height, first
// pixel) at `pixel` (inside the image).
// (Catmull-Rom bicubic was measured: no better on the leave-one-out views,
// 4x the loads.)
fn sample_source(image: vec3<u32>, pixel: vec2<f32>) -> vec3<f32> {
    let x0 = u32(floor(pixel.x));
    let y0 = u32(floor(pixel.y));
    let x1 = min(x0 + 1u, image.x - 1u);
    let y1 = min(y0 + 1u, image.y - 1u);
    let f = pixel - vec2<f32>(f32(x0), f32(y0));
    let base = image.z;
    let c00 = unpack4x8unorm(source_pixels[base + y0 * image.x + x0]).rgb;
    let c10 = unpack4x8unorm(source_pixels[base + y0 * image.x + x1]).rgb;
    let c01 = unpack4x8unorm(source_pixels[base + y1 * image.x + x0]).rgb;
    let c11 = unpack4x8unorm(source_pixels[base + y1 * image.x + x1]).rgb;
    return 255.0 * mix(mix(c00, c10, f.x), mix(c01, c11, f.x), f.y);
}

@compute @workgroup_size(16, 16, 1)
fn blend(@builtin(global_invocation_id) gid: vec3<u32>) {
    let cam = view.camera;
    if gid.x >= cam.size.x || gid.y >= cam.size.y {
        return;
    }
    let i = gid.y * cam.size.x + gid.x;
    let pixel = vec2<f32>(f32(gid.x), f32(gid.y));
    let origin = centre_in_world(cam);
    let ray = world_from_cam_dir(cam, ray_in_cam(cam, pixel));
    var surface = surface_depth(vec2<i32>(i32(gid.x), i32(gid.y)));
    // Surface points within the snap height of the ground are the ground:
    // the plane is exact where the splats are noisy.
    if surface > 0.0 && view.backdrop.z > 0.0 && ray.z < 0.0 && abs(origin.z + ray.z * surface - view.backdrop.w) < view.blend.w {
        surface = (view.backdrop.w - origin.z) / ray.z;
    }
    let backdrop = backdrop_depth(origin, ray);
    var depth = surface;
    if backdrop > 0.0 && (depth <= 0.0 || backdrop < depth) {
        depth = backdrop;
    }
    if depth <= 0.0 {
        color_out[i] = pack_rgb(unseen_colour(origin + ray * 1000.0, f32(gid.y)));
        return;
    }
    let point = origin + ray * depth;
    let virtual_dir = normalize(point - origin);
    // The selected sources that see the point (written out, no indexed
    // local arrays: see `surface_depth`).
    let h0 = source_hit(0u, point, virtual_dir);
    let h1 = source_hit(1u, point, virtual_dir);
    let h2 = source_hit(2u, point, virtual_dir);
    let h3 = source_hit(3u, point, virtual_dir);
    let visible = u32(h0.seen) + u32(h1.seen) + u32(h2.seen) + u32(h3.seen);
    if visible == 0u {
        color_out[i] = pack_rgb(unseen_colour(point, f32(gid.y)));
        return;
    }
    // The nearest in angle, taken as is when alone (or when no weight is left).
    var nearest = h3;
    if h2.seen && (!nearest.seen || h2.angle <= nearest.angle) {
        nearest = h2;
    }
    if h1.seen && (!nearest.seen || h1.angle <= nearest.angle) {
        nearest = h1;
    }
    if h0.seen && (!nearest.seen || h0.angle <= nearest.angle) {
        nearest = h0;
    }
    if visible == 1u {
        color_out[i] = pack_rgb(sample_source(nearest.image, nearest.pixel));
        return;
    }
    // Unstructured-lumigraph weights: the widest visible angle is the
    // threshold, w = (1 - a / threshold) / a (0 for the widest itself).
    let threshold = max(max(select(0.0, h0.angle, h0.seen), select(0.0, h1.angle, h1.seen)), max(select(0.0, h2.angle, h2.seen), select(0.0, h3.angle, h3.seen)));
    var acc = vec4<f32>(0.0);
    acc = add_weighted(acc, h0, threshold);
    acc = add_weighted(acc, h1, threshold);
    acc = add_weighted(acc, h2, threshold);
    acc = add_weighted(acc, h3, threshold);
    if acc.w <= 0.0 {
        color_out[i] = pack_rgb(sample_source(nearest.image, nearest.pixel));
        return;
    }
    color_out[i] = pack_rgb(acc.rgb / acc.w);
}

// A selected source's view of a surface point.
struct SourceHit {
    seen: bool,
    // the source image's width, height, first pixel in `source_pixels`
    image: vec3<u32>,
    pixel: vec2<f32>,
    // between the source's ray and the virtual one, radians
    angle: f32,
}

// Whether selected source `slot` sees `point` (inside its image; its own
// depth there matches, else nothing well in front covers it nearby in the
// closed map), where, and at what angle to the virtual ray.
fn source_hit(slot: u32, point: vec3<f32>, virtual_dir: vec3<f32>) -> SourceHit {
    var hit = SourceHit(false, vec3<u32>(0u), vec2<f32>(0.0), 0.0);
    if slot >= min(view.sources.x, 4u) {
        return hit;
    }
    let src = view.selected_cameras[slot];
    let point_in_src = cam_from_world_point(src, point);
    if point_in_src.z <= view.tuning.z {
        return hit;
    }
    let p = pixel_from_cam(src, point_in_src);
    if p.x < 0.0 || p.y < 0.0 || p.x > f32(src.size.x) - 1.0 || p.y > f32(src.size.y) - 1.0 {
        return hit;
    }
    let at = src.size.z + u32(round(p.y)) * src.size.x + u32(round(p.x));
    let seen = depth_of_bits(source_depth_bits[at]);
    let matches = seen > 0.0 && abs(point_in_src.z - seen) <= seen * view.blend.x + view.tuning.w;
    if !matches {
        let nearest = depth_of_bits(source_depth_bits[view.sources.y + at]);
        // Where the source's own map is empty, its closed map decides, with
        // the wider tolerance (a hole-filled view depth lies between the
        // splats around it).
        let tolerance_m = select(view.gap_visibility.x, view.blend.y, seen > 0.0);
        if nearest > 0.0 && point_in_src.z > nearest * (1.0 + view.blend.x) + tolerance_m {
            return hit;
        }
    }
    hit.seen = true;
    hit.image = src.size.xyz;
    hit.pixel = p;
    hit.angle = acos(clamp(dot(virtual_dir, normalize(point - centre_in_world(src))), -1.0, 1.0));
    return hit;
}

// `acc` plus `hit`'s weighted colour (rgb) and weight (w).
fn add_weighted(acc: vec4<f32>, hit: SourceHit, threshold: f32) -> vec4<f32> {
    if !hit.seen {
        return acc;
    }
    let w = max(1.0 - hit.angle / threshold, 0.0) / max(hit.angle, view.blend.z);
    if w <= 0.0 {
        return acc;
    }
    return acc + vec4<f32>(sample_source(hit.image, hit.pixel) * w, w);
}

// Colour of a point no source sees: the sources' mean colour where they
// meet the backdrop at the same place (in its azimuth sector, inside the
// cylinder the ground ring at its distance from the axis, on the wall the
// band at its height: `backdrop::table_colour`), else the background
// gradient at row `y`.
fn unseen_colour(point: vec3<f32>, y: f32) -> vec3<f32> {
    let bins = u32(view.focus.w);
    if bins == 0u {
        let t = y / max(f32(view.camera.size.y) - 1.0, 1.0);
        return mix(view.background_top.rgb, view.background_bottom.rgb, t) * 255.0;
    }
    let radius = max(view.backdrop.z, 1e-6);
    let offset = point.xy - view.backdrop.xy;
    let from_axis = length(offset);
    let top = f32(bins) - 1.0;
    var bin: u32;
    if from_axis < WALL_FROM_RADIUS_SHARE * radius {
        bin = u32(clamp(from_axis / radius * f32(bins), 0.0, top));
    } else {
        bin = bins + u32(clamp((point.z - view.backdrop.w) / radius * f32(bins), 0.0, top));
    }
    // Between the two nearest sector centres (`backdrop::table_colour`).
    let sectors = f32(BACKDROP_AZIMUTH_SECTORS);
    let raw = (atan2(offset.y, offset.x) + PI) / (2.0 * PI) * sectors - 0.5;
    let position = raw - sectors * floor(raw / sectors);
    let first = min(u32(position), BACKDROP_AZIMUTH_SECTORS - 1u);
    let second = (first + 1u) % BACKDROP_AZIMUTH_SECTORS;
    let t = position - f32(first);
    let a = backdrop_colours[first * 2u * bins + bin].rgb;
    let b = backdrop_colours[second * 2u * bins + bin].rgb;
    return mix(a, b, t);
}
