//! Pivot tracking: a move's pivot follows the play to wherever it is at the
//! replay's instant, so one template frames the action at any instant of a
//! playlist (or of a live replay) without the operator placing the pivot.
//!
//! The foreground cloud of the frozen instant (players and ball, found
//! against the clean plates) is binned in ground cells of [`CELL_M`]; cells
//! with a few points are linked with their 8 neighbours into figures;
//! figures holding less than [`MIN_FIGURE_SHARE`] of the points are noise.
//! The pivot moves on the ground plane to the median of the chosen points
//! and keeps the template's height:
//! - `"track": "action"`: all figures (the middle of the play);
//! - `"track": {"near": [x, y]}`: the figure nearest that ground point.

use std::collections::{HashMap, VecDeque};

use nalgebra::Point3;
use serde::{Deserialize, Serialize};

use crate::reconstruct::PointCloud;

/// Ground cell of the figure grouping, metres.
pub const CELL_M: f64 = 0.1;
/// Points a cell needs to count as occupied (single floaters do not link figures).
pub const MIN_POINTS_PER_CELL: usize = 3;
/// Share of the foreground's points below which a figure is noise.
pub const MIN_FIGURE_SHARE: f64 = 0.02;
/// Points lower than this above the ground are not figures (shadow edges,
/// ground texture that leaked into the foreground), metres.
pub const MIN_HEIGHT_M: f64 = 0.05;

/// What a tracked pivot follows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PivotTrack {
    /// The middle of all figures in the foreground.
    Action,
    /// The figure nearest this ground point (world x, y metres).
    Near([f64; 2]),
}

/// A figure: the foreground points of one connected group of ground cells.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Median ground position (x, y), metres.
    pub centre_xy: [f64; 2],
    /// Points in it.
    pub points: usize,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_xy(cloud: &PointCloud, members: &[usize]) -> [f64; 2] {
    let mut xs: Vec<f64> = members
        .iter()
        .map(|&i| f64::from(cloud.positions_in_world[i][0]))
        .collect();
    let mut ys: Vec<f64> = members
        .iter()
        .map(|&i| f64::from(cloud.positions_in_world[i][1]))
        .collect();
    [median(&mut xs), median(&mut ys)]
}

/// Groups `foreground` into figures, largest first, with the point indices
/// of each (the ground is the plane z = 0, design.md section 2).
#[must_use]
pub fn figures(foreground: &PointCloud) -> Vec<(Figure, Vec<usize>)> {
    let mut cells: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for (i, p) in foreground.positions_in_world.iter().enumerate() {
        let [x, y, z] = p.map(f64::from);
        if !(x.is_finite() && y.is_finite() && z >= MIN_HEIGHT_M) {
            continue;
        }
        let key = ((x / CELL_M).floor() as i64, (y / CELL_M).floor() as i64);
        cells.entry(key).or_default().push(i);
    }
    cells.retain(|_, members| members.len() >= MIN_POINTS_PER_CELL);
    let total: usize = cells.values().map(Vec::len).sum();
    let mut keys: Vec<(i64, i64)> = cells.keys().copied().collect();
    // Deterministic order, whatever the hash map's.
    keys.sort_unstable();
    let mut seen: HashMap<(i64, i64), ()> = HashMap::with_capacity(keys.len());
    let mut out = Vec::new();
    for start in keys {
        if seen.insert(start, ()).is_some() {
            continue;
        }
        let mut members = Vec::new();
        let mut queue = VecDeque::from([start]);
        while let Some((cx, cy)) = queue.pop_front() {
            if let Some(points) = cells.get(&(cx, cy)) {
                members.extend_from_slice(points);
            }
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let next = (cx + dx, cy + dy);
                    if cells.contains_key(&next) && seen.insert(next, ()).is_none() {
                        queue.push_back(next);
                    }
                }
            }
        }
        if (members.len() as f64) < MIN_FIGURE_SHARE * total as f64 {
            continue;
        }
        let figure = Figure {
            centre_xy: median_xy(foreground, &members),
            points: members.len(),
        };
        out.push((figure, members));
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.0.points));
    out
}

/// The pivot `track` picks in `foreground`, at the template's `pivot_z`;
/// `None` when the foreground holds no figure.
#[must_use]
pub fn tracked_pivot(
    foreground: &PointCloud,
    track: PivotTrack,
    pivot_z: f64,
) -> Option<Point3<f64>> {
    let found = figures(foreground);
    let [x, y] = match track {
        PivotTrack::Action => {
            let all: Vec<usize> = found.iter().flat_map(|(_, m)| m.iter().copied()).collect();
            if all.is_empty() {
                return None;
            }
            median_xy(foreground, &all)
        }
        PivotTrack::Near([nx, ny]) => found.iter().map(|(f, _)| f.centre_xy).min_by(|a, b| {
            let d = |c: &[f64; 2]| (c[0] - nx).hypot(c[1] - ny);
            d(a).total_cmp(&d(b))
        })?,
    };
    Some(Point3::new(x, y, pivot_z))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column of points (a standing figure) at (x, y), `n` x `n` x 20.
    fn column(cloud: &mut PointCloud, x: f64, y: f64, n: usize) {
        for i in 0..n {
            for j in 0..n {
                for k in 0..20 {
                    let p = [
                        x + (i as f64 / n as f64 - 0.5) * 0.4,
                        y + (j as f64 / n as f64 - 0.5) * 0.3,
                        0.1 + 0.08 * k as f64,
                    ];
                    cloud.positions_in_world.push(p.map(|v| v as f32));
                    cloud.colors.push([200, 0, 0]);
                    cloud.normals.push([0.0, 0.0, 1.0]);
                    cloud.radii_m.push(0.01);
                }
            }
        }
    }

    #[test]
    fn figures_are_found_and_the_nearest_is_tracked() {
        let mut cloud = PointCloud::default();
        column(&mut cloud, -1.0, 0.5, 12);
        column(&mut cloud, 1.5, -0.5, 10);
        // A floater and ground noise: neither is a figure.
        column(&mut cloud, 2.8, 2.8, 1);
        cloud.positions_in_world.push([0.0, 0.0, 0.01]);
        cloud.colors.push([0; 3]);
        cloud.normals.push([0.0, 0.0, 1.0]);
        cloud.radii_m.push(0.01);

        let found = figures(&cloud);
        assert_eq!(
            found.len(),
            2,
            "{:?}",
            found.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        assert!(
            (found[0].0.centre_xy[0] + 1.0).abs() < 0.05,
            "{:?}",
            found[0].0
        );
        assert!(
            (found[1].0.centre_xy[1] + 0.5).abs() < 0.05,
            "{:?}",
            found[1].0
        );

        let near = tracked_pivot(&cloud, PivotTrack::Near([1.0, 0.0]), 0.9).unwrap();
        assert!((near - Point3::new(1.5, -0.5, 0.9)).norm() < 0.05, "{near}");
        let near = tracked_pivot(&cloud, PivotTrack::Near([-3.0, 3.0]), 1.1).unwrap();
        assert!((near - Point3::new(-1.0, 0.5, 1.1)).norm() < 0.05, "{near}");
        // The action's middle lies between the two, towards the bigger one.
        let action = tracked_pivot(&cloud, PivotTrack::Action, 0.9).unwrap();
        assert!(action.x > -1.05 && action.x < 1.55, "{action}");
        assert!(tracked_pivot(&PointCloud::default(), PivotTrack::Action, 0.9).is_none());
    }

    #[test]
    fn track_parses_both_forms() {
        let action: PivotTrack = serde_json::from_str(r#""action""#).unwrap();
        assert_eq!(action, PivotTrack::Action);
        let near: PivotTrack = serde_json::from_str(r#"{"near": [1.0, -2.0]}"#).unwrap();
        assert_eq!(near, PivotTrack::Near([1.0, -2.0]));
        assert!(serde_json::from_str::<PivotTrack>(r#""ball""#).is_err());
    }
}
