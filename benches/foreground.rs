//! Per-frame-set foreground reconstruction against clean plates (issue 3's
//! speed target: 8 cameras at 640x360 in <= 1 s on lavapipe).
//!
//! Configurations: 8 cameras at 640x360 (the target), then the scaling with
//! camera count (4, 16 at 360p) and resolution (8 at 1280x720). Each
//! iteration prints the per-kernel split (segment, props, mask clean-up, hull,
//! sweep, occlusion-aware sweep, refine, photo hull, fusion). `BENCH_SMOKE=1` runs only 4 cameras at 160x90.

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use timeslice::gpu::GpuContext;
use timeslice::ingest::RgbaImage;
use timeslice::reconstruct::PointCloud;
use timeslice::reconstruct::foreground::{Foreground, ForegroundSettings};
use timeslice::synth::raycast::{render_rig, surface_cloud};
use timeslice::synth::{PLATE_EXPOSURE, Raycaster, Scene, demo_rig};

fn render_all(
    ctx: &GpuContext,
    rig: &timeslice::calibration::Rig,
    primitives: &[timeslice::gpu::gpu_types::PrimitiveGpu],
    exposure: f32,
) -> Vec<Option<RgbaImage>> {
    render_rig(ctx, rig, primitives, 2, exposure)
        .map(|images| images.into_iter().map(Some).collect())
        .unwrap_or_default()
}

/// A stand-in for the cached venue: the empty venue's true surface seen
/// from every camera, every 4th pixel (~470k points at 8 x 640x360, about
/// the size of a venue build), so the props' occlusion is timed too.
fn venue_cloud(
    ctx: &GpuContext,
    rig: &timeslice::calibration::Rig,
    primitives: &[timeslice::gpu::gpu_types::PrimitiveGpu],
) -> PointCloud {
    let raycaster = Raycaster::new(ctx);
    let mut venue = PointCloud::default();
    for camera in &rig.cameras {
        let Ok(image) = raycaster.render(ctx, camera, primitives, 1) else {
            continue;
        };
        let all = surface_cloud(camera, &image, 0.8, |_| true);
        for i in (0..all.len()).step_by(4) {
            venue.positions_in_world.push(all.positions_in_world[i]);
            venue.colors.push(all.colors[i]);
            venue.radii_m.push(all.radii_m[i]);
        }
    }
    venue
}

fn bench_foreground(c: &mut Criterion) {
    let smoke = std::env::var_os("BENCH_SMOKE").is_some();
    let Ok(ctx) = GpuContext::new() else {
        eprintln!("no GPU adapter: run scripts/setup.sh");
        return;
    };
    let configs: &[(u32, u32)] = if smoke {
        &[(4, 160)]
    } else {
        &[(8, 640), (4, 640), (16, 640), (8, 1280)]
    };
    let scene = Scene::default();
    let settings = ForegroundSettings {
        roi: Some(Scene::roi()),
        ..ForegroundSettings::default()
    };
    let mut group = c.benchmark_group("foreground");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(2));
    for &(cameras, width) in configs {
        let height = width * 9 / 16;
        let rig = demo_rig(cameras, width, height);
        let images = render_all(&ctx, &rig, &scene.primitives_at(0.3), 1.0);
        let plates = render_all(&ctx, &rig, &scene.static_primitives(), PLATE_EXPOSURE);
        let venue = venue_cloud(&ctx, &rig, &scene.static_primitives());
        let foreground = Foreground::new(Some(&ctx)).with_venue(&venue);
        group.throughput(Throughput::Elements(u64::from(cameras)));
        group.bench_function(format!("{cameras}cams_{width}x{height}"), |b| {
            b.iter(|| {
                let Ok(result) = foreground.run(&rig, &images, &plates, &settings) else {
                    return 0;
                };
                let r = &result.report;
                eprintln!(
                    "  {cameras}x{width}: total {:.0} ms = prepare {:.0} + upload {:.0} + segment {:.0} + props {:.0} + masks {:.0} + hull {:.0} + sweep {:.0} + visibility {:.0} + sweep2 {:.0} + refine {:.0} + photo hull {:.0} + fusion {:.0}; {} fg px, {} points",
                    r.total_ms,
                    r.prepare_ms,
                    r.upload_ms,
                    r.segment_ms,
                    r.props_ms,
                    r.masks_ms,
                    r.hull_ms,
                    r.sweep_ms,
                    r.visibility_ms,
                    r.sweep2_ms,
                    r.refine_ms,
                    r.photo_hull_ms,
                    r.fusion_ms,
                    r.foreground_pixels,
                    r.points
                );
                result.cloud.len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_foreground);
criterion_main!(benches);
