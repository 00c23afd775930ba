//! Video output: RGBA frames -> H.264 -> MP4 file or MPEG-TS over SRT.
//!
//! One builder, [`VideoWriter::open`], makes the pipeline for either role;
//! its `gst-launch-1.0` equivalent is
//!
//! ```text
//! appsrc name=frames format=time caps=video/x-raw,format=RGBA,width=W,height=H,framerate=F/1
//!   ! videoconvert name=convert ! video/x-raw,format=I420
//!   ! x264enc name=encoder speed-preset=ultrafast tune=zerolatency key-int-max=F bitrate=KBPS
//!   ! h264parse name=parse config-interval=-1
//!   ! mp4mux name=mux ! filesink name=sink location=OUT.partial          (file)
//!   ! mpegtsmux name=mux alignment=7 ! srtsink name=sink uri=srt://...   (SRT)
//! ```
//!
//! Files are written to `<name>.partial` and renamed only after a clean EOS,
//! so an interrupted render never leaves a corrupt file under the final name.
//! For SRT, `h264parse config-interval=-1` repeats SPS/PPS before every
//! keyframe and keyframes come every second, so late joiners decode quickly.

use std::path::PathBuf;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

/// Extra wait after EOS before tearing down an SRT sender, on top of its
/// latency, so frames still inside the SRT window reach the receiver.
const SRT_DRAIN_MARGIN: Duration = Duration::from_millis(300);
/// Default SRT latency when the URI does not set one (SRT's own default).
pub const DEFAULT_SRT_LATENCY_MS: u64 = 120;

/// Errors of the output stage.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// GStreamer is missing an element or could not build the pipeline.
    #[error(
        "output pipeline setup failed: {0} (run scripts/setup.sh to install GStreamer plugins)"
    )]
    Setup(String),
    /// An element posted an error on the bus.
    #[error("output pipeline error from {element_path}: {error} ({debug})")]
    Pipeline {
        /// The element that failed.
        element_path: String,
        /// Its error.
        error: String,
        /// Debug detail.
        debug: String,
    },
    /// A frame did not have the configured size.
    #[error("frame has {got} bytes, expected {expected} ({width}x{height} RGBA)")]
    FrameSize {
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        got: usize,
        /// Configured width.
        width: u32,
        /// Configured height.
        height: u32,
    },
    /// The destination is not usable.
    #[error(
        "bad output destination {0:?}: expected a file path or srt://host:port[?mode=caller|listener|rendezvous]"
    )]
    Destination(String),
    /// Renaming the finished file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The pipeline did not finish in time.
    #[error("output did not finish within {0:?}")]
    Timeout(Duration),
}

/// Where encoded video goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An MP4 file.
    File(PathBuf),
    /// An SRT URI (`srt://host:port?mode=...`), MPEG-TS inside.
    Srt(String),
}

impl Destination {
    /// Parses `srt://...` as SRT, anything else as a file path.
    ///
    /// # Errors
    /// [`OutputError::Destination`] for an SRT URI without host:port.
    pub fn parse(text: &str) -> Result<Self, OutputError> {
        if let Some(rest) = text.strip_prefix("srt://") {
            let authority = rest.split(['?', '/']).next().unwrap_or_default();
            let port_ok = authority
                .rsplit_once(':')
                .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(OutputError::Destination(text.to_owned()));
            }
            return Ok(Self::Srt(text.to_owned()));
        }
        if text.is_empty() {
            return Err(OutputError::Destination(text.to_owned()));
        }
        Ok(Self::File(PathBuf::from(text)))
    }

    /// SRT latency requested by the URI (`latency=MS`), or the default.
    #[must_use]
    pub fn srt_latency_ms(&self) -> u64 {
        match self {
            Self::Srt(uri) => uri
                .split_once('?')
                .and_then(|(_, query)| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("latency=")?.parse().ok())
                })
                .unwrap_or(DEFAULT_SRT_LATENCY_MS),
            Self::File(_) => 0,
        }
    }
}

/// Encoder settings.
#[derive(Debug, Clone)]
pub struct EncoderSettings {
    /// Frame width, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// Frames per second (integer rates only).
    pub fps: u32,
    /// Target bitrate, kbit/s (ignored when `quantizer` is set).
    pub bitrate_kbps: u32,
    /// Constant quantizer (0-51, lower is better) instead of a bitrate.
    pub quantizer: Option<u32>,
    /// x264 speed preset name (`ultrafast`, `superfast`, `veryfast`, ...).
    pub speed_preset: &'static str,
    /// Frames between keyframes.
    pub keyframe_interval: u32,
}

impl EncoderSettings {
    /// Broadcast defaults: ultrafast, zero latency, a keyframe a second.
    #[must_use]
    pub fn broadcast(width: u32, height: u32, fps: u32) -> Self {
        // ~0.1 bit per pixel per frame: 8 Mbit/s at 1080p30.
        let bitrate_kbps = ((u64::from(width) * u64::from(height) * u64::from(fps)) / 8_000)
            .clamp(1_000, 20_000) as u32;
        Self {
            width,
            height,
            fps,
            bitrate_kbps,
            quantizer: None,
            speed_preset: "ultrafast",
            keyframe_interval: fps.max(1),
        }
    }

    /// Near-lossless settings for synthetic camera recordings.
    #[must_use]
    pub fn archival(width: u32, height: u32, fps: u32) -> Self {
        Self {
            quantizer: Some(10),
            ..Self::broadcast(width, height, fps)
        }
    }
}

/// What a finished writer produced.
#[derive(Debug, Clone)]
pub struct OutputSummary {
    /// Frames pushed.
    pub frames: u64,
    /// Where they went.
    pub destination: Destination,
}

fn make(factory: &str, name: &str) -> Result<gst::Element, OutputError> {
    gst::ElementFactory::make(factory)
        .name(name)
        .build()
        .map_err(|e| OutputError::Setup(format!("cannot create element {factory}: {e}")))
}

/// Turns the first error message on `bus` into [`OutputError::Pipeline`].
fn bus_error(message: &gst::message::Error) -> OutputError {
    OutputError::Pipeline {
        element_path: message
            .src()
            .map_or_else(|| "<unknown>".into(), |s| s.path_string().to_string()),
        error: message.error().to_string(),
        debug: message.debug().map(|d| d.to_string()).unwrap_or_default(),
    }
}

/// An open encoder pipeline taking RGBA frames.
pub struct VideoWriter {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    settings: EncoderSettings,
    destination: Destination,
    frame_index: u64,
    partial_path: Option<PathBuf>,
    finished: bool,
}

impl VideoWriter {
    /// Builds and starts the pipeline for `destination`.
    ///
    /// # Errors
    /// Missing plugins, bad destination, or a pipeline that fails to start.
    pub fn open(destination: Destination, settings: EncoderSettings) -> Result<Self, OutputError> {
        gst::init().map_err(|e| OutputError::Setup(e.to_string()))?;
        let video_info = gst_video::VideoInfo::builder(
            gst_video::VideoFormat::Rgba,
            settings.width,
            settings.height,
        )
        .fps(gst::Fraction::new(settings.fps as i32, 1))
        .build()
        .map_err(|e| OutputError::Setup(format!("bad video format: {e}")))?;
        let caps = video_info
            .to_caps()
            .map_err(|e| OutputError::Setup(e.to_string()))?;
        let frame_bytes = u64::from(settings.width) * u64::from(settings.height) * 4;
        let appsrc = gst_app::AppSrc::builder()
            .name("frames")
            .caps(&caps)
            .format(gst::Format::Time)
            .block(true)
            .max_bytes(frame_bytes * 8)
            .build();
        let convert = make("videoconvert", "convert")?;
        let i420 = gst::ElementFactory::make("capsfilter")
            .name("i420")
            .property(
                "caps",
                gst::Caps::builder("video/x-raw")
                    .field("format", "I420")
                    .build(),
            )
            .build()
            .map_err(|e| OutputError::Setup(e.to_string()))?;
        let encoder = make("x264enc", "encoder")?;
        encoder.set_property_from_str("speed-preset", settings.speed_preset);
        encoder.set_property_from_str("tune", "zerolatency");
        encoder.set_property("key-int-max", settings.keyframe_interval);
        match settings.quantizer {
            Some(q) => {
                encoder.set_property_from_str("pass", "quant");
                encoder.set_property("quantizer", q);
            }
            None => encoder.set_property("bitrate", settings.bitrate_kbps),
        }
        let parse = make("h264parse", "parse")?;
        parse.set_property("config-interval", -1i32);
        let (mux, sink, partial_path) = match &destination {
            Destination::File(path) => {
                let partial = crate::fsutil::partial_path(path);
                let sink = make("filesink", "sink")?;
                sink.set_property("location", partial.to_string_lossy().to_string());
                (make("mp4mux", "mux")?, sink, Some(partial))
            }
            Destination::Srt(uri) => {
                let mux = make("mpegtsmux", "mux")?;
                mux.set_property("alignment", 7i32);
                let sink = make("srtsink", "sink")?;
                sink.set_property("uri", uri.as_str());
                (mux, sink, None)
            }
        };
        let pipeline = gst::Pipeline::with_name("output");
        let elements = [
            appsrc.upcast_ref(),
            &convert,
            &i420,
            &encoder,
            &parse,
            &mux,
            &sink,
        ];
        pipeline
            .add_many(elements)
            .map_err(|e| OutputError::Setup(e.to_string()))?;
        gst::Element::link_many(elements)
            .map_err(|e| OutputError::Setup(format!("cannot link output pipeline: {e}")))?;
        let writer = Self {
            pipeline,
            appsrc,
            settings,
            destination,
            frame_index: 0,
            partial_path,
            finished: false,
        };
        writer
            .pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| {
                writer
                    .pending_error()
                    .unwrap_or_else(|| OutputError::Setup("pipeline refused to start".into()))
            })?;
        Ok(writer)
    }

    fn pending_error(&self) -> Option<OutputError> {
        let bus = self.pipeline.bus()?;
        while let Some(message) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = message.view() {
                return Some(bus_error(e));
            }
        }
        None
    }

    /// Settings in use.
    #[must_use]
    pub fn settings(&self) -> &EncoderSettings {
        &self.settings
    }

    /// Pushes one RGBA frame (row-major, no padding); blocks when the
    /// encoder is behind.
    ///
    /// # Errors
    /// Wrong frame size, or a pipeline error (e.g. the SRT peer is gone).
    pub fn push_rgba(&mut self, rgba: Vec<u8>) -> Result<(), OutputError> {
        let expected = (self.settings.width * self.settings.height * 4) as usize;
        if rgba.len() != expected {
            return Err(OutputError::FrameSize {
                expected,
                got: rgba.len(),
                width: self.settings.width,
                height: self.settings.height,
            });
        }
        if let Some(error) = self.pending_error() {
            return Err(error);
        }
        let fps = u64::from(self.settings.fps.max(1));
        let pts = gst::ClockTime::from_nseconds(self.frame_index * 1_000_000_000 / fps);
        let next = gst::ClockTime::from_nseconds((self.frame_index + 1) * 1_000_000_000 / fps);
        let mut buffer = gst::Buffer::from_mut_slice(rgba);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(pts);
            b.set_duration(next - pts);
        }
        self.appsrc.push_buffer(buffer).map_err(|flow| {
            self.pending_error()
                .unwrap_or_else(|| OutputError::Setup(format!("appsrc refused a frame: {flow:?}")))
        })?;
        self.frame_index += 1;
        Ok(())
    }

    /// Sends EOS, waits for the pipeline to drain, and (for files) moves the
    /// finished file into place.
    ///
    /// # Errors
    /// Pipeline errors, a timeout, or the final rename failing.
    pub fn finish(mut self) -> Result<OutputSummary, OutputError> {
        self.appsrc
            .end_of_stream()
            .map_err(|flow| OutputError::Setup(format!("EOS refused: {flow:?}")))?;
        let clip = Duration::from_nanos(
            self.frame_index * 1_000_000_000 / u64::from(self.settings.fps.max(1)),
        );
        let timeout = clip + Duration::from_secs(60);
        let bus = self
            .pipeline
            .bus()
            .ok_or_else(|| OutputError::Setup("pipeline has no bus".into()))?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(OutputError::Timeout(timeout));
            }
            let Some(message) = bus.timed_pop_filtered(
                gst::ClockTime::from_mseconds(left.as_millis() as u64),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            ) else {
                continue;
            };
            match message.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => return Err(bus_error(e)),
                _ => {}
            }
        }
        if matches!(self.destination, Destination::Srt(_)) {
            std::thread::sleep(
                Duration::from_millis(self.destination.srt_latency_ms()) + SRT_DRAIN_MARGIN,
            );
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        self.finished = true;
        if let (Some(partial), Destination::File(path)) = (&self.partial_path, &self.destination) {
            std::fs::rename(partial, path).map_err(|source| OutputError::Io {
                path: path.clone(),
                source,
            })?;
        }
        Ok(OutputSummary {
            frames: self.frame_index,
            destination: self.destination.clone(),
        })
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.pipeline.set_state(gst::State::Null);
            if let Some(partial) = &self.partial_path {
                let _ = std::fs::remove_file(partial);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse() {
        assert_eq!(
            Destination::parse("out.mp4").unwrap(),
            Destination::File("out.mp4".into())
        );
        let srt = Destination::parse("srt://127.0.0.1:9000?mode=caller&latency=200").unwrap();
        assert_eq!(srt.srt_latency_ms(), 200);
        assert_eq!(
            Destination::parse("srt://:9000?mode=listener")
                .unwrap()
                .srt_latency_ms(),
            DEFAULT_SRT_LATENCY_MS
        );
        assert!(Destination::parse("srt://nohost").is_err());
    }

    #[test]
    fn wrong_frame_size_is_an_error_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mp4");
        let mut writer = VideoWriter::open(
            Destination::File(path.clone()),
            EncoderSettings::broadcast(64, 48, 25),
        )
        .unwrap();
        let err = writer.push_rgba(vec![0; 10]).unwrap_err();
        assert!(matches!(err, OutputError::FrameSize { .. }));
        drop(writer);
        assert!(!path.exists() && !crate::fsutil::partial_path(&path).exists());
    }
}
