//! The engine: the only module that knows every stage, and wires them.
//!
//! Offline flow of `timeslice demo` (the live flow adds the control API):
//!
//! ```text
//! synth (capture folder) -> ingest (one GStreamer pipeline per camera, threads)
//!   -> [bounded channel, blocking: offline input must not drop] -> frame_sync
//!   -> replay_buffer -> freeze(t) -> reconstruct (GPU) -> render (GPU orbit)
//!   -> output (x264 -> MP4 file, or MPEG-TS over SRT)
//! ```
//!
//! Progress is reported through a callback so the CLI can draw bars.
//!
//! `calibrate` (board views in, rig out) lives in [`calibrate`].

pub mod calibrate;
pub mod cancel;

pub use cancel::Cancel;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crossbeam_channel::bounded;

use crate::calibration::Rig;
use crate::frame_sync::{FrameSet, FrameSync, SyncStats};
use crate::gpu::GpuContext;
use crate::ingest::{IngestEvent, RgbaImage};
use crate::output::{Destination, EncoderSettings, VideoWriter};
use crate::reconstruct::{PointCloud, ReconstructSettings};
use crate::render::{CameraPath, SplatRenderer, SplatStyle};
use crate::replay_buffer::ReplayBuffer;
use crate::synth::{CaptureSettings, SyntheticCapture};

/// Frames of all cameras queued between ingest threads and frame_sync.
const INGEST_CHANNEL_CAPACITY: usize = 64;
/// Replay buffer bounds for offline captures.
const REPLAY_WINDOW_NS: i64 = 60 * crate::time::NANOS_PER_SEC;
/// Replay buffer memory bound.
const REPLAY_MAX_BYTES: usize = 8 << 30;
/// Frame rate assumed for grouping videos when no capture.json says otherwise.
const DEFAULT_VIDEO_FPS: f64 = 25.0;

/// Errors of the engine (any stage's).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// GPU.
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    /// Synthetic capture.
    #[error(transparent)]
    Synth(#[from] crate::synth::SynthError),
    /// Ingest.
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    /// Replay buffer.
    #[error(transparent)]
    ReplayBuffer(#[from] crate::replay_buffer::ReplayBufferError),
    /// Reconstruction.
    #[error(transparent)]
    Reconstruct(#[from] crate::reconstruct::ReconstructError),
    /// Output.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    /// Rig files.
    #[error(transparent)]
    Calibration(#[from] crate::calibration::CalibrationError),
    /// Camera paths.
    #[error(transparent)]
    Path(#[from] crate::render::PathError),
    /// Rendering.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// A stop was requested (Ctrl-C) before the work finished; an unfinished
    /// output file has been removed.
    #[error("{stage}: cancelled after {done} of {total} frames")]
    Cancelled {
        /// What was running.
        stage: String,
        /// Frames done.
        done: u64,
        /// Frames planned.
        total: u64,
    },
    /// Nothing usable came out of the capture.
    #[error("capture {dir}: {reason}")]
    Capture {
        /// Folder.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A stage's progress: `(stage, done, total)`.
pub type ProgressFn<'a> = &'a dyn Fn(&str, u64, u64);

/// Result of ingesting a capture into a replay buffer.
pub struct IngestReport {
    /// The filled buffer.
    pub buffer: ReplayBuffer,
    /// Grouping statistics.
    pub sync: SyncStats,
    /// Frames decoded per camera.
    pub frames_per_camera: Vec<u64>,
    /// Cameras that failed, with the reason.
    pub failures: Vec<String>,
    /// Wall time, ms.
    pub wall_ms: f64,
}

/// Decodes every camera of `rig` (sources relative to `dir`), groups the
/// frames and records them. Failed cameras are reported; the rest go on.
///
/// # Errors
/// [`EngineError::Capture`] when no camera produced a frame.
pub fn ingest_capture(
    rig: &Rig,
    dir: &Path,
    fps: f64,
    progress: ProgressFn,
) -> Result<IngestReport, EngineError> {
    let started = Instant::now();
    let (sender, receiver) = bounded(INGEST_CHANNEL_CAPACITY);
    let mut failures = Vec::new();
    let mut cameras = Vec::new();
    let mut unstarted = Vec::new();
    for (index, camera) in rig.cameras.iter().enumerate() {
        let source = match &camera.source {
            Some(s) if s.contains("://") => s.clone(),
            Some(s) => dir.join(s).to_string_lossy().into_owned(),
            None => match crate::ingest::find_video(dir, &camera.id) {
                Some(p) => p.to_string_lossy().into_owned(),
                None => {
                    failures.push(format!(
                        "camera {:?}: no source and no video in {}",
                        camera.id,
                        dir.display()
                    ));
                    unstarted.push(index);
                    continue;
                }
            },
        };
        let started_camera = crate::ingest::to_uri(&camera.id, &source)
            .and_then(|uri| crate::ingest::spawn_camera(index, camera, &uri, sender.clone()));
        match started_camera {
            Ok(handle) => cameras.push(handle),
            Err(e) => {
                tracing::error!(camera_id = ?camera.id, error = %e, "camera failed to start");
                failures.push(e.to_string());
                unstarted.push(index);
            }
        }
    }
    drop(sender);
    // Files: no time-based expiry, the per-camera watermark decides.
    let mut sync = FrameSync::new(rig.cameras.len(), crate::time::frame_duration_ns(fps), None);
    for index in unstarted {
        let _ = sync.camera_ended(index);
    }
    let mut buffer = ReplayBuffer::new(REPLAY_WINDOW_NS, REPLAY_MAX_BYTES);
    let mut frames_per_camera = vec![0u64; rig.cameras.len()];
    let push = |sets: Vec<FrameSet>, buffer: &mut ReplayBuffer| {
        sets.into_iter().for_each(|s| buffer.push(s))
    };
    let mut total = 0u64;
    for event in receiver {
        match event {
            IngestEvent::Frame(frame) => {
                frames_per_camera[frame.camera_index] += 1;
                total += 1;
                progress("ingest", total, 0);
                push(sync.push(frame), &mut buffer);
            }
            IngestEvent::Ended { camera_index } => {
                push(sync.camera_ended(camera_index), &mut buffer)
            }
            IngestEvent::Failed {
                camera_index,
                error,
            } => {
                tracing::error!(camera_id = ?rig.cameras[camera_index].id, error = %error, "camera stream failed");
                failures.push(error.to_string());
                push(sync.camera_ended(camera_index), &mut buffer);
            }
        }
    }
    push(sync.finish(), &mut buffer);
    for camera in cameras {
        camera.join();
    }
    if buffer.is_empty() {
        return Err(EngineError::Capture {
            dir: dir.to_owned(),
            reason: format!("no camera delivered a frame ({})", failures.join("; ")),
        });
    }
    Ok(IngestReport {
        buffer,
        sync: sync.stats().clone(),
        frames_per_camera,
        failures,
        wall_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// Images of a frozen frame set in rig order.
#[must_use]
pub fn images_of(set: &FrameSet) -> Vec<Option<RgbaImage>> {
    set.frames
        .iter()
        .map(|f| f.as_ref().map(|f| f.image.clone()))
        .collect()
}

/// The cached venue (built from the clean plates in `plates_dir` if it is
/// missing or stale, or on `rebuild`) and the instant's foreground against
/// those plates.
///
/// # Errors
/// Unreadable plates, too few cameras, GPU errors.
pub fn venue_and_foreground(
    ctx: Option<&GpuContext>,
    rig: &Rig,
    images: &[Option<RgbaImage>],
    plates_dir: &Path,
    settings: &ReconstructSettings,
    rebuild: bool,
    progress: &dyn Fn(u64, u64),
) -> Result<
    (
        crate::reconstruct::venue::Venue,
        crate::reconstruct::foreground::ForegroundResult,
    ),
    EngineError,
> {
    let venue =
        crate::reconstruct::venue::venue(ctx, rig, plates_dir, settings, rebuild, progress)?;
    let foreground = crate::reconstruct::foreground::Foreground::new(ctx)
        .with_venue(&venue.cloud)
        .run(rig, images, &venue.plates, &foreground_settings(settings))?;
    Ok((venue, foreground))
}

/// Foreground settings that follow the reconstruction's volume, backend
/// and `refine` iterations.
fn foreground_settings(
    settings: &ReconstructSettings,
) -> crate::reconstruct::foreground::ForegroundSettings {
    let defaults = crate::reconstruct::foreground::ForegroundSettings::default();
    crate::reconstruct::foreground::ForegroundSettings {
        roi: settings.roi,
        backend: settings.backend,
        refine_iterations: settings
            .foreground_refine_iterations
            .unwrap_or(defaults.refine_iterations),
        ..defaults
    }
}

/// How frames of an instant are coloured.
#[derive(Debug, Clone, Default)]
pub struct ViewOptions {
    /// Flat point colours instead of colour blended from the real cameras.
    pub flat: bool,
    /// Backdrop cylinder radius, metres: `None` fits it to the images,
    /// `Some(0)` draws no backdrop (gradient beyond the reconstruction).
    pub backdrop_radius_m: Option<f64>,
}

/// One instant ready to render from any viewpoint: the cloud on the GPU,
/// the real cameras (view-dependent colour) and the style.
pub struct InstantScene {
    /// Compiled renderer.
    pub renderer: SplatRenderer,
    /// The cloud.
    pub cloud: crate::render::GpuCloud,
    /// The real cameras, unless flat colours were asked for.
    pub sources: Option<crate::render::SourceViews>,
    /// Splat style, with the fitted backdrop.
    pub style: SplatStyle,
}

impl InstantScene {
    /// Uploads `cloud` and the instant's `images` (rig order) as sources.
    ///
    /// # Errors
    /// GPU errors.
    pub fn new(
        ctx: &GpuContext,
        rig: &Rig,
        images: &[Option<RgbaImage>],
        cloud: &PointCloud,
        options: &ViewOptions,
    ) -> Result<Self, EngineError> {
        let renderer = SplatRenderer::new(ctx);
        let gpu_cloud = renderer.upload(ctx, cloud);
        let mut style = if options.flat {
            SplatStyle::default()
        } else {
            SplatStyle::view_dependent()
        };
        let mut sources = None;
        if !options.flat {
            let views = crate::render::undistorted_sources(rig, images);
            let borrowed: Vec<(crate::calibration::Camera, &RgbaImage)> =
                views.iter().map(|(c, i)| (c.clone(), i)).collect();
            let cameras: Vec<_> = views.iter().map(|(c, _)| c.clone()).collect();
            let focus = crate::render::rig_focus(&cameras).unwrap_or_else(nalgebra::Point3::origin);
            let centre_xy = nalgebra::Point2::new(focus.x, focus.y);
            style.backdrop = match options.backdrop_radius_m {
                Some(r) if r > 0.0 => Some(crate::render::Backdrop {
                    centre_xy_m: [focus.x, focus.y],
                    radius_m: r,
                    ground_z_m: 0.0,
                }),
                Some(_) => None,
                None => crate::render::fit_backdrop(&borrowed, centre_xy, 0.0),
            };
            if !borrowed.is_empty() {
                sources = Some(renderer.sources(ctx, &borrowed, &gpu_cloud, &style)?);
            }
        }
        Ok(Self {
            renderer,
            cloud: gpu_cloud,
            sources,
            style,
        })
    }

    /// Renders one RGBA8 frame from `camera` (a pinhole camera).
    ///
    /// # Errors
    /// GPU errors.
    pub fn render(
        &self,
        ctx: &GpuContext,
        target: &crate::render::RenderTarget,
        camera: &crate::calibration::Camera,
    ) -> Result<Vec<u8>, EngineError> {
        Ok(self.renderer.render(
            ctx,
            &self.cloud,
            target,
            camera,
            &self.style,
            self.sources.as_ref(),
        )?)
    }
}

/// Statistics of a rendered clip.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClipReport {
    /// Frames rendered and encoded.
    pub frames: u64,
    /// Render time (GPU + readback), ms total.
    pub render_ms: f64,
    /// Wall time of render + encode, ms.
    pub wall_ms: f64,
}

/// Renders `path` around the instant `scene` and sends the frames to
/// `destination`.
///
/// # Errors
/// GPU or output errors.
pub fn render_clip(
    ctx: &GpuContext,
    scene: &InstantScene,
    path: &CameraPath,
    encoder: EncoderSettings,
    destination: Destination,
    progress: ProgressFn,
    cancel: &Cancel,
) -> Result<ClipReport, EngineError> {
    let started = Instant::now();
    let target = scene.renderer.target(ctx, encoder.width, encoder.height);
    let (width, height, fps) = (encoder.width, encoder.height, encoder.fps);
    let frames = ((path.duration_s() * f64::from(fps)).round() as u64).max(1);
    if let Destination::Srt(_) = &destination {
        tracing::info!("SRT output: waiting for the receiver to connect");
    }
    let mut writer = VideoWriter::open(destination, encoder)?;
    let mut render_ms = 0.0;
    for i in 0..frames {
        cancel.check("render+encode", i, frames)?;
        // The last frame lands exactly on the end of the path.
        let time_s = if frames > 1 {
            path.duration_s() * i as f64 / (frames - 1) as f64
        } else {
            0.0
        };
        let camera = path.camera_at(time_s, width, height).ok_or_else(|| {
            crate::render::PathError::Invalid {
                path: PathBuf::from("<path>"),
                field: "pivot".into(),
                reason: format!(
                    "no valid camera at t = {time_s:.3} s (camera straight above the pivot?)"
                ),
            }
        })?;
        let render_started = Instant::now();
        let rgba = scene.render(ctx, &target, &camera)?;
        render_ms += render_started.elapsed().as_secs_f64() * 1e3;
        writer.push_rgba(rgba)?;
        progress("render+encode", i + 1, frames);
    }
    let summary = writer.finish()?;
    Ok(ClipReport {
        frames: summary.frames,
        render_ms,
        wall_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// Options of `timeslice demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the replay goes.
    pub destination: Destination,
    /// Where the synthetic capture is written (a temporary folder if `None`).
    pub capture_dir: Option<PathBuf>,
    /// Synthetic capture settings.
    pub capture: CaptureSettings,
    /// Output frame width.
    pub width: u32,
    /// Output frame height.
    pub height: u32,
    /// Output frame rate.
    pub fps: u32,
    /// The camera move.
    pub path: CameraPath,
    /// Also write the frozen instant's cloud here.
    pub ply_out: Option<PathBuf>,
    /// Stop request (Ctrl-C), checked between frames.
    pub cancel: Cancel,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            destination: Destination::File(PathBuf::from("replay.mp4")),
            capture_dir: None,
            capture: CaptureSettings::default(),
            width: 1280,
            height: 720,
            fps: 30,
            path: CameraPath::Orbit(crate::render::OrbitPath::default()),
            ply_out: None,
            cancel: Cancel::new(),
        }
    }
}

/// What the demo did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoReport {
    /// GPU adapter used.
    pub adapter: String,
    /// Synthetic capture time, ms.
    pub capture_ms: f64,
    /// Ingest (decode + sync + buffer) time, ms.
    pub ingest_ms: f64,
    /// Frame sets recorded.
    pub frame_sets: usize,
    /// Frozen instant, rig clock ns.
    pub freeze_ns: i64,
    /// Venue (cached or built) plus foreground, ms.
    pub reconstruct_ms: f64,
    /// Points rendered (venue + foreground).
    pub points: usize,
    /// Venue points.
    pub venue_points: usize,
    /// Foreground report of the frozen instant.
    pub foreground: crate::reconstruct::foreground::ForegroundReport,
    /// Clip report.
    pub clip: ClipReport,
    /// Total wall time, ms.
    pub wall_ms: f64,
}

/// `timeslice demo`: generate a capture, ingest it, freeze the middle
/// instant, reconstruct, fly an orbit, encode.
///
/// # Errors
/// Any stage's error.
pub fn run_demo(options: &DemoOptions, progress: ProgressFn) -> Result<DemoReport, EngineError> {
    let started = Instant::now();
    let ctx = GpuContext::new()?;
    let temp;
    let dir = match &options.capture_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().map_err(|source| crate::synth::SynthError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
            temp.path().to_owned()
        }
    };
    let capture_started = Instant::now();
    let capture: SyntheticCapture =
        crate::synth::write_capture(&ctx, &dir, &options.capture, &|done, total| {
            progress("synthetic capture", done, total)
        })?;
    let capture_ms = capture_started.elapsed().as_secs_f64() * 1e3;

    let ingest = ingest_capture(
        &capture.rig,
        &dir,
        f64::from(capture.manifest.fps),
        progress,
    )?;
    for failure in &ingest.failures {
        tracing::warn!(%failure, "camera unavailable");
    }
    let frozen = ingest.buffer.freeze(capture.manifest.freeze_ns)?;
    let roi = capture.manifest.roi;
    let settings = ReconstructSettings {
        roi: Some((
            nalgebra::Point3::from(roi[0]),
            nalgebra::Point3::from(roi[1]),
        )),
        ..ReconstructSettings::default()
    };
    // The capture holds clean plates: the venue is built from them, the
    // frozen instant's players and ball against them.
    let reconstruct_started = Instant::now();
    let images = images_of(&frozen);
    let (venue, foreground) = venue_and_foreground(
        Some(&ctx),
        &capture.rig,
        &images,
        &crate::reconstruct::venue::plates_dir(&dir),
        &settings,
        false,
        &|done, total| progress("venue build (clean plates)", done, total),
    )?;
    let venue_points = venue.cloud.len();
    let mut cloud = venue.cloud;
    cloud.append(foreground.cloud);
    let reconstruct_ms = reconstruct_started.elapsed().as_secs_f64() * 1e3;
    if cloud.is_empty() {
        return Err(EngineError::Capture {
            dir,
            reason: "reconstruction produced no points".into(),
        });
    }
    if let Some(ply) = &options.ply_out {
        crate::reconstruct::ply::write_ply(&cloud, ply)?;
    }
    let scene = InstantScene::new(&ctx, &capture.rig, &images, &cloud, &ViewOptions::default())?;
    let encoder = EncoderSettings::broadcast(options.width, options.height, options.fps);
    let path = options.path.bind(&capture.rig, Path::new("--path"))?;
    let clip = render_clip(
        &ctx,
        &scene,
        &path,
        encoder,
        options.destination.clone(),
        progress,
        &options.cancel,
    )?;
    Ok(DemoReport {
        adapter: format!("{} ({:?})", ctx.adapter_info.name, ctx.adapter_info.backend),
        capture_ms,
        ingest_ms: ingest.wall_ms,
        frame_sets: ingest.buffer.len(),
        freeze_ns: frozen.capture_ns,
        reconstruct_ms,
        points: cloud.len(),
        venue_points,
        foreground: foreground.report,
        clip,
        wall_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// Options of `timeslice reel`.
#[derive(Debug, Clone)]
pub struct ReelOptions {
    /// Capture folder: per camera a video (or `source`), optionally clean
    /// plates in `plate/` (venue + foreground; else multi-view stereo).
    pub capture_dir: PathBuf,
    /// The replays, in play order.
    pub playlist: crate::render::Playlist,
    /// Where the playlist came from (for error messages).
    pub playlist_path: PathBuf,
    /// Output MP4 (written as `.partial`, renamed when complete).
    pub out: PathBuf,
    /// Output size and rate.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Output frame rate.
    pub fps: u32,
    /// Stop request (Ctrl-C), checked between frames.
    pub cancel: Cancel,
}

/// What a reel took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReelReport {
    /// Replays cut into the reel.
    pub replays: usize,
    /// Frames written.
    pub frames: u64,
    /// Of which rendered (virtual) frames.
    pub virtual_frames: u64,
    /// Reel length, seconds.
    pub duration_s: f64,
    /// Ingest of the capture, ms.
    pub ingest_ms: f64,
    /// Reconstruction of the instants, ms.
    pub reconstruct_ms: f64,
    /// Rendering, ms.
    pub render_ms: f64,
    /// Everything, ms.
    pub wall_ms: f64,
    /// Per replay, the pivot its move turned around (world m; tracked
    /// pivots as found at the instant; `None` for keyframe moves).
    pub pivots: Vec<Option<[f64; 3]>>,
}

/// A replay whose template tracks its pivot, moved to the play found in
/// `foreground` at its instant; `None` when it does not track or nothing
/// was found (then the template's pivot stays, with a warning).
fn track_pivot(
    replay: &crate::render::BoundReplay,
    foreground: Option<&PointCloud>,
    source: &Path,
) -> Result<Option<crate::render::BoundReplay>, EngineError> {
    let path = &replay.template.path;
    let (Some(track), Some(pivot)) = (path.track(), path.pivot()) else {
        return Ok(None);
    };
    let Some(foreground) = foreground else {
        tracing::warn!(
            instant_ns = replay.instant_ns,
            "pivot tracking needs clean plates (plate/ in the capture) to tell the play from the venue: the template's pivot is used"
        );
        return Ok(None);
    };
    match crate::render::track::tracked_pivot(foreground, track, pivot.z) {
        Some(tracked) => {
            tracing::info!(instant_ns = replay.instant_ns, pivot = ?[tracked.x, tracked.y, tracked.z], "pivot tracked");
            Ok(Some(replay.with_pivot(&tracked, source)?))
        }
        None => {
            tracing::warn!(
                instant_ns = replay.instant_ns,
                "pivot tracking found no player or ball at the instant: the template's pivot is used"
            );
            Ok(None)
        }
    }
}

/// Camera `camera`'s recorded image at `capture_ns`, blended from the two
/// recorded frames around it (every frame is used when slowed down; the
/// nearest is taken at the ends of the recording), at `width` x `height`.
fn real_frame(
    buffer: &ReplayBuffer,
    camera: usize,
    capture_ns: i64,
    frame_ns: i64,
    width: u32,
    height: u32,
) -> Option<Vec<u8>> {
    let sets = buffer.range(capture_ns - 2 * frame_ns, capture_ns + 2 * frame_ns);
    let frames: Vec<&crate::ingest::CameraFrame> = sets
        .iter()
        .filter_map(|s| s.frames.get(camera).and_then(Option::as_ref))
        .collect();
    let before = frames.iter().rev().find(|f| f.capture_ns <= capture_ns);
    let after = frames.iter().find(|f| f.capture_ns > capture_ns);
    let (a, b, t) = match (before, after) {
        (Some(a), Some(b)) => (
            *a,
            *b,
            (capture_ns - a.capture_ns) as f32 / (b.capture_ns - a.capture_ns).max(1) as f32,
        ),
        (Some(a), None) => (*a, *a, 0.0),
        (None, Some(b)) => (*b, *b, 0.0),
        (None, None) => return None,
    };
    let blended: Vec<u8> = a
        .image
        .rgba
        .iter()
        .zip(b.image.rgba.iter())
        .map(|(&x, &y)| (f32::from(x) * (1.0 - t) + f32::from(y) * t).round() as u8)
        .collect();
    let image = image::RgbaImage::from_raw(a.image.width, a.image.height, blended)?;
    if (image.width(), image.height()) == (width, height) {
        return Some(image.into_raw());
    }
    Some(
        image::imageops::resize(&image, width, height, image::imageops::FilterType::Triangle)
            .into_raw(),
    )
}

/// `timeslice reel`: ingests the capture once, then for each replay of the
/// playlist freezes its instant, reconstructs it, and writes slow motion
/// in, the move and the resume into one MP4, cut one after the other.
///
/// # Errors
/// Bad capture or playlist (named), reconstruction, GPU or output errors.
pub fn render_reel(
    rig: &Rig,
    options: &ReelOptions,
    progress: ProgressFn,
) -> Result<ReelReport, EngineError> {
    let started = Instant::now();
    let ctx = GpuContext::new()?;
    let fps = std::fs::read_to_string(options.capture_dir.join("capture.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<crate::synth::CaptureManifest>(&text).ok())
        .map_or(DEFAULT_VIDEO_FPS, |m| f64::from(m.fps));
    let bound: Vec<crate::render::BoundReplay> = options
        .playlist
        .replays
        .iter()
        .map(|(instant_ns, template)| {
            crate::render::BoundReplay::bind(
                template,
                rig,
                *instant_ns,
                options.width,
                options.height,
                &options.playlist_path,
            )
        })
        .collect::<Result<_, _>>()?;
    let ingest = ingest_capture(rig, &options.capture_dir, fps, progress)?;
    for failure in &ingest.failures {
        tracing::warn!(%failure, "camera unavailable");
    }
    // Every instant must be in the recording before anything is written.
    for replay in &bound {
        ingest.buffer.freeze(replay.instant_ns)?;
    }
    let total: u64 = bound.iter().map(|b| b.frame_count(options.fps)).sum();
    let plates = crate::reconstruct::venue::plates_dir(&options.capture_dir);
    let has_plates = rig
        .cameras
        .iter()
        .any(|c| crate::ingest::find_still(&plates, &c.id).is_some())
        && plates != options.capture_dir;
    let encoder = EncoderSettings::broadcast(options.width, options.height, options.fps);
    let mut writer = VideoWriter::open(Destination::File(options.out.clone()), encoder)?;
    let frame_ns = crate::time::frame_duration_ns(fps);
    let (mut done, mut virtual_frames) = (0u64, 0u64);
    let (mut reconstruct_ms, mut render_ms) = (0.0, 0.0);
    let mut pivots = Vec::with_capacity(bound.len());
    // The venue is read (or built) once and the foreground kernels compiled
    // once for the whole playlist; each replay reconstructs its foreground.
    let settings = ReconstructSettings::default();
    let reconstruct_started = Instant::now();
    let venue = if has_plates {
        Some(crate::reconstruct::venue::venue(
            Some(&ctx),
            rig,
            &plates,
            &settings,
            false,
            &|d, t| progress("venue build (clean plates)", d, t),
        )?)
    } else {
        None
    };
    let foreground = crate::reconstruct::foreground::Foreground::new(Some(&ctx));
    let foreground = match &venue {
        Some(venue) => foreground.with_venue(&venue.cloud),
        None => foreground,
    };
    let fg_settings = foreground_settings(&settings);
    reconstruct_ms += reconstruct_started.elapsed().as_secs_f64() * 1e3;
    for replay in &bound {
        options.cancel.check("reel", done, total)?;
        let reconstruct_started = Instant::now();
        let frozen = ingest.buffer.freeze(replay.instant_ns)?;
        let images = images_of(&frozen);
        // A tracked pivot is found in the players alone, before they join
        // the venue's cloud.
        let (cloud, moved) = match &venue {
            Some(venue) => {
                let players = foreground.run(rig, &images, &venue.plates, &fg_settings)?;
                let moved = track_pivot(replay, Some(&players.cloud), &options.playlist_path)?;
                let mut cloud = venue.cloud.clone();
                cloud.append(players.cloud);
                (cloud, moved)
            }
            None => (
                crate::reconstruct::reconstruct(Some(&ctx), rig, &images, &settings)?.0,
                track_pivot(replay, None, &options.playlist_path)?,
            ),
        };
        let replay = moved.as_ref().unwrap_or(replay);
        pivots.push(replay.template.path.pivot().map(|p| [p.x, p.y, p.z]));
        let scene = InstantScene::new(&ctx, rig, &images, &cloud, &ViewOptions::default())?;
        let target = scene.renderer.target(&ctx, options.width, options.height);
        reconstruct_ms += reconstruct_started.elapsed().as_secs_f64() * 1e3;
        for index in 0..replay.frame_count(options.fps) {
            options.cancel.check("reel", done, total)?;
            let render_started = Instant::now();
            let frame = replay.frame(index, options.fps).ok_or_else(|| {
                crate::render::PathError::Invalid {
                    path: options.playlist_path.clone(),
                    field: "type".into(),
                    reason: format!("no camera at frame {index} of the move"),
                }
            })?;
            let rgba = match frame {
                crate::render::ReplayFrame::Real { camera, capture_ns } => {
                    match real_frame(
                        &ingest.buffer,
                        camera,
                        capture_ns,
                        frame_ns,
                        options.width,
                        options.height,
                    ) {
                        Some(rgba) => rgba,
                        // No recorded frame of that camera: its pose, rendered.
                        None => {
                            let pose = rig.cameras[camera]
                                .pinhole()
                                .scaled(options.width, options.height);
                            virtual_frames += 1;
                            scene.render(&ctx, &target, &pose)?
                        }
                    }
                }
                crate::render::ReplayFrame::Virtual { camera } => {
                    virtual_frames += 1;
                    scene.render(&ctx, &target, &camera)?
                }
            };
            render_ms += render_started.elapsed().as_secs_f64() * 1e3;
            writer.push_rgba(rgba)?;
            done += 1;
            progress("reel", done, total);
        }
    }
    let summary = writer.finish()?;
    Ok(ReelReport {
        replays: bound.len(),
        frames: summary.frames,
        virtual_frames,
        duration_s: summary.frames as f64 / f64::from(options.fps),
        ingest_ms: ingest.wall_ms,
        reconstruct_ms,
        render_ms,
        wall_ms: started.elapsed().as_secs_f64() * 1e3,
        pivots,
    })
}

/// Loads one instant for `reconstruct`/`view`: per camera `<id>.png|jpg` in
/// `dir`, else its video (`<id>.mp4|mkv|ts`) decoded at `time_ns`. Cameras
/// with neither are `None` (reported by the reconstruction).
///
/// # Errors
/// Unreadable images, or a video that has no frame at `time_ns`.
pub fn load_instant(
    rig: &Rig,
    dir: &Path,
    time_ns: i64,
) -> Result<Vec<Option<RgbaImage>>, EngineError> {
    if !dir.is_dir() {
        return Err(EngineError::Capture {
            dir: dir.to_owned(),
            reason: "not a folder".into(),
        });
    }
    let mut images = vec![None; rig.cameras.len()];
    let mut videos = Vec::new();
    for (i, camera) in rig.cameras.iter().enumerate() {
        if let Some(still) = crate::ingest::find_still(dir, &camera.id) {
            images[i] = Some(crate::ingest::load_image(&still)?);
        } else if let Some(video) = crate::ingest::find_video(dir, &camera.id) {
            videos.push((i, video));
        } else {
            tracing::warn!(camera_id = ?camera.id, dir = %dir.display(), "no image or video for camera");
        }
    }
    if !videos.is_empty() {
        let mut video_rig = rig.clone();
        for (i, camera) in video_rig.cameras.iter_mut().enumerate() {
            camera.source = videos
                .iter()
                .find(|(v, _)| *v == i)
                .and_then(|(_, p)| p.file_name())
                .map(|name| name.to_string_lossy().into_owned());
        }
        // Decode only the cameras that have videos; others keep their stills.
        let with_video: Vec<usize> = videos.iter().map(|(i, _)| *i).collect();
        video_rig.cameras.retain(|c| c.source.is_some());
        let fps = std::fs::read_to_string(dir.join("capture.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<crate::synth::CaptureManifest>(&text).ok())
            .map_or(DEFAULT_VIDEO_FPS, |m| f64::from(m.fps));
        let ingest = ingest_capture(&video_rig, dir, fps, &|_, _, _| {})?;
        let set = ingest.buffer.freeze(time_ns)?;
        for (k, frame) in set.frames.into_iter().enumerate() {
            images[with_video[k]] = frame.map(|f| f.image);
        }
    }
    Ok(images)
}
