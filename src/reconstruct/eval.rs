//! Reconstruction quality against ground truth (design.md section 7, Tanks
//! and Temples style): accuracy (median distance from reconstructed points
//! to the true surface), completeness (fraction of true surface samples
//! within tau of a reconstructed point), precision, and F-score at tau.
//!
//! Nearest neighbours come from a uniform hash grid whose cell is the
//! largest tau; distances beyond it are reported as "more than tau_max"
//! (accuracy is then capped at the cell size, stated in the report).

use std::collections::HashMap;

use nalgebra::{Point2, Point3};

use crate::calibration::Camera;

/// Quality figures of one reconstruction.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// Median distance reconstructed -> truth, metres (capped at `search_radius_m`).
    pub accuracy_median_m: f64,
    /// Fraction of reconstructed points within 1 cm of the truth.
    pub precision_1cm: f64,
    /// Fraction of true samples within 1 cm of the reconstruction.
    pub completeness_1cm: f64,
    /// F-score at 1 cm.
    pub f_score_1cm: f64,
    /// Fraction of reconstructed points within 2 cm of the truth.
    pub precision_2cm: f64,
    /// Fraction of true samples within 2 cm of the reconstruction.
    pub completeness_2cm: f64,
    /// F-score at 2 cm.
    pub f_score_2cm: f64,
    /// Reconstructed points evaluated (inside the ROI).
    pub points: usize,
    /// Ground-truth samples.
    pub truth_points: usize,
    /// Neighbour search radius, metres.
    pub search_radius_m: f64,
}

/// A uniform hash grid over points for radius-bounded nearest neighbours.
pub struct PointGrid<'a> {
    points: &'a [[f32; 3]],
    cell_m: f64,
    cells: HashMap<(i64, i64, i64), Vec<u32>>,
}

impl<'a> PointGrid<'a> {
    /// Indexes `points` in cells of `cell_m`.
    #[must_use]
    pub fn new(points: &'a [[f32; 3]], cell_m: f64) -> Self {
        let mut cells: HashMap<(i64, i64, i64), Vec<u32>> = HashMap::new();
        for (i, p) in points.iter().enumerate() {
            cells
                .entry(Self::key(p, cell_m))
                .or_default()
                .push(i as u32);
        }
        Self {
            points,
            cell_m,
            cells,
        }
    }

    fn key(p: &[f32; 3], cell_m: f64) -> (i64, i64, i64) {
        (
            (f64::from(p[0]) / cell_m).floor() as i64,
            (f64::from(p[1]) / cell_m).floor() as i64,
            (f64::from(p[2]) / cell_m).floor() as i64,
        )
    }

    /// Distance to the nearest point, if one is within `cell_m`.
    #[must_use]
    pub fn nearest_within_cell(&self, p: &[f32; 3]) -> Option<f64> {
        let (kx, ky, kz) = Self::key(p, self.cell_m);
        let mut best = f64::INFINITY;
        for dx in -1..=1 {
            for dy in -1..=1 {
                for dz in -1..=1 {
                    let Some(indices) = self.cells.get(&(kx + dx, ky + dy, kz + dz)) else {
                        continue;
                    };
                    for &i in indices {
                        let q = self.points[i as usize];
                        let d2 = (0..3)
                            .map(|k| (f64::from(p[k]) - f64::from(q[k])).powi(2))
                            .sum::<f64>();
                        best = best.min(d2);
                    }
                }
            }
        }
        let d = best.sqrt();
        (d <= self.cell_m).then_some(d)
    }
}

/// Whether `p` lies in the box.
#[must_use]
pub fn inside(p: &[f32; 3], roi: &(Point3<f64>, Point3<f64>)) -> bool {
    (0..3).all(|k| f64::from(p[k]) >= roi.0[k] && f64::from(p[k]) <= roi.1[k])
}

/// Keeps one point per `voxel_m` cell (the first), for even sampling.
#[must_use]
pub fn voxel_subsample(points: &[[f32; 3]], voxel_m: f64) -> Vec<[f32; 3]> {
    let mut seen = std::collections::HashSet::new();
    points
        .iter()
        .filter(|p| seen.insert(PointGrid::key(p, voxel_m)))
        .copied()
        .collect()
}

/// True surface samples from per-camera ground-truth depth maps (z-depth,
/// 0 = none), inside the ROI, subsampled to `voxel_m`; with `masks`, only
/// the pixels whose mask is non-zero.
#[must_use]
pub fn truth_from_depth_maps(
    cameras: &[Camera],
    depth_maps: &[Vec<f32>],
    masks: Option<&[Vec<u8>]>,
    roi: &(Point3<f64>, Point3<f64>),
    voxel_m: f64,
) -> Vec<[f32; 3]> {
    let mut points = Vec::new();
    for (c, (camera, depth)) in cameras.iter().zip(depth_maps).enumerate() {
        let mask = masks.and_then(|m| m.get(c));
        for (i, &d) in depth.iter().enumerate() {
            if d <= 0.0 || mask.is_some_and(|m| m.get(i).is_none_or(|&v| v == 0)) {
                continue;
            }
            let pixel = Point2::new(
                (i % camera.width as usize) as f64,
                (i / camera.width as usize) as f64,
            );
            let p = camera.unproject(&pixel, f64::from(d));
            let p = [p.x as f32, p.y as f32, p.z as f32];
            if inside(&p, roi) {
                points.push(p);
            }
        }
    }
    voxel_subsample(&points, voxel_m)
}

/// Scores `reconstructed` against `truth`, both restricted to `roi`.
#[must_use]
pub fn evaluate(
    reconstructed: &[[f32; 3]],
    truth: &[[f32; 3]],
    roi: &(Point3<f64>, Point3<f64>),
) -> Metrics {
    use rayon::prelude::*;
    const SEARCH_RADIUS_M: f64 = 0.02;
    let reco: Vec<[f32; 3]> = reconstructed
        .iter()
        .filter(|p| inside(p, roi))
        .copied()
        .collect();
    let truth: Vec<[f32; 3]> = truth.iter().filter(|p| inside(p, roi)).copied().collect();
    let truth_grid = PointGrid::new(&truth, SEARCH_RADIUS_M);
    let reco_grid = PointGrid::new(&reco, SEARCH_RADIUS_M);
    let mut to_truth: Vec<f64> = reco
        .par_iter()
        .map(|p| truth_grid.nearest_within_cell(p).unwrap_or(f64::INFINITY))
        .collect();
    let to_reco: Vec<f64> = truth
        .par_iter()
        .map(|p| reco_grid.nearest_within_cell(p).unwrap_or(f64::INFINITY))
        .collect();
    let fraction = |d: &[f64], tau: f64| {
        if d.is_empty() {
            0.0
        } else {
            d.iter().filter(|&&x| x <= tau).count() as f64 / d.len() as f64
        }
    };
    let f_score = |p: f64, r: f64| {
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    };
    let (p1, r1) = (fraction(&to_truth, 0.01), fraction(&to_reco, 0.01));
    let (p2, r2) = (fraction(&to_truth, 0.02), fraction(&to_reco, 0.02));
    to_truth.sort_by(f64::total_cmp);
    let median = to_truth
        .get(to_truth.len() / 2)
        .copied()
        .unwrap_or(f64::INFINITY)
        .min(SEARCH_RADIUS_M);
    Metrics {
        accuracy_median_m: median,
        precision_1cm: p1,
        completeness_1cm: r1,
        f_score_1cm: f_score(p1, r1),
        precision_2cm: p2,
        completeness_2cm: r2,
        f_score_2cm: f_score(p2, r2),
        points: reco.len(),
        truth_points: truth.len(),
        search_radius_m: SEARCH_RADIUS_M,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_shifted_clouds_score_as_expected() {
        let truth: Vec<[f32; 3]> = (0..50)
            .flat_map(|i| (0..50).map(move |j| [i as f32 * 0.005, j as f32 * 0.005, 0.0]))
            .collect();
        let roi = (Point3::new(-1.0, -1.0, -1.0), Point3::new(1.0, 1.0, 1.0));
        let m = evaluate(&truth, &truth, &roi);
        assert!((m.f_score_2cm - 1.0).abs() < 1e-12 && m.accuracy_median_m == 0.0);
        let shifted: Vec<[f32; 3]> = truth.iter().map(|p| [p[0], p[1], 0.015]).collect();
        let m = evaluate(&shifted, &truth, &roi);
        assert!(m.f_score_1cm < 0.01 && m.f_score_2cm > 0.99, "{m:?}");
        assert!((m.accuracy_median_m - 0.015).abs() < 1e-6);
    }
}
