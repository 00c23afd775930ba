//! End to end through GStreamer: synthetic videos -> ingest -> frame sync
//! -> replay buffer; the demo to MP4 (checked with ffprobe); an orbit over
//! SRT to a local receiver.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use timeslice::engine;
use timeslice::output::{Destination, EncoderSettings};
use timeslice::render::{CameraPath, OrbitPath};
use timeslice::synth::{CaptureSettings, write_capture};

fn ffprobe(path: &std::path::Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames,pix_fmt",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (ffmpeg package) is installed by scripts/setup.sh");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["streams"][0].clone()
}

#[test]
fn synthetic_videos_are_ingested_into_complete_frame_sets() {
    let ctx = common::gpu();
    let dir = tempfile::tempdir().unwrap();
    let settings = CaptureSettings {
        cameras: 4,
        width: 160,
        height: 90,
        fps: 25,
        duration_s: 0.4,
        freeze_s: 0.2,
        ..CaptureSettings::default()
    };
    let capture = write_capture(&ctx, dir.path(), &settings, &|_, _| {}).unwrap();
    let report = engine::ingest_capture(&capture.rig, dir.path(), 25.0, &|_, _, _| {}).unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.frames_per_camera, vec![10; 4]);
    assert_eq!(report.sync.complete_sets, 10, "{:?}", report.sync);
    assert_eq!(report.buffer.len(), 10);
    let frozen = report.buffer.freeze(capture.manifest.freeze_ns).unwrap();
    assert_eq!(frozen.capture_ns, 200_000_000);
    // Decoded frames resemble the exact ones (H.264 at quantizer 10 and
    // 4:2:0 chroma: small differences at colour edges).
    let decoded = frozen.frames[1].as_ref().unwrap();
    let total: u64 = decoded
        .image
        .rgba
        .iter()
        .zip(&capture.freeze_frames[1])
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum();
    let mean_abs_error = total as f64 / decoded.image.rgba.len() as f64;
    assert!(
        mean_abs_error < 6.0,
        "decoded frame differs by {mean_abs_error:.2} levels on average"
    );
}

#[test]
fn a_dead_camera_is_reported_and_the_others_go_on() {
    let ctx = common::gpu();
    let dir = tempfile::tempdir().unwrap();
    let settings = CaptureSettings {
        cameras: 3,
        width: 96,
        height: 54,
        fps: 25,
        duration_s: 0.2,
        freeze_s: 0.0,
        ..CaptureSettings::default()
    };
    let capture = write_capture(&ctx, dir.path(), &settings, &|_, _| {}).unwrap();
    std::fs::write(dir.path().join("cam1.mp4"), b"this is not a video").unwrap();
    let report = engine::ingest_capture(&capture.rig, dir.path(), 25.0, &|_, _, _| {}).unwrap();
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(report.failures[0].contains("cam1"), "{:?}", report.failures);
    assert_eq!(report.frames_per_camera, vec![5, 0, 5]);
    assert_eq!(report.sync.missing_per_camera, vec![0, 5, 0]);
}

#[test]
fn demo_writes_an_h264_mp4_with_the_expected_frames() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("replay.mp4");
    let started = Instant::now();
    let result = Command::new(env!("CARGO_BIN_EXE_timeslice"))
        .args(["demo", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    println!(
        "demo wall time {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&result.stdout)
    );
    let stream = ffprobe(&out);
    assert_eq!(stream["codec_name"], "h264");
    assert_eq!(stream["width"], 1280);
    assert_eq!(stream["height"], 720);
    // The default orbit: 6 s at 30 fps.
    assert_eq!(stream["nb_read_frames"], "180");
    assert!(!dir.path().join("replay.mp4.partial").exists());
}

#[test]
fn orbit_streams_over_srt_to_a_local_receiver() {
    const PORT: u16 = 47_311;
    let dir = tempfile::tempdir().unwrap();
    let received = dir.path().join("received.ts");
    // Receiver: ffmpeg as SRT listener, copying the MPEG-TS to a file; it
    // exits when the sender closes (bounded by a kill timeout below).
    let mut receiver = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-i",
            &format!("srt://127.0.0.1:{PORT}?mode=listener"),
            "-c",
            "copy",
            "-f",
            "mpegts",
        ])
        .arg(&received)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg is installed by scripts/setup.sh");
    std::thread::sleep(Duration::from_millis(500));

    let ctx = common::gpu();
    let mut cloud = timeslice::reconstruct::PointCloud::default();
    for i in 0..5000u32 {
        let a = i as f32 * 0.01;
        cloud
            .positions_in_world
            .push([a.cos(), a.sin(), 0.5 + (i as f32) / 5000.0]);
        cloud.colors.push([200, (i % 255) as u8, 50]);
        cloud.radii_m.push(0.02);
    }
    let path = CameraPath::Orbit(OrbitPath {
        duration_s: 2.0,
        ..OrbitPath::default()
    });
    let destination =
        Destination::parse(&format!("srt://127.0.0.1:{PORT}?mode=caller&latency=120")).unwrap();
    // No real cameras: flat point colours.
    let scene = engine::InstantScene::new(
        &ctx,
        &timeslice::calibration::Rig {
            name: "none".into(),
            cameras: Vec::new(),
        },
        &[],
        &cloud,
        &engine::ViewOptions {
            flat: true,
            ..Default::default()
        },
    )
    .unwrap();
    let report = engine::render_clip(
        &ctx,
        &scene,
        &path,
        EncoderSettings::broadcast(320, 180, 25),
        destination,
        &|_, _, _| {},
        &engine::Cancel::new(),
    )
    .unwrap();
    assert_eq!(report.frames, 50);

    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = receiver.kill();
    let _ = receiver.wait();
    let stream = ffprobe(&received);
    assert_eq!(stream["codec_name"], "h264");
    assert_eq!(stream["width"], 320);
    let frames: u64 = stream["nb_read_frames"].as_str().unwrap().parse().unwrap();
    // SRT over loopback may lose a few frames at the very end.
    assert!(
        (45..=50).contains(&frames),
        "received {frames} of 50 frames"
    );
    // Decoding the whole stream must raise no error.
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&received)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&decode.stderr);
    assert!(
        decode.status.success() && errors.trim().is_empty(),
        "decode errors: {errors}"
    );
}
