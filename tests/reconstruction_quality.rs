//! Reconstruction of the default synthetic capture against its ground
//! truth inside the volume of interest (design.md section 7), and the
//! reconstruction's handling of missing cameras.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use timeslice::reconstruct::{self, ReconstructError, ReconstructSettings, eval};
use timeslice::synth::{Scene, TRUTH_SAMPLE_M, demo_rig};

#[test]
fn f_score_at_2cm_on_the_default_capture() {
    let ctx = common::gpu();
    // The demo's capture: 8 cameras at 640x360, frozen at 0.3 s.
    let rig = demo_rig(8, 640, 360);
    let (images, depths) = common::stills(&ctx, &rig, 0.3, 1);
    let roi = Scene::roi();
    let settings = ReconstructSettings {
        roi: Some(roi),
        ..ReconstructSettings::default()
    };
    let (cloud, report) = reconstruct::reconstruct(Some(&ctx), &rig, &images, &settings).unwrap();
    let truth = eval::truth_from_depth_maps(&rig.cameras, &depths, None, &roi, TRUTH_SAMPLE_M);
    let metrics = eval::evaluate(&cloud.positions_in_world, &truth, &roi);
    println!("quality: {metrics:?}");
    println!("timing: {report:?}");
    assert!(
        metrics.f_score_2cm >= 0.8,
        "F-score at 2 cm {:.3} < 0.8 ({metrics:?})",
        metrics.f_score_2cm
    );
    assert!(
        metrics.accuracy_median_m <= 0.01,
        "median accuracy {:.4} m",
        metrics.accuracy_median_m
    );
    // Normals are unit length and colours are not all the same.
    assert!(
        cloud
            .normals
            .iter()
            .all(|n| ((n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt() - 1.0).abs() < 1e-3)
    );
    assert!(cloud.colors.iter().any(|c| c != &cloud.colors[0]));
}

#[test]
fn fewer_than_two_cameras_is_a_clear_error() {
    let ctx = common::gpu();
    let rig = demo_rig(4, 64, 36);
    let (mut images, _) = common::stills(&ctx, &rig, 0.0, 1);
    for image in images.iter_mut().skip(1) {
        *image = None;
    }
    let err = reconstruct::reconstruct(Some(&ctx), &rig, &images, &ReconstructSettings::default())
        .unwrap_err();
    assert!(
        matches!(err, ReconstructError::NotEnoughCameras { usable: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("cam1"), "{err}");
}

#[test]
fn a_missing_camera_still_reconstructs() {
    let ctx = common::gpu();
    let rig = demo_rig(8, 320, 180);
    let (mut images, _) = common::stills(&ctx, &rig, 0.0, 1);
    images[3] = None;
    let settings = ReconstructSettings {
        roi: Some(Scene::roi()),
        ..ReconstructSettings::default()
    };
    let (cloud, report) = reconstruct::reconstruct(Some(&ctx), &rig, &images, &settings).unwrap();
    assert_eq!(report.views_missing, vec!["cam3".to_owned()]);
    assert!(cloud.len() > 20_000, "{} points", cloud.len());
}

#[test]
fn wrong_image_size_names_the_camera() {
    let ctx = common::gpu();
    let rig = demo_rig(3, 64, 36);
    let (images, _) = common::stills(&ctx, &demo_rig(3, 32, 18), 0.0, 1);
    let err = reconstruct::reconstruct(Some(&ctx), &rig, &images, &ReconstructSettings::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("cam0") && err.to_string().contains("32x18"),
        "{err}"
    );
}
