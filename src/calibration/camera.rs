//! Pinhole camera with OpenCV lens distortion.
//!
//! Projection: `point_in_cam = cam_from_world * point_in_world`, then the
//! normalised image point `(x/z, y/z)` is distorted with the OpenCV model
//! (k1, k2, p1, p2, k3) and mapped to pixels by `fx, fy, cx, cy`.

use nalgebra::{Isometry3, Point2, Point3, Vector3};

/// OpenCV distortion coefficients `[k1, k2, p1, p2, k3]`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Distortion {
    /// Radial coefficient r^2.
    pub k1: f64,
    /// Radial coefficient r^4.
    pub k2: f64,
    /// Tangential coefficient p1.
    pub p1: f64,
    /// Tangential coefficient p2.
    pub p2: f64,
    /// Radial coefficient r^6.
    pub k3: f64,
}

impl Distortion {
    /// Builds from the OpenCV array order `[k1, k2, p1, p2, k3]`.
    #[must_use]
    pub fn from_array(d: [f64; 5]) -> Self {
        Self {
            k1: d[0],
            k2: d[1],
            p1: d[2],
            p2: d[3],
            k3: d[4],
        }
    }

    /// The OpenCV array order `[k1, k2, p1, p2, k3]`.
    #[must_use]
    pub fn to_array(self) -> [f64; 5] {
        [self.k1, self.k2, self.p1, self.p2, self.k3]
    }

    /// True when every coefficient is exactly zero (pure pinhole).
    #[must_use]
    pub fn is_zero(self) -> bool {
        self.to_array().iter().all(|c| *c == 0.0)
    }

    /// Applies the distortion to a normalised image point.
    #[must_use]
    pub fn distort(self, x: f64, y: f64) -> (f64, f64) {
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3));
        let x_d = x * radial + 2.0 * self.p1 * x * y + self.p2 * (r2 + 2.0 * x * x);
        let y_d = y * radial + self.p1 * (r2 + 2.0 * y * y) + 2.0 * self.p2 * x * y;
        (x_d, y_d)
    }

    /// Inverts [`Self::distort`] by fixed-point iteration (as OpenCV's
    /// `undistortPoints` does); converges for the moderate distortion of
    /// broadcast lenses.
    #[must_use]
    pub fn undistort(self, x_d: f64, y_d: f64) -> (f64, f64) {
        const ITERATIONS: usize = 20;
        if self.is_zero() {
            return (x_d, y_d);
        }
        let (mut x, mut y) = (x_d, y_d);
        for _ in 0..ITERATIONS {
            let r2 = x * x + y * y;
            let radial = 1.0 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3));
            let dx = 2.0 * self.p1 * x * y + self.p2 * (r2 + 2.0 * x * x);
            let dy = self.p1 * (r2 + 2.0 * y * y) + 2.0 * self.p2 * x * y;
            x = (x_d - dx) / radial;
            y = (y_d - dy) / radial;
        }
        (x, y)
    }
}

/// One calibrated camera of the rig.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// Unique id within the rig (also the capture file stem).
    pub id: String,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Focal length along x, pixels.
    pub fx: f64,
    /// Focal length along y, pixels.
    pub fy: f64,
    /// Principal point x, pixels (pixel centres at integers).
    pub cx: f64,
    /// Principal point y, pixels.
    pub cy: f64,
    /// Lens distortion.
    pub distortion: Distortion,
    /// Pose: `X_cam = cam_from_world * X_world`.
    pub cam_from_world: Isometry3<f64>,
    /// This camera's clock minus the rig clock, nanoseconds.
    pub time_offset_ns: i64,
    /// Where the camera's feed comes from (a URI), if known.
    pub source: Option<String>,
}

impl Camera {
    /// Camera centre in world coordinates.
    #[must_use]
    pub fn centre_in_world(&self) -> Point3<f64> {
        self.cam_from_world.inverse() * Point3::origin()
    }

    /// Optical axis (camera +z) in world coordinates, unit length.
    #[must_use]
    pub fn forward_in_world(&self) -> Vector3<f64> {
        self.cam_from_world.rotation.inverse() * Vector3::z()
    }

    /// Projects a world point to pixels; `None` when behind the camera.
    #[must_use]
    pub fn project(&self, point_in_world: &Point3<f64>) -> Option<Point2<f64>> {
        self.project_from_cam(&(self.cam_from_world * point_in_world))
    }

    /// Projects a point given in this camera's frame to pixels; `None` when
    /// behind the camera.
    #[must_use]
    pub fn project_from_cam(&self, point_in_cam: &Point3<f64>) -> Option<Point2<f64>> {
        if point_in_cam.z <= 1e-9 {
            return None;
        }
        let (x_d, y_d) = self.distortion.distort(
            point_in_cam.x / point_in_cam.z,
            point_in_cam.y / point_in_cam.z,
        );
        Some(Point2::new(
            self.fx * x_d + self.cx,
            self.fy * y_d + self.cy,
        ))
    }

    /// Ray direction in the camera frame for a pixel, scaled so that z = 1
    /// (so `depth * ray` is the point at that depth).
    #[must_use]
    pub fn ray_in_cam(&self, pixel: &Point2<f64>) -> Vector3<f64> {
        let x_d = (pixel.x - self.cx) / self.fx;
        let y_d = (pixel.y - self.cy) / self.fy;
        let (x, y) = self.distortion.undistort(x_d, y_d);
        Vector3::new(x, y, 1.0)
    }

    /// The world point seen at `pixel` at camera depth `depth_m` (z in the camera frame).
    #[must_use]
    pub fn unproject(&self, pixel: &Point2<f64>, depth_m: f64) -> Point3<f64> {
        let point_in_cam = Point3::from(self.ray_in_cam(pixel) * depth_m);
        self.cam_from_world.inverse() * point_in_cam
    }

    /// The same camera with distortion removed (for undistorted images).
    #[must_use]
    pub fn pinhole(&self) -> Self {
        Self {
            distortion: Distortion::default(),
            ..self.clone()
        }
    }

    /// A copy scaled to a new resolution (intrinsics scale with the image).
    #[must_use]
    pub fn scaled(&self, width: u32, height: u32) -> Self {
        let sx = f64::from(width) / f64::from(self.width);
        let sy = f64::from(height) / f64::from(self.height);
        Self {
            width,
            height,
            fx: self.fx * sx,
            fy: self.fy * sy,
            // Pixel centres at integers: the centre of pixel 0 maps to 0.5*s - 0.5.
            cx: (self.cx + 0.5) * sx - 0.5,
            cy: (self.cy + 0.5) * sy - 0.5,
            ..self.clone()
        }
    }

    /// Camera looking from `eye_in_world` at `target_in_world`, world z up.
    ///
    /// Returns `None` when the eye and target coincide or the view is
    /// exactly vertical (the up direction is then undefined).
    #[must_use]
    pub fn look_at(
        id: &str,
        width: u32,
        height: u32,
        focal_px: f64,
        eye_in_world: &Point3<f64>,
        target_in_world: &Point3<f64>,
    ) -> Option<Self> {
        let forward = (target_in_world - eye_in_world).try_normalize(1e-12)?;
        // OpenCV: y down, so "right" = forward x world_up and "down" = forward x right.
        let right = forward.cross(&Vector3::z()).try_normalize(1e-12)?;
        let down = forward.cross(&right);
        // Rows of R are the camera axes expressed in world coordinates.
        let rotation_matrix = nalgebra::Matrix3::from_rows(&[
            right.transpose(),
            down.transpose(),
            forward.transpose(),
        ]);
        let rotation = nalgebra::UnitQuaternion::from_matrix(&rotation_matrix);
        let translation = -(rotation * eye_in_world.coords);
        Some(Self {
            id: id.to_owned(),
            width,
            height,
            fx: focal_px,
            fy: focal_px,
            cx: (f64::from(width) - 1.0) / 2.0,
            cy: (f64::from(height) - 1.0) / 2.0,
            distortion: Distortion::default(),
            cam_from_world: Isometry3::from_parts(translation.into(), rotation),
            time_offset_ns: 0,
            source: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_unproject_round_trip_with_distortion() {
        let mut camera = Camera::look_at(
            "c0",
            640,
            360,
            500.0,
            &Point3::new(5.0, 1.0, 2.0),
            &Point3::new(0.0, 0.0, 1.0),
        )
        .unwrap();
        camera.distortion = Distortion::from_array([-0.12, 0.03, 0.001, -0.0005, 0.0]);
        let point = Point3::new(0.3, -0.4, 1.2);
        let pixel = camera.project(&point).unwrap();
        let depth = (camera.cam_from_world * point).z;
        let back = camera.unproject(&pixel, depth);
        assert!((back - point).norm() < 1e-9, "{back} vs {point}");
    }

    #[test]
    fn look_at_centre_projects_to_principal_point() {
        let target = Point3::new(0.0, 0.0, 1.0);
        let camera =
            Camera::look_at("c", 640, 360, 500.0, &Point3::new(0.0, -6.0, 3.0), &target).unwrap();
        let pixel = camera.project(&target).unwrap();
        assert!((pixel.x - camera.cx).abs() < 1e-9 && (pixel.y - camera.cy).abs() < 1e-9);
        // World up must appear as image up (smaller y).
        let above = camera.project(&Point3::new(0.0, 0.0, 2.0)).unwrap();
        assert!(above.y < pixel.y);
        assert!((camera.centre_in_world() - Point3::new(0.0, -6.0, 3.0)).norm() < 1e-9);
    }
}
