//! Time on the capture clock.
//!
//! Every timestamp in timeslice is an `i64` count of nanoseconds on the rig's
//! capture clock (see `design.md` section 2). A camera's own clock differs
//! from the rig clock by its `time_offset_ns`; `frame_sync` subtracts it.

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Duration of one frame at `fps`, rounded to the nearest nanosecond.
#[must_use]
pub fn frame_duration_ns(fps: f64) -> i64 {
    // Guard against zero/negative rates; a frame rate is validated upstream.
    if fps <= 0.0 {
        return NANOS_PER_SEC;
    }
    (NANOS_PER_SEC as f64 / fps).round() as i64
}

/// Capture time of frame `index` at `fps` starting at 0.
#[must_use]
pub fn frame_time_ns(index: u64, fps: f64) -> i64 {
    (index as f64 * NANOS_PER_SEC as f64 / fps).round() as i64
}

/// Converts seconds to nanoseconds.
#[must_use]
pub fn secs_to_ns(secs: f64) -> i64 {
    (secs * NANOS_PER_SEC as f64).round() as i64
}

/// Converts nanoseconds to seconds.
#[must_use]
pub fn ns_to_secs(ns: i64) -> f64 {
    ns as f64 / NANOS_PER_SEC as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_times_round_trip() {
        assert_eq!(frame_duration_ns(25.0), 40_000_000);
        assert_eq!(frame_time_ns(3, 25.0), 120_000_000);
        assert_eq!(secs_to_ns(1.5), 1_500_000_000);
        assert!((ns_to_secs(frame_duration_ns(30.0)) - 1.0 / 30.0).abs() < 1e-9);
    }
}
