//! Splat rendering at 1920x1080 (the demo's cloud, and 1M points), with flat
//! point colours and with colour blended from the 8 real cameras (the
//! replay's picture), and, as the baseline measured in the same run, x264
//! encoding of 1080p frames.
//! The ratio render fps / encode fps says whether rendering can bottleneck
//! the output (goal: >= 2).
//!
//! `BENCH_SMOKE=1` shrinks frames to 320x180 and clouds to 20k points.

#![allow(missing_docs)] // criterion_group! generates undocumented functions
#![allow(clippy::expect_used)] // bench code: a failure aborts the measurement

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use timeslice::calibration::Camera;
use timeslice::gpu::GpuContext;
use timeslice::ingest::RgbaImage;
use timeslice::output::{Destination, EncoderSettings, VideoWriter};
use timeslice::reconstruct::PointCloud;
use timeslice::render::{
    CameraPath, OrbitPath, SplatRenderer, SplatStyle, fit_backdrop, rig_focus,
};
use timeslice::synth::{Raycaster, Scene, demo_rig, raycast::surface_cloud};

/// The demo scene's exact visible surfaces, as the reconstruction sees
/// them, and the real cameras' images (the sources of the blended colour).
fn scene_cloud(ctx: &GpuContext, width: u32) -> (PointCloud, Vec<(Camera, RgbaImage)>) {
    let rig = demo_rig(8, width, width * 9 / 16);
    let raycaster = Raycaster::new(ctx);
    let primitives = Scene::default().primitives_at(0.6);
    let (roi_min, roi_max) = Scene::roi();
    let inside =
        |p: &nalgebra::Point3<f64>| (0..3).all(|k| p[k] >= roi_min[k] && p[k] <= roi_max[k]);
    let mut cloud = PointCloud::default();
    let mut sources = Vec::new();
    for camera in &rig.cameras {
        if let Ok(image) = raycaster.render(ctx, camera, &primitives, 1) {
            cloud.append(surface_cloud(camera, &image, 0.8, inside));
            sources.push((
                camera.clone(),
                RgbaImage {
                    width: image.width,
                    height: image.height,
                    rgba: std::sync::Arc::new(image.rgba),
                },
            ));
        }
    }
    (cloud, sources)
}

fn random_cloud(points: usize) -> PointCloud {
    let mut cloud = PointCloud::default();
    let mut state = 0x2545_f491_u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as f32 / u32::MAX as f32
    };
    for _ in 0..points {
        cloud
            .positions_in_world
            .push([next() * 6.0 - 3.0, next() * 6.0 - 3.0, next() * 2.0]);
        cloud.colors.push([
            (next() * 255.0) as u8,
            (next() * 255.0) as u8,
            (next() * 255.0) as u8,
        ]);
        cloud.radii_m.push(0.01);
    }
    cloud
}

fn bench_render(c: &mut Criterion) {
    let smoke = std::env::var_os("BENCH_SMOKE").is_some();
    let (width, height) = if smoke { (320, 180) } else { (1920, 1080) };
    let Ok(ctx) = GpuContext::new() else {
        eprintln!("no GPU adapter: run scripts/setup.sh");
        return;
    };
    let renderer = SplatRenderer::new(&ctx);
    let target = renderer.target(&ctx, width, height);
    let path = CameraPath::Orbit(OrbitPath::default());
    let (demo_cloud, sources) = scene_cloud(&ctx, if smoke { 160 } else { 640 });
    let clouds = [
        ("demo_cloud", demo_cloud),
        (
            "random",
            random_cloud(if smoke { 20_000 } else { 1_000_000 }),
        ),
    ];
    let borrowed: Vec<(Camera, &RgbaImage)> = sources.iter().map(|(c, i)| (c.clone(), i)).collect();
    let cameras: Vec<Camera> = sources.iter().map(|(c, _)| c.clone()).collect();
    let focus = rig_focus(&cameras).unwrap_or_else(nalgebra::Point3::origin);
    let blended = SplatStyle {
        backdrop: fit_backdrop(&borrowed, nalgebra::Point2::new(focus.x, focus.y), 0.0),
        ..SplatStyle::view_dependent()
    };
    let mut group = c.benchmark_group(format!("render_{width}x{height}"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(if smoke { 1 } else { 5 }));
    group.throughput(Throughput::Elements(1));
    let mut frames = Vec::new();
    for (name, cloud) in &clouds {
        let gpu_cloud = renderer.upload(&ctx, cloud);
        let source_views = renderer
            .sources(&ctx, &borrowed, &gpu_cloud, &blended)
            .expect("source upload");
        for (mode, style, views) in [
            ("flat", SplatStyle::default(), None),
            ("blended", blended, Some(&source_views)),
        ] {
            let mut frame_index = 0u32;
            group.bench_function(format!("{name}_{}pts_{mode}", cloud.len()), |b| {
                b.iter(|| {
                    let camera = path
                        .camera_at(f64::from(frame_index % 180) / 30.0, width, height)
                        .expect("orbit camera is defined at every time");
                    frame_index += 1;
                    renderer
                        .render(&ctx, &gpu_cloud, &target, &camera, &style, views)
                        .unwrap_or_default()
                });
            });
            if let Some(camera) = path.camera_at(1.0, width, height) {
                frames.push(
                    renderer
                        .render(&ctx, &gpu_cloud, &target, &camera, &style, views)
                        .unwrap_or_default(),
                );
            }
        }
    }
    // Baseline: x264 (ultrafast, zerolatency) on the same frames, 30 per iteration.
    const FRAMES_PER_ITERATION: u64 = 30;
    group.throughput(Throughput::Elements(FRAMES_PER_ITERATION));
    let dir = tempfile::tempdir().expect("temporary folder");
    group.bench_function("x264_encode", |b| {
        b.iter(|| {
            let destination = Destination::File(dir.path().join("bench.mp4"));
            let mut writer =
                VideoWriter::open(destination, EncoderSettings::broadcast(width, height, 30))
                    .expect("x264 encoding");
            for i in 0..FRAMES_PER_ITERATION {
                writer
                    .push_rgba(frames[(i % frames.len() as u64) as usize].clone())
                    .expect("x264 encoding");
            }
            writer.finish().expect("x264 encoding")
        });
    });
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
