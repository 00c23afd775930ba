// Plane-sweep multi-view stereo for one reference camera at one pyramid level.
//
// For a reference pixel, candidate depths along its ray are scored by
// normalised cross-correlation (NCC) of a 5x5 grey window (spaced
// `tuning.z` px) against each neighbour view, its taps weighted by adaptive
// support when `support.x` > 0 (grey likeness to the centre pixel, and
// distance). The window is mapped into a
// neighbour through a plane at the candidate depth, linearised: the centre
// and two offset points are projected, the other taps follow affinely.
// Several plane orientations are tried and the best kept: fronto-parallel
// (players, props), horizontal (the ground, seen at grazing angles) and
// `prior_size.z` vertical ones (walls, prop sides seen obliquely). The depth
// score is the mean of the two best neighbour NCCs (robust to one occluded
// neighbour).
//
// mode 0 (coarsest level): `counts.z` depths spread over the ray's segment
//   inside the ROI box; with `support.z` = 1 every depth's score is also
//   written out (`volume_out`) for semi-global aggregation on the host.
// mode 1 (middle levels): the coarser level's depths at the parent pixel
//   and its 4 neighbours are tried; around the best, `counts.z` depths
//   within +-`tuning.w` metres; a parabola through the best refines it.
// mode 2 (finest level): as mode 1 with the parent pixel's depth only.
//
// Twins: `SweepParamsGpu` (src/gpu/gpu_types.rs); CPU reference
// src/reconstruct/cpu_ref.rs (keep in step). Images are undistorted grey in
// [0,1], all cameras and levels packed in `gray` (camera i from
// cameras[i].size.z).

struct Params {
    // ref index, neighbour count, samples, mode
    counts: vec4<u32>,
    neighbours: vec4<u32>,
    roi_min: vec4<f32>,
    roi_max: vec4<f32>,
    // min ref std, min depth (m), window dilation (px), refine radius (m)
    tuning: vec4<f32>,
    // prior width, height, vertical plane orientations, 1 = score by the
    // best neighbour alone (else the mean of the two best)
    prior_size: vec4<u32>,
    // adaptive support: grey sigma (0 = plain window), spatial sigma
    // (taps); z 1 = mode 0 also writes the cost volume; w: weight of the
    // centre grey difference in a neighbour's score
    support: vec4<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> cameras: array<Camera>;
@group(0) @binding(2) var<storage, read> gray: array<f32>;
@group(0) @binding(3) var<storage, read> prior_depth: array<f32>;
@group(0) @binding(4) var<storage, read_write> depth_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> score_out: array<f32>;
// Mode 0 with `support.z` = 1: per pixel, the first depth (m), the step (m)
// and each sample's score (`counts.z` + 2 words; a pixel never swept keeps
// the zeroed buffer's step 0). For semi-global aggregation on the host.
@group(0) @binding(6) var<storage, read_write> volume_out: array<f32>;

const MAX_SAMPLES: u32 = 64u;
// Matching window: (2R+1)^2 taps.
const WINDOW_RADIUS: i32 = 2;
const WINDOW_TAPS: i32 = 25;
const INVALID_SCORE: f32 = -1.0;

// This invocation's reference window: each tap's support weight, and the
// weight times the tap's grey less the window's weighted mean.
var<private> tap_weight: array<f32, 25>;
var<private> ref_weighted: array<f32, 25>;
var<private> weight_sum: f32;
// Grey of this invocation's reference pixel.
var<private> centre_grey: f32;

fn gray_clamped(cam: Camera, x: i32, y: i32) -> f32 {
    let cx = clamp(x, 0, i32(cam.size.x) - 1);
    let cy = clamp(y, 0, i32(cam.size.y) - 1);
    return gray[cam.size.z + u32(cy) * cam.size.x + u32(cx)];
}

fn bilinear(cam: Camera, p: vec2<f32>) -> f32 {
    let base = floor(p);
    let f = p - base;
    let x = i32(base.x);
    let y = i32(base.y);
    let top = mix(gray_clamped(cam, x, y), gray_clamped(cam, x + 1, y), f.x);
    let bottom = mix(gray_clamped(cam, x, y + 1), gray_clamped(cam, x + 1, y + 1), f.x);
    return mix(top, bottom, f.y);
}

// World displacement of the window's +x / +y tap (dilation px) on the plane
// through `point_in_world`: fronto-parallel to the reference (orientation 0),
// horizontal like the ground (orientation 1), or vertical like a wall or a
// prop's side (orientations 2.., see `vertical_normal`). Returns zero
// vectors when the tap rays graze the plane.
fn window_steps(ref_cam: Camera, pixel: vec2<f32>, depth: f32, point_in_world: vec3<f32>, orientation: u32) -> array<vec3<f32>, 2> {
    let dilation = params.tuning.z;
    let dx = world_from_cam_dir(ref_cam, vec3<f32>(dilation / ref_cam.intrinsics.x, 0.0, 0.0));
    let dy = world_from_cam_dir(ref_cam, vec3<f32>(0.0, dilation / ref_cam.intrinsics.y, 0.0));
    if orientation == 0u {
        return array<vec3<f32>, 2>(dx * depth, dy * depth);
    }
    let origin = centre_in_world(ref_cam);
    let ray = world_from_cam_dir(ref_cam, ray_in_cam(ref_cam, pixel));
    var normal = vec3<f32>(0.0, 0.0, 1.0);
    if orientation >= 2u {
        normal = vertical_normal(ray, orientation - 2u);
    }
    let reach = dot(normal, point_in_world - origin);
    let ray_x = ray + dx;
    let ray_y = ray + dy;
    let along_x = dot(normal, ray_x);
    let along_y = dot(normal, ray_y);
    if abs(along_x) < 1e-4 || abs(along_y) < 1e-4 {
        return array<vec3<f32>, 2>(vec3<f32>(0.0), vec3<f32>(0.0));
    }
    return array<vec3<f32>, 2>(origin + ray_x * (reach / along_x) - point_in_world, origin + ray_y * (reach / along_y) - point_in_world);
}

// Normal of vertical plane `k` of `params.prior_size.z`: turned from facing
// the pixel's ray (seen from above) by a yaw spread evenly over (-90, 90)
// degrees, so that walls and prop sides seen obliquely fit one of them.
fn vertical_normal(ray: vec3<f32>, k: u32) -> vec3<f32> {
    let facing = normalize(vec2<f32>(ray.x, ray.y) + vec2<f32>(1e-12, 0.0));
    let yaw = 3.14159265 * ((f32(k) + 0.5) / f32(params.prior_size.z) - 0.5);
    let c = cos(yaw);
    let s = sin(yaw);
    return vec3<f32>(c * facing.x - s * facing.y, s * facing.x + c * facing.y, 0.0);
}

// Mean of the two best neighbour scores at `depth` for one plane
// orientation; INVALID_SCORE when fewer than two neighbours see the window.
// A neighbour's score is its NCC less `support.w` times the difference
// between the reference pixel's grey and the neighbour's where the
// candidate projects (NCC alone cannot place a smooth gradient).
fn score_oriented(ref_cam: Camera, pixel: vec2<f32>, depth: f32, ref_norm: f32, orientation: u32) -> f32 {
    let point_in_world = centre_in_world(ref_cam) + depth * world_from_cam_dir(ref_cam, ray_in_cam(ref_cam, pixel));
    let steps = window_steps(ref_cam, pixel, depth, point_in_world, orientation);
    let step_x_world = steps[0];
    let step_y_world = steps[1];
    if dot(step_x_world, step_x_world) == 0.0 {
        return INVALID_SCORE;
    }
    var best0 = INVALID_SCORE;
    var best1 = INVALID_SCORE;
    var valid = 0u;
    for (var k = 0u; k < params.counts.y; k = k + 1u) {
        let nb = cameras[params.neighbours[k]];
        let c = cam_from_world_point(nb, point_in_world);
        let cx = cam_from_world_point(nb, point_in_world + step_x_world);
        let cy = cam_from_world_point(nb, point_in_world + step_y_world);
        if c.z <= 1e-3 || cx.z <= 1e-3 || cy.z <= 1e-3 {
            continue;
        }
        let p0 = pixel_from_cam(nb, c);
        let du = pixel_from_cam(nb, cx) - p0;
        let dv = pixel_from_cam(nb, cy) - p0;
        let reach = f32(WINDOW_RADIUS) * (abs(du) + abs(dv));
        let limit = vec2<f32>(f32(nb.size.x - 1u), f32(nb.size.y - 1u));
        if any(p0 - reach < vec2<f32>(0.0)) || any(p0 + reach > limit) {
            continue;
        }
        // The reference window has weighted mean zero, so cov = sum(v * ref)
        // and only running weighted sums are needed:
        // var = sum(w v^2) - sum(w v)^2 / sum(w).
        var sum = 0.0;
        var sum_sq = 0.0;
        var cov = 0.0;
        for (var j = -WINDOW_RADIUS; j <= WINDOW_RADIUS; j = j + 1) {
            for (var i = -WINDOW_RADIUS; i <= WINDOW_RADIUS; i = i + 1) {
                let v = bilinear(nb, p0 + f32(i) * du + f32(j) * dv);
                let m = (j + WINDOW_RADIUS) * (2 * WINDOW_RADIUS + 1) + i + WINDOW_RADIUS;
                let wv = tap_weight[m] * v;
                sum = sum + wv;
                sum_sq = sum_sq + wv * v;
                cov = cov + v * ref_weighted[m];
            }
        }
        let var_nb = max(sum_sq - sum * sum / weight_sum, 0.0);
        let ncc = select(0.0, cov / (ref_norm * sqrt(var_nb)), var_nb > 1e-10)
            - params.support.w * abs(bilinear(nb, p0) - centre_grey);
        valid = valid + 1u;
        if ncc > best0 {
            best1 = best0;
            best0 = ncc;
        } else if ncc > best1 {
            best1 = ncc;
        }
    }
    if params.prior_size.w == 1u && valid >= 1u {
        return best0;
    }
    if valid < 2u {
        return INVALID_SCORE;
    }
    return 0.5 * (best0 + best1);
}

// Best score over the plane orientations: fronto-parallel, horizontal and
// `params.prior_size.z` vertical ones.
fn score_at(ref_cam: Camera, pixel: vec2<f32>, depth: f32, ref_norm: f32) -> f32 {
    var best = max(
        score_oriented(ref_cam, pixel, depth, ref_norm, 0u),
        score_oriented(ref_cam, pixel, depth, ref_norm, 1u),
    );
    for (var k = 0u; k < params.prior_size.z; k = k + 1u) {
        best = max(best, score_oriented(ref_cam, pixel, depth, ref_norm, 2u + k));
    }
    return best;
}

fn prior_at(x: i32, y: i32) -> f32 {
    if x < 0 || y < 0 || x >= i32(params.prior_size.x) || y >= i32(params.prior_size.y) {
        return 0.0;
    }
    return prior_depth[u32(y) * params.prior_size.x + u32(x)];
}

@compute @workgroup_size(16, 16, 1)
fn sweep(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ref_cam = cameras[params.counts.x];
    if gid.x >= ref_cam.size.x || gid.y >= ref_cam.size.y {
        return;
    }
    let out_index = gid.y * ref_cam.size.x + gid.x;
    depth_out[out_index] = 0.0;
    score_out[out_index] = INVALID_SCORE;

    // Reference window (module-private, read by score_oriented). The texture
    // test uses the plain window's std-dev.
    let dilation = i32(params.tuning.z);
    var sum = 0.0;
    var sum_sq = 0.0;
    for (var j = -WINDOW_RADIUS; j <= WINDOW_RADIUS; j = j + 1) {
        for (var i = -WINDOW_RADIUS; i <= WINDOW_RADIUS; i = i + 1) {
            let v = gray_clamped(ref_cam, i32(gid.x) + i * dilation, i32(gid.y) + j * dilation);
            ref_weighted[(j + WINDOW_RADIUS) * (2 * WINDOW_RADIUS + 1) + i + WINDOW_RADIUS] = v;
            sum = sum + v;
            sum_sq = sum_sq + v * v;
        }
    }
    let plain_variance = max(sum_sq - sum * sum / f32(WINDOW_TAPS), 0.0) / f32(WINDOW_TAPS);
    if sqrt(plain_variance) < params.tuning.x {
        return;
    }
    // Adaptive support: a tap counts less the more its grey differs from
    // the centre's and the farther it lies, so that a window straddling a
    // depth edge is matched mostly by the centre's own side.
    centre_grey = ref_weighted[WINDOW_TAPS / 2];
    weight_sum = 0.0;
    var weighted_sum = 0.0;
    for (var m = 0; m < WINDOW_TAPS; m = m + 1) {
        var w = 1.0;
        if params.support.x > 0.0 {
            let dg = (ref_weighted[m] - centre_grey) / params.support.x;
            let di = f32(m % (2 * WINDOW_RADIUS + 1) - WINDOW_RADIUS);
            let dj = f32(m / (2 * WINDOW_RADIUS + 1) - WINDOW_RADIUS);
            let ds2 = (di * di + dj * dj) / (params.support.y * params.support.y);
            w = exp(-0.5 * (dg * dg + ds2));
        }
        tap_weight[m] = w;
        weight_sum = weight_sum + w;
        weighted_sum = weighted_sum + w * ref_weighted[m];
    }
    let mean = weighted_sum / weight_sum;
    var sq = 0.0;
    for (var m = 0; m < WINDOW_TAPS; m = m + 1) {
        let centred = ref_weighted[m] - mean;
        sq = sq + tap_weight[m] * centred * centred;
        ref_weighted[m] = tap_weight[m] * centred;
    }
    if sq <= 1e-12 {
        return;
    }
    let ref_norm = sqrt(sq);

    // The pixel ray's segment inside the ROI box (t is camera z-depth).
    let pixel = vec2<f32>(f32(gid.x), f32(gid.y));
    let origin = centre_in_world(ref_cam);
    let dir = world_from_cam_dir(ref_cam, ray_in_cam(ref_cam, pixel));
    let tiny = vec3<f32>(1e-9);
    let safe_dir = select(dir, tiny, abs(dir) < tiny);
    let t1 = (params.roi_min.xyz - origin) / safe_dir;
    let t2 = (params.roi_max.xyz - origin) / safe_dir;
    let t_near = max(max(max(min(t1.x, t2.x), min(t1.y, t2.y)), min(t1.z, t2.z)), params.tuning.y);
    let t_far = min(min(max(t1.x, t2.x), max(t1.y, t2.y)), max(t1.z, t2.z));
    if t_far <= t_near {
        return;
    }

    let samples = clamp(params.counts.z, 3u, MAX_SAMPLES);
    var first = 0.0;
    var step = 0.0;
    if params.counts.w == 0u {
        step = (t_far - t_near) / f32(samples);
        first = t_near + 0.5 * step;
    } else {
        // Best of the parent pixel's and its 4 neighbours' depths.
        let px = i32(gid.x) * i32(params.prior_size.x) / i32(ref_cam.size.x);
        let py = i32(gid.y) * i32(params.prior_size.y) / i32(ref_cam.size.y);
        var offsets = array<vec2<i32>, 5>(vec2<i32>(0, 0), vec2<i32>(1, 0), vec2<i32>(-1, 0), vec2<i32>(0, 1), vec2<i32>(0, -1));
        var best_prior = 0.0;
        var best_prior_score = INVALID_SCORE;
        // mode 2 (finest level): the parent pixel's depth only.
        let candidates = select(5, 1, params.counts.w == 2u);
        for (var c = 0; c < candidates; c = c + 1) {
            let candidate = prior_at(px + offsets[c].x, py + offsets[c].y);
            if candidate <= 0.0 {
                continue;
            }
            let s = select(score_at(ref_cam, pixel, candidate, ref_norm), 1.0, candidates == 1);
            if s > best_prior_score {
                best_prior_score = s;
                best_prior = candidate;
            }
        }
        if best_prior <= 0.0 {
            return;
        }
        step = 2.0 * params.tuning.w / f32(samples - 1u);
        first = best_prior - params.tuning.w;
    }

    var scores: array<f32, 64>;
    var best_k = 0u;
    for (var k = 0u; k < samples; k = k + 1u) {
        scores[k] = score_at(ref_cam, pixel, first + f32(k) * step, ref_norm);
        if scores[k] > scores[best_k] {
            best_k = k;
        }
    }
    if params.counts.w == 0u && params.support.z > 0.5 {
        let base = out_index * (samples + 2u);
        volume_out[base] = first;
        volume_out[base + 1u] = step;
        for (var k = 0u; k < samples; k = k + 1u) {
            volume_out[base + 2u + k] = scores[k];
        }
    }
    let score = scores[best_k];
    if score <= INVALID_SCORE {
        return;
    }
    var depth = first + f32(best_k) * step;
    if best_k > 0u && best_k + 1u < samples {
        let l = scores[best_k - 1u];
        let r = scores[best_k + 1u];
        let denominator = l - 2.0 * score + r;
        if l > INVALID_SCORE && r > INVALID_SCORE && denominator < -1e-6 {
            depth = depth + clamp(0.5 * (l - r) / denominator, -0.5, 0.5) * step;
        }
    }
    if depth < t_near || depth > t_far {
        return;
    }
    depth_out[out_index] = depth;
    score_out[out_index] = score;
}
