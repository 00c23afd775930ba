//! Synthetic calibration captures: a checkerboard waved through a camera
//! ring, rendered on the CPU through each camera's exact lens model (with
//! distortion), anti-aliased by supersampling, with Gaussian pixel noise,
//! and the true rig and board poses kept as ground truth.
//!
//! The board is printed with a light border one square wide (as real boards
//! are), dark outer squares at its corners (OpenCV's pattern) and a plain
//! grey back. Each placement faces between two neighbouring cameras of the
//! ring, turned and tilted at random, so both see it and the ring chains.

use image::GrayImage;
use nalgebra::{Isometry3, Point2, Point3, Translation3, UnitQuaternion, Vector3};

use rayon::prelude::*;

use crate::calibration::{
    BoardDetector, BoardSpec, Camera, CameraDetections, Distortion, Rig, ViewDetection,
};

/// Grey levels of the print and the room.
const DARK: f64 = 30.0;
const LIGHT: f64 = 220.0;
const BOARD_BACK: f64 = 90.0;
const ROOM: f64 = 120.0;

/// What to generate.
#[derive(Debug, Clone)]
pub struct BoardCaptureSettings {
    /// Cameras on the ring.
    pub cameras: u32,
    /// Image size, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Board placements.
    pub placements: u32,
    /// The board.
    pub board: BoardSpec,
    /// Pixel noise standard deviation, grey levels (0-255).
    pub noise_sigma: f64,
    /// Samples per pixel along each axis.
    pub supersample: u32,
    /// Seed of the placements and noise.
    pub seed: u64,
}

impl Default for BoardCaptureSettings {
    fn default() -> Self {
        Self {
            cameras: 8,
            width: 640,
            height: 360,
            placements: 80,
            board: BoardSpec {
                cols: 9,
                rows: 6,
                square_m: 0.08,
            },
            noise_sigma: 2.0,
            supersample: 3,
            seed: 7,
        }
    }
}

/// A generated calibration capture.
#[derive(Debug, Clone)]
pub struct BoardCapture {
    /// The true rig (world: z up, ring centred on the origin).
    pub rig: Rig,
    /// True `world_from_board` of each placement.
    pub placements: Vec<Isometry3<f64>>,
    /// Per camera, per placement: the image, or `None` where the camera sees
    /// the board's back or not all of it (no image is taken then).
    pub images: Vec<Vec<Option<GrayImage>>>,
}

impl BoardCapture {
    /// The board found in every image, as `calibrate` takes it (view names
    /// are placement numbers); `keep(camera, placement)` picks the images.
    #[must_use]
    pub fn detections(
        &self,
        detector: &BoardDetector,
        keep: impl Fn(usize, usize) -> bool + Sync,
    ) -> Vec<CameraDetections> {
        self.rig
            .cameras
            .iter()
            .zip(&self.images)
            .enumerate()
            .map(|(c, (camera, images))| CameraDetections {
                id: camera.id.clone(),
                width: camera.width,
                height: camera.height,
                views: images
                    .par_iter()
                    .enumerate()
                    .filter(|(p, _)| keep(c, *p))
                    .filter_map(|(p, image)| {
                        let image = image.as_ref()?;
                        Some(ViewDetection {
                            name: format!("{p:06}"),
                            corners_px: detector.detect(image).ok().map(|d| d.corners_px),
                            grid_seen: None,
                        })
                    })
                    .collect(),
            })
            .collect()
    }
}

/// Deterministic pseudo-random numbers (SplitMix64).
struct Random(u64);

impl Random {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn signed(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) / ((1u64 << 53) as f64 + 1.0);
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// The calibration ring: cameras on a 3 m circle, 1.6 m up, looking at the
/// middle 1 m up, with lens distortion and focal lengths that differ.
#[must_use]
pub fn calibration_ring(settings: &BoardCaptureSettings) -> Rig {
    const RING_RADIUS_M: f64 = 3.0;
    const RING_HEIGHT_M: f64 = 1.6;
    let mut random = Random(settings.seed ^ 0xCA11_B8A7);
    let scale = f64::from(settings.width) / 640.0;
    let cameras = (0..settings.cameras)
        .filter_map(|i| {
            let angle_rad = f64::from(i) * std::f64::consts::TAU / f64::from(settings.cameras);
            let eye = Point3::new(
                RING_RADIUS_M * angle_rad.cos(),
                RING_RADIUS_M * angle_rad.sin(),
                RING_HEIGHT_M + 0.1 * random.signed(),
            );
            let target = Point3::new(0.1 * random.signed(), 0.1 * random.signed(), 1.0);
            let focal_px = 560.0 * scale * (1.0 + 0.04 * random.signed());
            let mut camera = Camera::look_at(
                &format!("cam{i}"),
                settings.width,
                settings.height,
                focal_px,
                &eye,
                &target,
            )?;
            camera.fy = camera.fx * (1.0 + 0.002 * random.signed());
            camera.cx += 4.0 * scale * random.signed();
            camera.cy += 4.0 * scale * random.signed();
            camera.distortion = Distortion::from_array([
                -0.12 + 0.03 * random.signed(),
                0.03 + 0.01 * random.signed(),
                0.0005 * random.signed(),
                0.0005 * random.signed(),
                0.0,
            ]);
            Some(camera)
        })
        .collect();
    Rig {
        name: format!("calibration-ring-{}", settings.cameras),
        cameras,
    }
}

/// Generates the capture.
#[must_use]
pub fn board_capture(settings: &BoardCaptureSettings) -> BoardCapture {
    let rig = calibration_ring(settings);
    let mut random = Random(settings.seed);
    let board = settings.board;
    let board_centre = Vector3::new(
        (board.cols - 1) as f64 * board.square_m / 2.0,
        (board.rows - 1) as f64 * board.square_m / 2.0,
        0.0,
    );
    let placements: Vec<Isometry3<f64>> = (0..settings.placements)
        .map(|p| {
            // Each placement faces between two neighbouring cameras, from
            // between the ring's middle and them, so both see it.
            let pair = p as usize % rig.cameras.len();
            let a = rig.cameras[pair].centre_in_world().coords;
            let b = rig.cameras[(pair + 1) % rig.cameras.len()]
                .centre_in_world()
                .coords;
            let towards = (a + b) / 2.0;
            let along = 0.1 + 0.2 * (random.signed() + 1.0);
            let centre = Point3::new(
                along * towards.x + 0.35 * random.signed(),
                along * towards.y + 0.35 * random.signed(),
                1.1 + 0.35 * random.signed(),
            );
            let facing_point = Point3::from(towards);
            // Board +z points away from the camera it faces (its back).
            let to_camera = (facing_point - centre).normalize();
            let yaw = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), 0.45 * random.signed());
            let tilt = UnitQuaternion::from_axis_angle(&Vector3::x_axis(), 0.6 * random.signed());
            let back = -(yaw * tilt * to_camera);
            // Board y (down its columns) as close to world -z as the back allows.
            let down = (-Vector3::z() - back * back.dot(&-Vector3::z())).normalize();
            let roll = UnitQuaternion::from_axis_angle(
                &nalgebra::Unit::new_normalize(back),
                0.3 * random.signed(),
            );
            let down = roll * down;
            let across = down.cross(&back);
            let rotation =
                UnitQuaternion::from_rotation_matrix(&nalgebra::Rotation3::from_matrix_unchecked(
                    nalgebra::Matrix3::from_columns(&[across, down, back]),
                ));
            let translation = centre.coords - rotation * board_centre;
            Isometry3::from_parts(Translation3::from(translation), rotation)
        })
        .collect();
    let images = rig
        .cameras
        .iter()
        .map(|camera| {
            let rays = camera_rays(camera, settings.supersample);
            placements
                .iter()
                .map(|world_from_board| {
                    sees_whole_board(camera, board, world_from_board).then(|| {
                        render_view(
                            camera,
                            &rays,
                            board,
                            world_from_board,
                            settings,
                            &mut random,
                        )
                    })
                })
                .collect()
        })
        .collect();
    BoardCapture {
        rig,
        placements,
        images,
    }
}

/// True when the camera faces the board's print and every corner of its
/// border is in the image, 8 px inside.
fn sees_whole_board(camera: &Camera, board: BoardSpec, world_from_board: &Isometry3<f64>) -> bool {
    let cam_from_board = camera.cam_from_world * world_from_board;
    // The print faces -z of the board: the camera must be on that side.
    let camera_in_board = cam_from_board.inverse() * Point3::origin();
    if camera_in_board.z >= 0.0 {
        return false;
    }
    let normal_in_cam = cam_from_board.rotation * Vector3::z();
    let to_board = (cam_from_board * Point3::origin()).coords.normalize();
    if normal_in_cam.dot(&to_board) < 0.35 {
        return false; // seen too obliquely to be useful (over ~70 degrees)
    }
    let s = board.square_m;
    let (w, h) = (board.cols as f64 * s, board.rows as f64 * s);
    [(-2.0 * s, -2.0 * s), (w, -2.0 * s), (-2.0 * s, h), (w, h)]
        .iter()
        .all(|(x, y)| {
            camera
                .project(&(world_from_board * Point3::new(*x, *y, 0.0)))
                .is_some_and(|p| {
                    p.x > 8.0
                        && p.y > 8.0
                        && p.x < f64::from(camera.width) - 9.0
                        && p.y < f64::from(camera.height) - 9.0
                })
        })
}

/// Undistorted rays (z = 1) of every sub-sample, row-major.
fn camera_rays(camera: &Camera, supersample: u32) -> Vec<Vector3<f64>> {
    let n = supersample.max(1);
    let mut rays = Vec::with_capacity((camera.width * camera.height * n * n) as usize);
    for y in 0..camera.height {
        for sy in 0..n {
            for x in 0..camera.width {
                for sx in 0..n {
                    let px = f64::from(x) + (f64::from(sx) + 0.5) / f64::from(n) - 0.5;
                    let py = f64::from(y) + (f64::from(sy) + 0.5) / f64::from(n) - 0.5;
                    rays.push(camera.ray_in_cam(&Point2::new(px, py)));
                }
            }
        }
    }
    rays
}

/// Grey level of the board's print at board-plane point (x, y), metres.
fn print_at(board: BoardSpec, x: f64, y: f64) -> Option<f64> {
    let u = (x / board.square_m).floor() as i64;
    let v = (y / board.square_m).floor() as i64;
    let (cols, rows) = (board.cols as i64, board.rows as i64);
    // Squares -1..=cols by -1..=rows, and a light border one square wide.
    if u < -2 || v < -2 || u > cols || v > rows {
        return None;
    }
    let checkered = u >= -1 && v >= -1 && u < cols && v < rows;
    Some(if checkered && (u + v).rem_euclid(2) == 0 {
        DARK
    } else {
        LIGHT
    })
}

fn render_view(
    camera: &Camera,
    rays: &[Vector3<f64>],
    board: BoardSpec,
    world_from_board: &Isometry3<f64>,
    settings: &BoardCaptureSettings,
    random: &mut Random,
) -> GrayImage {
    let board_from_cam = (camera.cam_from_world * world_from_board).inverse();
    let origin = board_from_cam * Point3::origin();
    let n = settings.supersample.max(1) as usize;
    let width = camera.width as usize;
    let mut image = GrayImage::new(camera.width, camera.height);
    for y in 0..camera.height as usize {
        for x in 0..width {
            let mut sum = 0.0;
            for sy in 0..n {
                let row = (y * n + sy) * width * n;
                for sx in 0..n {
                    let ray = board_from_cam.rotation * rays[row + x * n + sx];
                    sum += if ray.z.abs() < 1e-12 {
                        ROOM
                    } else {
                        let t = -origin.z / ray.z;
                        if t <= 0.0 {
                            ROOM
                        } else {
                            let hit = origin + ray * t;
                            match print_at(board, hit.x, hit.y) {
                                Some(_) if origin.z > 0.0 => BOARD_BACK,
                                Some(level) => level,
                                None => ROOM,
                            }
                        }
                    };
                }
            }
            let value = sum / (n * n) as f64 + settings.noise_sigma * random.normal();
            image.put_pixel(
                x as u32,
                y as u32,
                image::Luma([value.round().clamp(0.0, 255.0) as u8]),
            );
        }
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_are_shared_and_drawn_where_the_camera_projects_them() {
        let settings = BoardCaptureSettings {
            cameras: 6,
            placements: 24,
            supersample: 1,
            noise_sigma: 0.0,
            ..BoardCaptureSettings::default()
        };
        let capture = board_capture(&settings);
        let shared = (0..24)
            .filter(|p| capture.images.iter().filter(|c| c[*p].is_some()).count() >= 2)
            .count();
        assert!(
            shared >= 12,
            "only {shared} of 24 placements are seen by two cameras"
        );
        let board = settings.board;
        let s = board.square_m;
        let mut checked = 0;
        for (camera, images) in capture.rig.cameras.iter().zip(&capture.images) {
            assert!(
                images.iter().flatten().count() >= 4,
                "{} sees too few",
                camera.id
            );
            for (placement, image) in capture.placements.iter().zip(images) {
                let Some(image) = image else { continue };
                // The dark outer square at corner (0, 0) and its light neighbour.
                let level = |x: f64, y: f64| {
                    let p = camera
                        .project(&(placement * Point3::new(x, y, 0.0)))
                        .unwrap();
                    f64::from(image.get_pixel(p.x.round() as u32, p.y.round() as u32).0[0])
                };
                assert!(level(-0.5 * s, -0.5 * s) < 60.0, "{}", camera.id);
                assert!(level(0.5 * s, -0.5 * s) > 180.0, "{}", camera.id);
                checked += 1;
            }
        }
        assert!(checked > 20);
    }
}
