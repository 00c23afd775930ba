// Synthetic capture raycaster: renders the procedural scene (ground disk,
// spheres, capsules, boxes, surrounding stands, sky) as seen by one camera,
// with SS x SS supersampling, plus the exact z-depth of the pixel centre.
// CPU twin: src/synth/cpu_ref.rs (tests compare them). Uniform twin:
// `RaycastParamsGpu`, primitive twin: `PrimitiveGpu` (src/gpu/gpu_types.rs).

struct Primitive {
    kind: vec4<u32>,
    a: vec4<f32>,
    b: vec4<f32>,
    color0: vec4<f32>,
    color1: vec4<f32>,
}

struct Params {
    camera: Camera,
    sun: vec4<f32>,
    counts: vec4<u32>,
    sky_horizon: vec4<f32>,
    sky_zenith: vec4<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> primitives: array<Primitive>;
@group(0) @binding(2) var<storage, read_write> color_out: array<u32>;
@group(0) @binding(3) var<storage, read_write> depth_out: array<f32>;

const NO_HIT: f32 = 1e30;
const MIN_T: f32 = 1e-4;
const KIND_GROUND: u32 = 0u;
const KIND_SPHERE: u32 = 1u;
const KIND_CAPSULE: u32 = 2u;
const KIND_BOX: u32 = 3u;
const KIND_STANDS: u32 = 4u;
// Bounding sphere (a.xyz, a.w) of the next kind.y primitives: skipped when missed.
const KIND_GROUP: u32 = 5u;

fn hash_u32(x: u32) -> u32 {
    var h = x * 747796405u + 2891336453u;
    h = ((h >> ((h >> 28u) + 4u)) ^ h) * 277803737u;
    return (h >> 22u) ^ h;
}

fn hash3(c: vec3<i32>) -> f32 {
    let h = hash_u32(bitcast<u32>(c.x) ^ hash_u32(bitcast<u32>(c.y) ^ hash_u32(bitcast<u32>(c.z))));
    return f32(h >> 8u) / 16777215.0;
}

fn value_noise(p: vec3<f32>) -> f32 {
    let cell = floor(p);
    let f = p - cell;
    let w = f * f * (vec3<f32>(3.0) - 2.0 * f);
    let c = vec3<i32>(cell);
    let n000 = hash3(c);
    let n100 = hash3(c + vec3<i32>(1, 0, 0));
    let n010 = hash3(c + vec3<i32>(0, 1, 0));
    let n110 = hash3(c + vec3<i32>(1, 1, 0));
    let n001 = hash3(c + vec3<i32>(0, 0, 1));
    let n101 = hash3(c + vec3<i32>(1, 0, 1));
    let n011 = hash3(c + vec3<i32>(0, 1, 1));
    let n111 = hash3(c + vec3<i32>(1, 1, 1));
    let x00 = mix(n000, n100, w.x);
    let x10 = mix(n010, n110, w.x);
    let x01 = mix(n001, n101, w.x);
    let x11 = mix(n011, n111, w.x);
    return mix(mix(x00, x10, w.y), mix(x01, x11, w.y), w.z);
}

fn pattern(p: vec3<f32>) -> f32 {
    let n = 0.55 * value_noise(p) + 0.45 * value_noise(p * 2.7 + vec3<f32>(17.0, 5.0, 11.0));
    return clamp((n - 0.5) * 2.2 + 0.5, 0.0, 1.0);
}

fn safe_inverse(v: vec3<f32>) -> vec3<f32> {
    let tiny = vec3<f32>(1e-8);
    let s = select(vec3<f32>(-1.0), vec3<f32>(1.0), v >= vec3<f32>(0.0));
    return 1.0 / select(v, s * tiny, abs(v) < tiny);
}

fn intersect(prim: Primitive, ro: vec3<f32>, rd: vec3<f32>) -> f32 {
    let kind = prim.kind.x;
    if kind == KIND_GROUND {
        if rd.z < -1e-6 {
            let t = -ro.z / rd.z;
            let p = ro + t * rd;
            if length(p.xy) <= prim.a.w {
                return t;
            }
        }
        return NO_HIT;
    }
    if kind == KIND_SPHERE {
        let oc = ro - prim.a.xyz;
        let b = dot(oc, rd);
        let c = dot(oc, oc) - prim.a.w * prim.a.w;
        let h = b * b - c;
        if h < 0.0 {
            return NO_HIT;
        }
        return -b - sqrt(h);
    }
    if kind == KIND_CAPSULE {
        let pa = prim.a.xyz;
        let pb = prim.b.xyz;
        let r = prim.a.w;
        let ba = pb - pa;
        let oa = ro - pa;
        let baba = dot(ba, ba);
        let bard = dot(ba, rd);
        let baoa = dot(ba, oa);
        let rdoa = dot(rd, oa);
        let oaoa = dot(oa, oa);
        let qa = baba - bard * bard;
        let qb = baba * rdoa - baoa * bard;
        let qc = baba * oaoa - baoa * baoa - r * r * baba;
        let h = qb * qb - qa * qc;
        if h >= 0.0 {
            let t = (-qb - sqrt(h)) / qa;
            let y = baoa + t * bard;
            if y > 0.0 && y < baba {
                return t;
            }
            let oc = select(ro - pb, oa, y <= 0.0);
            let b2 = dot(rd, oc);
            let c2 = dot(oc, oc) - r * r;
            let h2 = b2 * b2 - c2;
            if h2 > 0.0 {
                return -b2 - sqrt(h2);
            }
        }
        return NO_HIT;
    }
    if kind == KIND_BOX {
        let inv = safe_inverse(rd);
        let t1 = (prim.a.xyz - ro) * inv;
        let t2 = (prim.b.xyz - ro) * inv;
        let tmin = max(max(min(t1.x, t2.x), min(t1.y, t2.y)), min(t1.z, t2.z));
        let tmax = min(min(max(t1.x, t2.x), max(t1.y, t2.y)), max(t1.z, t2.z));
        if tmax >= max(tmin, 0.0) {
            return tmin;
        }
        return NO_HIT;
    }
    if kind == KIND_STANDS {
        let qa = dot(rd.xy, rd.xy);
        if qa < 1e-9 {
            return NO_HIT;
        }
        let qb = dot(ro.xy, rd.xy);
        let qc = dot(ro.xy, ro.xy) - prim.a.w * prim.a.w;
        let h = qb * qb - qa * qc;
        if h < 0.0 {
            return NO_HIT;
        }
        let t = (-qb + sqrt(h)) / qa;
        let z = ro.z + t * rd.z;
        if z >= 0.0 && z <= prim.b.w {
            return t;
        }
        return NO_HIT;
    }
    return NO_HIT;
}

fn normal_at(prim: Primitive, p: vec3<f32>) -> vec3<f32> {
    let kind = prim.kind.x;
    if kind == KIND_SPHERE {
        return normalize(p - prim.a.xyz);
    }
    if kind == KIND_CAPSULE {
        let ba = prim.b.xyz - prim.a.xyz;
        let h = clamp(dot(p - prim.a.xyz, ba) / dot(ba, ba), 0.0, 1.0);
        return normalize(p - (prim.a.xyz + ba * h));
    }
    if kind == KIND_BOX {
        let centre = 0.5 * (prim.a.xyz + prim.b.xyz);
        let half_size = 0.5 * (prim.b.xyz - prim.a.xyz);
        let q = (p - centre) / half_size;
        let aq = abs(q);
        if aq.x >= aq.y && aq.x >= aq.z {
            return vec3<f32>(sign(q.x), 0.0, 0.0);
        }
        if aq.y >= aq.z {
            return vec3<f32>(0.0, sign(q.y), 0.0);
        }
        return vec3<f32>(0.0, 0.0, sign(q.z));
    }
    if kind == KIND_STANDS {
        return normalize(vec3<f32>(-p.x, -p.y, 0.0));
    }
    return vec3<f32>(0.0, 0.0, 1.0);
}

// Whether the ray misses a group's bounding sphere, or meets it only beyond
// `max_t` (then the group's primitives are skipped).
fn group_missed(group: Primitive, ro: vec3<f32>, rd: vec3<f32>, max_t: f32) -> bool {
    let oc = ro - group.a.xyz;
    let b = dot(oc, rd);
    let h = b * b - (dot(oc, oc) - group.a.w * group.a.w);
    return h < 0.0 || -b + sqrt(h) < 0.0 || -b - sqrt(h) > max_t;
}

// Whether a ray from `ro` along `rd` hits a shadow caster (sphere, capsule
// or box; the ground and the stands cast no shadows).
fn occluded(ro: vec3<f32>, rd: vec3<f32>) -> bool {
    var i = 0u;
    loop {
        if i >= params.counts.x {
            break;
        }
        let prim = primitives[i];
        if prim.kind.x == KIND_GROUP {
            i = i + 1u + select(0u, prim.kind.y, group_missed(prim, ro, rd, NO_HIT));
            continue;
        }
        if prim.kind.x != KIND_GROUND && prim.kind.x != KIND_STANDS {
            let t = intersect(prim, ro, rd);
            if t > MIN_T && t < NO_HIT {
                return true;
            }
        }
        i = i + 1u;
    }
    return false;
}

fn shade(prim: Primitive, p: vec3<f32>) -> vec3<f32> {
    let local = select(p, p - prim.a.xyz, prim.color1.w > 0.5);
    let albedo = mix(prim.color0.rgb, prim.color1.rgb, pattern(local * prim.color0.w));
    let n = normal_at(prim, p);
    var lambert = max(dot(n, params.sun.xyz), 0.0);
    if lambert > 0.0 && occluded(p + 1e-3 * n, params.sun.xyz) {
        lambert = 0.0;
    }
    return albedo * (params.sun.w + (1.0 - params.sun.w) * lambert);
}

// Returns (rgb, t) along unit direction rd; t = NO_HIT for sky.
fn trace(ro: vec3<f32>, rd: vec3<f32>) -> vec4<f32> {
    var best_t = NO_HIT;
    var best_index = 0u;
    var i = 0u;
    loop {
        if i >= params.counts.x {
            break;
        }
        let prim = primitives[i];
        if prim.kind.x == KIND_GROUP {
            i = i + 1u + select(0u, prim.kind.y, group_missed(prim, ro, rd, best_t));
            continue;
        }
        let t = intersect(prim, ro, rd);
        if t > MIN_T && t < best_t {
            best_t = t;
            best_index = i;
        }
        i = i + 1u;
    }
    if best_t >= NO_HIT {
        let sky = mix(params.sky_horizon.rgb, params.sky_zenith.rgb, clamp(rd.z * 2.0, 0.0, 1.0));
        return vec4<f32>(sky, NO_HIT);
    }
    return vec4<f32>(shade(primitives[best_index], ro + best_t * rd), best_t);
}

fn pack_rgba8(c: vec3<f32>) -> u32 {
    let q = vec3<u32>(clamp(c, vec3<f32>(0.0), vec3<f32>(1.0)) * 255.0 + vec3<f32>(0.5));
    return q.x | (q.y << 8u) | (q.z << 16u) | (255u << 24u);
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let cam = params.camera;
    let width = cam.size.x;
    let height = cam.size.y;
    if gid.x >= width || gid.y >= height {
        return;
    }
    let ro = centre_in_world(cam);
    let ss = max(params.counts.y, 1u);
    let centre_dir = ray_in_cam(cam, vec2<f32>(f32(gid.x), f32(gid.y)));
    let hit = trace(ro, normalize(world_from_cam_dir(cam, centre_dir)));
    var sum = vec3<f32>(0.0);
    if ss == 1u {
        sum = hit.rgb;
    }
    for (var sy = 0u; sy < ss && ss > 1u; sy = sy + 1u) {
        for (var sx = 0u; sx < ss; sx = sx + 1u) {
            let offset = (vec2<f32>(f32(sx), f32(sy)) + 0.5) / f32(ss) - 0.5;
            let dir_in_cam = ray_in_cam(cam, vec2<f32>(f32(gid.x), f32(gid.y)) + offset);
            let rd = normalize(world_from_cam_dir(cam, dir_in_cam));
            sum = sum + trace(ro, rd).rgb;
        }
    }
    let index = gid.y * width + gid.x;
    color_out[index] = pack_rgba8(sum / f32(ss * ss));
    depth_out[index] = select(hit.w / length(centre_dir), 0.0, hit.w >= NO_HIT);
}
