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
    // point count, max splat radius px, hole-fill radius px, unused
    counts: vec4<u32>,
    // depth tolerance (relative), radius scale, near plane (m), unused
    tuning: vec4<f32>,
    background_top: vec4<f32>,
    background_bottom: vec4<f32>,
}

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var<storage, read> points: array<Point>;
@group(0) @binding(2) var<storage, read_write> depth_bits: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> color_sums: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> color_out: array<u32>;

const POINT_WORKGROUP: u32 = 256u;

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
    let height = i32(view.camera.size.y);
    let reach = i32(ceil(s.radius_px));
    let cx = i32(round(s.centre.x));
    let cy = i32(round(s.centre.y));
    let inverted_depth = 0xffffffffu - bitcast<u32>(s.depth);
    for (var dy = -reach; dy <= reach; dy = dy + 1) {
        for (var dx = -reach; dx <= reach; dx = dx + 1) {
            let x = cx + dx;
            let y = cy + dy;
            let offset = vec2<f32>(f32(x), f32(y)) - s.centre;
            if x < 0 || y < 0 || x >= width || y >= height || dot(offset, offset) > s.radius_px * s.radius_px {
                continue;
            }
            atomicMax(&depth_bits[u32(y * width + x)], inverted_depth);
        }
    }
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
    let height = i32(view.camera.size.y);
    let reach = i32(ceil(s.radius_px));
    let cx = i32(round(s.centre.x));
    let cy = i32(round(s.centre.y));
    let rgb = vec3<u32>(p.color & 0xffu, (p.color >> 8u) & 0xffu, (p.color >> 16u) & 0xffu);
    for (var dy = -reach; dy <= reach; dy = dy + 1) {
        for (var dx = -reach; dx <= reach; dx = dx + 1) {
            let x = cx + dx;
            let y = cy + dy;
            let offset = vec2<f32>(f32(x), f32(y)) - s.centre;
            let r2 = dot(offset, offset) / (s.radius_px * s.radius_px);
            if x < 0 || y < 0 || x >= width || y >= height || r2 > 1.0 {
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
