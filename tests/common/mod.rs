//! Shared helpers of the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use timeslice::calibration::Rig;
use timeslice::gpu::GpuContext;
use timeslice::ingest::RgbaImage;
use timeslice::synth::{Raycaster, Scene};

/// The GPU (lavapipe in CI). A missing adapter fails the test: the setup
/// script always installs lavapipe, so a skip would hide a broken install.
pub fn gpu() -> GpuContext {
    GpuContext::new().unwrap_or_else(|e| panic!("{e}"))
}

/// Renders every rig camera at `time_s` with the GPU raycaster: images and
/// ground-truth depth maps.
pub fn stills(
    ctx: &GpuContext,
    rig: &Rig,
    time_s: f64,
    supersample: u32,
) -> (Vec<Option<RgbaImage>>, Vec<Vec<f32>>) {
    let raycaster = Raycaster::new(ctx);
    let primitives = Scene::default().primitives_at(time_s);
    let mut images = Vec::new();
    let mut depths = Vec::new();
    for camera in &rig.cameras {
        let image = raycaster
            .render(ctx, camera, &primitives, supersample)
            .unwrap();
        images.push(Some(RgbaImage {
            width: image.width,
            height: image.height,
            rgba: Arc::new(image.rgba),
        }));
        depths.push(image.depth_m);
    }
    (images, depths)
}

/// Fraction of pixels whose channels all differ by at most `tolerance`.
pub fn fraction_close(a: &[u8], b: &[u8], tolerance: u8) -> f64 {
    assert_eq!(a.len(), b.len());
    let close = a
        .chunks_exact(4)
        .zip(b.chunks_exact(4))
        .filter(|(p, q)| (0..3).all(|k| p[k].abs_diff(q[k]) <= tolerance))
        .count();
    close as f64 / (a.len() / 4) as f64
}

/// Clean plates of `scene` (static venue only) for every rig camera, at the
/// synthetic captures' plate exposure.
pub fn plates(ctx: &GpuContext, rig: &Rig, scene: Scene) -> Vec<Option<RgbaImage>> {
    timeslice::synth::raycast::render_rig(
        ctx,
        rig,
        &scene.static_primitives(),
        1,
        timeslice::synth::PLATE_EXPOSURE,
    )
    .unwrap()
    .into_iter()
    .map(Some)
    .collect()
}
