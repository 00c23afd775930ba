//! Bundle adjustment: Levenberg-Marquardt over camera intrinsics and
//! distortion, camera poses and board poses, minimising pixel reprojection
//! error with a Huber loss.
//!
//! Each corner observation depends on at most 21 parameters (9 intrinsics,
//! 6 camera pose, 6 board pose), so the normal equations are accumulated
//! from 2x21 blocks and solved densely by Cholesky (a ring of 8 cameras x 20
//! views has a few hundred parameters): a few MFLOP per iteration, where a
//! QR of the full Jacobian (what dense MINPACK-style solvers do) would cost
//! GFLOPs. Poses are updated on the left, `R <- exp(δ) R`, `t <- t + δt`,
//! so rotations have no singularity.

use nalgebra::{
    DMatrix, DVector, Isometry3, Point2, Point3, Translation3, UnitQuaternion, Vector3,
};

use super::camera::Distortion;

/// Intrinsics and distortion as one parameter block:
/// `[fx, fy, cx, cy, k1, k2, p1, p2, k3]`.
pub type IntrinsicBlock = [f64; 9];

/// Builds the block from a pinhole and distortion.
#[must_use]
pub fn intrinsic_block(fx: f64, fy: f64, cx: f64, cy: f64, d: Distortion) -> IntrinsicBlock {
    [fx, fy, cx, cy, d.k1, d.k2, d.p1, d.p2, d.k3]
}

/// Projects `point_in_cam` with an intrinsic block; `None` behind the camera.
#[must_use]
pub fn project_block(k: &IntrinsicBlock, point_in_cam: &Point3<f64>) -> Option<Point2<f64>> {
    if point_in_cam.z <= 1e-12 {
        return None;
    }
    let d = Distortion::from_array([k[4], k[5], k[6], k[7], k[8]]);
    let (x, y) = d.distort(
        point_in_cam.x / point_in_cam.z,
        point_in_cam.y / point_in_cam.z,
    );
    Some(Point2::new(k[0] * x + k[2], k[1] * y + k[3]))
}

/// One camera in the problem.
#[derive(Debug, Clone)]
pub struct BundleCamera {
    /// Intrinsics and distortion.
    pub intrinsics: IntrinsicBlock,
    /// Pose.
    pub cam_from_world: Isometry3<f64>,
    /// Whether the intrinsics are estimated.
    pub intrinsics_free: bool,
    /// Whether the pose is estimated.
    pub pose_free: bool,
}

/// One rigid target pose (a board placement, or the world itself for
/// surveyed points, which is fixed).
#[derive(Debug, Clone)]
pub struct BundleTarget {
    /// Pose of the target in the world.
    pub world_from_target: Isometry3<f64>,
    /// Whether the pose is estimated.
    pub free: bool,
}

/// A corner (or surveyed point) seen by a camera.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Camera index.
    pub camera: usize,
    /// Target index.
    pub target: usize,
    /// The point in its target's frame, metres.
    pub point_in_target: Point3<f64>,
    /// Where it was detected, pixels.
    pub pixel: Point2<f64>,
    /// False once rejected as an outlier: kept for the report, not solved.
    pub inlier: bool,
}

/// The whole problem.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    /// Cameras.
    pub cameras: Vec<BundleCamera>,
    /// Targets.
    pub targets: Vec<BundleTarget>,
    /// Observations.
    pub observations: Vec<Observation>,
}

/// Solver settings.
#[derive(Debug, Clone, Copy)]
pub struct SolveOptions {
    /// Huber threshold, pixels: residuals beyond it weigh linearly.
    pub huber_px: f64,
    /// Iteration cap.
    pub max_iterations: usize,
}

impl Default for SolveOptions {
    fn default() -> Self {
        Self {
            huber_px: 2.0,
            max_iterations: 200,
        }
    }
}

/// What a solve did.
#[derive(Debug, Clone, Copy)]
pub struct SolveSummary {
    /// LM iterations taken.
    pub iterations: usize,
    /// RMS reprojection error over inliers after the solve, pixels.
    pub rms_px: f64,
}

/// Where each block lives in the parameter vector (`None`: fixed).
struct Layout {
    intrinsics: Vec<Option<usize>>,
    camera_pose: Vec<Option<usize>>,
    target_pose: Vec<Option<usize>>,
    count: usize,
}

impl Bundle {
    fn layout(&self) -> Layout {
        let mut count = 0;
        let mut take = |free: bool, size: usize| {
            free.then(|| {
                count += size;
                count - size
            })
        };
        let intrinsics = self
            .cameras
            .iter()
            .map(|c| take(c.intrinsics_free, 9))
            .collect();
        let camera_pose = self.cameras.iter().map(|c| take(c.pose_free, 6)).collect();
        let target_pose = self.targets.iter().map(|t| take(t.free, 6)).collect();
        Layout {
            intrinsics,
            camera_pose,
            target_pose,
            count,
        }
    }

    /// Reprojection residual (projected minus detected), pixels; `None`
    /// when the point falls behind the camera.
    #[must_use]
    pub fn residual(&self, observation: &Observation) -> Option<nalgebra::Vector2<f64>> {
        let camera = &self.cameras[observation.camera];
        let target = &self.targets[observation.target];
        residual_with(
            &camera.intrinsics,
            &camera.cam_from_world,
            &target.world_from_target,
            observation,
        )
    }

    /// RMS over inlier observations, pixels (optionally one camera only).
    #[must_use]
    pub fn rms_px(&self, camera: Option<usize>) -> f64 {
        let (sum, count) = self
            .observations
            .iter()
            .filter(|o| o.inlier && camera.is_none_or(|c| c == o.camera))
            .fold((0.0, 0usize), |(sum, count), o| {
                let r2 = self.residual(o).map_or(1e6, |r| r.norm_squared());
                (sum + r2, count + 1)
            });
        if count == 0 {
            0.0
        } else {
            (sum / count as f64).sqrt()
        }
    }

    fn cost(&self, huber_px: f64) -> f64 {
        self.observations
            .iter()
            .filter(|o| o.inlier)
            .map(|o| {
                let r = self.residual(o).map_or(1e3, |r| r.norm());
                huber(r, huber_px)
            })
            .sum()
    }

    /// Minimises the robust reprojection cost over the free blocks.
    pub fn solve(&mut self, options: SolveOptions) -> SolveSummary {
        let layout = self.layout();
        let mut cost = self.cost(options.huber_px);
        let mut damping = 1e-3;
        let mut iterations = 0;
        if layout.count > 0 {
            for iteration in 0..options.max_iterations {
                iterations = iteration + 1;
                let (normal, gradient) = self.normal_equations(&layout, options.huber_px);
                let mut improved = false;
                // Raise the damping until a step lowers the cost.
                for _ in 0..12 {
                    let mut damped = normal.clone();
                    for i in 0..layout.count {
                        damped[(i, i)] += damping * normal[(i, i)].max(1e-9);
                    }
                    let Some(cholesky) = damped.cholesky() else {
                        damping *= 10.0;
                        continue;
                    };
                    let step = cholesky.solve(&(-&gradient));
                    // Try the step in place; only the parameters are kept
                    // to undo it (the observations never change here).
                    let saved = (self.cameras.clone(), self.targets.clone());
                    self.apply(&layout, &step);
                    let trial_cost = self.cost(options.huber_px);
                    if trial_cost.is_finite() && trial_cost < cost {
                        let relative = (cost - trial_cost) / cost.max(1e-300);
                        cost = trial_cost;
                        damping = (damping / 3.0).max(1e-12);
                        improved = relative > 1e-12;
                        break;
                    }
                    (self.cameras, self.targets) = saved;
                    damping *= 10.0;
                }
                if !improved {
                    break;
                }
            }
        }
        SolveSummary {
            iterations,
            rms_px: self.rms_px(None),
        }
    }

    /// JᵀWJ and JᵀWr from per-observation forward-difference blocks, with
    /// IRLS weights for the Huber loss.
    fn normal_equations(&self, layout: &Layout, huber_px: f64) -> (DMatrix<f64>, DVector<f64>) {
        let n = layout.count;
        let mut normal = DMatrix::<f64>::zeros(n, n);
        let mut gradient = DVector::<f64>::zeros(n);
        for observation in self.observations.iter().filter(|o| o.inlier) {
            let camera = &self.cameras[observation.camera];
            let target = &self.targets[observation.target];
            let Some(base) = residual_with(
                &camera.intrinsics,
                &camera.cam_from_world,
                &target.world_from_target,
                observation,
            ) else {
                continue;
            };
            let norm = base.norm();
            let weight = if norm <= huber_px {
                1.0
            } else {
                huber_px / norm
            };
            // Columns: (global index, derivative of the residual).
            let mut columns: Vec<(usize, nalgebra::Vector2<f64>)> = Vec::with_capacity(21);
            if let Some(offset) = layout.intrinsics[observation.camera] {
                for i in 0..9 {
                    let step = 1e-7 * camera.intrinsics[i].abs().max(1.0);
                    let mut k = camera.intrinsics;
                    k[i] += step;
                    if let Some(r) = residual_with(
                        &k,
                        &camera.cam_from_world,
                        &target.world_from_target,
                        observation,
                    ) {
                        columns.push((offset + i, (r - base) / step));
                    }
                }
            }
            if let Some(offset) = layout.camera_pose[observation.camera] {
                for i in 0..6 {
                    let pose = perturbed(&camera.cam_from_world, i, 1e-7);
                    if let Some(r) = residual_with(
                        &camera.intrinsics,
                        &pose,
                        &target.world_from_target,
                        observation,
                    ) {
                        columns.push((offset + i, (r - base) / 1e-7));
                    }
                }
            }
            if let Some(offset) = layout.target_pose[observation.target] {
                for i in 0..6 {
                    let pose = perturbed(&target.world_from_target, i, 1e-7);
                    if let Some(r) = residual_with(
                        &camera.intrinsics,
                        &camera.cam_from_world,
                        &pose,
                        observation,
                    ) {
                        columns.push((offset + i, (r - base) / 1e-7));
                    }
                }
            }
            for (a, (ia, ja)) in columns.iter().enumerate() {
                gradient[*ia] += weight * ja.dot(&base);
                for (ib, jb) in &columns[a..] {
                    let value = weight * ja.dot(jb);
                    normal[(*ia, *ib)] += value;
                    if ia != ib {
                        normal[(*ib, *ia)] += value;
                    }
                }
            }
        }
        (normal, gradient)
    }

    fn apply(&mut self, layout: &Layout, step: &DVector<f64>) {
        for (camera, (intrinsics, pose)) in self
            .cameras
            .iter_mut()
            .zip(layout.intrinsics.iter().zip(&layout.camera_pose))
        {
            if let Some(offset) = intrinsics {
                for i in 0..9 {
                    camera.intrinsics[i] += step[offset + i];
                }
            }
            if let Some(offset) = pose {
                camera.cam_from_world = updated(&camera.cam_from_world, step, *offset);
            }
        }
        for (target, pose) in self.targets.iter_mut().zip(&layout.target_pose) {
            if let Some(offset) = pose {
                target.world_from_target = updated(&target.world_from_target, step, *offset);
            }
        }
    }
}

fn residual_with(
    intrinsics: &IntrinsicBlock,
    cam_from_world: &Isometry3<f64>,
    world_from_target: &Isometry3<f64>,
    observation: &Observation,
) -> Option<nalgebra::Vector2<f64>> {
    let point_in_cam = cam_from_world * (world_from_target * observation.point_in_target);
    project_block(intrinsics, &point_in_cam).map(|p| p - observation.pixel)
}

fn huber(r: f64, threshold: f64) -> f64 {
    if r <= threshold {
        r * r
    } else {
        2.0 * threshold * r - threshold * threshold
    }
}

/// A pose moved by `delta` along one of its 6 left-update coordinates
/// (0-2 rotation vector, 3-5 translation).
fn perturbed(pose: &Isometry3<f64>, coordinate: usize, delta: f64) -> Isometry3<f64> {
    let mut step = DVector::<f64>::zeros(6);
    step[coordinate] = delta;
    updated(pose, &step, 0)
}

fn updated(pose: &Isometry3<f64>, step: &DVector<f64>, offset: usize) -> Isometry3<f64> {
    let rotation_step = UnitQuaternion::from_scaled_axis(Vector3::new(
        step[offset],
        step[offset + 1],
        step[offset + 2],
    ));
    let translation = pose.translation.vector
        + Vector3::new(step[offset + 3], step[offset + 4], step[offset + 5]);
    Isometry3::from_parts(
        Translation3::from(translation),
        rotation_step * pose.rotation,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One camera, four board placements, exact pixels: a perturbed start
    /// must come back to the truth.
    #[test]
    fn recovers_intrinsics_distortion_and_poses_from_a_perturbed_start() {
        let truth = [540.0, 536.0, 330.0, 245.0, -0.2, 0.05, 0.001, -0.0005, 0.0];
        let placements = [
            Isometry3::new(Vector3::new(-0.1, -0.06, 0.5), Vector3::new(0.4, 0.1, 0.05)),
            Isometry3::new(
                Vector3::new(-0.12, -0.04, 0.45),
                Vector3::new(-0.3, 0.35, -0.1),
            ),
            Isometry3::new(
                Vector3::new(-0.08, -0.07, 0.55),
                Vector3::new(0.1, -0.45, 0.2),
            ),
            Isometry3::new(
                Vector3::new(-0.1, -0.05, 0.6),
                Vector3::new(0.25, 0.25, 1.2),
            ),
            Isometry3::new(
                Vector3::new(-0.15, -0.1, 0.4),
                Vector3::new(-0.2, -0.2, 0.0),
            ),
        ];
        let mut bundle = Bundle::default();
        bundle.cameras.push(BundleCamera {
            intrinsics: [520.0, 520.0, 320.0, 240.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            cam_from_world: Isometry3::identity(),
            intrinsics_free: true,
            pose_free: false,
        });
        for (t, placement) in placements.iter().enumerate() {
            bundle.targets.push(BundleTarget {
                world_from_target: Isometry3::new(
                    placement.translation.vector + Vector3::new(0.01, -0.01, 0.02),
                    placement.rotation.scaled_axis() + Vector3::new(0.02, 0.01, -0.02),
                ),
                free: true,
            });
            for k in 0..54 {
                let point = Point3::new((k % 9) as f64 * 0.025, (k / 9) as f64 * 0.025, 0.0);
                let pixel = project_block(&truth, &(placement * point)).unwrap();
                bundle.observations.push(Observation {
                    camera: 0,
                    target: t,
                    point_in_target: point,
                    pixel,
                    inlier: true,
                });
            }
        }
        let summary = bundle.solve(SolveOptions::default());
        assert!(summary.rms_px < 1e-6, "{summary:?}");
        for (got, want) in bundle.cameras[0].intrinsics.iter().zip(truth) {
            assert!(
                (got - want).abs() < 1e-4,
                "{:?}",
                bundle.cameras[0].intrinsics
            );
        }
    }
}
