// Foreground (players, ball) reconstruction of one frame set, three kernels
// sharing one binding layout:
//
// `segment`  per pixel of every view: foreground mask by comparing the frame
//            with the clean plate (means over a 5-pixel cross). Brightness ratio alpha =
//            <f,b>/<b,b> and chromatic distortion |f - alpha b| / |b|
//            (Horprasert et al.): a shadow or a lighting change scales the
//            plate's colour (alpha in [lo, hi], low distortion) and stays
//            background; anything else is foreground (1). A background
//            pixel darker than `shadow.x` of its plate is shadow-like (2):
//            not reconstructed, but it does not carve the hull (a dark leg
//            in front of a pale prop of like hue passes the shadow test).
// `hull`     per listed foreground pixel: marches its ray through the volume
//            of interest and keeps the first two runs of depths whose point
//            falls inside every other view's (dilated) silhouette; cameras
//            that do not see the point do not constrain it. Outside the hull
//            it strides by the silhouettes' distance transforms (`mask`
//            holds the distance in px to the silhouette, 0 inside); run
//            ends are refined by bisection. This is the visual hull along
//            the ray.
// `sweep`    per listed pixel: plane sweep inside both hull runs (from the
//            front of each run, at most `sweep.w` m deep; the best of both
//            wins), scored by 3x3
//            grey NCC
//            (fronto-parallel plane, taps `sweep.y` px apart, only the taps
//            inside the view's silhouette, so limbs do not match the
//            background behind them) against the
//            view's neighbours, mean of the two best (robust to one occluded
//            neighbour); coarse steps, then quarter steps around the best,
//            then a parabola. Textureless pixels get the
//            hull's front depth and score TEXTURELESS.
//            Second, occlusion-aware pass (`params.visibility.x` = 1): `hint`
//            holds each view's depth of the first pass's fused cloud. A
//            neighbour whose hint lies more than `visibility.y` in front of
//            the candidate point cannot see it and is left out (one visible
//            neighbour then suffices), and the search spans only
//            +-`visibility.z` around the pixel's own hint depth. Neighbours
//            that could not see the point had pulled the first pass's
//            depths behind the surface (self-occlusion on the bodies).
//            The window lies on the plane through the candidate with the
//            hint's normal (from the hint depths NORMAL_SPAN_PX around the
//            pixel), fronto-parallel where the hint has none.
// `refine`   per listed pixel, one PatchMatch-style iteration (Bleyer et
//            al. 2011; Galliani et al. 2015) over slanted planes (depth at
//            the pixel, normal in the view's camera frame): the planes of
//            the pixel's neighbours in PROPAGATION are tried at this pixel
//            (a smooth surface spreads from where it matched into where it
//            did not), then REFINE_SAMPLES random perturbations of the best
//            (depth by up to `sweep.z` 2^-iteration, normal by up to
//            0.3 2^-iteration per axis); a candidate must lie in the hull
//            runs and is kept if its score (the best neighbour's alone,
//            `visibility.x` = 0) beats the pixel's (in the first iteration
//            the pixel's own plane is scored so too: the sweep's score is
//            a two-neighbour mean). The sweep's depths are robust, not
//            exact: a second neighbour that sees the surface worse (more
//            foreshortened, partly hidden) pulls the mean's peak off it,
//            the best neighbour alone places it. Jacobi style: reads
//            `planes`, writes `planes_out` and `result`.
//
// Twins: `ForegroundParamsGpu` (src/gpu/gpu_types.rs); CPU reference
// src/reconstruct/foreground/cpu_ref.rs (keep in step).

struct Params {
    // views, listed pixels, row stride of the 1D invocation index, max hull steps
    counts: vec4<u32>,
    // xyz: volume of interest min corner (m); w: hull step (m)
    roi_min: vec4<f32>,
    // xyz: volume of interest max corner (m); w: min depth (m)
    roi_max: vec4<f32>,
    // max chromatic distortion, min brightness ratio, max brightness ratio, plate norm floor
    segment: vec4<f32>,
    // min reference std (grey 0..1), window dilation (px), depth step (m), max depth below the hull front (m)
    sweep: vec4<f32>,
    // plate offset in `colors` (pixels), `refine` iteration, unused x2
    offsets: vec4<u32>,
    // occlusion-aware pass on (1), occlusion tolerance (m), search half-range around the hint (m), coarse steps only (1: a first pass seeding the occlusion-aware one, or an occlusion-aware pass `refine` follows)
    visibility: vec4<f32>,
    // x: brightness ratio below which a background pixel is shadow-like (2); y: weight of the colour difference in the matching score (mean absolute RGB, 0..1); unused x2
    tuning: vec4<f32>,
    // per view: up to 4 neighbour views (NO_VIEW = none)
    neighbours: array<vec4<u32>, 64>,
    // The views' cameras (uniform: every invocation reads the same one at once).
    cams: array<Camera, 64>,
}

@group(0) @binding(0) var<uniform> params: Params;
// Frames (RGBA8, views packed at params.cams[v].size.z) then plates at +offsets.x.
@group(0) @binding(2) var<storage, read> colors: array<u32>;
// `segment` writes 1 = foreground, 2 = shadow-like, 0 = background; `hull`
// reads the distance (px) to the dilated silhouette joined with the pixels
// that do not carve (shadow-like, or marked on the CPU as behind a venue
// prop) instead (0 = inside).
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;
// Bilinear quads: per pixel and channel plane, its 2x2 neighbourhood (x,y),
// (x+1,y), (x,y+1), (x+1,y+1) as four bytes (clamped at the border), so a
// bilinear sample is one load. Plane c starts at c * offsets.x; one grey
// plane (CHANNELS = 1).
@group(0) @binding(4) var<storage, read> quads: array<u32>;
// Listed pixels: view << 24 | y << 12 | x.
@group(0) @binding(5) var<storage, read> pixels: array<u32>;
// Per listed pixel: first run (near, far), second run (near, far); 0 = none.
// `hull` reads it first: (near, far, 0, 1), the z-depths (m) the coarse
// carving allows the ray (near > far: none), or all zero: no bound.
@group(0) @binding(6) var<storage, read_write> hull_runs: array<vec4<f32>>;
// Per listed pixel: depth (m, 0 = none), score.
@group(0) @binding(7) var<storage, read_write> result: array<vec2<f32>>;
// Occlusion-aware pass: per pixel of every view (packed like `mask`), the
// z-depth (m) of the first pass's cloud, 0 = none.
@group(0) @binding(8) var<storage, read> hint: array<f32>;
// `refine`: per listed pixel, its plane (depth m, normal in the camera
// frame; depth 0 = none) before this iteration, and after it.
@group(0) @binding(9) var<storage, read> planes: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> planes_out: array<vec4<f32>>;
// `refine`: per pixel of every view (packed like `mask`), its index in
// the list, NO_VIEW when not listed.
@group(0) @binding(11) var<storage, read> pixel_index: array<u32>;
// `refine`: per listed pixel, its plane before the previous iteration (all
// zero before the first). A neighbour whose plane equals it did not change
// in the previous iteration, where this pixel already tried that plane
// against a best no better than its current one: trying it again cannot
// win (scores only rise), so it is skipped.
@group(0) @binding(12) var<storage, read> planes_before: array<vec4<f32>>;

const NO_VIEW: u32 = 0xffffffffu;
const INVALID_SCORE: f32 = -1.0;
const TEXTURELESS: f32 = -0.5;
const WINDOW_RADIUS: i32 = 1;
const WINDOW_TAPS: i32 = 9;
// Channel planes matched (1: grey; the code takes up to 3 for colour NCC,
// which measured 30 % slower and no more accurate).
const CHANNELS: u32 = 1u;
// Fewest window taps inside the silhouette to attempt matching.
const MIN_WINDOW_TAPS: i32 = 5;
// Spacing factor of the second, wider window tried on plain pixels.
const WIDE_WINDOW: f32 = 3.0;
const BISECTIONS: u32 = 4u;
// How far behind the first run's front a second run is looked for, m.
// Where two figures cross, the silhouettes' cones meet in front of the
// nearer one's surface: the first run is then a phantom up to ~0.5 m in
// front of the surface the pixel sees (0.3 m: crossing F@2cm 0.862; 0.6 m
// with both runs swept: 0.879; 1.0 m: the same).
const SECOND_RUN_REACH_M: f32 = 0.6;
// Step inside a hull run, in hull steps.
const INSIDE_STRIDE: f32 = 2.0;
const MAX_SWEEP_SAMPLES: u32 = 96u;
// Fine samples each side of the coarse best, a quarter step apart.
const FINE_SAMPLES: i32 = 3;
// Offset (px) of the hint depths a pixel's normal is taken from.
const NORMAL_SPAN_PX: f32 = 2.0;
// Largest depth step (m per px of span) across which the hint counts as
// one surface for the normal.
const NORMAL_MAX_JUMP_M_PER_PX: f32 = 0.05;
// Smallest cosine between a plane's normal and the viewing ray (more
// grazing planes are not matched on).
const MIN_NORMAL_COS: f32 = 0.2;
const FRONTO: vec3<f32> = vec3<f32>(0.0, 0.0, -1.0);
// `refine`: neighbours whose planes are tried (the near four, then four
// at 3 px to spread faster), and random perturbations of the best.
const PROPAGATION: array<vec2<i32>, 8> = array<vec2<i32>, 8>(
    vec2<i32>(-1, 0), vec2<i32>(1, 0), vec2<i32>(0, -1), vec2<i32>(0, 1),
    vec2<i32>(-3, 0), vec2<i32>(3, 0), vec2<i32>(0, -3), vec2<i32>(0, 3),
);
const REFINE_SAMPLES: u32 = 2u;
const NORMAL_PERTURBATION: f32 = 0.6;

// This invocation's reference window: mean-centred grey on the taps inside
// the view's (dilated) silhouette, 0 elsewhere; `ref_inside` marks them.
var<private> ref_centered: array<f32, 27>;
var<private> ref_inside: array<bool, 9>;
var<private> ref_taps: f32;
// RGB (0..1) of this invocation's reference pixel.
var<private> ref_rgb: vec3<f32>;
// Tap spacing of this invocation's window, px.
var<private> window_dilation: f32;
// Normal (camera frame, towards the camera) of the plane the window lies on.
var<private> window_normal: vec3<f32>;

fn unpack_rgb(c: u32) -> vec3<f32> {
    return vec3<f32>(f32(c & 255u), f32((c >> 8u) & 255u), f32((c >> 16u) & 255u)) / 255.0;
}

// (A shared-memory tile of the 18x18 neighbourhood was tried: 5x slower on
// lavapipe, whose workgroup barriers are expensive; direct loads it is.)
const CROSS: array<vec2<i32>, 5> = array<vec2<i32>, 5>(
    vec2<i32>(0, -1), vec2<i32>(-1, 0), vec2<i32>(0, 0), vec2<i32>(1, 0), vec2<i32>(0, 1),
);
@compute @workgroup_size(16, 16, 1)
fn segment(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.z >= params.counts.x {
        return;
    }
    let cam = params.cams[gid.z];
    let w = i32(cam.size.x);
    let h = i32(cam.size.y);
    if i32(gid.x) >= w || i32(gid.y) >= h {
        return;
    }
    // Means over the pixel and its 4 neighbours (a cross: half the loads
    // of a 3x3 box, the same noise suppression for this test).
    var frame = vec3<f32>(0.0);
    var plate = vec3<f32>(0.0);
    for (var k = 0; k < 5; k = k + 1) {
        let offset = CROSS[k];
        let x = clamp(i32(gid.x) + offset.x, 0, w - 1);
        let y = clamp(i32(gid.y) + offset.y, 0, h - 1);
        let i = cam.size.z + u32(y * w + x);
        frame = frame + unpack_rgb(colors[i]);
        plate = plate + unpack_rgb(colors[params.offsets.x + i]);
    }
    frame = frame / 5.0;
    plate = plate / 5.0;
    let plate_sq = dot(plate, plate);
    let alpha = dot(frame, plate) / max(plate_sq, 1e-6);
    let distortion = length(frame - alpha * plate) / max(sqrt(plate_sq), params.segment.w);
    let foreground = distortion > params.segment.x || alpha < params.segment.y || alpha > params.segment.z;
    let shadow_like = alpha < params.tuning.x;
    mask[cam.size.z + gid.y * cam.size.x + gid.x] = select(select(0u, 2u, shadow_like), 1u, foreground);
}

fn list_index(gid: vec3<u32>) -> u32 {
    return gid.y * params.counts.z + gid.x;
}

// (view, y, x) of a listed pixel.
fn decode(packed: u32) -> vec3<u32> {
    return vec3<u32>(packed >> 24u, (packed >> 12u) & 0xfffu, packed & 0xfffu);
}

// 0 when every view except `skip` that sees `point` sees it inside its
// silhouette; else a safe step (m) along a ray of unit metric length: the
// largest, over the views that see the point outside, of half the distance
// (px) to their silhouette scaled to metres at the point's depth.
fn outside_step(point: vec3<f32>, skip: u32) -> f32 {
    var step = 0.0;
    for (var v = 0u; v < params.counts.x; v = v + 1u) {
        if v == skip {
            continue;
        }
        let cam = params.cams[v];
        let c = cam_from_world_point(cam, point);
        if c.z <= 1e-3 {
            continue;
        }
        let p = pixel_from_cam(cam, c);
        let x = i32(round(p.x));
        let y = i32(round(p.y));
        if x < 0 || y < 0 || x >= i32(cam.size.x) || y >= i32(cam.size.y) {
            continue;
        }
        let distance_px = mask[cam.size.z + u32(y) * cam.size.x + u32(x)];
        if distance_px > 0u {
            step = max(step, 0.5 * f32(distance_px) * c.z / cam.intrinsics.x);
        }
    }
    return step;
}

fn inside_silhouettes(point: vec3<f32>, skip: u32) -> bool {
    return outside_step(point, skip) == 0.0;
}

// z-depths where the ray (origin + t dir, dir.z_cam = 1) is inside the ROI box.
fn roi_segment(origin: vec3<f32>, dir: vec3<f32>) -> vec2<f32> {
    let tiny = vec3<f32>(1e-9);
    let safe_dir = select(dir, tiny, abs(dir) < tiny);
    let t1 = (params.roi_min.xyz - origin) / safe_dir;
    let t2 = (params.roi_max.xyz - origin) / safe_dir;
    let t_near = max(max(max(min(t1.x, t2.x), min(t1.y, t2.y)), min(t1.z, t2.z)), params.roi_max.w);
    let t_far = min(min(max(t1.x, t2.x), max(t1.y, t2.y)), max(t1.z, t2.z));
    return vec2<f32>(t_near, t_far);
}

@compute @workgroup_size(64, 1, 1)
fn hull(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = list_index(gid);
    if i >= params.counts.y {
        return;
    }
    let p = decode(pixels[i]);
    let cam = params.cams[p.x];
    let origin = centre_in_world(cam);
    let dir = world_from_cam_dir(cam, ray_in_cam(cam, vec2<f32>(f32(p.z), f32(p.y))));
    var span = roi_segment(origin, dir);
    // On entry: the carving's depth bounds of this ray (w = 1) or none.
    let bounds = hull_runs[i];
    if bounds.w > 0.5 {
        span = vec2<f32>(max(span.x, bounds.x), min(span.y, bounds.y));
    }
    var runs = vec4<f32>(0.0);
    if span.y <= span.x {
        hull_runs[i] = runs;
        return;
    }
    // March: inside the hull by `step`; outside by the silhouettes' safe
    // step (at least `step`), so empty space is crossed in a few strides.
    let step = params.roi_min.w;
    let metric = length(dir);
    var run_count = 0u;
    var in_run = false;
    var start = 0.0;
    var previous = span.x;
    var t = span.x;
    for (var k = 0u; k < params.counts.w; k = k + 1u) {
        let outside = outside_step(origin + t * dir, p.x);
        let occupied = outside == 0.0;
        if occupied && !in_run {
            var lo = previous;
            var hi = t;
            for (var b = 0u; b < BISECTIONS && k > 0u; b = b + 1u) {
                let mid = 0.5 * (lo + hi);
                if inside_silhouettes(origin + mid * dir, p.x) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            start = hi;
            in_run = true;
        } else if !occupied && in_run {
            var lo = previous;
            var hi = t;
            for (var b = 0u; b < BISECTIONS; b = b + 1u) {
                let mid = 0.5 * (lo + hi);
                if inside_silhouettes(origin + mid * dir, p.x) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            if run_count == 0u {
                runs = vec4<f32>(start, lo, 0.0, 0.0);
            } else {
                runs = vec4<f32>(runs.xy, start, lo);
            }
            run_count = run_count + 1u;
            in_run = false;
            if run_count == 2u {
                break;
            }
        }
        if t >= span.y || (run_count > 0u && t > runs.x + SECOND_RUN_REACH_M) {
            break;
        }
        previous = t;
        // Inside the hull: INSIDE_STRIDE steps (the exit is bisected).
        t = min(t + max(select(step, INSIDE_STRIDE * step, in_run), outside / metric), span.y);
    }
    if in_run {
        if run_count == 0u {
            runs = vec4<f32>(start, t, 0.0, 0.0);
        } else {
            runs = vec4<f32>(runs.xy, start, t);
        }
    }
    hull_runs[i] = runs;
}

fn quad_at(cam: Camera, x: i32, y: i32, plane: u32) -> u32 {
    let cx = clamp(x, 0, i32(cam.size.x) - 1);
    let cy = clamp(y, 0, i32(cam.size.y) - 1);
    return quads[plane * params.offsets.x + cam.size.z + u32(cy) * cam.size.x + u32(cx)];
}

fn texel(cam: Camera, x: i32, y: i32, plane: u32) -> f32 {
    return f32(quad_at(cam, x, y, plane) & 255u) / 255.0;
}

fn bilinear(cam: Camera, p: vec2<f32>, plane: u32) -> f32 {
    let base = floor(p);
    let f = p - base;
    let q = quad_at(cam, i32(base.x), i32(base.y), plane);
    let top = mix(f32(q & 255u), f32((q >> 8u) & 255u), f.x);
    let bottom = mix(f32((q >> 16u) & 255u), f32(q >> 24u), f.x);
    return mix(top, bottom, f.y) / 255.0;
}

fn rgb_at(cam: Camera, x: i32, y: i32) -> vec3<f32> {
    let cx = clamp(x, 0, i32(cam.size.x) - 1);
    let cy = clamp(y, 0, i32(cam.size.y) - 1);
    return unpack_rgb(colors[cam.size.z + u32(cy) * cam.size.x + u32(cx)]);
}

fn bilinear_rgb(cam: Camera, p: vec2<f32>) -> vec3<f32> {
    let base = floor(p);
    let f = p - base;
    let x = i32(base.x);
    let y = i32(base.y);
    let top = mix(rgb_at(cam, x, y), rgb_at(cam, x + 1, y), f.x);
    let bottom = mix(rgb_at(cam, x, y + 1), rgb_at(cam, x + 1, y + 1), f.x);
    return mix(top, bottom, f.y);
}

// Mean of the two best neighbour scores (the best alone with `best_only`)
// of the reference window placed on the plane at `depth` (normal
// `window_normal`); INVALID_SCORE when fewer than two neighbours see the
// whole window. A neighbour's score is its grey
// NCC less `tuning.y` times the mean absolute RGB difference between the
// reference pixel and the neighbour's colour where the candidate projects:
// NCC alone cannot tell a smooth gradient from the same gradient shifted,
// nor one colour from another of the same shading; the colour can (the
// ring's cameras are colour-matched).
fn score_at(view: u32, ref_cam: Camera, pixel: vec2<f32>, depth: f32, ref_norm: f32, best_only: bool) -> f32 {
    let origin = centre_in_world(ref_cam);
    let ray0 = ray_in_cam(ref_cam, pixel);
    let point = origin + depth * world_from_cam_dir(ref_cam, ray0);
    // The window's taps one spacing right and down, on the plane through
    // the candidate with `window_normal`.
    let dilation = window_dilation;
    let point_in_cam = ray0 * depth;
    let n = window_normal;
    let ray_x = ray0 + vec3<f32>(dilation / ref_cam.intrinsics.x, 0.0, 0.0);
    let ray_y = ray0 + vec3<f32>(0.0, dilation / ref_cam.intrinsics.y, 0.0);
    let step_x = world_from_cam_dir(ref_cam, ray_x * (dot(n, point_in_cam) / dot(n, ray_x)) - point_in_cam);
    let step_y = world_from_cam_dir(ref_cam, ray_y * (dot(n, point_in_cam) / dot(n, ray_y)) - point_in_cam);
    var best0 = INVALID_SCORE;
    var best1 = INVALID_SCORE;
    var valid = 0u;
    let nbs = params.neighbours[view];
    for (var k = 0u; k < 4u; k = k + 1u) {
        if nbs[k] == NO_VIEW {
            continue;
        }
        let nb = params.cams[nbs[k]];
        let c = cam_from_world_point(nb, point);
        let cx = cam_from_world_point(nb, point + step_x);
        let cy = cam_from_world_point(nb, point + step_y);
        if c.z <= 1e-3 || cx.z <= 1e-3 || cy.z <= 1e-3 {
            continue;
        }
        let p0 = pixel_from_cam(nb, c);
        if params.visibility.x > 0.5 && occluded(nb, p0, c.z) {
            continue;
        }
        let du = pixel_from_cam(nb, cx) - p0;
        let dv = pixel_from_cam(nb, cy) - p0;
        let reach = f32(WINDOW_RADIUS) * (abs(du) + abs(dv));
        let limit = vec2<f32>(f32(nb.size.x - 1u), f32(nb.size.y - 1u));
        if any(p0 - reach < vec2<f32>(0.0)) || any(p0 + reach > limit) {
            continue;
        }
        var sum = vec3<f32>(0.0);
        var sum_sq = 0.0;
        var cov = 0.0;
        for (var j = -WINDOW_RADIUS; j <= WINDOW_RADIUS; j = j + 1) {
            for (var i = -WINDOW_RADIUS; i <= WINDOW_RADIUS; i = i + 1) {
                let tap = (j + WINDOW_RADIUS) * (2 * WINDOW_RADIUS + 1) + i + WINDOW_RADIUS;
                if !ref_inside[tap] {
                    continue;
                }
                let at = p0 + f32(i) * du + f32(j) * dv;
                for (var c = 0u; c < CHANNELS; c = c + 1u) {
                    let v = bilinear(nb, at, c);
                    sum[c] = sum[c] + v;
                    sum_sq = sum_sq + v * v;
                    cov = cov + v * ref_centered[i32(c) * WINDOW_TAPS + tap];
                }
            }
        }
        let var_nb = max(sum_sq - dot(sum, sum) / ref_taps, 0.0);
        let ncc = select(0.0, cov / (ref_norm * sqrt(var_nb)), var_nb > 1e-10)
            - params.tuning.y * dot(abs(bilinear_rgb(nb, p0) - ref_rgb), vec3<f32>(1.0 / 3.0));
        valid = valid + 1u;
        if ncc > best0 {
            best1 = best0;
            best0 = ncc;
        } else if ncc > best1 {
            best1 = ncc;
        }
    }
    if valid < 2u {
        // One neighbour is enough once the occluded ones are known.
        return select(INVALID_SCORE, best0, valid == 1u && params.visibility.x > 0.5);
    }
    return select(0.5 * (best0 + best1), best0, best_only);
}

// The hint depth (m) of view `cam` at pixel `p` (0 = none or outside).
fn hint_at(cam: Camera, p: vec2<f32>) -> f32 {
    let x = i32(round(p.x));
    let y = i32(round(p.y));
    if x < 0 || y < 0 || x >= i32(cam.size.x) || y >= i32(cam.size.y) {
        return 0.0;
    }
    return hint[cam.size.z + u32(y) * cam.size.x + u32(x)];
}

// The point (camera frame) of view `cam`'s hint at pixel `p`; z = 0: none.
fn hint_point(cam: Camera, p: vec2<f32>) -> vec3<f32> {
    return ray_in_cam(cam, p) * hint_at(cam, p);
}

// The normal (camera frame, towards the camera) of the hint's surface at
// pixel `p`, from the hints NORMAL_SPAN_PX away; FRONTO where a hint is
// missing, the surface jumps, or the plane is too grazing.
fn hint_normal(cam: Camera, p: vec2<f32>) -> vec3<f32> {
    let s = NORMAL_SPAN_PX;
    let c = hint_point(cam, p);
    let xp = hint_point(cam, p + vec2<f32>(s, 0.0));
    let xm = hint_point(cam, p - vec2<f32>(s, 0.0));
    let yp = hint_point(cam, p + vec2<f32>(0.0, s));
    let ym = hint_point(cam, p - vec2<f32>(0.0, s));
    let jump = NORMAL_MAX_JUMP_M_PER_PX * s;
    if c.z <= 0.0 || xp.z <= 0.0 || xm.z <= 0.0 || yp.z <= 0.0 || ym.z <= 0.0 {
        return FRONTO;
    }
    if abs(xp.z - c.z) > jump || abs(xm.z - c.z) > jump || abs(yp.z - c.z) > jump || abs(ym.z - c.z) > jump {
        return FRONTO;
    }
    let cross_n = cross(xp - xm, yp - ym);
    let len = length(cross_n);
    if len < 1e-12 {
        return FRONTO;
    }
    var n = cross_n / len;
    if dot(n, c) > 0.0 {
        n = -n;
    }
    if -dot(n, c) < MIN_NORMAL_COS * length(c) {
        return FRONTO;
    }
    return n;
}

// Whether the first pass's cloud lies more than the tolerance in front of
// a point at z-depth `depth` seen at pixel `p` of `cam`.
fn occluded(cam: Camera, p: vec2<f32>, depth: f32) -> bool {
    let h = hint_at(cam, p);
    return h > 0.0 && h < depth - params.visibility.y;
}

// Fills the private reference window of pixel (view, y, x) = p at tap
// spacing `dilation` px; returns its norm, 0 when too plain (std below
// sweep.x), -1 when fewer than MIN_WINDOW_TAPS taps are inside the silhouette.
fn reference_window(ref_cam: Camera, p: vec3<u32>, dilation: i32) -> f32 {
    var sum = vec3<f32>(0.0);
    ref_taps = 0.0;
    for (var j = -WINDOW_RADIUS; j <= WINDOW_RADIUS; j = j + 1) {
        for (var k = -WINDOW_RADIUS; k <= WINDOW_RADIUS; k = k + 1) {
            let x = clamp(i32(p.z) + k * dilation, 0, i32(ref_cam.size.x) - 1);
            let y = clamp(i32(p.y) + j * dilation, 0, i32(ref_cam.size.y) - 1);
            let tap = (j + WINDOW_RADIUS) * (2 * WINDOW_RADIUS + 1) + k + WINDOW_RADIUS;
            let inside = mask[ref_cam.size.z + u32(y) * ref_cam.size.x + u32(x)] == 0u;
            ref_inside[tap] = inside;
            ref_taps = ref_taps + select(0.0, 1.0, inside);
            for (var c = 0u; c < CHANNELS; c = c + 1u) {
                let v = select(0.0, texel(ref_cam, x, y, c), inside);
                ref_centered[i32(c) * WINDOW_TAPS + tap] = v;
                sum[c] = sum[c] + v;
            }
        }
    }
    if ref_taps < f32(MIN_WINDOW_TAPS) {
        return -1.0;
    }
    let mean = sum / ref_taps;
    var sq = 0.0;
    for (var c = 0u; c < CHANNELS; c = c + 1u) {
        for (var m = 0; m < WINDOW_TAPS; m = m + 1) {
            let index = i32(c) * WINDOW_TAPS + m;
            ref_centered[index] = select(0.0, ref_centered[index] - mean[c], ref_inside[m]);
            sq = sq + ref_centered[index] * ref_centered[index];
        }
    }
    if sqrt(sq / (ref_taps * f32(CHANNELS))) < params.sweep.x {
        return 0.0;
    }
    return sqrt(sq);
}

// The reference window `sweep` and `refine` match with, at `sweep.y`
// spacing or, where too plain there, WIDE_WINDOW times wider (shading
// across a plain kit becomes measurable); sets `window_dilation` and
// `ref_rgb`. Returns
// its norm as `reference_window` does (0 plain, -1 too few taps inside).
fn matching_window(ref_cam: Camera, p: vec3<u32>) -> f32 {
    ref_rgb = rgb_at(ref_cam, i32(p.z), i32(p.y));
    window_dilation = params.sweep.y;
    let norm = reference_window(ref_cam, p, i32(window_dilation));
    if norm != 0.0 {
        return norm;
    }
    window_dilation = params.sweep.y * WIDE_WINDOW;
    return reference_window(ref_cam, p, i32(window_dilation));
}

@compute @workgroup_size(64, 1, 1)
fn sweep(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = list_index(gid);
    if i >= params.counts.y {
        return;
    }
    result[i] = vec2<f32>(0.0, INVALID_SCORE);
    var runs = hull_runs[i];
    if runs.y <= runs.x {
        return;
    }
    let p = decode(pixels[i]);
    let view = p.x;
    let ref_cam = params.cams[view];
    if params.visibility.x > 0.5 {
        // Search only around the pixel's own depth in the first pass's cloud.
        let own = hint_at(ref_cam, vec2<f32>(f32(p.z), f32(p.y)));
        if own > 0.0 {
            runs = vec4<f32>(own - params.visibility.z + params.sweep.z, own + params.visibility.z, 0.0, 0.0);
        }
    }
    let ref_norm = matching_window(ref_cam, p);
    if ref_norm < 0.0 {
        return;
    }
    if ref_norm == 0.0 {
        result[i] = vec2<f32>(hull_runs[i].x, TEXTURELESS);
        return;
    }
    let pixel = vec2<f32>(f32(p.z), f32(p.y));
    window_normal = FRONTO;
    if params.visibility.x > 0.5 {
        window_normal = hint_normal(ref_cam, pixel);
    }
    // Coarse pass at `sweep.z` over the runs, then a fine pass at a quarter
    // of it around the best, then a parabola.
    let step = params.sweep.z;
    var best_depth = 0.0;
    var best_score = INVALID_SCORE;
    for (var r = 0u; r < 2u; r = r + 1u) {
        let near = select(runs.x, runs.z, r == 1u);
        let far = select(runs.y, runs.w, r == 1u);
        if far <= near {
            continue;
        }
        let first = max(near - step, params.roi_max.w);
        let last = min(far, near + params.sweep.w);
        let count = clamp(u32(ceil((last - first) / step)) + 1u, 2u, MAX_SWEEP_SAMPLES);
        for (var k = 0u; k < count; k = k + 1u) {
            let depth = first + f32(k) * step;
            let s = score_at(view, ref_cam, pixel, depth, ref_norm, false);
            if s > best_score {
                best_score = s;
                best_depth = depth;
            }
        }
    }
    if best_score <= INVALID_SCORE {
        return;
    }
    if params.visibility.w > 0.5 {
        // Coarse depths: a first pass that only seeds the occlusion-aware one, or a pass `refine` follows.
        result[i] = vec2<f32>(best_depth, best_score);
        return;
    }
    let fine = 0.25 * step;
    let centre = best_depth;
    var scores = vec3<f32>(INVALID_SCORE, best_score, INVALID_SCORE);
    for (var k = -FINE_SAMPLES; k <= FINE_SAMPLES; k = k + 1) {
        if k == 0 {
            continue;
        }
        let depth = centre + f32(k) * fine;
        let s = score_at(view, ref_cam, pixel, depth, ref_norm, false);
        if s > best_score {
            best_score = s;
            best_depth = depth;
        }
    }
    scores.x = score_at(view, ref_cam, pixel, best_depth - fine, ref_norm, false);
    scores.z = score_at(view, ref_cam, pixel, best_depth + fine, ref_norm, false);
    var depth = best_depth;
    let denominator = scores.x - 2.0 * best_score + scores.z;
    if scores.x > INVALID_SCORE && scores.z > INVALID_SCORE && denominator < -1e-6 {
        depth = depth + clamp(0.5 * (scores.x - scores.z) / denominator, -0.5, 0.5) * fine;
    }
    result[i] = vec2<f32>(depth, best_score);
}

// A uniform number in [0, 1) from two integers (an integer hash).
fn hash01(a: u32, b: u32) -> f32 {
    var h = (a * 0x9E3779B9u) ^ (b * 0x85EBCA6Bu);
    h = h ^ (h >> 16u);
    h = h * 0x7FEB352Du;
    h = h ^ (h >> 15u);
    h = h * 0x846CA68Bu;
    h = h ^ (h >> 16u);
    return f32(h >> 8u) / 16777216.0;
}

// Per-invocation best plane and score of `refine`.
var<private> refine_best: vec4<f32>;
var<private> refine_best_score: f32;

fn try_plane(view: u32, ref_cam: Camera, pixel: vec2<f32>, depth: f32, n: vec3<f32>, ref_norm: f32, span: vec2<f32>) {
    if !(depth > span.x && depth < span.y) {
        return;
    }
    window_normal = n;
    let s = score_at(view, ref_cam, pixel, depth, ref_norm, true);
    if s > refine_best_score {
        refine_best_score = s;
        refine_best = vec4<f32>(depth, n);
    }
}

@compute @workgroup_size(64, 1, 1)
fn refine(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = list_index(gid);
    if i >= params.counts.y {
        return;
    }
    let own = planes[i];
    planes_out[i] = own;
    let p = decode(pixels[i]);
    let view = p.x;
    let ref_cam = params.cams[view];
    let ref_norm = matching_window(ref_cam, p);
    if ref_norm <= 0.0 {
        return;
    }
    let runs = hull_runs[i];
    let span = vec2<f32>(runs.x - 2.0 * params.sweep.z, max(runs.y, runs.w));
    let pixel = vec2<f32>(f32(p.z), f32(p.y));
    let ray0 = ray_in_cam(ref_cam, pixel);
    refine_best = own;
    refine_best_score = result[i].y;
    if params.offsets.y == 0u && own.x > 0.0 {
        // The sweep's score is a two-neighbour mean: scored again as
        // candidates are.
        window_normal = own.yzw;
        refine_best_score = score_at(view, ref_cam, pixel, own.x, ref_norm, true);
    }
    let w = i32(ref_cam.size.x);
    let h = i32(ref_cam.size.y);
    for (var k = 0; k < 8; k = k + 1) {
        let q = vec2<i32>(i32(p.z), i32(p.y)) + PROPAGATION[k];
        if q.x < 0 || q.y < 0 || q.x >= w || q.y >= h {
            continue;
        }
        let j = pixel_index[ref_cam.size.z + u32(q.y) * ref_cam.size.x + u32(q.x)];
        if j == NO_VIEW {
            continue;
        }
        let plane = planes[j];
        if plane.x <= 0.0 || all(plane == planes_before[j]) {
            continue;
        }
        let n = plane.yzw;
        let denominator = dot(n, ray0);
        if abs(denominator) < 1e-4 {
            continue;
        }
        let neighbour_point = ray_in_cam(ref_cam, vec2<f32>(f32(q.x), f32(q.y))) * plane.x;
        try_plane(view, ref_cam, pixel, dot(n, neighbour_point) / denominator, n, ref_norm, span);
    }
    if refine_best.x > 0.0 {
        let iteration = params.offsets.y;
        let seed = pixels[i] ^ (iteration << 28u);
        let scale = exp2(-f32(iteration));
        let n0 = refine_best.yzw;
        let d0 = refine_best.x;
        let depth_reach = params.sweep.z * scale;
        for (var k = 0u; k < REFINE_SAMPLES; k = k + 1u) {
            let dd = (hash01(seed, 4u * k) - 0.5) * 2.0 * depth_reach;
            let t = vec3<f32>(hash01(seed, 4u * k + 1u) - 0.5, hash01(seed, 4u * k + 2u) - 0.5, hash01(seed, 4u * k + 3u) - 0.5) * (NORMAL_PERTURBATION * scale);
            var n = n0 + t;
            let len = length(n);
            n = select(n0, n / len, len > 1e-6);
            if dot(n, ray0) > -MIN_NORMAL_COS * length(ray0) {
                n = n0;
            }
            try_plane(view, ref_cam, pixel, d0 + dd, n, ref_norm, span);
            try_plane(view, ref_cam, pixel, d0 + dd, n0, ref_norm, span);
        }
    }
    planes_out[i] = refine_best;
    result[i] = vec2<f32>(refine_best.x, refine_best_score);
}
