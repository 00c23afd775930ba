//! Reconstruction of one frame set (plane sweep on the GPU + fusion).
//!
//! Default: the demo capture, 8 cameras at 640x360. `BENCH_SMOKE=1` shrinks
//! it to 4 cameras at 160x90 (CI runs it once as a smoke test).
//! `BENCH_CAMERAS` and `BENCH_WIDTH` (height = width * 9 / 16) override.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use timeslice::gpu::GpuContext;
use timeslice::ingest::RgbaImage;
use timeslice::reconstruct::{ReconstructSettings, reconstruct};
use timeslice::synth::{Raycaster, Scene, demo_rig};

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bench_reconstruct(c: &mut Criterion) {
    let smoke = std::env::var_os("BENCH_SMOKE").is_some();
    let cameras = env_u32("BENCH_CAMERAS", if smoke { 4 } else { 8 });
    let width = env_u32("BENCH_WIDTH", if smoke { 160 } else { 640 });
    let height = width * 9 / 16;
    let Ok(ctx) = GpuContext::new() else {
        eprintln!("no GPU adapter: run scripts/setup.sh");
        return;
    };
    let rig = demo_rig(cameras, width, height);
    let raycaster = Raycaster::new(&ctx);
    let primitives = Scene::default().primitives_at(0.6);
    let images: Vec<Option<RgbaImage>> = rig
        .cameras
        .iter()
        .map(|camera| {
            let image = raycaster.render(&ctx, camera, &primitives, 1).ok()?;
            Some(RgbaImage {
                width: image.width,
                height: image.height,
                rgba: Arc::new(image.rgba),
            })
        })
        .collect();
    let settings = ReconstructSettings {
        roi: Some(Scene::roi()),
        ..ReconstructSettings::default()
    };
    let mut group = c.benchmark_group("reconstruct");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(u64::from(cameras)));
    group.bench_function(format!("{cameras}cams_{width}x{height}"), |b| {
        b.iter(|| {
            let (cloud, report) =
                reconstruct(Some(&ctx), &rig, &images, &settings).unwrap_or_default();
            eprintln!(
                "  sweep {:.0} ms, fusion {:.0} ms, {} points",
                report.sweep_ms,
                report.fusion_ms,
                cloud.len()
            );
            cloud
        });
    });
    group.finish();
}

criterion_group!(benches, bench_reconstruct);
criterion_main!(benches);
