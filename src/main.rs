//! `timeslice` command line: parses arguments, draws progress, maps errors
//! to exit codes (2 = bad input, 1 = anything else). All work is done by
//! the library (`engine` and the stages).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use nalgebra::Point3;

use timeslice::calibration::{
    BoardSpec, BoardSpecError, CalibrateOptions, CalibrationError, CalibrationReport, load_rig,
};
use timeslice::engine::calibrate::{CalibrateRun, CalibrateRunError, ViewSource};
use timeslice::engine::{self, DemoOptions, EngineError};
use timeslice::output::{Destination, OutputError};
use timeslice::reconstruct::{self, Backend, ReconstructError, ReconstructSettings};
use timeslice::render::{CameraPath, OrbitPath, PathError};
use timeslice::synth::CaptureSettings;

#[derive(Parser)]
#[command(
    name = "timeslice",
    version,
    about = "Freeze-frame (bullet time) replays from a ring of cameras"
)]
struct Cli {
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a 360-degree replay of an embedded synthetic 8-camera capture.
    Demo {
        /// Output MP4 file.
        #[arg(long, default_value = "replay.mp4", conflicts_with = "srt")]
        out: PathBuf,
        /// Stream to SRT instead (MPEG-TS/H.264), e.g. srt://127.0.0.1:9000?mode=caller.
        #[arg(long)]
        srt: Option<String>,
        /// Keep the synthetic capture in this folder (default: a temporary one).
        #[arg(long)]
        capture_dir: Option<PathBuf>,
        /// Also write the reconstructed cloud (PLY).
        #[arg(long)]
        ply: Option<PathBuf>,
        /// Camera path (orbit template JSON); default: a 6 s 360-degree orbit.
        #[arg(long)]
        path: Option<PathBuf>,
        /// Output width, pixels.
        #[arg(long, default_value_t = 1280)]
        width: u32,
        /// Output height, pixels.
        #[arg(long, default_value_t = 720)]
        height: u32,
        /// Output frame rate.
        #[arg(long, default_value_t = 30)]
        fps: u32,
        /// Write a JSON report of timings here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Write a synthetic capture (rig, videos, freeze frames, ground truth).
    Synth {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Cameras in the ring.
        #[arg(long, default_value_t = 8)]
        cameras: u32,
        /// Image width.
        #[arg(long, default_value_t = 640)]
        width: u32,
        /// Image height.
        #[arg(long, default_value_t = 360)]
        height: u32,
        /// Frames per second.
        #[arg(long, default_value_t = 25)]
        fps: u32,
        /// Length, seconds.
        #[arg(long, default_value_t = 2.0)]
        duration: f64,
        /// Only the freeze-instant stills and truth, no videos.
        #[arg(long)]
        stills_only: bool,
        /// Supersampling per axis (anti-aliasing; cost grows with its square).
        #[arg(long, default_value_t = 1)]
        supersample: u32,
        /// Scene variant: demo, or crossing (two figures passing close, a
        /// plain kit and a plain prop).
        #[arg(long, default_value = "demo")]
        scene: String,
        /// The instant with stills and ground truth, seconds (default: the middle).
        #[arg(long)]
        freeze: Option<f64>,
    },
    /// Reconstruct one instant to a PLY point cloud.
    Reconstruct {
        /// Rig JSON file or COLMAP text model folder.
        #[arg(long)]
        rig: PathBuf,
        /// Folder with <id>.png/.jpg per camera (or <id>.mp4 videos, see --time).
        #[arg(long)]
        images: PathBuf,
        /// Output PLY.
        #[arg(long)]
        out: PathBuf,
        /// Instant to take from videos, seconds.
        #[arg(long, default_value_t = 0.0)]
        time: f64,
        /// Volume of interest "xmin,ymin,zmin,xmax,ymax,zmax" (metres).
        #[arg(long, allow_hyphen_values = true)]
        roi: Option<String>,
        /// Run the sweep on the CPU reference instead of the GPU.
        #[arg(long)]
        cpu: bool,
        /// Write a JSON report (timings, counts).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Clean plates of the empty venue (<id>.png per camera, or a
        /// synthetic capture folder with plate/): the venue is built once
        /// from them and cached there (venue.ply); the frame set's
        /// foreground is found against them and reconstructed alone.
        #[arg(long)]
        background: Option<PathBuf>,
        /// Rebuild the venue cache even if it is up to date.
        #[arg(long, requires = "background")]
        rebuild_background: bool,
        /// Write only the foreground (players, ball), not the venue.
        #[arg(long, requires = "background")]
        foreground_only: bool,
        /// Iterations of the foreground's PatchMatch-style refinement
        /// (0-8; default 2: 8 x 640x360 in ~0.85 s on the software
        /// adapter; each iteration about 0.1 s).
        #[arg(long, requires = "background", value_parser = clap::value_parser!(u32).range(0..=8))]
        refine_iterations: Option<u32>,
    },
    /// Score a point cloud against a synthetic capture's ground truth
    /// (accuracy, completeness, F-score at 1 and 2 cm), or a rendered view
    /// against a camera's real image (PSNR, SSIM; design.md section 7).
    Evaluate {
        /// Synthetic capture folder (rig.json, capture.json, truth/, frames/).
        #[arg(long)]
        capture: PathBuf,
        /// The PLY to score.
        #[arg(long, required_unless_present = "view", conflicts_with = "view")]
        cloud: Option<PathBuf>,
        /// A rendered view (PNG) to score against `--camera`'s frame.
        #[arg(long, requires = "camera")]
        view: Option<PathBuf>,
        /// Camera id whose frame (frames/<id>.png) the view is compared with.
        #[arg(long)]
        camera: Option<String>,
        /// Write the absolute error of the view as an image here (x4 gain).
        #[arg(long, requires = "view")]
        error_map: Option<PathBuf>,
        /// Write the metrics as JSON here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Score against the foreground (players, ball) truth only.
        #[arg(long)]
        foreground: bool,
    },
    /// Render a reel: one replay template, or a playlist of replays, over
    /// a recorded capture, to one MP4 (written atomically).
    Reel {
        /// Rig JSON file or COLMAP text model folder.
        #[arg(long)]
        rig: PathBuf,
        /// Capture folder: a video per camera (<id>.mp4|mkv|ts); clean
        /// plates in plate/ give the venue + foreground reconstruction.
        #[arg(long)]
        capture: PathBuf,
        /// Replay template (orbit, arc, keyframes, with `time`) or playlist
        /// ({"playlist": [{"instant_s", "template", "speed"}, ...]}).
        #[arg(long)]
        path: PathBuf,
        /// Output MP4.
        #[arg(long)]
        out: PathBuf,
        /// Instant of a single template, seconds (default: the capture's
        /// freeze instant from capture.json, else 0).
        #[arg(long)]
        instant: Option<f64>,
        /// Output width, pixels.
        #[arg(long, default_value_t = 1920)]
        width: u32,
        /// Output height, pixels.
        #[arg(long, default_value_t = 1080)]
        height: u32,
        /// Output frame rate.
        #[arg(long, default_value_t = 30)]
        fps: u32,
        /// Write a JSON report of timings here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Calibrate one camera or a ring from checkerboard views: intrinsics,
    /// distortion and poses to a rig JSON file, with a report.
    Calibrate {
        /// Board: checker:COLSxROWS:SQUARE_M, inner corners (OpenCV's
        /// samples: checker:9x6:0.025).
        #[arg(long)]
        board: String,
        /// ID=PATH, once per camera: a folder of images, a quoted glob or a
        /// video. Views of the same instant share a file stem (or frame
        /// number) across cameras.
        #[arg(long = "views", required = true)]
        views: Vec<String>,
        /// Output rig JSON file.
        #[arg(long, required_unless_present = "check")]
        out: Option<PathBuf>,
        /// Write the report (per camera rms_px, views_used, views_rejected,
        /// and the overall rms_px) as JSON here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Also write the rig as a COLMAP text model into this folder.
        #[arg(long)]
        colmap: Option<PathBuf>,
        /// Surveyed points (JSON: {"points": {NAME: [x,y,z]}, "pixels":
        /// {CAMERA: {NAME: [u,v]}}}): the world frame becomes the venue's.
        #[arg(long)]
        survey: Option<PathBuf>,
        /// Re-measure this existing rig against the views instead of
        /// calibrating (drift after a camera was bumped).
        #[arg(long)]
        check: Option<PathBuf>,
        /// Warn about any camera whose RMS reprojection error is above this, pixels.
        #[arg(long, default_value_t = 0.5)]
        max_rms_px: f64,
        /// Videos: look for the board in every n-th frame.
        #[arg(long, default_value_t = 10)]
        every_nth_frame: usize,
    },
    /// Render one viewpoint of an instant to PNG.
    View {
        /// Rig JSON file or COLMAP text model folder.
        #[arg(long)]
        rig: PathBuf,
        /// Folder with <id>.png/.jpg per camera.
        #[arg(long)]
        images: PathBuf,
        /// One-camera rig (JSON or COLMAP): the viewpoint and image size.
        #[arg(long)]
        camera: PathBuf,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
        /// Volume of interest "xmin,ymin,zmin,xmax,ymax,zmax" (metres).
        #[arg(long, allow_hyphen_values = true)]
        roi: Option<String>,
        /// Render this PLY instead of reconstructing.
        #[arg(long)]
        cloud: Option<PathBuf>,
        /// Clean plates of the empty venue (as for `reconstruct`): venue
        /// (cached) plus the instant's foreground.
        #[arg(long, conflicts_with = "cloud")]
        background: Option<PathBuf>,
        /// Flat point colours instead of colour blended from the real cameras.
        #[arg(long)]
        flat: bool,
        /// Backdrop cylinder radius in metres (default: fitted to the
        /// images; 0: none).
        #[arg(long)]
        backdrop_m: Option<f64>,
    },
}

/// Bad command-line input that is not a file's fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn parse_roi(text: &str) -> Result<reconstruct::Roi, UsageError> {
    let values: Vec<f64> = text
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            UsageError(format!(
                "--roi {text:?}: expected six numbers xmin,ymin,zmin,xmax,ymax,zmax"
            ))
        })?;
    let [x0, y0, z0, x1, y1, z1] = values[..] else {
        return Err(UsageError(format!(
            "--roi {text:?}: expected six numbers, got {}",
            values.len()
        )));
    };
    if !(x1 > x0 && y1 > y0 && z1 > z0) {
        return Err(UsageError(format!(
            "--roi {text:?}: each max must exceed its min"
        )));
    }
    Ok((Point3::new(x0, y0, z0), Point3::new(x1, y1, z1)))
}

fn reconstruct_input_error(error: &ReconstructError) -> bool {
    matches!(
        error,
        ReconstructError::NotEnoughCameras { .. }
            | ReconstructError::ImageSize { .. }
            | ReconstructError::EmptyRoi(_)
            | ReconstructError::Ply { .. }
            | ReconstructError::Plates { .. }
    )
}

fn ingest_input_error(error: &timeslice::ingest::IngestError) -> bool {
    matches!(
        error,
        timeslice::ingest::IngestError::Image { .. }
            | timeslice::ingest::IngestError::MissingCamera { .. }
    )
}

/// Exit status 2 for errors caused by the user's input (also when a stage's
/// error comes wrapped in the engine's).
fn is_input_error(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<UsageError>()
            || cause.is::<CalibrationError>()
            || cause.is::<BoardSpecError>()
            || cause.is::<CalibrateRunError>()
            || cause.is::<PathError>()
            || matches!(
                cause.downcast_ref::<OutputError>(),
                Some(OutputError::Destination(_))
            )
            || cause
                .downcast_ref::<timeslice::ingest::IngestError>()
                .is_some_and(ingest_input_error)
            || cause
                .downcast_ref::<ReconstructError>()
                .is_some_and(reconstruct_input_error)
            || cause
                .downcast_ref::<timeslice::render::quality::QualityError>()
                .is_some()
            || match cause.downcast_ref::<EngineError>() {
                Some(
                    EngineError::Capture { .. }
                    | EngineError::ReplayBuffer(_)
                    | EngineError::Path(_)
                    | EngineError::Calibration(_)
                    | EngineError::Render(timeslice::render::RenderError::SourceSize { .. }),
                ) => true,
                Some(EngineError::Reconstruct(inner)) => reconstruct_input_error(inner),
                Some(EngineError::Ingest(inner)) => ingest_input_error(inner),
                Some(EngineError::Output(OutputError::Destination(_))) => true,
                _ => false,
            }
    })
}

/// Progress bars, one per stage, drawn on stderr when it is a terminal;
/// one summary line per finished stage either way (scripts and CI logs).
struct Progress {
    bar: std::cell::RefCell<Option<Stage>>,
}

struct Stage {
    name: String,
    bar: ProgressBar,
    started: std::time::Instant,
}

impl Stage {
    fn finish(self) {
        self.bar.finish_and_clear();
        let elapsed = self.started.elapsed().as_secs_f64();
        let done = self.bar.position();
        eprintln!("{:>18}: {done} done in {elapsed:.1} s", self.name);
    }
}

impl Progress {
    fn new() -> Self {
        Self {
            bar: std::cell::RefCell::new(None),
        }
    }

    fn update(&self, stage: &str, done: u64, total: u64) {
        let mut slot = self.bar.borrow_mut();
        if slot.as_ref().is_none_or(|s| s.name != stage) {
            if let Some(old) = slot.take() {
                old.finish();
            }
            let bar = if total > 0 {
                ProgressBar::new(total)
            } else {
                ProgressBar::new_spinner()
            };
            let template = if total > 0 {
                "{prefix:>18} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left)"
            } else {
                "{prefix:>18} {spinner} {pos} ({per_sec})"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(stage.to_owned());
            *slot = Some(Stage {
                name: stage.to_owned(),
                bar,
                started: std::time::Instant::now(),
            });
        }
        if let Some(current) = slot.as_ref() {
            current.bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Some(stage) = self.bar.borrow_mut().take() {
            stage.finish();
        }
    }
}

/// The calibration report as a table on stdout, warnings on stderr.
fn print_calibration_report(report: &CalibrationReport) {
    let check = report.mode == "check";
    print!(
        "{:<12} {:>8} {:>6} {:>9} {:>9} {:>8} {:>9} {:>9} {:>8} {:>8}",
        "camera", "rms_px", "views", "rejected", "no_board", "corners", "fx", "fy", "cx", "cy"
    );
    println!("{}", if check { "   drift_deg  drift_mm" } else { "" });
    for c in &report.cameras {
        print!(
            "{:<12} {:>8.4} {:>6} {:>9} {:>9} {:>8} {:>9.2} {:>9.2} {:>8.2} {:>8.2}",
            c.id,
            c.rms_px,
            c.views_used,
            c.views_rejected,
            c.views_without_board,
            c.corners_used,
            c.fx,
            c.fy,
            c.cx,
            c.cy
        );
        if let (Some(deg), Some(mm)) = (c.drift_deg, c.drift_mm) {
            print!(" {deg:>11.4} {mm:>9.2}");
        }
        println!();
    }
    println!(
        "overall rms {:.4} px over {} cameras{}",
        report.rms_px,
        report.cameras.len(),
        if report.survey_points_used > 0 {
            format!(
                ", world frame from {} surveyed points",
                report.survey_points_used
            )
        } else {
            String::new()
        }
    );
    for warning in &report.warnings {
        eprintln!("timeslice: warning: {warning}");
    }
}

fn write_report(path: Option<&Path>, report: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        let json = serde_json::to_string_pretty(report)?;
        timeslice::fsutil::write_atomic(path, json.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn reconstruct_settings(roi: Option<&str>, cpu: bool) -> anyhow::Result<ReconstructSettings> {
    Ok(ReconstructSettings {
        roi: roi.map(parse_roi).transpose()?,
        backend: if cpu { Backend::Cpu } else { Backend::Gpu },
        ..ReconstructSettings::default()
    })
}

/// Scores of `evaluate --view`: the whole image and the true foreground.
#[derive(serde::Serialize)]
struct ViewReport {
    camera: String,
    whole: timeslice::render::quality::ViewScores,
    foreground: Option<timeslice::render::quality::ViewScores>,
}

fn read_rgba(path: &Path) -> anyhow::Result<image::RgbaImage> {
    Ok(image::open(path)
        .map_err(|e| UsageError(format!("{}: {e}", path.display())))?
        .into_rgba8())
}

fn evaluate_view(
    capture: &Path,
    view: &Path,
    camera: &str,
    error_map: Option<&Path>,
    report: Option<&Path>,
) -> anyhow::Result<()> {
    use timeslice::render::quality;
    let rendered = read_rgba(view)?;
    let reference_path = capture.join("frames").join(format!("{camera}.png"));
    if !reference_path.exists() {
        bail!(UsageError(format!(
            "{}: no frame of camera {camera:?} to compare with",
            reference_path.display()
        )));
    }
    let reference = read_rgba(&reference_path)?;
    let (width, height) = reference.dimensions();
    if rendered.dimensions() != (width, height) {
        bail!(UsageError(format!(
            "{} is {}x{} but {} is {width}x{height}",
            view.display(),
            rendered.width(),
            rendered.height(),
            reference_path.display()
        )));
    }
    let whole = quality::compare(&rendered, &reference, width, height, None)?;
    let mask_path = capture.join("truth").join(format!("{camera}.mask.png"));
    let foreground = if mask_path.exists() {
        let mask = image::open(&mask_path)
            .map_err(|e| UsageError(format!("{}: {e}", mask_path.display())))?
            .into_luma8();
        if mask.dimensions() == (width, height) {
            quality::compare(&rendered, &reference, width, height, Some(mask.as_raw())).ok()
        } else {
            None
        }
    } else {
        None
    };
    if let Some(path) = error_map {
        let errors = quality::error_image(&rendered, &reference, 4.0);
        image::save_buffer(
            path,
            &errors,
            width,
            height,
            image::ExtendedColorType::Rgba8,
        )
        .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "evaluate: view of {camera}: PSNR {:.2} dB  SSIM {:.4}{}",
        whole.psnr_db,
        whole.ssim,
        foreground.map_or_else(String::new, |f| format!(
            "  (foreground: PSNR {:.2} dB  SSIM {:.4}, {} px)",
            f.psnr_db, f.ssim, f.pixels
        ))
    );
    write_report(
        report,
        &ViewReport {
            camera: camera.to_owned(),
            whole,
            foreground,
        },
    )
}

/// Ctrl-C (or SIGTERM) once: the running render stops after its current
/// frame and removes its unfinished output; twice: exit at once.
fn install_interrupt_handler() -> engine::Cancel {
    let cancel = engine::Cancel::new();
    let flag = cancel.clone();
    let installed = ctrlc::set_handler(move || {
        if flag.is_requested() {
            eprintln!("\ntimeslice: interrupted again, exiting now");
            std::process::exit(130);
        }
        flag.request();
        eprintln!(
            "\ntimeslice: stopping after the current step (the unfinished output is removed); Ctrl-C again to quit now"
        );
    });
    if let Err(error) = installed {
        tracing::warn!(%error, "no Ctrl-C handler: an interrupted render may leave a .partial file");
    }
    cancel
}

/// Whether `error` is a requested stop (Ctrl-C).
fn is_cancelled(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<EngineError>(),
            Some(EngineError::Cancelled { .. })
        )
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let cancel = install_interrupt_handler();
    let progress = Progress::new();
    let progress_fn = |stage: &str, done: u64, total: u64| progress.update(stage, done, total);
    match cli.command {
        Command::Demo {
            out,
            srt,
            capture_dir,
            ply,
            path,
            width,
            height,
            fps,
            report,
        } => {
            let destination = match srt {
                Some(uri) => Destination::parse(&uri)?,
                None => Destination::File(out),
            };
            if width < 16 || height < 16 || width % 2 == 1 || height % 2 == 1 || fps == 0 {
                bail!(UsageError(format!(
                    "output {width}x{height} at {fps} fps: width and height must be even and >= 16, fps > 0"
                )));
            }
            let path = match path {
                Some(p) => CameraPath::load(&p)?,
                None => CameraPath::Orbit(OrbitPath::default()),
            };
            let options = DemoOptions {
                destination: destination.clone(),
                capture_dir,
                ply_out: ply,
                width,
                height,
                fps,
                path,
                cancel: cancel.clone(),
                ..DemoOptions::default()
            };
            let result = engine::run_demo(&options, &progress_fn);
            progress.finish();
            let demo = result?;
            let seconds = demo.wall_ms / 1e3;
            let target = match &destination {
                Destination::File(p) => p.display().to_string(),
                Destination::Srt(uri) => uri.clone(),
            };
            println!(
                "demo: {} frames {}x{} to {target} in {seconds:.1} s (capture {:.1} s, ingest {:.1} s, reconstruct {:.1} s: {} venue + {} foreground points, render+encode {:.1} s) on {}",
                demo.clip.frames,
                width,
                height,
                demo.capture_ms / 1e3,
                demo.ingest_ms / 1e3,
                demo.reconstruct_ms / 1e3,
                demo.venue_points,
                demo.foreground.points,
                demo.clip.wall_ms / 1e3,
                demo.adapter
            );
            write_report(report.as_deref(), &demo)
        }
        Command::Synth {
            out,
            cameras,
            width,
            height,
            fps,
            duration,
            stills_only,
            supersample,
            scene,
            freeze,
        } => {
            let Some(scene) = timeslice::synth::Scene::named(&scene) else {
                bail!(UsageError(format!(
                    "unknown --scene {scene:?} (known: {})",
                    timeslice::synth::scene::SCENE_NAMES.join(", ")
                )));
            };
            let freeze_s = freeze.unwrap_or(duration / 2.0);
            if !(0.0..=duration).contains(&freeze_s) {
                bail!(UsageError(format!(
                    "--freeze {freeze_s} is outside the recording (0..{duration} s)"
                )));
            }
            if cameras < 2 || width < 16 || height < 16 || fps == 0 || duration <= 0.0 {
                bail!(UsageError(
                    "synth needs >= 2 cameras, >= 16x16 pixels, fps > 0, duration > 0".into()
                ));
            }
            let settings = CaptureSettings {
                cameras,
                width,
                height,
                fps,
                duration_s: duration,
                freeze_s,
                write_videos: !stills_only,
                supersample: supersample.clamp(1, 4),
                scene,
            };
            let ctx = timeslice::gpu::GpuContext::new()?;
            let capture = timeslice::synth::write_capture(&ctx, &out, &settings, &|d, t| {
                progress.update("synthetic capture", d, t)
            })?;
            progress.finish();
            println!(
                "synth: {} cameras, {} frames each, written to {}",
                capture.rig.cameras.len(),
                capture.manifest.frames,
                out.display()
            );
            Ok(())
        }
        Command::Reconstruct {
            rig,
            images,
            out,
            time,
            roi,
            cpu,
            report,
            background,
            rebuild_background,
            foreground_only,
            refine_iterations,
        } => {
            let rig = load_rig(&rig)?;
            let settings = ReconstructSettings {
                foreground_refine_iterations: refine_iterations,
                ..reconstruct_settings(roi.as_deref(), cpu)?
            };
            let instant = engine::load_instant(&rig, &images, timeslice::time::secs_to_ns(time))?;
            let ctx = if cpu {
                None
            } else {
                Some(timeslice::gpu::GpuContext::new()?)
            };
            let Some(background) = background else {
                let (cloud, summary) =
                    reconstruct::reconstruct(ctx.as_ref(), &rig, &instant, &settings)?;
                if cloud.is_empty() {
                    bail!(ReconstructError::EmptyRoi("no point was reconstructed (no texture or no overlap inside the volume of interest)".into()));
                }
                reconstruct::ply::write_ply(&cloud, &out)?;
                println!(
                    "reconstruct: {} points from {} cameras in {:.0} ms (sweep {:.0} ms, fusion {:.0} ms) -> {}",
                    cloud.len(),
                    summary.views_used,
                    summary.prepare_ms + summary.sweep_ms + summary.fusion_ms,
                    summary.sweep_ms,
                    summary.fusion_ms,
                    out.display()
                );
                return write_report(report.as_deref(), &summary);
            };
            let (venue, result) = engine::venue_and_foreground(
                ctx.as_ref(),
                &rig,
                &instant,
                &background,
                &settings,
                rebuild_background,
                &|d, t| progress.update("venue build (clean plates)", d, t),
            )?;
            progress.finish();
            if venue.rebuilt {
                println!(
                    "venue: built {} points in {:.1} s, cached in {}",
                    venue.cloud.len(),
                    venue.manifest.build_ms / 1e3,
                    background.join("venue.ply").display()
                );
            } else {
                println!("venue: {} points from the cache", venue.cloud.len());
            }
            let summary = result.report;
            if result.cloud.is_empty() {
                tracing::warn!(
                    "no foreground point was reconstructed (empty field, or plates that do not match the frames?)"
                );
            }
            let fg_points = result.cloud.len();
            let cloud = if foreground_only {
                result.cloud
            } else {
                let mut all = venue.cloud;
                all.append(result.cloud);
                all
            };
            if cloud.is_empty() {
                bail!(ReconstructError::EmptyRoi(
                    "no foreground point was reconstructed and --foreground-only was given".into()
                ));
            }
            reconstruct::ply::write_ply(&cloud, &out)?;
            println!(
                "reconstruct: {fg_points} foreground points ({} foreground pixels in {} cameras) in {:.0} ms (segment {:.0}, masks {:.0}, hull {:.0}, sweep {:.0} + {:.0} occlusion-aware, refine {:.0}, fusion {:.0} ms); {} points -> {}",
                summary.foreground_pixels,
                summary.views_used,
                summary.total_ms,
                summary.segment_ms,
                summary.masks_ms,
                summary.hull_ms,
                summary.sweep_ms,
                summary.visibility_ms + summary.sweep2_ms,
                summary.refine_ms,
                summary.fusion_ms,
                cloud.len(),
                out.display()
            );
            write_report(report.as_deref(), &summary)
        }
        Command::Evaluate {
            capture,
            cloud,
            view,
            camera,
            error_map,
            report,
            foreground,
        } => {
            if let (Some(view), Some(camera)) = (view, camera) {
                return evaluate_view(
                    &capture,
                    &view,
                    &camera,
                    error_map.as_deref(),
                    report.as_deref(),
                );
            }
            let Some(cloud) = cloud else {
                bail!(UsageError("evaluate needs --cloud or --view".into()));
            };
            let truth = timeslice::synth::load_truth(&capture)?;
            let cloud = reconstruct::ply::read_ply(&cloud)?;
            let truth_points = if foreground {
                if truth.foreground_points.is_empty() {
                    bail!(UsageError(format!(
                        "{}: no foreground truth (truth/<id>.mask.png); re-run timeslice synth",
                        capture.display()
                    )));
                }
                &truth.foreground_points
            } else {
                &truth.points
            };
            let metrics =
                reconstruct::eval::evaluate(&cloud.positions_in_world, truth_points, &truth.roi);
            println!(
                "evaluate: F@1cm {:.3}  F@2cm {:.3}  accuracy {:.1} mm  completeness@2cm {:.3}  precision@2cm {:.3}  ({} points vs {} truth samples)",
                metrics.f_score_1cm,
                metrics.f_score_2cm,
                metrics.accuracy_median_m * 1e3,
                metrics.completeness_2cm,
                metrics.precision_2cm,
                metrics.points,
                metrics.truth_points
            );
            write_report(report.as_deref(), &metrics)
        }
        Command::Reel {
            rig,
            capture,
            path,
            out,
            instant,
            width,
            height,
            fps,
            report,
        } => {
            if width < 16 || height < 16 || width % 2 == 1 || height % 2 == 1 || fps == 0 {
                bail!(UsageError(format!(
                    "output {width}x{height} at {fps} fps: width and height must be even and >= 16, fps > 0"
                )));
            }
            if !capture.is_dir() {
                bail!(UsageError(format!(
                    "--capture {}: not a folder",
                    capture.display()
                )));
            }
            let rig = load_rig(&rig)?;
            let default_instant = instant.unwrap_or_else(|| {
                std::fs::read_to_string(capture.join("capture.json"))
                    .ok()
                    .and_then(|t| {
                        serde_json::from_str::<timeslice::synth::CaptureManifest>(&t).ok()
                    })
                    .map_or(0.0, |m| m.freeze_ns as f64 / 1e9)
            });
            let playlist = timeslice::render::Playlist::load(&path, default_instant)?;
            let options = engine::ReelOptions {
                capture_dir: capture,
                playlist,
                playlist_path: path,
                out: out.clone(),
                width,
                height,
                fps,
                cancel: cancel.clone(),
            };
            let result = engine::render_reel(&rig, &options, &progress_fn);
            progress.finish();
            let reel = result?;
            println!(
                "reel: {} replays, {} frames ({:.1} s, {} rendered) {width}x{height} -> {} in {:.1} s (ingest {:.1} s, reconstruct {:.1} s, render {:.1} s)",
                reel.replays,
                reel.frames,
                reel.duration_s,
                reel.virtual_frames,
                out.display(),
                reel.wall_ms / 1e3,
                reel.ingest_ms / 1e3,
                reel.reconstruct_ms / 1e3,
                reel.render_ms / 1e3
            );
            write_report(report.as_deref(), &reel)
        }
        Command::Calibrate {
            board,
            views,
            out,
            report,
            colmap,
            survey,
            check,
            max_rms_px,
            every_nth_frame,
        } => {
            let board: BoardSpec = board.parse()?;
            let views = views
                .iter()
                .map(|v| v.parse::<ViewSource>())
                .collect::<Result<Vec<_>, _>>()?;
            if !(max_rms_px.is_finite() && max_rms_px > 0.0) {
                bail!(UsageError(format!(
                    "--max-rms-px {max_rms_px}: must be a positive number of pixels"
                )));
            }
            let run = CalibrateRun {
                board,
                views,
                survey,
                video_frame_step: every_nth_frame,
                options: CalibrateOptions {
                    warn_rms_px: max_rms_px,
                    rig_name: out
                        .as_deref()
                        .and_then(Path::file_stem)
                        .map_or_else(|| "calibrated".into(), |s| s.to_string_lossy().into_owned()),
                },
            };
            let calibration_report = if let Some(check) = check {
                let rig = load_rig(&check)?;
                let result = engine::calibrate::run_check(&run, &rig, &progress_fn);
                progress.finish();
                result?
            } else {
                let result = engine::calibrate::run_calibrate(&run, &progress_fn);
                progress.finish();
                let calibration = result?;
                if let Some(out) = &out {
                    timeslice::calibration::save_rig(&calibration.rig, out)?;
                }
                if let Some(dir) = &colmap {
                    timeslice::calibration::export_colmap(&calibration.rig, dir)?;
                }
                calibration.report
            };
            print_calibration_report(&calibration_report);
            if let Some(out) = out.filter(|_| calibration_report.mode == "calibrate") {
                println!("rig written to {}", out.display());
            }
            write_report(report.as_deref(), &calibration_report)
        }
        Command::View {
            rig,
            images,
            camera,
            out,
            roi,
            cloud,
            background,
            flat,
            backdrop_m,
        } => {
            let rig = load_rig(&rig)?;
            let view_rig = load_rig(&camera)?;
            let [view_camera] = view_rig.cameras.as_slice() else {
                bail!(UsageError(format!(
                    "{}: --camera must hold exactly one camera, found {}",
                    camera.display(),
                    view_rig.cameras.len()
                )));
            };
            if backdrop_m.is_some_and(|r| !(r >= 0.0 && r.is_finite())) {
                bail!(UsageError(
                    "--backdrop-m must be a radius in metres >= 0".into()
                ));
            }
            let ctx = timeslice::gpu::GpuContext::new()?;
            let settings = reconstruct_settings(roi.as_deref(), false)?;
            let instant = engine::load_instant(&rig, &images, 0)?;
            let cloud = match (cloud, background) {
                (Some(ply), _) => reconstruct::ply::read_ply(&ply)?,
                (None, Some(background)) => {
                    let (venue, foreground) = engine::venue_and_foreground(
                        Some(&ctx),
                        &rig,
                        &instant,
                        &background,
                        &settings,
                        false,
                        &|d, t| progress.update("venue build (clean plates)", d, t),
                    )?;
                    progress.finish();
                    let mut all = venue.cloud;
                    all.append(foreground.cloud);
                    all
                }
                (None, None) => reconstruct::reconstruct(Some(&ctx), &rig, &instant, &settings)?.0,
            };
            let options = engine::ViewOptions {
                flat,
                backdrop_radius_m: backdrop_m,
            };
            let scene = engine::InstantScene::new(&ctx, &rig, &instant, &cloud, &options)?;
            let target = scene
                .renderer
                .target(&ctx, view_camera.width, view_camera.height);
            if !view_camera.distortion.is_zero() {
                tracing::warn!("the view camera's lens distortion is not rendered (pinhole view)");
            }
            let rgba = scene.render(&ctx, &target, &view_camera.pinhole())?;
            let tmp = timeslice::fsutil::partial_path(&out);
            image::save_buffer_with_format(
                &tmp,
                &rgba,
                view_camera.width,
                view_camera.height,
                image::ExtendedColorType::Rgba8,
                image::ImageFormat::Png,
            )
            .with_context(|| format!("writing {}", out.display()))?;
            std::fs::rename(&tmp, &out).with_context(|| format!("writing {}", out.display()))?;
            let backdrop = scene
                .style
                .backdrop
                .map_or_else(|| "none".to_owned(), |b| format!("{:.1} m", b.radius_m));
            println!(
                "view: {}x{} from {} points, {} source cameras, backdrop {backdrop} -> {}",
                view_camera.width,
                view_camera.height,
                cloud.len(),
                scene.sources.as_ref().map_or(0, |s| s.cameras().len()),
                out.display()
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{default_level},wgpu_core=warn,wgpu_hal=error,naga=warn"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("timeslice: error: {error:#}");
            if is_cancelled(&error) {
                // The shell's convention for a process stopped by SIGINT.
                ExitCode::from(130)
            } else if is_input_error(&error) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
