//! The command-line contract (design.md section 4): exit status 0 on
//! success, 2 with a one-line error naming the file and problem on bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn timeslice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_timeslice"))
        .args(args)
        .output()
        .unwrap()
}

fn assert_bad_input(output: &Output, must_name: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let error_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("timeslice: error"))
        .collect();
    assert_eq!(error_lines.len(), 1, "one error line expected: {stderr}");
    for word in must_name {
        assert!(
            error_lines[0].contains(word),
            "error should name {word:?}: {}",
            error_lines[0]
        );
    }
}

fn write_small_capture(dir: &Path) {
    let out = timeslice(&[
        "synth",
        "--out",
        dir.to_str().unwrap(),
        "--width",
        "320",
        "--height",
        "180",
        "--stills-only",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn malformed_rig_names_file_camera_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let rig = timeslice::synth::demo_rig(3, 64, 36);
    let path = dir.path().join("rig.json");
    timeslice::calibration::save_rig(&rig, &path).unwrap();
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["cameras"][0]["fy"] = serde_json::json!("wide");
    std::fs::write(&path, doc.to_string()).unwrap();
    let out = timeslice(&[
        "reconstruct",
        "--rig",
        path.to_str().unwrap(),
        "--images",
        dir.path().to_str().unwrap(),
        "--out",
        "x.ply",
    ]);
    assert_bad_input(&out, &["rig.json", "cam0", "fy"]);

    std::fs::write(&path, "{ \"name\": \"r\", \"cameras\": [ }").unwrap();
    let out = timeslice(&[
        "reconstruct",
        "--rig",
        path.to_str().unwrap(),
        "--images",
        ".",
        "--out",
        "x.ply",
    ]);
    assert_bad_input(&out, &["rig.json", "line 1"]);

    let out = timeslice(&[
        "reconstruct",
        "--rig",
        "/nonexistent/rig.json",
        "--images",
        ".",
        "--out",
        "x.ply",
    ]);
    assert_bad_input(&out, &["/nonexistent/rig.json"]);
}

#[test]
fn bad_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let rig_path = dir.path().join("rig.json");
    timeslice::calibration::save_rig(&timeslice::synth::demo_rig(3, 64, 36), &rig_path).unwrap();
    let rig = rig_path.to_str().unwrap();
    // No images at all: fewer than two usable cameras.
    let out = timeslice(&[
        "reconstruct",
        "--rig",
        rig,
        "--images",
        dir.path().to_str().unwrap(),
        "--out",
        "x.ply",
    ]);
    assert_bad_input(&out, &["cam0"]);
    // Images folder missing.
    let out = timeslice(&[
        "reconstruct",
        "--rig",
        rig,
        "--images",
        "/nonexistent",
        "--out",
        "x.ply",
    ]);
    assert_bad_input(&out, &["/nonexistent"]);
    // A bad ROI.
    let out = timeslice(&[
        "reconstruct",
        "--rig",
        rig,
        "--images",
        ".",
        "--out",
        "x.ply",
        "--roi",
        "1,2,3",
    ]);
    assert_bad_input(&out, &["--roi"]);
    // A --camera rig with three cameras.
    let out = timeslice(&[
        "view", "--rig", rig, "--images", ".", "--camera", rig, "--out", "v.png",
    ]);
    assert_bad_input(&out, &["exactly one camera"]);
    // A bad SRT URI.
    let out = timeslice(&["demo", "--srt", "srt://nohost"]);
    assert_bad_input(&out, &["srt://nohost"]);
    // Unknown flags: clap's own exit status 2.
    assert_eq!(
        timeslice(&["reconstruct", "--frobnicate"]).status.code(),
        Some(2)
    );
}

#[test]
fn reconstruct_then_view_from_json_and_colmap_rigs() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture");
    write_small_capture(&capture);
    let rig_json = capture.join("rig.json");
    let frames = capture.join("frames");
    let ply = dir.path().join("cloud.ply");
    let out = timeslice(&[
        "reconstruct",
        "--rig",
        rig_json.to_str().unwrap(),
        "--images",
        frames.to_str().unwrap(),
        "--out",
        ply.to_str().unwrap(),
        "--roi",
        "-3,-3,-0.05,3,3,2.2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cloud = timeslice::reconstruct::ply::read_ply(&ply).unwrap();
    assert!(cloud.len() > 20_000, "{} points", cloud.len());
    assert_eq!(cloud.normals.len(), cloud.len());

    // The same rig as a COLMAP text model; the viewpoint is camera 2 alone.
    let rig = timeslice::calibration::load_rig(&rig_json).unwrap();
    let colmap = dir.path().join("colmap");
    timeslice::calibration::export_colmap(&rig, &colmap).unwrap();
    let view_rig = timeslice::calibration::Rig {
        name: "view".into(),
        cameras: vec![rig.cameras[2].clone()],
    };
    let view_path = dir.path().join("view_camera.json");
    timeslice::calibration::save_rig(&view_rig, &view_path).unwrap();
    let png = dir.path().join("view.png");
    let out = timeslice(&[
        "view",
        "--rig",
        colmap.to_str().unwrap(),
        "--images",
        frames.to_str().unwrap(),
        "--camera",
        view_path.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
        "--roi",
        "-3,-3,-0.05,3,3,2.2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let view = image::open(&png).unwrap().to_rgba8();
    assert_eq!((view.width(), view.height()), (320, 180));
    // At a real camera's pose the render resembles that camera's image
    // wherever the true surface lies inside the volume of interest (the
    // renderer does not yet fill the world outside it from the cameras).
    let real = image::open(frames.join("cam2.png")).unwrap().to_rgba8();
    let depth: Vec<f32> =
        bytemuck::pod_collect_to_vec(&std::fs::read(capture.join("truth/cam2.depth")).unwrap());
    let roi = timeslice::synth::Scene::roi();
    let camera = &rig.cameras[2];
    let (mut inside, mut close) = (0usize, 0usize);
    for (i, &d) in depth.iter().enumerate() {
        let p = camera.unproject(
            &nalgebra::Point2::new((i % 320) as f64, (i / 320) as f64),
            f64::from(d),
        );
        if d <= 0.0
            || !timeslice::reconstruct::eval::inside(&[p.x as f32, p.y as f32, p.z as f32], &roi)
        {
            continue;
        }
        inside += 1;
        let (a, b) = (
            view.get_pixel((i % 320) as u32, (i / 320) as u32),
            real.get_pixel((i % 320) as u32, (i / 320) as u32),
        );
        close += usize::from((0..3).all(|k| a[k].abs_diff(b[k]) <= 40));
    }
    let fraction = close as f64 / inside as f64;
    assert!(
        inside > 10_000 && fraction > 0.8,
        "only {fraction:.2} of {inside} in-volume pixels resemble the real view"
    );
}

#[test]
fn reconstruct_with_background_builds_then_reuses_the_venue() {
    let dir = tempfile::tempdir().unwrap();
    write_small_capture(dir.path());
    let capture = dir.path().to_str().unwrap();
    let rig = dir.path().join("rig.json");
    let frames = dir.path().join("frames");
    let fg = dir.path().join("fg.ply");
    let args = |out: &Path| {
        vec![
            "reconstruct".to_owned(),
            "--rig".to_owned(),
            rig.to_str().unwrap().to_owned(),
            "--images".to_owned(),
            frames.to_str().unwrap().to_owned(),
            "--out".to_owned(),
            out.to_str().unwrap().to_owned(),
            "--background".to_owned(),
            capture.to_owned(),
            "--roi=-3,-3,-0.05,3,3,2.2".to_owned(),
        ]
    };
    // A missing plate folder is bad input, named.
    let mut missing = args(&fg);
    missing[8] = "/nonexistent-plates".to_owned();
    let refs: Vec<&str> = missing.iter().map(String::as_str).collect();
    assert_bad_input(&timeslice(&refs), &["/nonexistent-plates"]);
    // First run builds and caches the venue, and writes venue + foreground.
    let all = dir.path().join("all.ply");
    let first: Vec<String> = args(&all);
    let refs: Vec<&str> = first.iter().map(String::as_str).collect();
    let out = timeslice(&refs);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("venue: built"), "{stdout}");
    assert!(dir.path().join("venue.ply").exists() && dir.path().join("venue.json").exists());
    // Second run reads the cache; --foreground-only writes the players alone.
    let mut second = args(&fg);
    second.push("--foreground-only".to_owned());
    let refs: Vec<&str> = second.iter().map(String::as_str).collect();
    let out = timeslice(&refs);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("from the cache"), "{stdout}");
    let fg_cloud = timeslice::reconstruct::ply::read_ply(&fg).unwrap();
    let all_cloud = timeslice::reconstruct::ply::read_ply(&all).unwrap();
    // The first run's output is the cached venue plus the same foreground.
    let venue_cloud = timeslice::reconstruct::ply::read_ply(&dir.path().join("venue.ply")).unwrap();
    let both = venue_cloud.len() + fg_cloud.len();
    assert!(
        fg_cloud.len() > 1000
            && venue_cloud.len() > 2 * fg_cloud.len()
            && all_cloud.len().abs_diff(both) * 50 <= both,
        "foreground {}, venue {}, first run {} points",
        fg_cloud.len(),
        venue_cloud.len(),
        all_cloud.len()
    );
    // Scored against the foreground truth.
    let out = timeslice(&[
        "evaluate",
        "--capture",
        capture,
        "--cloud",
        fg.to_str().unwrap(),
        "--foreground",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("F@2cm"));
}

#[test]
fn reel_of_two_replays_has_the_expected_frames_and_bad_templates_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture");
    let out = timeslice(&[
        "synth",
        "--out",
        capture.to_str().unwrap(),
        "--width",
        "320",
        "--height",
        "180",
        "--duration",
        "1.2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Replay 1: 0.2 s in at half speed (0.4 s), a 1 s arc, 0.2 s resume;
    // replay 2: a 2 s orbit at double speed (1 s). At 10 fps: 16 + 10 frames.
    let playlist = dir.path().join("playlist.json");
    std::fs::write(
        &playlist,
        r#"{"playlist": [
            {"instant_s": 0.6, "template": {"type": "arc", "from": "cam1", "to": "cam3", "duration_s": 1.0,
              "track": {"near": [-1.2, -0.2]},
              "time": {"before_s": 0.2, "slow_motion": 0.5, "after_s": 0.2, "resume_speed": 1.0}}},
            {"instant_s": 0.8, "speed": 2.0, "template": {"type": "orbit", "pivot": [0, 0, 0.9], "radius_m": 6.5,
              "height_m": 2.2, "start_angle_deg": 0, "sweep_deg": 90, "duration_s": 2.0, "easing": "linear", "fov_deg": 50,
              "track": {"near": [-1.2, -0.2]}, "time": {"snap_s": 0.3}}}
        ]}"#,
    )
    .unwrap();
    let reel = dir.path().join("reel.mp4");
    let args = |path: &Path| {
        vec![
            "reel".to_owned(),
            "--rig".into(),
            capture.join("rig.json").to_string_lossy().into_owned(),
            "--capture".into(),
            capture.to_string_lossy().into_owned(),
            "--path".into(),
            path.to_string_lossy().into_owned(),
            "--out".into(),
            reel.to_string_lossy().into_owned(),
            "--width".into(),
            "320".into(),
            "--height".into(),
            "180".into(),
            "--fps".into(),
            "10".into(),
            "--report".into(),
            dir.path().join("reel.json").to_string_lossy().into_owned(),
        ]
    };
    let run = |path: &Path| {
        let a = args(path);
        timeslice(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run(&playlist);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_frames,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&reel)
        .output()
        .unwrap();
    let probe = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(probe.trim(), "320,180,26", "width,height,frames");
    assert!(!dir.path().join("reel.mp4.partial").exists());
    // Both moves track the walker (demo scene: x = -1.6 + 1.1 t, y = -0.35),
    // so their pivots follow it from one instant to the next.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("reel.json")).unwrap())
            .unwrap();
    for (k, instant_s) in [0.6, 0.8].into_iter().enumerate() {
        let pivot = &report["pivots"][k];
        let (x, y) = (pivot[0].as_f64().unwrap(), pivot[1].as_f64().unwrap());
        let walker_x = -1.6 + 1.1 * instant_s;
        assert!(
            (x - walker_x).abs() < 0.15 && (y + 0.35).abs() < 0.15,
            "replay {k}: pivot {pivot} vs walker at ({walker_x:.2}, -0.35)"
        );
    }
    assert_eq!(report["pivots"][1][2].as_f64(), Some(0.9), "height kept");

    // A camera id not in the rig: exit 2 naming the field and the id; the
    // finished reel from before is left as it was.
    let before = std::fs::metadata(&reel).unwrap().len();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"type": "arc", "from": "cam1", "to": "cam42", "duration_s": 1.0}"#,
    )
    .unwrap();
    assert_bad_input(&run(&bad), &["bad.json", "to", "cam42"]);
    std::fs::write(
        &bad,
        r#"{"type": "arc", "from": "cam1", "to": "cam2", "duration_s": 1.0, "easing": "springy"}"#,
    )
    .unwrap();
    assert_bad_input(&run(&bad), &["bad.json", "easing"]);
    std::fs::write(
        &bad,
        r#"{"playlist": [{"instant_s": 0.5, "template": "missing.json"}]}"#,
    )
    .unwrap();
    assert_bad_input(&run(&bad), &["missing.json"]);
    assert_eq!(std::fs::metadata(&reel).unwrap().len(), before);

    // Ctrl-C during a long reel: exit 130, the partial file removed, the
    // finished reel from before untouched.
    let long = dir.path().join("long.json");
    std::fs::write(
        &long,
        r#"{"type": "orbit", "pivot": [0, 0, 0.9], "radius_m": 6.5, "height_m": 2.2,
            "start_angle_deg": 0, "sweep_deg": 360, "duration_s": 60.0, "easing": "linear", "fov_deg": 50}"#,
    )
    .unwrap();
    let a = args(&long);
    let child = Command::new(env!("CARGO_BIN_EXE_timeslice"))
        .args(&a)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let partial = dir.path().join("reel.mp4.partial");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    // Interrupt once frames are being written (the partial file grows).
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) == 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled after"), "{stderr}");
    assert!(!partial.exists(), "the partial file is removed");
    assert_eq!(std::fs::metadata(&reel).unwrap().len(), before);
}

/// Writes a synthetic 4-camera board capture as `dir/camK/NNNNNN.png` and
/// returns the camera folders.
fn write_board_capture(dir: &Path) -> Vec<std::path::PathBuf> {
    let settings = timeslice::synth::BoardCaptureSettings {
        cameras: 4,
        placements: 24,
        supersample: 2,
        ..timeslice::synth::BoardCaptureSettings::default()
    };
    let capture = timeslice::synth::board_capture(&settings);
    capture
        .rig
        .cameras
        .iter()
        .zip(&capture.images)
        .map(|(camera, images)| {
            let folder = dir.join(&camera.id);
            std::fs::create_dir_all(&folder).unwrap();
            for (p, image) in images.iter().enumerate() {
                if let Some(image) = image {
                    image.save(folder.join(format!("{p:06}.png"))).unwrap();
                }
            }
            folder
        })
        .collect()
}

/// `timeslice calibrate --board BOARD --views VIEWS REST...`.
fn calibrate_one(board: &str, views: &str, rest: &[&str]) -> Output {
    let mut args = vec!["calibrate", "--board", board, "--views", views];
    args.extend_from_slice(rest);
    timeslice(&args)
}

#[test]
fn calibrate_writes_rig_report_and_colmap_and_names_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let folders = write_board_capture(dir.path());
    let rig = dir.path().join("rig.json");
    let report = dir.path().join("report.json");
    let colmap = dir.path().join("colmap");
    let mut args: Vec<String> = vec![
        "calibrate".into(),
        "--board".into(),
        "checker:9x6:0.08".into(),
    ];
    for (i, folder) in folders.iter().enumerate() {
        args.push("--views".into());
        // One camera by folder, the others by quoted glob.
        if i == 0 {
            args.push(format!("cam{i}={}", folder.display()));
        } else {
            args.push(format!("cam{i}={}/*.png", folder.display()));
        }
    }
    for extra in [
        "--out",
        rig.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--colmap",
        colmap.to_str().unwrap(),
    ] {
        args.push(extra.into());
    }
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = timeslice(&arg_refs);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("overall rms"), "{stdout}");
    let solved = timeslice::calibration::load_rig(&rig).unwrap();
    assert_eq!(solved.cameras.len(), 4);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(json["rms_px"].as_f64().unwrap() < 0.5, "{json}");
    for camera in json["cameras"].as_array().unwrap() {
        assert!(camera["rms_px"].as_f64().unwrap() < 0.5);
        assert!(camera["views_used"].as_u64().unwrap() >= 3);
        assert!(camera["views_rejected"].is_u64());
    }
    assert!(colmap.join("cameras.txt").is_file() && colmap.join("images.txt").is_file());
    let reimported = timeslice::calibration::import_colmap(&colmap).unwrap();
    assert_eq!(reimported.cameras.len(), 4);

    // --check against the rig just made: no warnings, exit 0.
    let mut check_args = arg_refs[..arg_refs.len() - 6].to_vec();
    check_args.extend(["--check", rig.to_str().unwrap()]);
    let output = timeslice(&check_args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("drift_deg"));

    // A video as one camera's views (frames numbered from 0: one camera,
    // so names need not match the others').
    let video = dir.path().join("cam0.mp4");
    let encoded = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-y",
            "-framerate",
            "5",
            "-pattern_type",
            "glob",
            "-i",
        ])
        .arg(format!("{}/*.png", folders[0].display()))
        .args(["-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p"])
        .arg(&video)
        .status()
        .unwrap();
    assert!(encoded.success());
    let output = calibrate_one(
        "checker:9x6:0.08",
        &format!("cam0={}", video.display()),
        &[
            "--every-nth-frame",
            "1",
            "--out",
            dir.path().join("video_rig.json").to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let views_used: usize = stdout
        .lines()
        .find(|l| l.starts_with("cam0"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(views_used >= 3, "{stdout}");
    let output = calibrate_one(
        "checker:9x6:0.08",
        &format!("cam0={}", dir.path().join("gone.mp4").display()),
        &["--out", "x.json"],
    );
    assert_bad_input(&output, &["cam0", "gone.mp4", "no such file"]);

    let cam0 = format!("cam0={}", folders[0].display());

    // A wrong board size: the grid seen is named.
    let output = calibrate_one(
        "checker:10x7:0.08",
        &cam0,
        &["--out", rig.to_str().unwrap()],
    );
    assert_bad_input(&output, &["cam0", "10x7", "9x6"]);
    // A board never found.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for i in 0..3 {
        image::GrayImage::from_pixel(64, 48, image::Luma([120]))
            .save(empty.join(format!("{i}.png")))
            .unwrap();
    }
    let output = calibrate_one(
        "checker:9x6:0.08",
        &format!("side={}", empty.display()),
        &["--out", rig.to_str().unwrap()],
    );
    assert_bad_input(&output, &["side", "0 of 3"]);
    // An unreadable image.
    std::fs::write(empty.join("9.png"), b"not a png").unwrap();
    let output = calibrate_one(
        "checker:9x6:0.08",
        &format!("side={}", empty.display()),
        &["--out", rig.to_str().unwrap()],
    );
    assert_bad_input(&output, &["side", "9.png"]);
    // NaN in the rig given to --check.
    let bad_rig = dir.path().join("nan.json");
    std::fs::write(
        &bad_rig,
        std::fs::read_to_string(&rig)
            .unwrap()
            .replacen("\"fx\": ", "\"fx\": NaN, \"x\": ", 1),
    )
    .unwrap();
    let output = calibrate_one(
        "checker:9x6:0.08",
        &cam0,
        &["--check", bad_rig.to_str().unwrap()],
    );
    assert_bad_input(&output, &["nan.json"]);
    // Malformed arguments.
    let output = calibrate_one("checker:9x6", &cam0, &["--out", "x.json"]);
    assert_bad_input(&output, &["--board"]);
    let output = calibrate_one("checker:9x6:0.08", "nocamera", &["--out", "x.json"]);
    assert_bad_input(&output, &["--views", "ID=PATH"]);
    let output = calibrate_one(
        "checker:9x6:0.08",
        "cam0=/no/such/dir",
        &["--out", "x.json"],
    );
    assert_bad_input(&output, &["cam0", "/no/such/dir"]);
}
