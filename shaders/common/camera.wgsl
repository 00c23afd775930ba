// Shared camera model. Twin of `CameraGpu` in src/gpu/gpu_types.rs.
// Conventions: OpenCV camera frame (x right, y down, z forward); pixel (0,0)
// is the centre of the top-left pixel; X_cam = R * X_world + t.

struct Camera {
    // Rows of [R | t] (cam_from_world).
    rows: array<vec4<f32>, 3>,
    // fx, fy, cx, cy in pixels.
    intrinsics: vec4<f32>,
    // width, height, first pixel offset in a packed buffer, unused.
    size: vec4<u32>,
}

fn cam_from_world_point(cam: Camera, point_in_world: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(
        dot(cam.rows[0].xyz, point_in_world) + cam.rows[0].w,
        dot(cam.rows[1].xyz, point_in_world) + cam.rows[1].w,
        dot(cam.rows[2].xyz, point_in_world) + cam.rows[2].w,
    );
}

// R^T * d: a direction from camera to world coordinates.
fn world_from_cam_dir(cam: Camera, dir_in_cam: vec3<f32>) -> vec3<f32> {
    return cam.rows[0].xyz * dir_in_cam.x + cam.rows[1].xyz * dir_in_cam.y + cam.rows[2].xyz * dir_in_cam.z;
}

// Camera centre in world: -R^T t.
fn centre_in_world(cam: Camera) -> vec3<f32> {
    return -world_from_cam_dir(cam, vec3<f32>(cam.rows[0].w, cam.rows[1].w, cam.rows[2].w));
}

// Ray through a pixel in the camera frame, scaled to z = 1 (depth * ray = point).
fn ray_in_cam(cam: Camera, pixel: vec2<f32>) -> vec3<f32> {
    return vec3<f32>((pixel.x - cam.intrinsics.z) / cam.intrinsics.x, (pixel.y - cam.intrinsics.w) / cam.intrinsics.y, 1.0);
}

fn pixel_from_cam(cam: Camera, point_in_cam: vec3<f32>) -> vec2<f32> {
    return vec2<f32>(
        cam.intrinsics.x * point_in_cam.x / point_in_cam.z + cam.intrinsics.z,
        cam.intrinsics.y * point_in_cam.y / point_in_cam.z + cam.intrinsics.w,
    );
}
