// Plane-sweep multi-view stereo for one reference camera.
//
// For every reference pixel, depths are swept along its ray inside the
// volume of interest (the ray's slab intersection with the ROI box). At each
// depth, a 3x3 window (dilated by `tuning.z` px) is mapped into each
// neighbour through the fronto-parallel plane at that depth and compared by
// normalised cross-correlation (NCC) on grey values. The depth score is the
// mean of the two best neighbour NCCs (robust to one occluded neighbour).
// A coarse sweep of `counts.z` samples is refined by `counts.w` samples over
// +-1 coarse step and a parabola through the best fine sample.
//
// Twins: `SweepParamsGpu` (src/gpu/gpu_types.rs); CPU reference
// `sweep_cpu` in src/reconstruct/cpu_ref.rs (keep in step).
// Images are undistorted (pinhole) grey in [0,1], all cameras packed in
// `gray`, camera i's pixels starting at cameras[i].size.z.

struct Params {
    // ref index, neighbour count, coarse samples, fine samples
    counts: vec4<u32>,
    neighbours: vec4<u32>,
    roi_min: vec4<f32>,
    roi_max: vec4<f32>,
    // min ref std, min depth (m), window dilation (px), unused
    tuning: vec4<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> cameras: array<Camera>;
@group(0) @binding(2) var<storage, read> gray: array<f32>;
@group(0) @binding(3) var<storage, read_write> depth_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> score_out: array<f32>;

const MAX_FINE: u32 = 16u;
const INVALID_SCORE: f32 = -1.0;

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

fn rotate_to_cam(cam: Camera, v: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(dot(cam.rows[0].xyz, v), dot(cam.rows[1].xyz, v), dot(cam.rows[2].xyz, v));
}

// Mean of the two best neighbour NCCs at `depth`; INVALID_SCORE when fewer
// than two neighbours see the whole window.
fn score_at(ref_cam: Camera, pixel: vec2<f32>, depth: f32, ref_centered: array<f32, 9>, ref_norm: f32) -> f32 {
    let dilation = params.tuning.z;
    let origin = centre_in_world(ref_cam);
    let point_in_world = origin + depth * world_from_cam_dir(ref_cam, ray_in_cam(ref_cam, pixel));
    let step_x_world = world_from_cam_dir(ref_cam, vec3<f32>(dilation / ref_cam.intrinsics.x, 0.0, 0.0)) * depth;
    let step_y_world = world_from_cam_dir(ref_cam, vec3<f32>(0.0, dilation / ref_cam.intrinsics.y, 0.0)) * depth;
    var best0 = INVALID_SCORE;
    var best1 = INVALID_SCORE;
    var valid = 0u;
    for (var k = 0u; k < params.counts.y; k = k + 1u) {
        let nb = cameras[params.neighbours[k]];
        let centre_in_nb = cam_from_world_point(nb, point_in_world);
        let step_x = rotate_to_cam(nb, step_x_world);
        let step_y = rotate_to_cam(nb, step_y_world);
        var values: array<f32, 9>;
        var ok = true;
        var sum = 0.0;
        for (var j = 0; j < 3; j = j + 1) {
            for (var i = 0; i < 3; i = i + 1) {
                let p_cam = centre_in_nb + f32(i - 1) * step_x + f32(j - 1) * step_y;
                if p_cam.z <= 1e-3 {
                    ok = false;
                }
                let p = pixel_from_cam(nb, p_cam);
                if p.x < 0.0 || p.y < 0.0 || p.x > f32(nb.size.x - 1u) || p.y > f32(nb.size.y - 1u) {
                    ok = false;
                }
                let v = select(0.0, bilinear(nb, p), ok);
                values[j * 3 + i] = v;
                sum = sum + v;
            }
        }
        if !ok {
            continue;
        }
        let mean = sum / 9.0;
        var cov = 0.0;
        var var_nb = 0.0;
        for (var m = 0; m < 9; m = m + 1) {
            let d = values[m] - mean;
            cov = cov + d * ref_centered[m];
            var_nb = var_nb + d * d;
        }
        let ncc = select(0.0, cov / (ref_norm * sqrt(var_nb)), var_nb > 1e-10);
        valid = valid + 1u;
        if ncc > best0 {
            best1 = best0;
            best0 = ncc;
        } else if ncc > best1 {
            best1 = ncc;
        }
    }
    if valid < 2u {
        return INVALID_SCORE;
    }
    return 0.5 * (best0 + best1);
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

    // Reference window, mean-centred.
    let dilation = i32(params.tuning.z);
    var ref_centered: array<f32, 9>;
    var sum = 0.0;
    for (var j = 0; j < 3; j = j + 1) {
        for (var i = 0; i < 3; i = i + 1) {
            let v = gray_clamped(ref_cam, i32(gid.x) + (i - 1) * dilation, i32(gid.y) + (j - 1) * dilation);
            ref_centered[j * 3 + i] = v;
            sum = sum + v;
        }
    }
    let mean = sum / 9.0;
    var sq = 0.0;
    for (var m = 0; m < 9; m = m + 1) {
        ref_centered[m] = ref_centered[m] - mean;
        sq = sq + ref_centered[m] * ref_centered[m];
    }
    if sqrt(sq / 9.0) < params.tuning.x {
        return;
    }
    let ref_norm = sqrt(sq);

    // Depth range: the pixel ray inside the ROI box (t is camera z-depth).
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

    // Coarse sweep.
    let coarse = max(params.counts.z, 2u);
    let step = (t_far - t_near) / f32(coarse);
    var best_score = INVALID_SCORE;
    var best_depth = 0.0;
    for (var s = 0u; s < coarse; s = s + 1u) {
        let depth = t_near + (f32(s) + 0.5) * step;
        let score = score_at(ref_cam, pixel, depth, ref_centered, ref_norm);
        if score > best_score {
            best_score = score;
            best_depth = depth;
        }
    }
    if best_score <= INVALID_SCORE {
        return;
    }

    // Fine sweep over +-1 coarse step, then a parabola through the best.
    let fine = clamp(params.counts.w, 3u, MAX_FINE);
    let fine_step = 2.0 * step / f32(fine - 1u);
    var fine_scores: array<f32, 16>;
    var best_k = 0u;
    for (var k = 0u; k < fine; k = k + 1u) {
        let depth = best_depth - step + f32(k) * fine_step;
        fine_scores[k] = score_at(ref_cam, pixel, depth, ref_centered, ref_norm);
        if fine_scores[k] > fine_scores[best_k] {
            best_k = k;
        }
    }
    var depth = best_depth - step + f32(best_k) * fine_step;
    let score = fine_scores[best_k];
    if best_k > 0u && best_k + 1u < fine {
        let l = fine_scores[best_k - 1u];
        let r = fine_scores[best_k + 1u];
        let denominator = l - 2.0 * score + r;
        if l > INVALID_SCORE && r > INVALID_SCORE && denominator < -1e-6 {
            depth = depth + clamp(0.5 * (l - r) / denominator, -0.5, 0.5) * fine_step;
        }
    }
    depth_out[out_index] = depth;
    score_out[out_index] = score;
}
