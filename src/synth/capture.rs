//! Writes a synthetic capture folder:
//!
//! ```text
//! DIR/rig.json            the camera ring (design.md rig format)
//! DIR/capture.json        fps, frame count, freeze instant, volume of interest
//! DIR/<id>.mp4            each camera's H.264 recording (near-lossless)
//! DIR/frames/<id>.png     each camera's exact frame at the freeze instant
//! DIR/truth/<id>.depth    ground-truth z-depth at the freeze instant
//!                         (f32 little-endian, row-major, 0 = sky)
//! DIR/truth/<id>.mask.png ground-truth foreground (players, ball) mask of
//!                         the freeze instant (255 = foreground)
//! DIR/plate/<id>.png      each camera's clean plate: the empty venue, shot
//!                         under slightly different light (exposure x0.94)
//! ```

use std::path::{Path, PathBuf};

use super::SynthError;
use super::raycast::Raycaster;
use super::scene::{Scene, demo_rig};
use crate::calibration::{Rig, save_rig};
use crate::gpu::GpuContext;
use crate::output::{Destination, EncoderSettings, VideoWriter};

/// What to generate.
#[derive(Debug, Clone)]
pub struct CaptureSettings {
    /// Cameras in the ring.
    pub cameras: u32,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Recording length, seconds.
    pub duration_s: f64,
    /// Supersampling per axis (anti-aliasing).
    pub supersample: u32,
    /// The instant whose exact frames and ground truth are written, seconds.
    pub freeze_s: f64,
    /// Whether to encode the per-camera videos (stills and truth are always written).
    pub write_videos: bool,
    /// The scene variant.
    pub scene: Scene,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        Self {
            cameras: 8,
            width: 640,
            height: 360,
            fps: 25,
            duration_s: 0.6,
            supersample: 1,
            freeze_s: 0.3,
            write_videos: true,
            scene: Scene::default(),
        }
    }
}

/// The manifest written as `capture.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CaptureManifest {
    /// Frames per second.
    pub fps: u32,
    /// Frames per camera.
    pub frames: u64,
    /// Freeze instant, rig clock ns.
    pub freeze_ns: i64,
    /// Volume of interest [min xyz, max xyz], metres.
    pub roi: [[f64; 3]; 2],
    /// Scene variant name.
    #[serde(default)]
    pub scene: String,
}

/// A generated capture.
#[derive(Debug, Clone)]
pub struct SyntheticCapture {
    /// The folder.
    pub dir: PathBuf,
    /// The rig.
    pub rig: Rig,
    /// The manifest.
    pub manifest: CaptureManifest,
    /// Per camera (rig order), the exact RGBA frame at the freeze instant.
    pub freeze_frames: Vec<Vec<u8>>,
    /// Per camera, ground-truth z-depth at the freeze instant (0 = sky).
    pub truth_depth_m: Vec<Vec<f32>>,
    /// Per camera, the clean plate (RGBA, static venue only).
    pub plate_frames: Vec<Vec<u8>>,
    /// Per camera, the true foreground mask at the freeze instant (1 = foreground).
    pub truth_masks: Vec<Vec<u8>>,
}

/// Exposure of the clean plates relative to the capture (a small lighting
/// change the foreground segmentation must tolerate).
pub const PLATE_EXPOSURE: f32 = 0.94;

/// A pixel is true foreground when the full scene is nearer than the empty
/// venue by more than this, metres.
const FOREGROUND_DEPTH_GAP_M: f32 = 0.005;

fn save_png(
    path: &Path,
    pixels: &[u8],
    width: u32,
    height: u32,
    color: image::ExtendedColorType,
) -> Result<(), SynthError> {
    image::save_buffer(path, pixels, width, height, color).map_err(|e| SynthError::Image {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SynthError + '_ {
    move |source| SynthError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Renders and writes a capture into `dir`; `progress(done, total)` is
/// called after each frame time.
///
/// # Errors
/// GPU, encoding or I/O errors.
pub fn write_capture(
    ctx: &GpuContext,
    dir: &Path,
    settings: &CaptureSettings,
    progress: &dyn Fn(u64, u64),
) -> Result<SyntheticCapture, SynthError> {
    for sub in ["", "frames", "truth", "plate"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(io(&path))?;
    }
    let mut rig = demo_rig(settings.cameras, settings.width, settings.height);
    for camera in &mut rig.cameras {
        camera.source = settings.write_videos.then(|| format!("{}.mp4", camera.id));
    }
    save_rig(&rig, &dir.join("rig.json"))?;
    let frame_count = ((settings.duration_s * f64::from(settings.fps)).round() as u64).max(1);
    let freeze_index =
        ((settings.freeze_s * f64::from(settings.fps)).round() as u64).min(frame_count - 1);
    let (roi_min, roi_max) = Scene::roi();
    let manifest = CaptureManifest {
        fps: settings.fps,
        frames: if settings.write_videos {
            frame_count
        } else {
            1
        },
        freeze_ns: crate::time::frame_time_ns(freeze_index, f64::from(settings.fps)),
        roi: [
            [roi_min.x, roi_min.y, roi_min.z],
            [roi_max.x, roi_max.y, roi_max.z],
        ],
        scene: settings.scene.name().to_owned(),
    };
    let manifest_path = dir.join("capture.json");
    let manifest_json = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    crate::fsutil::write_atomic(&manifest_path, manifest_json.as_bytes())
        .map_err(io(&manifest_path))?;

    let raycaster = Raycaster::new(ctx);
    let scene = settings.scene;
    let venue = scene.static_primitives();
    let mut plate_frames = Vec::with_capacity(rig.cameras.len());
    let mut plate_depths = Vec::with_capacity(rig.cameras.len());
    for camera in &rig.cameras {
        let mut plate = raycaster.render_with(ctx, camera, &venue, settings.supersample, true)?;
        super::raycast::apply_exposure(&mut plate.rgba, PLATE_EXPOSURE);
        let png = dir.join("plate").join(format!("{}.png", camera.id));
        save_png(
            &png,
            &plate.rgba,
            plate.width,
            plate.height,
            image::ExtendedColorType::Rgba8,
        )?;
        plate_frames.push(plate.rgba);
        plate_depths.push(plate.depth_m);
    }
    let mut writers = Vec::new();
    if settings.write_videos {
        for camera in &rig.cameras {
            let encoder = EncoderSettings::archival(settings.width, settings.height, settings.fps);
            writers.push(VideoWriter::open(
                Destination::File(dir.join(format!("{}.mp4", camera.id))),
                encoder,
            )?);
        }
    }
    let mut freeze_frames = vec![Vec::new(); rig.cameras.len()];
    let mut truth_depth_m = vec![Vec::new(); rig.cameras.len()];
    let mut truth_masks = vec![Vec::new(); rig.cameras.len()];
    let indices: Vec<u64> = if settings.write_videos {
        (0..frame_count).collect()
    } else {
        vec![freeze_index]
    };
    let total = indices.len() as u64;
    for (done, frame_index) in indices.into_iter().enumerate() {
        let time_s = frame_index as f64 / f64::from(settings.fps);
        let primitives = scene.primitives_at(time_s);
        for (c, camera) in rig.cameras.iter().enumerate() {
            let image = raycaster.render_with(
                ctx,
                camera,
                &primitives,
                settings.supersample,
                frame_index == freeze_index,
            )?;
            if frame_index == freeze_index {
                let png = dir.join("frames").join(format!("{}.png", camera.id));
                save_png(
                    &png,
                    &image.rgba,
                    image.width,
                    image.height,
                    image::ExtendedColorType::Rgba8,
                )?;
                let depth_path = dir.join("truth").join(format!("{}.depth", camera.id));
                crate::fsutil::write_atomic(&depth_path, bytemuck::cast_slice(&image.depth_m))
                    .map_err(io(&depth_path))?;
                let mask: Vec<u8> = image
                    .depth_m
                    .iter()
                    .zip(&plate_depths[c])
                    .map(|(&d, &plate)| {
                        u8::from(d > 0.0 && (plate <= 0.0 || d < plate - FOREGROUND_DEPTH_GAP_M))
                    })
                    .collect();
                let mask_path = dir.join("truth").join(format!("{}.mask.png", camera.id));
                let mask_png: Vec<u8> = mask.iter().map(|&m| m * 255).collect();
                save_png(
                    &mask_path,
                    &mask_png,
                    image.width,
                    image.height,
                    image::ExtendedColorType::L8,
                )?;
                truth_masks[c] = mask;
                freeze_frames[c].clone_from(&image.rgba);
                truth_depth_m[c].clone_from(&image.depth_m);
            }
            if let Some(writer) = writers.get_mut(c) {
                writer.push_rgba(image.rgba)?;
            }
        }
        progress(done as u64 + 1, total);
    }
    for writer in writers {
        writer.finish()?;
    }
    Ok(SyntheticCapture {
        dir: dir.to_owned(),
        rig,
        manifest,
        freeze_frames,
        truth_depth_m,
        plate_frames,
        truth_masks,
    })
}

/// Ground truth of a capture folder, for evaluation.
#[derive(Debug, Clone)]
pub struct Truth {
    /// True surface samples inside the ROI (5 mm apart).
    pub points: Vec<[f32; 3]>,
    /// The foreground's (players, ball) true surface samples (5 mm apart);
    /// empty for captures written before masks existed.
    pub foreground_points: Vec<[f32; 3]>,
    /// The capture's volume of interest.
    pub roi: crate::reconstruct::Roi,
}

/// Spacing of ground-truth surface samples, metres.
pub const TRUTH_SAMPLE_M: f64 = 0.005;

/// Reads `rig.json`, `capture.json` and `truth/<id>.depth` of a capture.
///
/// # Errors
/// Missing or malformed files, named.
pub fn load_truth(dir: &Path) -> Result<Truth, SynthError> {
    let rig = crate::calibration::load_rig(&dir.join("rig.json"))?;
    let manifest_path = dir.join("capture.json");
    let text = std::fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
    let manifest: CaptureManifest = serde_json::from_str(&text).map_err(|e| SynthError::Image {
        path: manifest_path.clone(),
        reason: e.to_string(),
    })?;
    let mut depth_maps = Vec::new();
    let mut masks: Vec<Vec<u8>> = Vec::new();
    for camera in &rig.cameras {
        let path = dir.join("truth").join(format!("{}.depth", camera.id));
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        if bytes.len() != (camera.width * camera.height * 4) as usize {
            return Err(SynthError::Image {
                path,
                reason: "depth map size does not match the rig".into(),
            });
        }
        depth_maps.push(bytemuck::pod_collect_to_vec(&bytes));
        let mask_path = dir.join("truth").join(format!("{}.mask.png", camera.id));
        if mask_path.exists() {
            let mask = image::open(&mask_path)
                .map_err(|e| SynthError::Image {
                    path: mask_path.clone(),
                    reason: e.to_string(),
                })?
                .into_luma8();
            if mask.dimensions() != (camera.width, camera.height) {
                return Err(SynthError::Image {
                    path: mask_path,
                    reason: "mask size does not match the rig".into(),
                });
            }
            masks.push(
                mask.into_raw()
                    .into_iter()
                    .map(|m| u8::from(m > 127))
                    .collect(),
            );
        }
    }
    let roi = (
        nalgebra::Point3::from(manifest.roi[0]),
        nalgebra::Point3::from(manifest.roi[1]),
    );
    let points = crate::reconstruct::eval::truth_from_depth_maps(
        &rig.cameras,
        &depth_maps,
        None,
        &roi,
        TRUTH_SAMPLE_M,
    );
    let foreground_points = if masks.len() == depth_maps.len() {
        crate::reconstruct::eval::truth_from_depth_maps(
            &rig.cameras,
            &depth_maps,
            Some(&masks),
            &roi,
            TRUTH_SAMPLE_M,
        )
    } else {
        Vec::new()
    };
    Ok(Truth {
        points,
        foreground_points,
        roi,
    })
}
