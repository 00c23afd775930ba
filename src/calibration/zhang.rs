//! Closed-form starting points: plane-to-image homographies (normalised
//! DLT), Zhang's intrinsics from several homographies, and a board pose from
//! one homography and the intrinsics. Distortion is taken as zero here; the
//! bundle adjustment estimates it.

use nalgebra::{
    DMatrix, Isometry3, Matrix3, Point2, Rotation3, Translation3, UnitQuaternion, Vector3,
};

/// Homography `image ~ H * (x, y, 1)` from board-plane points (metres) to
/// pixels, by the DLT on Hartley-normalised coordinates. `None` when the
/// points are degenerate (fewer than 4, or collinear).
#[must_use]
pub fn homography(plane_points: &[Point2<f64>], pixels: &[Point2<f64>]) -> Option<Matrix3<f64>> {
    if plane_points.len() < 4 || plane_points.len() != pixels.len() {
        return None;
    }
    let plane_norm = normaliser(plane_points)?;
    let pixel_norm = normaliser(pixels)?;
    let mut a = DMatrix::<f64>::zeros(2 * plane_points.len(), 9);
    for (i, (p, q)) in plane_points.iter().zip(pixels).enumerate() {
        let p = plane_norm * p.to_homogeneous();
        let q = pixel_norm * q.to_homogeneous();
        let (x, y) = (p.x / p.z, p.y / p.z);
        let (u, v) = (q.x / q.z, q.y / q.z);
        let rows = [
            [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, -u],
            [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, -v],
        ];
        for (r, row) in rows.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                a[(2 * i + r, c)] = *value;
            }
        }
    }
    let h = null_vector(a)?;
    let h_normalised = Matrix3::new(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]);
    let h = pixel_norm.try_inverse()? * h_normalised * plane_norm;
    let scale = h[(2, 2)];
    if !scale.is_finite() || scale.abs() < 1e-300 {
        return Some(h / h.norm());
    }
    Some(h / scale)
}

/// Similarity moving the points' centroid to 0 and their mean distance to √2.
fn normaliser(points: &[Point2<f64>]) -> Option<Matrix3<f64>> {
    let n = points.len() as f64;
    let centroid = points
        .iter()
        .fold(Vector3::zeros(), |acc, p| acc + Vector3::new(p.x, p.y, 0.0))
        / n;
    let mean_distance = points
        .iter()
        .map(|p| ((p.x - centroid.x).powi(2) + (p.y - centroid.y).powi(2)).sqrt())
        .sum::<f64>()
        / n;
    if !(mean_distance.is_finite() && mean_distance > 1e-12) {
        return None;
    }
    let s = std::f64::consts::SQRT_2 / mean_distance;
    Some(Matrix3::new(
        s,
        0.0,
        -s * centroid.x,
        0.0,
        s,
        -s * centroid.y,
        0.0,
        0.0,
        1.0,
    ))
}

/// Right singular vector of the smallest singular value (least-squares
/// solution of `A x = 0` with `|x| = 1`).
pub(super) fn null_vector(a: DMatrix<f64>) -> Option<Vec<f64>> {
    // The eigenvector of AᵀA is the same vector and keeps the SVD small.
    let ata = a.transpose() * &a;
    let eigen = ata.symmetric_eigen();
    let (index, _) = eigen
        .eigenvalues
        .iter()
        .enumerate()
        .min_by(|x, y| x.1.total_cmp(y.1))?;
    let v = eigen.eigenvectors.column(index);
    v.iter()
        .all(|x| x.is_finite())
        .then(|| v.iter().copied().collect())
}

/// Pinhole intrinsics (no skew).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PinholeGuess {
    /// Focal length along x, pixels.
    pub fx: f64,
    /// Focal length along y, pixels.
    pub fy: f64,
    /// Principal point x, pixels.
    pub cx: f64,
    /// Principal point y, pixels.
    pub cy: f64,
}

impl PinholeGuess {
    /// Unit focal lengths, principal point at 0: for normalised image
    /// coordinates (undistorted rays).
    pub const NORMALISED: Self = Self {
        fx: 1.0,
        fy: 1.0,
        cx: 0.0,
        cy: 0.0,
    };

    /// The calibration matrix K.
    #[must_use]
    pub fn matrix(&self) -> Matrix3<f64> {
        Matrix3::new(self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0)
    }
}

/// Zhang's closed form: intrinsics from three or more homographies of a
/// plane seen at different tilts. Falls back to solving only the focal
/// lengths with the principal point at the image centre (OpenCV's own
/// starting point) when there are fewer than three views or Zhang's answer
/// is not physical. `None` when neither is: the views are degenerate
/// (e.g. all fronto-parallel, which leaves the focal length unobservable).
#[must_use]
pub fn intrinsics_from_homographies(
    homographies: &[Matrix3<f64>],
    width: u32,
    height: u32,
) -> Option<PinholeGuess> {
    // Work in coordinates centred on the image and scaled by its size, for
    // conditioning; K is mapped back at the end.
    let scale = f64::from(width.max(height));
    let centre = (
        (f64::from(width) - 1.0) / 2.0,
        (f64::from(height) - 1.0) / 2.0,
    );
    let to_unit = Matrix3::new(
        1.0 / scale,
        0.0,
        -centre.0 / scale,
        0.0,
        1.0 / scale,
        -centre.1 / scale,
        0.0,
        0.0,
        1.0,
    );
    let unit: Vec<Matrix3<f64>> = homographies.iter().map(|h| to_unit * h).collect();
    let in_pixels = |k: PinholeGuess| PinholeGuess {
        fx: k.fx * scale,
        fy: k.fy * scale,
        cx: k.cx * scale + centre.0,
        cy: k.cy * scale + centre.1,
    };
    let plausible = |k: &PinholeGuess| {
        k.fx.is_finite()
            && k.fy.is_finite()
            && k.fx > 0.05
            && k.fy > 0.05
            && k.fx < 50.0
            && k.fy < 50.0
            && (k.fx / k.fy - 1.0).abs() < 0.5
            && k.cx.abs() < 0.5
            && k.cy.abs() < 0.5
    };
    if unit.len() >= 3
        && let Some(k) = zhang(&unit).filter(plausible)
    {
        return Some(in_pixels(k));
    }
    focal_only(&unit).filter(plausible).map(in_pixels)
}

fn zhang_row(h: &Matrix3<f64>, i: usize, j: usize) -> [f64; 6] {
    let (hi, hj) = (h.column(i), h.column(j));
    [
        hi[0] * hj[0],
        hi[0] * hj[1] + hi[1] * hj[0],
        hi[1] * hj[1],
        hi[2] * hj[0] + hi[0] * hj[2],
        hi[2] * hj[1] + hi[1] * hj[2],
        hi[2] * hj[2],
    ]
}

fn zhang(homographies: &[Matrix3<f64>]) -> Option<PinholeGuess> {
    let mut v = DMatrix::<f64>::zeros(2 * homographies.len(), 6);
    for (n, h) in homographies.iter().enumerate() {
        let v12 = zhang_row(h, 0, 1);
        let v11 = zhang_row(h, 0, 0);
        let v22 = zhang_row(h, 1, 1);
        for c in 0..6 {
            v[(2 * n, c)] = v12[c];
            v[(2 * n + 1, c)] = v11[c] - v22[c];
        }
    }
    let b = null_vector(v)?;
    let (b11, b12, b22, b13, b23, b33) = (b[0], b[1], b[2], b[3], b[4], b[5]);
    let denominator = b11 * b22 - b12 * b12;
    if denominator.abs() < 1e-300 || b11.abs() < 1e-300 {
        return None;
    }
    let cy = (b12 * b13 - b11 * b23) / denominator;
    let lambda = b33 - (b13 * b13 + cy * (b12 * b13 - b11 * b23)) / b11;
    let fx = (lambda / b11).sqrt();
    let fy = (lambda * b11 / denominator).sqrt();
    // Skew is taken as zero: cx drops the γ·cy/β term.
    let cx = -b13 * fx * fx / lambda;
    Some(PinholeGuess { fx, fy, cx, cy })
}

/// Focal lengths with the principal point at the centre: each homography
/// gives two equations linear in (1/fx², 1/fy²).
fn focal_only(homographies: &[Matrix3<f64>]) -> Option<PinholeGuess> {
    let mut a = nalgebra::Matrix2::<f64>::zeros();
    let mut rhs = nalgebra::Vector2::<f64>::zeros();
    for h in homographies {
        let (h1, h2) = (h.column(0), h.column(1));
        let rows = [
            ([h1[0] * h2[0], h1[1] * h2[1]], -h1[2] * h2[2]),
            (
                [h1[0] * h1[0] - h2[0] * h2[0], h1[1] * h1[1] - h2[1] * h2[1]],
                -(h1[2] * h1[2] - h2[2] * h2[2]),
            ),
        ];
        for (row, value) in rows {
            let norm = (row[0] * row[0] + row[1] * row[1] + value * value).sqrt();
            if norm < 1e-300 {
                continue;
            }
            let row = nalgebra::Vector2::new(row[0], row[1]) / norm;
            a += row * row.transpose();
            rhs += row * (value / norm);
        }
    }
    // Fronto-parallel views make the right-hand side vanish: the inverse
    // focal lengths come out at or below zero, which the caller rejects.
    let solution = a.try_inverse()? * rhs;
    if solution[0] <= 0.0 || solution[1] <= 0.0 {
        return None;
    }
    Some(PinholeGuess {
        fx: 1.0 / solution[0].sqrt(),
        fy: 1.0 / solution[1].sqrt(),
        cx: 0.0,
        cy: 0.0,
    })
}

/// Board pose (`cam_from_board`) from its homography and the intrinsics.
#[must_use]
pub fn pose_from_homography(h: &Matrix3<f64>, k: &PinholeGuess) -> Option<Isometry3<f64>> {
    let m = k.matrix().try_inverse()? * h;
    let (c1, c2, c3) = (m.column(0), m.column(1), m.column(2));
    let norm = c1.norm();
    if norm < 1e-300 {
        return None;
    }
    // The board must lie in front of the camera: t.z > 0.
    let lambda = if c3[2] < 0.0 { -1.0 / norm } else { 1.0 / norm };
    let r1 = c1 * lambda;
    let r2 = c2 * lambda;
    let r3 = r1.cross(&r2);
    let approx = Matrix3::from_columns(&[r1, r2, r3]);
    let svd = approx.svd(true, true);
    let (u, v_t) = (svd.u?, svd.v_t?);
    let mut rotation = u * v_t;
    if rotation.determinant() < 0.0 {
        rotation = -rotation;
    }
    let translation = c3 * lambda;
    let rotation =
        UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(rotation));
    Some(Isometry3::from_parts(
        Translation3::from(translation),
        rotation,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    fn board_points() -> Vec<Point2<f64>> {
        (0..54)
            .map(|k| Point2::new((k % 9) as f64 * 0.025, (k / 9) as f64 * 0.025))
            .collect()
    }

    fn project(k: &PinholeGuess, cam_from_board: &Isometry3<f64>, p: &Point2<f64>) -> Point2<f64> {
        let q = cam_from_board * Point3::new(p.x, p.y, 0.0);
        Point2::new(k.fx * q.x / q.z + k.cx, k.fy * q.y / q.z + k.cy)
    }

    fn tilted_pose(rx: f64, ry: f64, rz: f64) -> Isometry3<f64> {
        Isometry3::new(Vector3::new(-0.1, -0.06, 0.5), Vector3::new(rx, ry, rz))
    }

    #[test]
    fn zhang_recovers_intrinsics_and_poses_from_exact_views() {
        let truth = PinholeGuess {
            fx: 540.0,
            fy: 536.0,
            cx: 330.0,
            cy: 245.0,
        };
        let poses = [
            tilted_pose(0.4, 0.1, 0.05),
            tilted_pose(-0.3, 0.35, -0.1),
            tilted_pose(0.1, -0.45, 0.2),
            tilted_pose(0.25, 0.25, 1.2),
        ];
        let plane = board_points();
        let homographies: Vec<Matrix3<f64>> = poses
            .iter()
            .map(|pose| {
                let pixels: Vec<Point2<f64>> =
                    plane.iter().map(|p| project(&truth, pose, p)).collect();
                homography(&plane, &pixels).unwrap()
            })
            .collect();
        let k = intrinsics_from_homographies(&homographies, 640, 480).unwrap();
        assert!(
            (k.fx - truth.fx).abs() < 1e-3 && (k.fy - truth.fy).abs() < 1e-3,
            "{k:?}"
        );
        assert!(
            (k.cx - truth.cx).abs() < 1e-3 && (k.cy - truth.cy).abs() < 1e-3,
            "{k:?}"
        );
        let pose = pose_from_homography(&homographies[1], &k).unwrap();
        assert!((pose.translation.vector - poses[1].translation.vector).norm() < 1e-6);
        assert!(pose.rotation.angle_to(&poses[1].rotation) < 1e-6);
    }

    #[test]
    fn fronto_parallel_views_are_refused() {
        let truth = PinholeGuess {
            fx: 540.0,
            fy: 540.0,
            cx: 320.0,
            cy: 240.0,
        };
        let plane = board_points();
        let homographies: Vec<Matrix3<f64>> = [0.0, 0.7, 1.4, 2.1]
            .iter()
            .map(|rz| {
                let pose = tilted_pose(0.0, 0.0, *rz);
                let pixels: Vec<Point2<f64>> =
                    plane.iter().map(|p| project(&truth, &pose, p)).collect();
                homography(&plane, &pixels).unwrap()
            })
            .collect();
        assert_eq!(intrinsics_from_homographies(&homographies, 640, 480), None);
    }
}
