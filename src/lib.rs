//! timeslice: live freeze-frame ("bullet time") replays.
//!
//! Data flows one way through the stages, each a module:
//!
//! ```text
//! ingest  ->  frame_sync  ->  replay_buffer  ->  reconstruct  ->  render  ->  output
//! (GStreamer   (group by        (rolling,          (GPU plane      (GPU splat   (x264 -> MP4
//!  per camera)  capture time)    freeze(t))          sweep+fusion)   + orbits)    or MPEG-TS/SRT)
//! ```
//!
//! Leaves used by all: [`calibration`] (camera model, rig files), [`gpu`]
//! (device, shaders, GPU types), [`time`]. [`synth`] is a source beside
//! `ingest`: it renders synthetic captures with exact ground truth.
//! [`engine`] is the only module that knows every stage and wires them with
//! bounded channels; `main.rs` (the CLI) only parses arguments and calls it.

pub mod calibration;
pub mod engine;
pub mod frame_sync;
pub mod fsutil;
pub mod gpu;
pub mod ingest;
pub mod output;
pub mod reconstruct;
pub mod render;
pub mod replay_buffer;
pub mod synth;
pub mod time;
