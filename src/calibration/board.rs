//! Calibration boards: the checkerboard spec (`checker:COLSxROWS:SQUARE_M`)
//! and its corners in the board frame.
//!
//! Board frame: origin at inner corner (0, 0), x along a row (increasing
//! column), y down the columns (increasing row), z = 0 on the board and +z
//! into the board (away from a camera that sees its printed face), exactly
//! OpenCV's object points `(col * s, row * s, 0)`. Corner `k` is at
//! `row = k / cols`, `col = k % cols` (OpenCV's order).

use std::fmt;
use std::str::FromStr;

use nalgebra::Point3;

/// A checkerboard: inner-corner counts and square size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoardSpec {
    /// Inner corners along a row (OpenCV's pattern width).
    pub cols: usize,
    /// Inner corners down a column (OpenCV's pattern height).
    pub rows: usize,
    /// Square side, metres.
    pub square_m: f64,
}

/// A `--board` value that does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "--board {value:?}: {reason} (expected checker:COLSxROWS:SQUARE_M, e.g. checker:9x6:0.025)"
)]
pub struct BoardSpecError {
    /// The value given.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for BoardSpec {
    type Err = BoardSpecError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| BoardSpecError {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parts = value.split(':');
        let (Some(kind), Some(size), Some(square), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("needs three ':'-separated parts"));
        };
        if kind != "checker" {
            return Err(bad(&format!(
                "unknown board kind {kind:?}; only `checker` is supported"
            )));
        }
        let (cols, rows) = size
            .split_once(['x', 'X'])
            .ok_or_else(|| bad("corner counts must look like 9x6"))?;
        let cols: usize = cols
            .parse()
            .map_err(|_| bad("corner count along a row is not a whole number"))?;
        let rows: usize = rows
            .parse()
            .map_err(|_| bad("corner count down a column is not a whole number"))?;
        if cols < 3 || rows < 3 {
            return Err(bad("a board needs at least 3x3 inner corners"));
        }
        let square_m: f64 = square
            .parse()
            .map_err(|_| bad("square size is not a number"))?;
        if !(square_m.is_finite() && square_m > 0.0) {
            return Err(bad("square size must be positive, in metres"));
        }
        Ok(Self {
            cols,
            rows,
            square_m,
        })
    }
}

impl fmt::Display for BoardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "checker:{}x{}:{}", self.cols, self.rows, self.square_m)
    }
}

impl BoardSpec {
    /// Number of inner corners.
    #[must_use]
    pub fn corner_count(&self) -> usize {
        self.cols * self.rows
    }

    /// Inner corner `k` in the board frame (OpenCV order), metres.
    #[must_use]
    pub fn corner_in_board(&self, k: usize) -> Point3<f64> {
        let (row, col) = (k / self.cols, k % self.cols);
        Point3::new(col as f64 * self.square_m, row as f64 * self.square_m, 0.0)
    }

    /// All inner corners in the board frame (OpenCV order), metres.
    #[must_use]
    pub fn corners_in_board(&self) -> Vec<Point3<f64>> {
        (0..self.corner_count())
            .map(|k| self.corner_in_board(k))
            .collect()
    }

    /// All inner corners as board-plane points (x, y), metres.
    #[must_use]
    pub fn corners_in_plane(&self) -> Vec<nalgebra::Point2<f64>> {
        (0..self.corner_count())
            .map(|k| {
                let p = self.corner_in_board(k);
                nalgebra::Point2::new(p.x, p.y)
            })
            .collect()
    }

    /// True when a half turn maps the board's colours onto themselves, so
    /// the corner order cannot be told from the picture (both corner counts
    /// odd or both even). Such a board calibrates one camera, but two
    /// cameras may number its corners from opposite ends.
    #[must_use]
    pub fn is_half_turn_symmetric(&self) -> bool {
        (self.cols + self.rows).is_multiple_of(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_opencv_sample_board() {
        let board: BoardSpec = "checker:9x6:0.025".parse().unwrap();
        assert_eq!((board.cols, board.rows), (9, 6));
        assert!((board.square_m - 0.025).abs() < 1e-12);
        assert_eq!(board.corner_count(), 54);
        assert_eq!(board.corner_in_board(10), Point3::new(0.025, 0.025, 0.0));
        assert!(!board.is_half_turn_symmetric());
        assert_eq!(board.to_string(), "checker:9x6:0.025");
    }

    #[test]
    fn rejects_malformed_boards_naming_the_problem() {
        for (value, needle) in [
            ("charuco:9x6:0.025", "unknown board kind"),
            ("checker:9:0.025", "9x6"),
            ("checker:9x6", "three"),
            ("checker:9x6:-1", "positive"),
            ("checker:2x6:0.02", "3x3"),
            ("checker:axb:0.02", "whole number"),
        ] {
            let error = value.parse::<BoardSpec>().unwrap_err().to_string();
            assert!(error.contains(needle), "{value}: {error}");
        }
    }
}
