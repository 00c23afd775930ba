//! Cross-camera grouping: frames of all cameras are gathered into
//! [`FrameSet`]s by capture time (rig clock, nanoseconds).
//!
//! A frame joins the pending set whose time is within half a frame period
//! of its own, else it opens a new set. Sets leave in time order, as soon as
//! they are complete, or when every missing camera has moved past them (its
//! newest frame is later: a watermark, so cameras decoding at different
//! speeds never split sets) or has ended. For live sources a `max_wait`
//! also releases a set once a frame that much newer exists, so a camera that
//! stalls without ending cannot hold the others. A frame older than the last
//! emitted set is late and dropped (counted). Pure logic: no GStreamer,
//! unit-tested with synthetic timestamps.

use std::collections::VecDeque;

use crate::ingest::CameraFrame;

/// Frames of all cameras at one instant; `frames[i]` is camera i (rig order).
#[derive(Debug, Clone)]
pub struct FrameSet {
    /// Capture time of the set (the first frame that opened it), rig clock.
    pub capture_ns: i64,
    /// One slot per rig camera; `None` when that camera's frame is missing.
    pub frames: Vec<Option<CameraFrame>>,
}

impl FrameSet {
    /// Indices of cameras with no frame in this set.
    #[must_use]
    pub fn missing(&self) -> Vec<usize> {
        self.frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.is_none())
            .map(|(i, _)| i)
            .collect()
    }

    /// Number of cameras present.
    #[must_use]
    pub fn present(&self) -> usize {
        self.frames.iter().filter(|f| f.is_some()).count()
    }

    /// Bytes of pixel data held.
    #[must_use]
    pub fn byte_size(&self) -> usize {
        self.frames
            .iter()
            .flatten()
            .map(|f| f.image.rgba.len())
            .sum()
    }
}

/// Counters of the grouping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Sets emitted with every camera.
    pub complete_sets: u64,
    /// Sets emitted with some camera missing.
    pub incomplete_sets: u64,
    /// Frames dropped because their set had already left.
    pub late_frames: u64,
    /// Frames dropped because their camera already had a frame in the set.
    pub duplicate_frames: u64,
    /// Per camera, the number of sets it was missing from.
    pub missing_per_camera: Vec<u64>,
}

/// Groups frames into sets.
#[derive(Debug)]
pub struct FrameSync {
    camera_count: usize,
    tolerance_ns: i64,
    max_wait_ns: Option<i64>,
    pending: VecDeque<FrameSet>,
    newest_per_camera: Vec<Option<i64>>,
    ended: Vec<bool>,
    last_emitted_ns: Option<i64>,
    stats: SyncStats,
}

impl FrameSync {
    /// A grouper for `camera_count` cameras at `frame_period_ns`: frames
    /// within half a period belong together. `max_wait_frames`: for live
    /// sources, how many periods an incomplete set may wait for a stalled
    /// camera; `None` (files) waits for the watermark alone.
    #[must_use]
    pub fn new(camera_count: usize, frame_period_ns: i64, max_wait_frames: Option<u32>) -> Self {
        Self {
            camera_count,
            tolerance_ns: frame_period_ns / 2,
            max_wait_ns: max_wait_frames.map(|frames| frame_period_ns * i64::from(frames.max(1))),
            pending: VecDeque::new(),
            newest_per_camera: vec![None; camera_count],
            ended: vec![false; camera_count],
            last_emitted_ns: None,
            stats: SyncStats {
                missing_per_camera: vec![0; camera_count],
                ..SyncStats::default()
            },
        }
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    /// Adds a frame; returns the sets that are ready, oldest first.
    pub fn push(&mut self, frame: CameraFrame) -> Vec<FrameSet> {
        let t = frame.capture_ns;
        if frame.camera_index >= self.camera_count {
            return Vec::new();
        }
        let newest = &mut self.newest_per_camera[frame.camera_index];
        *newest = Some(newest.map_or(t, |n| n.max(t)));
        if self
            .last_emitted_ns
            .is_some_and(|last| t <= last + self.tolerance_ns)
        {
            self.stats.late_frames += 1;
            return self.drain_ready(t);
        }
        let tolerance = self.tolerance_ns;
        if let Some(set) = self
            .pending
            .iter_mut()
            .find(|s| (s.capture_ns - t).abs() <= tolerance)
        {
            let slot = &mut set.frames[frame.camera_index];
            if slot.is_some() {
                self.stats.duplicate_frames += 1;
            } else {
                *slot = Some(frame);
            }
        } else {
            let mut frames = vec![None; self.camera_count];
            let camera_index = frame.camera_index;
            frames[camera_index] = Some(frame);
            let position = self
                .pending
                .iter()
                .position(|s| s.capture_ns > t)
                .unwrap_or(self.pending.len());
            self.pending.insert(
                position,
                FrameSet {
                    capture_ns: t,
                    frames,
                },
            );
        }
        self.drain_ready(t)
    }

    /// Marks a camera as ended (EOS or failure): sets stop waiting for it.
    pub fn camera_ended(&mut self, camera_index: usize) -> Vec<FrameSet> {
        if let Some(ended) = self.ended.get_mut(camera_index) {
            *ended = true;
        }
        let newest = self
            .newest_per_camera
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(i64::MIN);
        self.drain_ready(newest)
    }

    /// Emits every pending set (end of stream).
    pub fn finish(&mut self) -> Vec<FrameSet> {
        let mut out = Vec::new();
        while let Some(set) = self.pending.pop_front() {
            out.push(self.emit(set));
        }
        out
    }

    fn drain_ready(&mut self, newest_ns: i64) -> Vec<FrameSet> {
        let mut out = Vec::new();
        while let Some(front) = self.pending.front() {
            let passed = front.frames.iter().enumerate().all(|(camera, frame)| {
                frame.is_some()
                    || self.ended[camera]
                    || self.newest_per_camera[camera]
                        .is_some_and(|n| n > front.capture_ns + self.tolerance_ns)
            });
            let expired = self
                .max_wait_ns
                .is_some_and(|wait| newest_ns - front.capture_ns > wait);
            if !(passed || expired) {
                break;
            }
            if let Some(set) = self.pending.pop_front() {
                out.push(self.emit(set));
            }
        }
        out
    }

    fn emit(&mut self, set: FrameSet) -> FrameSet {
        let missing = set.missing();
        if missing.is_empty() {
            self.stats.complete_sets += 1;
        } else {
            self.stats.incomplete_sets += 1;
            for &i in &missing {
                self.stats.missing_per_camera[i] += 1;
            }
            tracing::warn!(
                capture_ns = set.capture_ns,
                ?missing,
                "frame set incomplete"
            );
        }
        self.last_emitted_ns = Some(set.capture_ns);
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::RgbaImage;
    use std::sync::Arc;

    const PERIOD: i64 = 40_000_000;

    fn frame(camera_index: usize, capture_ns: i64) -> CameraFrame {
        CameraFrame {
            camera_index,
            capture_ns,
            image: RgbaImage {
                width: 1,
                height: 1,
                rgba: Arc::new(vec![0; 4]),
            },
        }
    }

    #[test]
    fn groups_jittered_frames_into_complete_sets() {
        let mut sync = FrameSync::new(3, PERIOD, Some(3));
        let mut sets = Vec::new();
        for i in 0..10i64 {
            for cam in [2usize, 0, 1] {
                let jitter = (cam as i64 - 1) * 3_000_000;
                sets.extend(sync.push(frame(cam, i * PERIOD + jitter)));
            }
        }
        sets.extend(sync.finish());
        assert_eq!(sets.len(), 10);
        assert!(sets.iter().all(|s| s.present() == 3));
        assert!(sets.windows(2).all(|w| w[0].capture_ns < w[1].capture_ns));
        assert_eq!(sync.stats().complete_sets, 10);
    }

    #[test]
    fn missing_camera_does_not_stall_and_is_reported() {
        let mut sync = FrameSync::new(2, PERIOD, None);
        let mut sets = Vec::new();
        for i in 0..8i64 {
            sets.extend(sync.push(frame(0, i * PERIOD)));
            if i != 3 {
                sets.extend(sync.push(frame(1, i * PERIOD + 1_000)));
            }
        }
        // Before finish, the incomplete set 3 must already have left.
        assert!(
            sets.iter()
                .any(|s| s.capture_ns == 3 * PERIOD && s.missing() == vec![1])
        );
        sets.extend(sync.finish());
        assert_eq!(sets.len(), 8);
        assert_eq!(sync.stats().incomplete_sets, 1);
        assert_eq!(sync.stats().missing_per_camera, vec![0, 1]);
    }

    #[test]
    fn cameras_decoding_at_different_speeds_still_form_complete_sets() {
        let mut sync = FrameSync::new(2, PERIOD, None);
        let mut sets = Vec::new();
        for i in 0..20i64 {
            sets.extend(sync.push(frame(0, i * PERIOD)));
        }
        assert!(
            sets.is_empty(),
            "camera 1 has not delivered yet: nothing may leave"
        );
        for i in 0..20i64 {
            sets.extend(sync.push(frame(1, i * PERIOD + 2_000_000)));
        }
        sets.extend(sync.finish());
        assert_eq!(sets.len(), 20);
        assert!(sets.iter().all(|s| s.present() == 2));
    }

    #[test]
    fn ended_camera_releases_waiting_sets() {
        let mut sync = FrameSync::new(2, PERIOD, None);
        let mut sets = sync.push(frame(0, 0));
        sets.extend(sync.push(frame(0, PERIOD)));
        assert!(sets.is_empty());
        sets.extend(sync.camera_ended(1));
        assert_eq!(sets.len(), 2);
        assert_eq!(sync.stats().missing_per_camera, vec![0, 2]);
    }

    #[test]
    fn late_and_duplicate_frames_are_dropped() {
        let mut sync = FrameSync::new(2, PERIOD, Some(1));
        let mut sets = sync.push(frame(0, 0));
        sets.extend(sync.push(frame(0, 1000)));
        sets.extend(sync.push(frame(1, 0)));
        assert_eq!(sets.len(), 1);
        assert!(sync.push(frame(1, 500)).is_empty());
        assert_eq!(sync.stats().late_frames, 1);
        assert_eq!(sync.stats().duplicate_frames, 1);
    }
}
