//! Checkerboard detection: ChESS corners labelled into a grid by the
//! `calib-targets-chessboard` crate, then the board is found in the grid,
//! numbered in OpenCV's order and refined to sub-pixel accuracy here.
//!
//! Numbering: the labelled grid is searched for a complete `cols x rows`
//! window (either way round). Of the eight ways to number it, only those
//! that keep the board's handedness (seen from its printed face, columns run
//! clockwise of rows in the y-down image) are rigid motions; of those, the
//! one whose corner (0, 0) has a dark square diagonally outside it wins,
//! which is OpenCV's printed pattern (dark top-left square).
//!
//! Refinement is the gradient-orthogonality iteration of OpenCV's
//! `cornerSubPix`: at the true corner every image gradient in a window is
//! orthogonal to the vector from the corner to where it is measured, so the
//! corner is the least-squares point of those lines, re-solved until it
//! moves less than 0.001 px.

use std::collections::HashMap;

use calib_targets_chessboard::{
    ChessboardDetector, ChessboardParams, DetectorConfig, GrayImageView, default_chess_config,
    detect_corners,
};
use image::GrayImage;
use nalgebra::{Matrix2, Point2, Vector2};

use super::board::BoardSpec;

/// Half-size of the refinement window, pixels (OpenCV's samples use 11x11).
const SUBPIX_HALF_WINDOW_PX: i32 = 5;
/// Corners a board may miss in the grid and still be used (they are
/// predicted from the others, then refined).
const MAX_MISSING_CORNERS: usize = 3;
/// Squares smaller than this (median corner spacing), pixels, are not used.
const MIN_SQUARE_PX: f64 = 4.0;
/// Refinement stops after this many iterations…
const SUBPIX_MAX_ITERATIONS: usize = 30;
/// …or when the corner moves less than this, pixels.
const SUBPIX_EPSILON_PX: f64 = 0.001;

/// A board found in one image: corners in OpenCV order, pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardDetection {
    /// Corner `k` (row `k / cols`, column `k % cols`), pixel centres at integers.
    pub corners_px: Vec<Point2<f64>>,
}

/// Why no board was found in an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectMiss {
    /// No chessboard-like grid at all.
    NoGrid,
    /// A grid, but not one complete `cols x rows` window in it (none, or
    /// several when the grid is bigger than the board); the size of the
    /// labelled grid is given (columns, rows), to spot a wrong `--board`.
    Incomplete {
        /// Labelled grid width, corners.
        grid_cols: usize,
        /// Labelled grid height, corners.
        grid_rows: usize,
    },
    /// More than one complete window, or no numbering whose corner squares
    /// have the printed colours: the board cannot be told from the grid.
    Ambiguous,
    /// Squares too small or too oblique to locate corners (under 4 px, or
    /// refinement pulled two corners together).
    TooSmall,
}

/// Finds one board per image; holds the configured detectors.
pub struct BoardDetector {
    board: BoardSpec,
    corner_config: DetectorConfig,
    grid: ChessboardDetector,
}

impl std::fmt::Debug for BoardDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoardDetector")
            .field("board", &self.board)
            .finish_non_exhaustive()
    }
}

impl BoardDetector {
    /// A detector for `board`.
    ///
    /// # Panics
    /// Never: the grid detector's default parameters are valid.
    #[must_use]
    pub fn new(board: BoardSpec) -> Self {
        #[allow(clippy::expect_used)]
        let grid = ChessboardDetector::new(ChessboardParams::default())
            .expect("the chessboard crate's default parameters are valid");
        Self {
            board,
            corner_config: default_chess_config(),
            grid,
        }
    }

    /// The board this detector looks for.
    #[must_use]
    pub fn board(&self) -> BoardSpec {
        self.board
    }

    /// Finds the board in `gray`.
    ///
    /// # Errors
    /// [`DetectMiss`] saying why no complete board was found.
    pub fn detect(&self, gray: &GrayImage) -> Result<BoardDetection, DetectMiss> {
        let view = GrayImageView {
            width: gray.width() as usize,
            height: gray.height() as usize,
            data: gray.as_raw(),
        };
        let corners = detect_corners(&view, &self.corner_config);
        let detection = self.grid.detect(&corners).ok_or(DetectMiss::NoGrid)?;
        let labelled: HashMap<(i32, i32), Point2<f64>> = detection
            .corners
            .iter()
            .map(|c| {
                (
                    (c.grid.u, c.grid.v),
                    Point2::new(f64::from(c.position.x), f64::from(c.position.y)),
                )
            })
            .collect();
        let coarse = number_board(&labelled, self.board, gray)?;
        let half_window = refinement_half_window(&coarse, self.board);
        let corners_px: Vec<Point2<f64>> = coarse
            .iter()
            .map(|corner| refine_corner(gray, *corner, half_window))
            .collect();
        if refined_grid_collapsed(&corners_px, self.board) {
            return Err(DetectMiss::TooSmall);
        }
        Ok(BoardDetection { corners_px })
    }
}

/// Finds the complete board window in a labelled grid and numbers it.
fn number_board(
    labelled: &HashMap<(i32, i32), Point2<f64>>,
    board: BoardSpec,
    gray: &GrayImage,
) -> Result<Vec<Point2<f64>>, DetectMiss> {
    let u_min = labelled
        .keys()
        .map(|k| k.0)
        .min()
        .ok_or(DetectMiss::NoGrid)?;
    let u_max = labelled
        .keys()
        .map(|k| k.0)
        .max()
        .ok_or(DetectMiss::NoGrid)?;
    let v_min = labelled
        .keys()
        .map(|k| k.1)
        .min()
        .ok_or(DetectMiss::NoGrid)?;
    let v_max = labelled
        .keys()
        .map(|k| k.1)
        .max()
        .ok_or(DetectMiss::NoGrid)?;
    let (cols, rows) = (board.cols as i32, board.rows as i32);
    let present = |u0: i32, v0: i32, width: i32, height: i32| {
        (0..height)
            .flat_map(|dv| (0..width).map(move |du| (u0 + du, v0 + dv)))
            .filter(|key| labelled.contains_key(key))
            .count()
    };
    // Windows (u0, v0, transposed, corners present): transposed means the
    // board's rows run along the grid's v axis. A window may miss a few
    // corners (the ChESS pass can drop one next to a glare or blur); they
    // are predicted from the others and refined like the rest.
    let mut windows = Vec::new();
    for transposed in [false, true] {
        if transposed && cols == rows {
            continue;
        }
        let (width, height) = if transposed {
            (rows, cols)
        } else {
            (cols, rows)
        };
        for v0 in v_min - 1..=v_max - height + 2 {
            for u0 in u_min - 1..=u_max - width + 2 {
                windows.push((u0, v0, transposed, present(u0, v0, width, height)));
            }
        }
    }
    let most = windows.iter().map(|w| w.3).max().unwrap_or(0);
    let best: Vec<_> = windows.iter().filter(|w| w.3 == most).collect();
    if most + MAX_MISSING_CORNERS < board.corner_count() {
        return Err(DetectMiss::Incomplete {
            grid_cols: (u_max - u_min + 1) as usize,
            grid_rows: (v_max - v_min + 1) as usize,
        });
    }
    let &[&(u0, v0, transposed, _)] = best.as_slice() else {
        // Several complete windows: the grid is bigger than the board.
        return Err(DetectMiss::Incomplete {
            grid_cols: (u_max - u_min + 1) as usize,
            grid_rows: (v_max - v_min + 1) as usize,
        });
    };
    let mut labelled = labelled.clone();
    fill_missing(&mut labelled, board, (u0, v0, transposed), gray);
    let labelled = &labelled;
    // The window's corners, indexed [a][b] with a along the board's rows.
    let at = |col: i32, row: i32, flip_col: bool, flip_row: bool| {
        let c = if flip_col { cols - 1 - col } else { col };
        let r = if flip_row { rows - 1 - row } else { row };
        let key = if transposed {
            (u0 + r, v0 + c)
        } else {
            (u0 + c, v0 + r)
        };
        labelled.get(&key).copied()
    };
    let mut best: Option<(f64, Vec<Point2<f64>>)> = None;
    let plane: Vec<Point2<f64>> = (0..board.corner_count())
        .map(|k| Point2::new((k % board.cols) as f64, (k / board.cols) as f64))
        .collect();
    for (flip_col, flip_row) in [(false, false), (true, true), (true, false), (false, true)] {
        let numbered: Option<Vec<Point2<f64>>> = (0..rows)
            .flat_map(|row| (0..cols).map(move |col| (col, row)))
            .map(|(col, row)| at(col, row, flip_col, flip_row))
            .collect();
        let Some(numbered) = numbered else { continue };
        let origin = numbered[0];
        let along_row = numbered[1] - origin;
        let down_column = numbered[board.cols] - origin;
        // Seen from the printed face, columns turn clockwise into rows.
        if along_row.perp(&down_column) <= 0.0 {
            continue;
        }
        // The square diagonally outside corner (0, 0) is dark and the one
        // beside it light; square centres come from the board's homography
        // (in square units), which stays right on small, oblique boards.
        let Some(h) = super::zhang::homography(&plane, &numbered) else {
            continue;
        };
        let centre = |x: f64, y: f64| {
            let p = h * nalgebra::Vector3::new(x, y, 1.0);
            Point2::new(p.x / p.z, p.y / p.z)
        };
        let contrast = mean_around(gray, centre(-0.5, 0.5)) - mean_around(gray, centre(-0.5, -0.5));
        if best.as_ref().is_none_or(|(c, _)| contrast > *c) {
            best = Some((contrast, numbered));
        }
    }
    match best {
        Some((contrast, numbered)) if contrast > 0.0 => Ok(numbered),
        _ => Err(DetectMiss::Ambiguous),
    }
}

/// Predicts the window's missing corners from a homography of its present
/// ones, then refines them from the image.
fn fill_missing(
    labelled: &mut HashMap<(i32, i32), Point2<f64>>,
    board: BoardSpec,
    (u0, v0, transposed): (i32, i32, bool),
    gray: &GrayImage,
) {
    let (width, height) = if transposed {
        (board.rows as i32, board.cols as i32)
    } else {
        (board.cols as i32, board.rows as i32)
    };
    let keys: Vec<(i32, i32)> = (0..height)
        .flat_map(|dv| (0..width).map(move |du| (u0 + du, v0 + dv)))
        .collect();
    let (known, missing): (Vec<_>, Vec<_>) = keys.iter().partition(|k| labelled.contains_key(k));
    if missing.is_empty() {
        return;
    }
    let grid: Vec<Point2<f64>> = known
        .iter()
        .map(|(u, v)| Point2::new(f64::from(*u), f64::from(*v)))
        .collect();
    let pixels: Vec<Point2<f64>> = known
        .iter()
        .filter_map(|k| labelled.get(k).copied())
        .collect();
    let Some(h) = super::zhang::homography(&grid, &pixels) else {
        return;
    };
    for (u, v) in missing {
        let p = h * nalgebra::Vector3::new(f64::from(u), f64::from(v), 1.0);
        if p.z.abs() < 1e-12 {
            continue;
        }
        let predicted = Point2::new(p.x / p.z, p.y / p.z);
        labelled.insert(
            (u, v),
            refine_corner(gray, predicted, SUBPIX_HALF_WINDOW_PX),
        );
    }
}

/// True when refinement pulled two neighbouring corners (almost) together:
/// squares too small or too oblique for the window.
fn refined_grid_collapsed(corners: &[Point2<f64>], board: BoardSpec) -> bool {
    let mut spacings = Vec::new();
    for k in 0..corners.len() {
        let (row, col) = (k / board.cols, k % board.cols);
        if col + 1 < board.cols {
            spacings.push((corners[k + 1] - corners[k]).norm());
        }
        if row + 1 < board.rows {
            spacings.push((corners[k + board.cols] - corners[k]).norm());
        }
    }
    spacings.sort_by(f64::total_cmp);
    let median = spacings.get(spacings.len() / 2).copied().unwrap_or(0.0);
    median < MIN_SQUARE_PX || spacings.first().is_some_and(|s| *s < 0.4 * median)
}

/// Mean intensity of the 3x3 pixels around `point` (255 outside the image,
/// so an off-image square never counts as dark).
fn mean_around(gray: &GrayImage, point: Point2<f64>) -> f64 {
    let (x0, y0) = (point.x.round() as i64, point.y.round() as i64);
    let mut sum = 0.0;
    for dy in -1..=1 {
        for dx in -1..=1 {
            let (x, y) = (x0 + dx, y0 + dy);
            sum += if x >= 0
                && y >= 0
                && x < i64::from(gray.width())
                && y < i64::from(gray.height())
            {
                f64::from(gray.get_pixel(x as u32, y as u32).0[0])
            } else {
                255.0
            };
        }
    }
    sum / 9.0
}

/// The refinement window: OpenCV's 11x11 unless squares are so small that
/// it would reach the next corner.
fn refinement_half_window(corners: &[Point2<f64>], board: BoardSpec) -> i32 {
    let mut spacing_px = f64::INFINITY;
    for row in 0..board.rows {
        for col in 0..board.cols {
            let k = row * board.cols + col;
            if col + 1 < board.cols {
                spacing_px = spacing_px.min((corners[k + 1] - corners[k]).norm());
            }
            if row + 1 < board.rows {
                spacing_px = spacing_px.min((corners[k + board.cols] - corners[k]).norm());
            }
        }
    }
    ((spacing_px * 0.5).floor() as i32).clamp(2, SUBPIX_HALF_WINDOW_PX)
}

/// Bilinear sample with edge clamping.
fn sample(gray: &GrayImage, x: f64, y: f64) -> f64 {
    let max_x = f64::from(gray.width() - 1);
    let max_y = f64::from(gray.height() - 1);
    let (x, y) = (x.clamp(0.0, max_x), y.clamp(0.0, max_y));
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as u32, y0 as u32);
    let (x1, y1) = (
        (x0 + 1).min(gray.width() - 1),
        (y0 + 1).min(gray.height() - 1),
    );
    let p = |x: u32, y: u32| f64::from(gray.get_pixel(x, y).0[0]);
    (p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx) * (1.0 - fy)
        + (p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx) * fy
}

/// Sub-pixel corner refinement (OpenCV `cornerSubPix` with no dead zone).
#[must_use]
pub fn refine_corner(gray: &GrayImage, start_px: Point2<f64>, half_window: i32) -> Point2<f64> {
    let side = (2 * half_window + 3) as usize;
    let weight_scale = 1.0 / f64::from(half_window * half_window);
    let mut corner = start_px;
    let mut patch = vec![0.0; side * side];
    for _ in 0..SUBPIX_MAX_ITERATIONS {
        // Patch of (2w+3)^2 samples centred on the estimate, for gradients.
        for (j, row) in patch.chunks_mut(side).enumerate() {
            for (i, value) in row.iter_mut().enumerate() {
                let dx = i as f64 - f64::from(half_window + 1);
                let dy = j as f64 - f64::from(half_window + 1);
                *value = sample(gray, corner.x + dx, corner.y + dy);
            }
        }
        let mut normal = Matrix2::<f64>::zeros();
        let mut rhs = Vector2::<f64>::zeros();
        for dy in -half_window..=half_window {
            for dx in -half_window..=half_window {
                let (i, j) = (
                    (dx + half_window + 1) as usize,
                    (dy + half_window + 1) as usize,
                );
                let gx = patch[j * side + i + 1] - patch[j * side + i - 1];
                let gy = patch[(j + 1) * side + i] - patch[(j - 1) * side + i];
                let weight = (-f64::from(dx * dx + dy * dy) * weight_scale).exp();
                let (gxx, gxy, gyy) = (gx * gx * weight, gx * gy * weight, gy * gy * weight);
                normal += Matrix2::new(gxx, gxy, gxy, gyy);
                let offset = Vector2::new(f64::from(dx), f64::from(dy));
                rhs += Vector2::new(
                    gxx * offset.x + gxy * offset.y,
                    gxy * offset.x + gyy * offset.y,
                );
            }
        }
        let Some(inverse) = normal.try_inverse() else {
            break;
        };
        let next = corner + inverse * rhs;
        let moved = (next - corner).norm();
        corner = next;
        if moved < SUBPIX_EPSILON_PX {
            break;
        }
    }
    // Like OpenCV: a corner that wandered out of its window is not trusted.
    if (corner - start_px).abs().max() > f64::from(half_window) {
        start_px
    } else {
        corner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fronto-parallel board drawn with 4x4 supersampling, squares of
    /// `square_px`, corner (0, 0) at `origin`, dark top-left square.
    fn drawn_board(board: BoardSpec, square_px: f64, origin: (f64, f64)) -> GrayImage {
        let width = ((board.cols as f64 + 3.0) * square_px + origin.0) as u32;
        let height = ((board.rows as f64 + 3.0) * square_px + origin.1) as u32;
        GrayImage::from_fn(width, height, |x, y| {
            let mut sum = 0.0_f64;
            for sy in 0..4 {
                for sx in 0..4 {
                    let px = f64::from(x) + (f64::from(sx) + 0.5) / 4.0 - 0.5;
                    let py = f64::from(y) + (f64::from(sy) + 0.5) / 4.0 - 0.5;
                    let u = ((px - origin.0) / square_px).floor() as i64;
                    let v = ((py - origin.1) / square_px).floor() as i64;
                    let inside =
                        u >= -1 && v >= -1 && u < board.cols as i64 && v < board.rows as i64;
                    let dark = inside && (u + v).rem_euclid(2) == 0;
                    sum += if dark { 30.0 } else { 220.0 };
                }
            }
            image::Luma([(sum / 16.0).round() as u8])
        })
    }

    #[test]
    fn finds_numbers_and_refines_a_drawn_board() {
        let board = BoardSpec {
            cols: 9,
            rows: 6,
            square_m: 0.025,
        };
        let origin = (70.3, 60.7);
        let square_px = 31.0;
        let gray = drawn_board(board, square_px, origin);
        let found = BoardDetector::new(board).detect(&gray).unwrap();
        assert_eq!(found.corners_px.len(), 54);
        for (k, corner) in found.corners_px.iter().enumerate() {
            let expected = Point2::new(
                origin.0 + (k % 9) as f64 * square_px,
                origin.1 + (k / 9) as f64 * square_px,
            );
            assert!(
                (corner - expected).norm() < 0.05,
                "corner {k}: {corner} vs {expected}"
            );
        }
    }

    #[test]
    fn a_wrong_board_size_reports_the_grid_it_saw() {
        let drawn = BoardSpec {
            cols: 7,
            rows: 5,
            square_m: 0.025,
        };
        let gray = drawn_board(drawn, 30.0, (60.0, 60.0));
        let wanted = BoardSpec {
            cols: 9,
            rows: 6,
            square_m: 0.025,
        };
        let miss = BoardDetector::new(wanted).detect(&gray).unwrap_err();
        assert!(
            matches!(miss, DetectMiss::Incomplete { grid_cols, grid_rows } if grid_cols * grid_rows == 35),
            "{miss:?}"
        );
    }

    #[test]
    fn refinement_recovers_an_offset_corner() {
        let board = BoardSpec {
            cols: 3,
            rows: 3,
            square_m: 0.02,
        };
        let gray = drawn_board(board, 24.0, (40.25, 40.75));
        // Like OpenCV's, the iteration locks slightly towards pixel
        // half-positions on a sharp corner (here 0.08 px per axis); what
        // matters is that it converges to one point from anywhere in the
        // window, at most 0.15 px from the truth.
        let truth = Point2::new(40.25, 40.75);
        let from_truth = refine_corner(&gray, truth, 5);
        for start in [(41.5, 39.8), (39.0, 41.9), (42.0, 42.0)] {
            let refined = refine_corner(&gray, Point2::new(start.0, start.1), 5);
            assert!(
                (refined - from_truth).norm() < 0.002,
                "{start:?}: {refined}"
            );
            assert!((refined - truth).norm() < 0.15, "{start:?}: {refined}");
        }
    }
}
