//! Camera ingest: one GStreamer pipeline per camera, decoded to RGBA frames
//! stamped with capture time on the rig clock.
//!
//! Pipeline per camera (`gst-launch-1.0` equivalent):
//!
//! ```text
//! uridecodebin name=decode uri=URI ! videoconvert name=convert
//!   ! video/x-raw,format=RGBA ! appsink name=sink sync=false
//! ```
//!
//! Any URI `uridecodebin` takes works (file://, srt://, rtsp://). The appsink
//! loop only copies the frame and sends it on a bounded channel; sync logic
//! lives in `frame_sync`. A camera that fails reports [`IngestEvent::Failed`]
//! and stops; the others keep going. Still images (`<id>.png`) are read by
//! [`load_image`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use crate::calibration::Camera;

/// How long one appsink pull waits before the bus is checked for errors.
const PULL_TIMEOUT_MS: u64 = 100;

/// Errors of the ingest stage.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The pipeline could not be built or started.
    #[error("camera {camera:?}: cannot open {uri:?}: {reason}")]
    Open {
        /// Camera id.
        camera: String,
        /// Its source.
        uri: String,
        /// Why.
        reason: String,
    },
    /// The stream failed while running.
    #[error("camera {camera:?}: stream error from {element_path}: {error} ({debug})")]
    Pipeline {
        /// Camera id.
        camera: String,
        /// Failing element.
        element_path: String,
        /// Error.
        error: String,
        /// Debug detail.
        debug: String,
    },
    /// Decoded frames have another size than the rig says.
    #[error(
        "camera {camera:?}: stream is {got_width}x{got_height} but the rig says {width}x{height}"
    )]
    SizeMismatch {
        /// Camera id.
        camera: String,
        /// Rig width.
        width: u32,
        /// Rig height.
        height: u32,
        /// Stream width.
        got_width: u32,
        /// Stream height.
        got_height: u32,
    },
    /// A still image could not be read.
    #[error("{path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No image or video for a camera in a folder.
    #[error(
        "{dir}: no image or video for camera {camera:?} (looked for {camera}.png, .jpg, .jpeg, .mp4, .mkv, .ts)"
    )]
    MissingCamera {
        /// The folder.
        dir: PathBuf,
        /// Camera id.
        camera: String,
    },
}

/// An RGBA8 image.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbaImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major RGBA8, no padding.
    pub rgba: Arc<Vec<u8>>,
}

impl RgbaImage {
    /// RGBA of pixel (x, y).
    #[must_use]
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.width + x) * 4) as usize;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }
}

/// One decoded frame of one camera.
#[derive(Debug, Clone)]
pub struct CameraFrame {
    /// Index of the camera in the rig.
    pub camera_index: usize,
    /// Capture time on the rig clock (camera PTS minus its `time_offset_ns`).
    pub capture_ns: i64,
    /// The pixels.
    pub image: RgbaImage,
}

/// What a camera thread reports.
#[derive(Debug)]
pub enum IngestEvent {
    /// A decoded frame.
    Frame(CameraFrame),
    /// The stream ended cleanly.
    Ended {
        /// Camera index.
        camera_index: usize,
    },
    /// The stream failed; this camera stops, the others go on.
    Failed {
        /// Camera index.
        camera_index: usize,
        /// Why.
        error: IngestError,
    },
}

/// A running camera pipeline.
pub struct CameraIngest {
    pipeline: gst::Pipeline,
    thread: Option<JoinHandle<()>>,
}

impl CameraIngest {
    /// Waits for the camera thread to end (after EOS or an error).
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for CameraIngest {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Turns a path or URI into a URI `uridecodebin` accepts.
///
/// # Errors
/// [`IngestError::Open`] for a relative path that cannot be made absolute.
pub fn to_uri(camera: &str, source: &str) -> Result<String, IngestError> {
    if source.contains("://") {
        return Ok(source.to_owned());
    }
    let absolute = std::path::absolute(source).map_err(|e| IngestError::Open {
        camera: camera.to_owned(),
        uri: source.to_owned(),
        reason: e.to_string(),
    })?;
    gst::glib::filename_to_uri(&absolute, None)
        .map(|u| u.to_string())
        .map_err(|e| IngestError::Open {
            camera: camera.to_owned(),
            uri: source.to_owned(),
            reason: e.to_string(),
        })
}

/// What ingest needs to know of a stream's camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// Camera id (names the pipeline, the thread and errors).
    pub id: String,
    /// Expected frame size; `None` takes whatever the stream has (e.g.
    /// calibration videos, whose size is not known before).
    pub size: Option<(u32, u32)>,
    /// The camera's clock minus the rig clock, nanoseconds.
    pub time_offset_ns: i64,
}

impl From<&Camera> for StreamSpec {
    fn from(camera: &Camera) -> Self {
        Self {
            id: camera.id.clone(),
            size: Some((camera.width, camera.height)),
            time_offset_ns: camera.time_offset_ns,
        }
    }
}

/// Starts ingest of `camera` (index `camera_index` in the rig) from `uri`;
/// frames and the end/failure event go to `events`.
///
/// # Errors
/// [`IngestError::Open`] when the pipeline cannot be built or started.
pub fn spawn_camera(
    camera_index: usize,
    camera: &Camera,
    uri: &str,
    events: Sender<IngestEvent>,
) -> Result<CameraIngest, IngestError> {
    spawn_stream(camera_index, StreamSpec::from(camera), uri, events)
}

/// Starts ingest of one stream described by `camera` (index `camera_index`);
/// see [`spawn_camera`].
///
/// # Errors
/// [`IngestError::Open`] when the pipeline cannot be built or started.
pub fn spawn_stream(
    camera_index: usize,
    camera: StreamSpec,
    uri: &str,
    events: Sender<IngestEvent>,
) -> Result<CameraIngest, IngestError> {
    gst::init().map_err(|e| IngestError::Open {
        camera: camera.id.clone(),
        uri: uri.into(),
        reason: e.to_string(),
    })?;
    let open_error = |reason: String| IngestError::Open {
        camera: camera.id.clone(),
        uri: uri.to_owned(),
        reason,
    };
    let pipeline = gst::parse::launch(
        "uridecodebin name=decode ! videoconvert name=convert ! video/x-raw,format=RGBA ! appsink name=sink sync=false max-buffers=4",
    )
    .map_err(|e| open_error(format!("{e} (run scripts/setup.sh to install GStreamer plugins)")))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| open_error("not a pipeline".into()))?;
    pipeline.set_property("name", format!("ingest-{}", camera.id));
    let decode = pipeline
        .by_name("decode")
        .ok_or_else(|| open_error("no decode element".into()))?;
    decode.set_property("uri", uri);
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| open_error("no appsink".into()))?;
    pipeline.set_state(gst::State::Playing).map_err(|_| {
        let reason = pipeline_error(&pipeline, &camera.id)
            .map_or_else(|| "pipeline refused to start".to_owned(), |e| e.to_string());
        let _ = pipeline.set_state(gst::State::Null);
        open_error(reason)
    })?;
    let thread_pipeline = pipeline.clone();
    let thread_camera = camera.clone();
    let thread = std::thread::Builder::new()
        .name(format!("ingest-{}", camera.id))
        .spawn(move || {
            let event = match pull_frames(
                &thread_pipeline,
                &sink,
                camera_index,
                &thread_camera,
                &events,
            ) {
                Ok(()) => IngestEvent::Ended { camera_index },
                Err(error) => IngestEvent::Failed {
                    camera_index,
                    error,
                },
            };
            let _ = events.send(event);
            let _ = thread_pipeline.set_state(gst::State::Null);
        })
        .map_err(|e| open_error(e.to_string()))?;
    Ok(CameraIngest {
        pipeline,
        thread: Some(thread),
    })
}

fn pipeline_error(pipeline: &gst::Pipeline, camera: &str) -> Option<IngestError> {
    let bus = pipeline.bus()?;
    let message = bus.pop_filtered(&[gst::MessageType::Error])?;
    let gst::MessageView::Error(e) = message.view() else {
        return None;
    };
    Some(IngestError::Pipeline {
        camera: camera.to_owned(),
        element_path: e
            .src()
            .map_or_else(|| "<unknown>".into(), |s| s.path_string().to_string()),
        error: e.error().to_string(),
        debug: e.debug().map(|d| d.to_string()).unwrap_or_default(),
    })
}

/// The appsink loop: copy each frame out and send it. Returns at EOS.
fn pull_frames(
    pipeline: &gst::Pipeline,
    sink: &gst_app::AppSink,
    camera_index: usize,
    camera: &StreamSpec,
    events: &Sender<IngestEvent>,
) -> Result<(), IngestError> {
    loop {
        // An upstream error does not wake a blocked appsink: poll with a
        // timeout and look at the bus in between.
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(PULL_TIMEOUT_MS))
        else {
            if sink.is_eos() {
                return Ok(());
            }
            if let Some(error) = pipeline_error(pipeline, &camera.id) {
                return Err(error);
            }
            if sink.current_state() == gst::State::Null {
                return Ok(()); // stopped by its owner
            }
            continue;
        };
        let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else {
            continue;
        };
        let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
            continue;
        };
        if let Some((width, height)) = camera.size
            && (info.width(), info.height()) != (width, height)
        {
            return Err(IngestError::SizeMismatch {
                camera: camera.id.clone(),
                width,
                height,
                got_width: info.width(),
                got_height: info.height(),
            });
        }
        let Ok(frame) = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info) else {
            continue;
        };
        let Ok(plane) = frame.plane_data(0) else {
            continue;
        };
        let stride = frame.plane_stride()[0] as usize;
        let row_bytes = info.width() as usize * 4;
        let mut rgba = Vec::with_capacity(row_bytes * info.height() as usize);
        for row in plane.chunks(stride).take(info.height() as usize) {
            rgba.extend_from_slice(&row[..row_bytes]);
        }
        let pts_ns = buffer.pts().map_or(0, |p| p.nseconds() as i64);
        let frame = CameraFrame {
            camera_index,
            capture_ns: pts_ns - camera.time_offset_ns,
            image: RgbaImage {
                width: info.width(),
                height: info.height(),
                rgba: Arc::new(rgba),
            },
        };
        tracing::trace!(camera_id = ?camera.id, capture_ns = frame.capture_ns, "frame");
        if events.send(IngestEvent::Frame(frame)).is_err() {
            return Ok(()); // downstream is gone: stop quietly
        }
    }
}

/// Reads a PNG or JPEG as RGBA8.
///
/// # Errors
/// [`IngestError::Image`] naming the file.
pub fn load_image(path: &Path) -> Result<RgbaImage, IngestError> {
    let image = image::open(path).map_err(|e| IngestError::Image {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let rgba = image.to_rgba8();
    Ok(RgbaImage {
        width: rgba.width(),
        height: rgba.height(),
        rgba: Arc::new(rgba.into_raw()),
    })
}

/// Finds camera `id`'s still image in `dir` (`<id>.png`, `.jpg`, `.jpeg`).
#[must_use]
pub fn find_still(dir: &Path, id: &str) -> Option<PathBuf> {
    ["png", "jpg", "jpeg"]
        .iter()
        .map(|ext| dir.join(format!("{id}.{ext}")))
        .find(|p| p.is_file())
}

/// Finds camera `id`'s video in `dir` (`<id>.mp4`, `.mkv`, `.ts`).
#[must_use]
pub fn find_video(dir: &Path, id: &str) -> Option<PathBuf> {
    ["mp4", "mkv", "ts"]
        .iter()
        .map(|ext| dir.join(format!("{id}.{ext}")))
        .find(|p| p.is_file())
}
