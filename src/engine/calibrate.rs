//! `timeslice calibrate`: reads each camera's board views (a folder, a
//! glob or a video), finds the board in them in parallel, and hands the
//! detections to the solver in [`crate::calibration`].
//!
//! Views are matched across cameras by name: an image's file stem, or its
//! trailing number when it has one (`cam0/000012.png` and `cam1/000012.png`,
//! or `left07.jpg` and `right07.jpg`, are the same instant), or a video's
//! frame number (`000120`), so synchronised recordings line up.

use std::path::{Path, PathBuf};

use image::GrayImage;
use rayon::prelude::*;

use super::ProgressFn;
use crate::calibration::{
    BoardDetector, BoardSpec, CalibrateError, CalibrateOptions, Calibration, CalibrationError,
    CalibrationReport, CameraDetections, DetectMiss, Rig, Survey, ViewDetection, calibrate,
    check_rig,
};
use crate::ingest::{self, IngestEvent};

/// Video files taken as one camera's views.
const VIDEO_EXTENSIONS: [&str; 6] = ["mp4", "mkv", "ts", "mov", "avi", "webm"];
/// Image files taken from a folder.
const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// Errors of `calibrate`'s inputs and solve; each names the camera or file.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateRunError {
    /// A `--views` value that is not `ID=PATH`.
    #[error("--views {value:?}: expected ID=PATH (a folder, a quoted glob or a video)")]
    ViewsArgument {
        /// The value given.
        value: String,
    },
    /// The same camera twice.
    #[error("--views: camera {camera:?} is given twice")]
    DuplicateCamera {
        /// Camera id.
        camera: String,
    },
    /// Nothing to read.
    #[error("camera {camera:?}: {path}: {reason}")]
    NoImages {
        /// Camera id.
        camera: String,
        /// The path or pattern.
        path: String,
        /// Why.
        reason: String,
    },
    /// An image that cannot be read, or of another size than the first.
    #[error("camera {camera:?}: {path}: {reason}")]
    Image {
        /// Camera id.
        camera: String,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A video that cannot be decoded.
    #[error("camera {camera:?}: video {path}: {reason}")]
    Video {
        /// Camera id.
        camera: String,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The surveyed-points file.
    #[error("{path}: {reason}")]
    SurveyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The solver refused.
    #[error(transparent)]
    Solve(#[from] CalibrateError),
    /// Rig files (the `--check` rig, or writing the result).
    #[error(transparent)]
    Rig(#[from] CalibrationError),
}

/// One `--views ID=PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewSource {
    /// Camera id.
    pub camera: String,
    /// Folder, glob pattern, image or video.
    pub path: String,
}

impl std::str::FromStr for ViewSource {
    type Err = CalibrateRunError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.split_once('=') {
            Some((camera, path)) if !camera.trim().is_empty() && !path.is_empty() => Ok(Self {
                camera: camera.trim().to_owned(),
                path: path.to_owned(),
            }),
            _ => Err(CalibrateRunError::ViewsArgument {
                value: value.to_owned(),
            }),
        }
    }
}

/// What `calibrate` reads besides the views.
#[derive(Debug, Clone)]
pub struct CalibrateRun {
    /// The board.
    pub board: BoardSpec,
    /// One per camera.
    pub views: Vec<ViewSource>,
    /// Surveyed points file (JSON), fixing the world frame to the venue.
    pub survey: Option<PathBuf>,
    /// Take every n-th frame of a video.
    pub video_frame_step: usize,
    /// Solver settings.
    pub options: CalibrateOptions,
}

/// Detects the board in every view of every camera.
///
/// # Errors
/// [`CalibrateRunError`] naming the camera and file.
pub fn detect_views(
    run: &CalibrateRun,
    progress: ProgressFn<'_>,
) -> Result<Vec<CameraDetections>, CalibrateRunError> {
    let mut seen = std::collections::BTreeSet::new();
    for source in &run.views {
        if !seen.insert(source.camera.as_str()) {
            return Err(CalibrateRunError::DuplicateCamera {
                camera: source.camera.clone(),
            });
        }
    }
    let detector = BoardDetector::new(run.board);
    run.views
        .iter()
        .map(|source| {
            let stage = format!("board {}", source.camera);
            let as_video = Path::new(&source.path)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            if as_video {
                detect_in_video(source, &detector, run.video_frame_step, &|done| {
                    progress(&stage, done, 0);
                })
            } else {
                let files = image_files(source)?;
                detect_in_images(source, &files, &detector, &|done, total| {
                    progress(&stage, done, total);
                })
            }
        })
        .collect()
}

/// Calibrates and returns the rig and report (nothing written).
///
/// # Errors
/// [`CalibrateRunError`] naming the camera, file or cameras at fault.
pub fn run_calibrate(
    run: &CalibrateRun,
    progress: ProgressFn<'_>,
) -> Result<Calibration, CalibrateRunError> {
    let survey = run.survey.as_deref().map(load_survey).transpose()?;
    let detections = detect_views(run, progress)?;
    Ok(calibrate(
        run.board,
        &detections,
        survey.as_ref(),
        &run.options,
    )?)
}

/// Re-measures `rig` against new board views (`calibrate --check`).
///
/// # Errors
/// [`CalibrateRunError`] naming the camera or file at fault.
pub fn run_check(
    run: &CalibrateRun,
    rig: &Rig,
    progress: ProgressFn<'_>,
) -> Result<CalibrationReport, CalibrateRunError> {
    let detections = detect_views(run, progress)?;
    Ok(check_rig(run.board, rig, &detections, &run.options)?)
}

fn load_survey(path: &Path) -> Result<Survey, CalibrateRunError> {
    let bad = |reason: String| CalibrateRunError::SurveyFile {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| bad(format!("{}: {}", e.path(), e.inner())))
}

/// The image files of a folder, a glob pattern or a single image, sorted.
fn image_files(source: &ViewSource) -> Result<Vec<PathBuf>, CalibrateRunError> {
    let no_images = |reason: String| CalibrateRunError::NoImages {
        camera: source.camera.clone(),
        path: source.path.clone(),
        reason,
    };
    let path = Path::new(&source.path);
    let is_image = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
    };
    let mut files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .map_err(|e| no_images(e.to_string()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_image(p))
            .collect()
    } else if path.is_file() {
        vec![path.to_owned()]
    } else if source.path.contains(['*', '?', '[']) {
        glob::glob(&source.path)
            .map_err(|e| no_images(format!("bad pattern: {e}")))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect()
    } else {
        return Err(no_images("no such folder, file or pattern".into()));
    };
    files.sort();
    if files.is_empty() {
        return Err(no_images(format!(
            "no images ({}) found",
            IMAGE_EXTENSIONS.join(", ")
        )));
    }
    Ok(files)
}

/// The name that matches a view across cameras: the file stem's trailing
/// number when it has one (`left07.jpg` and `right07.jpg` are the same
/// instant, as are `cam0/000012.png` and `cam1/000012.png`), else the stem.
fn view_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let digits = stem.len() - stem.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 {
        stem[stem.len() - digits..].to_owned()
    } else {
        stem
    }
}

fn view_detection(
    name: String,
    found: Result<Vec<nalgebra::Point2<f64>>, DetectMiss>,
) -> ViewDetection {
    let grid_seen = match found {
        Err(DetectMiss::Incomplete {
            grid_cols,
            grid_rows,
        }) => Some((grid_cols, grid_rows)),
        _ => None,
    };
    ViewDetection {
        name,
        corners_px: found.ok(),
        grid_seen,
    }
}

fn detect_in_images(
    source: &ViewSource,
    files: &[PathBuf],
    detector: &BoardDetector,
    progress: &dyn Fn(u64, u64),
) -> Result<CameraDetections, CalibrateRunError> {
    let read = |path: &PathBuf| -> Result<GrayImage, CalibrateRunError> {
        image::open(path)
            .map(|i| i.to_luma8())
            .map_err(|e| CalibrateRunError::Image {
                camera: source.camera.clone(),
                path: path.clone(),
                reason: e.to_string(),
            })
    };
    let total = files.len() as u64;
    let mut views = Vec::with_capacity(files.len());
    let mut size: Option<(u32, u32, &PathBuf)> = None;
    // Chunks keep memory bounded and let progress be drawn from this thread.
    for chunk in files.chunks(rayon::current_num_threads().max(1) * 2) {
        let results: Vec<Result<(u32, u32, ViewDetection), CalibrateRunError>> = chunk
            .par_iter()
            .map(|path| {
                let gray = read(path)?;
                let name = view_name(path);
                let found = detector.detect(&gray).map(|d| d.corners_px);
                Ok((gray.width(), gray.height(), view_detection(name, found)))
            })
            .collect();
        for (path, result) in chunk.iter().zip(results) {
            let (width, height, view) = result?;
            match size {
                None => size = Some((width, height, path)),
                Some((w, h, first)) if (w, h) != (width, height) => {
                    return Err(CalibrateRunError::Image {
                        camera: source.camera.clone(),
                        path: path.clone(),
                        reason: format!(
                            "is {width}x{height} but {} is {w}x{h}: one camera, one image size",
                            first.display()
                        ),
                    });
                }
                Some(_) => {}
            }
            views.push(view);
        }
        progress(views.len() as u64, total);
    }
    let (width, height, _) = size.ok_or_else(|| CalibrateRunError::NoImages {
        camera: source.camera.clone(),
        path: source.path.clone(),
        reason: "no images".into(),
    })?;
    Ok(CameraDetections {
        id: source.camera.clone(),
        width,
        height,
        views,
    })
}

/// Decodes a video with GStreamer (the ingest stage) and looks for the
/// board in every `step`-th frame.
fn detect_in_video(
    source: &ViewSource,
    detector: &BoardDetector,
    step: usize,
    progress: &dyn Fn(u64),
) -> Result<CameraDetections, CalibrateRunError> {
    let path = PathBuf::from(&source.path);
    let video_error = |reason: String| CalibrateRunError::Video {
        camera: source.camera.clone(),
        path: path.clone(),
        reason,
    };
    if !path.is_file() {
        return Err(video_error("no such file".into()));
    }
    let uri =
        ingest::to_uri(&source.camera, &source.path).map_err(|e| video_error(e.to_string()))?;
    let (sender, receiver) = crossbeam_channel::bounded(4);
    let stream = ingest::StreamSpec {
        id: source.camera.clone(),
        size: None,
        time_offset_ns: 0,
    };
    let pipeline =
        ingest::spawn_stream(0, stream, &uri, sender).map_err(|e| video_error(e.to_string()))?;
    let mut views = Vec::new();
    let mut size = (0, 0);
    let mut frame_index = 0usize;
    let step = step.max(1);
    let mut failure = None;
    for event in receiver {
        match event {
            IngestEvent::Frame(frame) => {
                if frame_index.is_multiple_of(step) {
                    let image = &frame.image;
                    size = (image.width, image.height);
                    // The same luma as still images get (`image`'s conversion).
                    let rgba = image::ImageBuffer::<image::Rgba<u8>, &[u8]>::from_raw(
                        image.width,
                        image.height,
                        image.rgba.as_slice(),
                    );
                    let found = rgba.map_or(Err(DetectMiss::NoGrid), |rgba| {
                        detector
                            .detect(&image::imageops::grayscale(&rgba))
                            .map(|d| d.corners_px)
                    });
                    views.push(view_detection(format!("{frame_index:06}"), found));
                    progress(views.len() as u64);
                }
                frame_index += 1;
            }
            IngestEvent::Ended { .. } => break,
            IngestEvent::Failed { error, .. } => {
                failure = Some(error);
                break;
            }
        }
    }
    pipeline.join();
    if let Some(error) = failure {
        return Err(video_error(error.to_string()));
    }
    if views.is_empty() {
        return Err(video_error("no frames decoded".into()));
    }
    Ok(CameraDetections {
        id: source.camera.clone(),
        width: size.0,
        height: size.1,
        views,
    })
}
