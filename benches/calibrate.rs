//! Calibration of a synthetic 8-camera ring with about 20 board views per
//! camera at 640x360 (the figure): board detection over every image,
//! and the solve (per-camera initialisation and adjustment, chaining, the
//! ring's bundle adjustment), measured separately, and the whole.
//!
//! `BENCH_SMOKE=1` runs 4 cameras and 24 placements.

#![allow(missing_docs)] // criterion_group! generates undocumented functions
#![allow(clippy::expect_used)] // bench code: a failure aborts the measurement

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use timeslice::calibration::{BoardDetector, CalibrateOptions, CameraDetections, calibrate};
use timeslice::synth::{BoardCapture, BoardCaptureSettings, board_capture};

fn detect_all(capture: &BoardCapture, detector: &BoardDetector) -> Vec<CameraDetections> {
    capture.detections(detector, |_, _| true)
}

fn bench_calibrate(c: &mut Criterion) {
    let smoke = std::env::var_os("BENCH_SMOKE").is_some();
    let settings = if smoke {
        BoardCaptureSettings {
            cameras: 4,
            placements: 24,
            supersample: 2,
            ..BoardCaptureSettings::default()
        }
    } else {
        BoardCaptureSettings::default()
    };
    let capture = board_capture(&settings);
    let detector = BoardDetector::new(settings.board);
    let detections = detect_all(&capture, &detector);
    let views: usize = detections.iter().map(|c| c.views.len()).sum();
    eprintln!(
        "calibrate bench: {} cameras, {views} images ({:.1} per camera)",
        detections.len(),
        views as f64 / detections.len() as f64
    );
    let options = CalibrateOptions::default();
    let mut group = c.benchmark_group("calibrate");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(if smoke { 1 } else { 20 }));
    group.warm_up_time(Duration::from_millis(if smoke { 100 } else { 1000 }));
    group.bench_function("detect_boards", |b| {
        b.iter(|| detect_all(&capture, &detector));
    });
    group.bench_function("solve", |b| {
        b.iter(|| calibrate(settings.board, &detections, None, &options).expect("calibrates"));
    });
    group.bench_function("detect_and_solve", |b| {
        b.iter(|| {
            let detections = detect_all(&capture, &detector);
            calibrate(settings.board, &detections, None, &options).expect("calibrates")
        });
    });
    group.finish();
}

criterion_group!(benches, bench_calibrate);
criterion_main!(benches);
