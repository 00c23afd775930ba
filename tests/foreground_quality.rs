//! Foreground reconstruction against clean plates, scored against the
//! synthetic capture's true foreground (design.md section 7).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use nalgebra::Point3;
use timeslice::reconstruct::ReconstructError;
use timeslice::reconstruct::eval::{Metrics, evaluate};
use timeslice::reconstruct::foreground::{Foreground, ForegroundSettings};
use timeslice::synth::{CaptureSettings, Scene, load_truth, write_capture};

/// 8 cameras at 640x360 (2x2 supersampled, as a lens integrates), stills only.
fn capture(dir: &std::path::Path, scene: Scene) {
    let ctx = common::gpu();
    let settings = CaptureSettings {
        supersample: 2,
        write_videos: false,
        scene,
        ..CaptureSettings::default()
    };
    write_capture(&ctx, dir, &settings, &|_, _| {}).unwrap();
}

fn run(dir: &std::path::Path, drop_camera: Option<usize>) -> Metrics {
    let ctx = common::gpu();
    let rig = timeslice::calibration::load_rig(&dir.join("rig.json")).unwrap();
    let mut images = timeslice::engine::load_instant(&rig, &dir.join("frames"), 0).unwrap();
    if let Some(c) = drop_camera {
        images[c] = None;
    }
    let plates = timeslice::reconstruct::venue::load_plates(&rig, dir).unwrap();
    let settings = ForegroundSettings {
        roi: Some(Scene::roi()),
        ..ForegroundSettings::default()
    };
    let result = Foreground::new(Some(&ctx))
        .run(&rig, &images, &plates, &settings)
        .unwrap();
    assert_eq!(
        result.report.views_used,
        8 - usize::from(drop_camera.is_some())
    );
    let truth = load_truth(dir).unwrap();
    let metrics = evaluate(
        &result.cloud.positions_in_world,
        &truth.foreground_points,
        &truth.roi,
    );
    eprintln!("drop {drop_camera:?}: {metrics:?} {:?}", result.report);
    metrics
}

/// Issue 3's targets (F@2cm >= 0.9, F@1cm >= 0.75, median accuracy <= 1 cm)
/// with all cameras and with cam3 missing from the frame set.
fn assert_targets(scene: Scene) {
    let dir = tempfile::tempdir().unwrap();
    capture(dir.path(), scene);
    for drop_camera in [None, Some(3)] {
        let m = run(dir.path(), drop_camera);
        let case = format!("scene {}, dropped {drop_camera:?}", scene.seed);
        assert!(m.f_score_2cm >= 0.9, "{case}: F@2cm {:.3}", m.f_score_2cm);
        assert!(m.f_score_1cm >= 0.75, "{case}: F@1cm {:.3}", m.f_score_1cm);
        assert!(
            m.accuracy_median_m <= 0.01,
            "{case}: accuracy {:.4} m",
            m.accuracy_median_m
        );
    }
}

#[test]
fn foreground_matches_the_true_players_and_ball() {
    // Measured (session 20): 0.984 / 0.932 / 5.1 mm; without cam3 0.963 /
    // 0.877 / 5.3 mm.
    assert_targets(Scene::default());
}

#[test]
fn foreground_matches_crossing_figures_with_a_plain_kit() {
    // Two figures passing close (occlusion), a plain dark kit and a plain
    // prop. Measured (session 20): 0.933 / 0.817 / 6.1 mm; without cam3
    // 0.906 / 0.766 / 6.1 mm.
    assert_targets(Scene { seed: 1 });
}

#[test]
fn foreground_bad_input_is_named_not_panicked() {
    let ctx = common::gpu();
    let rig = timeslice::synth::demo_rig(4, 160, 90);
    let (images, _) = common::stills(&ctx, &rig, 0.3, 1);
    let mut plates = common::plates(&ctx, &rig, Scene::default());
    let fg = Foreground::new(Some(&ctx));
    let settings = ForegroundSettings {
        roi: Some(Scene::roi()),
        ..ForegroundSettings::default()
    };
    // An inverted volume of interest.
    let inverted = ForegroundSettings {
        roi: Some((Point3::new(1.0, 1.0, 1.0), Point3::new(-1.0, -1.0, 2.0))),
        ..settings.clone()
    };
    let err = fg.run(&rig, &images, &plates, &inverted).unwrap_err();
    assert!(matches!(err, ReconstructError::EmptyRoi(_)), "{err}");
    // Plates for one camera only: fewer than two usable views, named.
    for plate in plates.iter_mut().skip(1) {
        *plate = None;
    }
    let err = fg.run(&rig, &images, &plates, &settings).unwrap_err();
    assert!(
        matches!(err, ReconstructError::NotEnoughCameras { usable: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("cam1"), "{err}");
    // A plate of the wrong size.
    let mut plates = common::plates(&ctx, &rig, Scene::default());
    plates[2] = common::plates(
        &ctx,
        &timeslice::synth::demo_rig(4, 80, 45),
        Scene::default(),
    )[2]
    .clone();
    let err = fg.run(&rig, &images, &plates, &settings).unwrap_err();
    assert!(err.to_string().contains("cam2 (clean plate)"), "{err}");
}

#[test]
fn cameras_without_overlap_give_a_named_error_or_an_empty_foreground() {
    let ctx = common::gpu();
    // Four cameras on the ring looking outwards, at the stands.
    let mut rig = timeslice::synth::demo_rig(4, 160, 90);
    for camera in &mut rig.cameras {
        let eye = camera.centre_in_world();
        let outward = Point3::new(eye.x * 2.0, eye.y * 2.0, eye.z);
        *camera =
            timeslice::calibration::Camera::look_at(&camera.id, 160, 90, 140.0, &eye, &outward)
                .unwrap();
    }
    // The default volume of interest needs ground seen by three cameras.
    let err = timeslice::reconstruct::default_roi(&rig, 2.5).unwrap_err();
    assert!(matches!(err, ReconstructError::EmptyRoi(_)), "{err}");
    assert!(err.to_string().contains("3 cameras"), "{err}");
    let fg = Foreground::new(Some(&ctx));
    let err = fg
        .run(&rig, &[], &[], &ForegroundSettings::default())
        .unwrap_err();
    assert!(matches!(err, ReconstructError::EmptyRoi(_)), "{err}");
    // With a volume given, nothing is in it: an empty result, not an error.
    let (images, _) = common::stills(&ctx, &rig, 0.3, 1);
    let plates = common::plates(&ctx, &rig, Scene::default());
    let settings = ForegroundSettings {
        roi: Some(Scene::roi()),
        ..ForegroundSettings::default()
    };
    let result = fg.run(&rig, &images, &plates, &settings).unwrap();
    assert!(result.cloud.is_empty(), "{} points", result.cloud.len());
}
