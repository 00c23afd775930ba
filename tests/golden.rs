//! A rendered view compared with a golden image, with a tolerance.
//!
//! Goldens live in `fixtures/golden/` and are made on the software adapter
//! (lavapipe). A missing golden is written locally but fails when `CI` is
//! set. A failing comparison writes `<name>-actual.png` and
//! `<name>-difference.png` beside the golden.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::path::PathBuf;

use timeslice::reconstruct::PointCloud;
use timeslice::render::{CameraPath, OrbitPath, SplatRenderer, SplatStyle};
use timeslice::synth::{Scene, cpu_ref::raycast_cpu, demo_rig, raycast::surface_cloud};

/// Per-channel difference above which a pixel counts as failing.
const PIXEL_THRESHOLD: u8 = 12;
/// Largest fraction of failing pixels.
const MAX_FAILING_FRACTION: f64 = 0.005;

fn compare_with_golden(name: &str, rgba: &[u8], width: u32, height: u32) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden");
    let golden_path = dir.join(format!("{name}.png"));
    let save = |path: &PathBuf, pixels: &[u8]| {
        image::save_buffer(path, pixels, width, height, image::ExtendedColorType::Rgba8).unwrap()
    };
    if !golden_path.exists() {
        save(&golden_path, rgba);
        assert!(
            std::env::var_os("CI").is_none(),
            "golden {} was missing (written now; commit it)",
            golden_path.display()
        );
        return;
    }
    let golden = image::open(&golden_path).unwrap().to_rgba8();
    assert_eq!(
        (golden.width(), golden.height()),
        (width, height),
        "golden size"
    );
    let mut difference = Vec::with_capacity(rgba.len());
    let mut failing = 0usize;
    for (a, b) in rgba.chunks_exact(4).zip(golden.as_raw().chunks_exact(4)) {
        let d = (0..3).map(|k| a[k].abs_diff(b[k])).max().unwrap_or(0);
        failing += usize::from(d > PIXEL_THRESHOLD);
        difference.extend([
            d.saturating_mul(8),
            d.saturating_mul(8),
            d.saturating_mul(8),
            255,
        ]);
    }
    let fraction = failing as f64 / (width * height) as f64;
    if fraction > MAX_FAILING_FRACTION {
        save(&dir.join(format!("{name}-actual.png")), rgba);
        save(&dir.join(format!("{name}-difference.png")), &difference);
        panic!(
            "{name}: {:.3}% pixels differ by more than {PIXEL_THRESHOLD}/255 (limit {:.3}%)",
            fraction * 100.0,
            MAX_FAILING_FRACTION * 100.0
        );
    }
}

/// A cloud from exact geometry: two cameras' ground-truth depth maps of the
/// demo scene, unprojected with their colours (no reconstruction involved,
/// so the golden tests the renderer alone).
fn truth_cloud() -> PointCloud {
    let rig = demo_rig(8, 320, 180);
    let primitives = Scene::default().primitives_at(0.6);
    let mut cloud = PointCloud::default();
    for camera in [&rig.cameras[0], &rig.cameras[3], &rig.cameras[6]] {
        let image = raycast_cpu(camera, &primitives, 1);
        cloud.append(surface_cloud(camera, &image, 0.8, |p| {
            p.coords.xy().norm() <= 4.0
        }));
    }
    cloud
}

#[test]
fn orbit_view_matches_golden() {
    let ctx = common::gpu();
    let cloud = truth_cloud();
    let renderer = SplatRenderer::new(&ctx);
    let path = CameraPath::Orbit(OrbitPath {
        start_angle_deg: 20.0,
        ..OrbitPath::default()
    });
    let camera = path.camera_at(0.0, 320, 180).unwrap();
    let rgba = renderer
        .render(
            &ctx,
            &renderer.upload(&ctx, &cloud),
            &renderer.target(&ctx, 320, 180),
            &camera,
            &SplatStyle::default(),
            None,
        )
        .unwrap();
    compare_with_golden("orbit_view", &rgba, 320, 180);
}

#[test]
fn template_frame_matches_golden() {
    use timeslice::ingest::RgbaImage;
    use timeslice::render::{Backdrop, BoundReplay, ReplayFrame, ReplayTemplate};
    let ctx = common::gpu();
    let cloud = truth_cloud();
    let rig = demo_rig(8, 320, 180);
    let template_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/paths/keyframes_swoop.json");
    let template = ReplayTemplate::load(&template_path).unwrap();
    let bound = BoundReplay::bind(&template, &rig, 0, 320, 180, &template_path).unwrap();
    // Halfway through the move (after the slow motion in).
    let [lead_in_s, move_s, _] = bound.parts_s();
    let index = ((lead_in_s + move_s / 2.0) * 30.0).round() as u64;
    let Some(ReplayFrame::Virtual { camera }) = bound.frame(index, 30) else {
        panic!("frame {index} is in the move");
    };
    // The real cameras that made the cloud are the colour sources.
    let primitives = Scene::default().primitives_at(0.6);
    let sources: Vec<(timeslice::calibration::Camera, RgbaImage)> = [0, 3, 6]
        .iter()
        .map(|&k| {
            let camera = rig.cameras[k].clone();
            let image = raycast_cpu(&camera, &primitives, 1);
            let rgba = RgbaImage {
                width: image.width,
                height: image.height,
                rgba: std::sync::Arc::new(image.rgba),
            };
            (camera, rgba)
        })
        .collect();
    let borrowed: Vec<_> = sources.iter().map(|(c, i)| (c.clone(), i)).collect();
    let style = SplatStyle {
        backdrop: Some(Backdrop {
            centre_xy_m: [0.0, 0.0],
            radius_m: 30.0,
            ground_z_m: 0.0,
        }),
        ..SplatStyle::view_dependent()
    };
    let renderer = SplatRenderer::new(&ctx);
    let gpu_cloud = renderer.upload(&ctx, &cloud);
    let views = renderer
        .sources(&ctx, &borrowed, &gpu_cloud, &style)
        .unwrap();
    let rgba = renderer
        .render(
            &ctx,
            &gpu_cloud,
            &renderer.target(&ctx, 320, 180),
            &camera,
            &style,
            Some(&views),
        )
        .unwrap();
    compare_with_golden("keyframes_swoop_mid", &rgba, 320, 180);
}
