//! Semi-global aggregation (Hirschmüller, "Stereo processing by semiglobal
//! matching and mutual information", 2008) of the coarsest sweep level's
//! cost volume.
//!
//! The plane sweep picks each pixel's depth by its own window alone. On a
//! weakly textured surface that few cameras see (a prop's side seen by two
//! cameras at a wide angle), a wrong depth can score best by chance: at
//! the coarsest level, where every later level searches only near its
//! parent's depth, such a pixel is lost for good. Aggregation lets each
//! pixel's choice weigh its neighbours' along 8 image paths: a depth
//! sample may change by one from pixel to pixel at a small penalty, by
//! more at a large one, so that surfaces come out piecewise smooth while
//! their edges stay sharp.
//!
//! Each pixel's samples are spread over its own ray's segment inside the
//! volume of interest; neighbouring pixels' segments are nearly the same,
//! so sample `k` means nearly the same depth at both, which is what the
//! penalties assume.

use rayon::prelude::*;

use super::cpu_ref::INVALID_SCORE;
use super::plane_sweep::DepthMap;

/// The two smoothness penalties, in cost units: a sample's cost is
/// `(1 - NCC) / 2`, in 0..1 (1 where it could not be scored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalties {
    /// A change of one depth sample between neighbouring pixels.
    pub small: f32,
    /// A larger change (a depth edge).
    pub large: f32,
}

/// Image paths aggregated: the 4 axes and the 4 diagonals, as (dx, dy).
const PATHS: [(i32, i32); 8] = [
    (1, 0),
    (-1, 0),
    (0, 1),
    (0, -1),
    (1, 1),
    (-1, 1),
    (1, -1),
    (-1, -1),
];

/// Replaces `map`'s depths and scores by the winners of its cost volume
/// aggregated along 8 paths (a sub-sample parabola through the aggregated
/// costs refines the depth; the score stays the winner's own NCC). Pixels
/// that were not swept keep no depth; a winner that could not be scored
/// leaves its pixel without one. A map without a volume is left as is;
/// returns whether it had one.
pub fn aggregate(map: &mut DepthMap, penalties: Penalties) -> bool {
    let pixels = (map.width * map.height) as usize;
    if pixels == 0 || map.volume.is_empty() || !map.volume.len().is_multiple_of(pixels) {
        return false;
    }
    let stride = map.volume.len() / pixels;
    if stride < 3 {
        return false;
    }
    let samples = stride - 2;
    let cost = costs(&map.volume, stride);
    let mut total = vec![0f32; pixels * samples];
    let mut path = vec![0f32; pixels * samples];
    for direction in PATHS {
        aggregate_path(
            &cost,
            &mut path,
            (map.width as usize, map.height as usize),
            samples,
            direction,
            penalties,
        );
        total
            .par_iter_mut()
            .zip(path.par_iter())
            .for_each(|(t, l)| *t += l);
    }
    let winners: Vec<(f32, f32)> = (0..pixels)
        .into_par_iter()
        .map(|p| {
            winner(
                &map.volume[p * stride..(p + 1) * stride],
                &total[p * samples..(p + 1) * samples],
            )
        })
        .collect();
    for (p, (depth_m, score)) in winners.into_iter().enumerate() {
        map.depth_m[p] = depth_m;
        map.score[p] = score;
    }
    true
}

/// Per pixel and sample, the matching cost: `(1 - NCC) / 2`, 1 where a
/// sample could not be scored, 0 everywhere at a pixel that was not swept
/// (it then passes its neighbours' costs along the paths).
fn costs(volume: &[f32], stride: usize) -> Vec<f32> {
    let samples = stride - 2;
    let mut cost = vec![0f32; volume.len() / stride * samples];
    cost.par_chunks_mut(samples)
        .zip(volume.par_chunks(stride))
        .filter(|(_, swept)| swept[1] > 0.0)
        .for_each(|(pixel_cost, swept)| {
            for (c, &s) in pixel_cost.iter_mut().zip(&swept[2..]) {
                *c = if s <= INVALID_SCORE {
                    1.0
                } else {
                    (0.5 * (1.0 - s)).clamp(0.0, 1.0)
                };
            }
        });
    cost
}

/// One path's aggregated costs `L(p, k) = C(p, k) + min(L(q, k),
/// L(q, k +- 1) + small, min L(q) + large) - min L(q)`, q the pixel before p
/// along `direction`, into `out`.
fn aggregate_path(
    cost: &[f32],
    out: &mut [f32],
    (width, height): (usize, usize),
    samples: usize,
    (dx, dy): (i32, i32),
    penalties: Penalties,
) {
    let row_words = width * samples;
    if dy == 0 {
        // Rows are independent; each runs along x.
        out.par_chunks_mut(row_words)
            .zip(cost.par_chunks(row_words))
            .for_each(|(row, row_cost)| {
                let x_at = |n: usize| if dx > 0 { n } else { width - 1 - n };
                let first = x_at(0) * samples;
                row[first..first + samples].copy_from_slice(&row_cost[first..first + samples]);
                for n in 1..width {
                    let (q, at) = (x_at(n - 1) * samples, x_at(n) * samples);
                    let (before, here) = split_pair(row, q, at, samples);
                    step(before, &row_cost[at..at + samples], here, penalties);
                }
            });
        return;
    }
    // Each row depends on the one before it along y; its pixels run in
    // parallel.
    let ys: Vec<usize> = if dy > 0 {
        (0..height).collect()
    } else {
        (0..height).rev().collect()
    };
    for (n, &y) in ys.iter().enumerate() {
        let row_cost = &cost[y * row_words..(y + 1) * row_words];
        if n == 0 {
            out[y * row_words..(y + 1) * row_words].copy_from_slice(row_cost);
            continue;
        }
        let q_row = ys[n - 1];
        let (previous, current) = if q_row < y {
            let (a, b) = out.split_at_mut(y * row_words);
            (
                &a[q_row * row_words..(q_row + 1) * row_words],
                &mut b[..row_words],
            )
        } else {
            let (a, b) = out.split_at_mut(q_row * row_words);
            (&b[..row_words], &mut a[y * row_words..(y + 1) * row_words])
        };
        current
            .par_chunks_mut(samples)
            .zip(row_cost.par_chunks(samples))
            .enumerate()
            .for_each(|(x, (here, here_cost))| {
                let qx = x as i64 - i64::from(dx);
                if qx < 0 || qx >= width as i64 {
                    here.copy_from_slice(here_cost);
                } else {
                    let q = qx as usize * samples;
                    step(&previous[q..q + samples], here_cost, here, penalties);
                }
            });
    }
}

/// The slices of `row` at `q` (read) and `at` (written), `samples` long;
/// `q` and `at` are different pixels.
fn split_pair(row: &mut [f32], q: usize, at: usize, samples: usize) -> (&[f32], &mut [f32]) {
    if q < at {
        let (a, b) = row.split_at_mut(at);
        (&a[q..q + samples], &mut b[..samples])
    } else {
        let (a, b) = row.split_at_mut(q);
        (&b[..samples], &mut a[at..at + samples])
    }
}

/// One pixel's aggregated costs from its predecessor's along a path.
fn step(before: &[f32], here_cost: &[f32], here: &mut [f32], penalties: Penalties) {
    let floor = before.iter().copied().fold(f32::INFINITY, f32::min);
    let samples = before.len();
    for k in 0..samples {
        let mut best = before[k].min(floor + penalties.large);
        if k > 0 {
            best = best.min(before[k - 1] + penalties.small);
        }
        if k + 1 < samples {
            best = best.min(before[k + 1] + penalties.small);
        }
        here[k] = here_cost[k] + best - floor;
    }
}

/// A pixel's depth and score from its swept samples (`first`, `step`,
/// scores) and its aggregated costs; (0, -1) when there is none.
fn winner(swept: &[f32], total: &[f32]) -> (f32, f32) {
    let (first, step) = (swept[0], swept[1]);
    if step <= 0.0 {
        return (0.0, INVALID_SCORE);
    }
    let mut best = 0;
    for (k, &t) in total.iter().enumerate() {
        if t < total[best] {
            best = k;
        }
    }
    let score = swept[2 + best];
    if score <= INVALID_SCORE {
        return (0.0, INVALID_SCORE);
    }
    let mut offset = 0.0;
    if best > 0 && best + 1 < total.len() {
        let (l, c, r) = (total[best - 1], total[best], total[best + 1]);
        let curvature = l - 2.0 * c + r;
        if curvature > 1e-9 {
            offset = (0.5 * (l - r) / curvature).clamp(-0.5, 0.5);
        }
    }
    (first + (best as f32 + offset) * step, score)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: usize = 16;

    /// A map whose every pixel scores sample `truth(x, y)` best (NCC 0.9,
    /// elsewhere 0.2), except `outliers` scoring sample 14 at 0.95.
    fn map(
        width: u32,
        height: u32,
        truth: impl Fn(u32, u32) -> usize,
        outliers: &[(u32, u32)],
    ) -> DepthMap {
        let stride = SAMPLES + 2;
        let pixels = (width * height) as usize;
        let mut volume = vec![0f32; pixels * stride];
        for y in 0..height {
            for x in 0..width {
                let p = (y * width + x) as usize;
                let swept = &mut volume[p * stride..(p + 1) * stride];
                swept[0] = 1.0;
                swept[1] = 0.1;
                for s in &mut swept[2..] {
                    *s = 0.2;
                }
                swept[2 + truth(x, y)] = 0.9;
                if outliers.contains(&(x, y)) {
                    swept[2 + 14] = 0.95;
                }
            }
        }
        DepthMap {
            width,
            height,
            depth_m: vec![0.0; pixels],
            score: vec![INVALID_SCORE; pixels],
            volume,
        }
    }

    const PENALTIES: Penalties = Penalties {
        small: 0.03,
        large: 0.15,
    };

    #[test]
    fn an_isolated_wrong_best_follows_its_neighbours() {
        let mut m = map(12, 10, |x, _| 3 + (x as usize) / 4, &[(5, 5), (6, 2)]);
        assert!(aggregate(&mut m, PENALTIES));
        for (x, y) in [(5u32, 5u32), (6, 2)] {
            let p = (y * 12 + x) as usize;
            let expected = 1.0 + (3 + x as usize / 4) as f32 * 0.1;
            assert!(
                (m.depth_m[p] - expected).abs() < 0.06,
                "pixel ({x},{y}): {} m, expected {expected} m",
                m.depth_m[p]
            );
            assert!((m.score[p] - 0.9).abs() < 1e-6, "its own NCC at the winner");
        }
    }

    #[test]
    fn a_depth_edge_stays_sharp() {
        // Left half at sample 2, right half at sample 12.
        let mut m = map(16, 8, |x, _| if x < 8 { 2 } else { 12 }, &[]);
        assert!(aggregate(&mut m, PENALTIES));
        for y in 0..8 {
            for x in 0..16 {
                let p = (y * 16 + x) as usize;
                let expected = if x < 8 { 1.2 } else { 2.2 };
                assert!(
                    (m.depth_m[p] - expected).abs() < 0.06,
                    "pixel ({x},{y}): {} m",
                    m.depth_m[p]
                );
            }
        }
    }

    #[test]
    fn unswept_pixels_get_no_depth_and_pass_costs_along() {
        let mut m = map(10, 6, |_, _| 5, &[]);
        // Column 4 was not swept (too plain): its step is 0.
        for y in 0..6 {
            let p = (y * 10 + 4) as usize * (SAMPLES + 2);
            m.volume[p + 1] = 0.0;
        }
        assert!(aggregate(&mut m, PENALTIES));
        for y in 0..6 {
            assert_eq!(m.depth_m[(y * 10 + 4) as usize], 0.0);
            assert!((m.depth_m[(y * 10 + 5) as usize] - 1.5).abs() < 0.06);
        }
    }

    #[test]
    fn a_map_without_a_volume_is_left_alone() {
        let mut m = map(4, 4, |_, _| 1, &[]);
        m.volume.clear();
        assert!(!aggregate(&mut m, PENALTIES));
        assert!(m.depth_m.iter().all(|d| *d == 0.0));
    }
}
