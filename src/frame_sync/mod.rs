//! Cross-camera grouping: frames of all cameras are gathered into
//! [`FrameSet`]s by capture time (rig clock, nanoseconds).
//!
//! A frame joins the pending set whose time is within `tolerance_ns` of its
//! own, else it opens a new set. Sets leave in time order: as soon as they
//! are complete, or, incomplete, once a set `max_wait_ns` newer exists (a
//! camera that dropped a frame, or died, must not stall the others). A frame
//! older than the last emitted set is late and dropped (counted). Pure logic:
//! no GStreamer, unit-tested with synthetic timestamps.

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
        self.frames.iter().enumerate().filter(|(_, f)| f.is_none()).map(|(i, _)| i).collect()
    }

    /// Number of cameras present.
    #[must_use]
    pub fn present(&self) -> usize {
        self.frames.iter().filter(|f| f.is_some()).count()
    }

    /// Bytes of pixel data held.
    #[must_use]
    pub fn byte_size(&self) -> usize {
        self.frames.iter().flatten().map(|f| f.image.rgba.len()).sum()
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
    max_wait_ns: i64,
    pending: VecDeque<FrameSet>,
    last_emitted_ns: Option<i64>,
    stats: SyncStats,
}

impl FrameSync {
    /// A grouper for `camera_count` cameras at `frame_period_ns`: frames
    /// within half a period belong together; incomplete sets wait at most
    /// `max_wait_frames` periods.
    #[must_use]
    pub fn new(camera_count: usize, frame_period_ns: i64, max_wait_frames: u32) -> Self {
        Self {
            camera_count,
            tolerance_ns: frame_period_ns / 2,
            max_wait_ns: frame_period_ns * i64::from(max_wait_frames.max(1)),
            pending: VecDeque::new(),
            last_emitted_ns: None,
            stats: SyncStats { missing_per_camera: vec![0; camera_count], ..SyncStats::default() },
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
        if self.last_emitted_ns.is_some_and(|last| t <= last + self.tolerance_ns) {
            self.stats.late_frames += 1;
            return self.drain_ready(t);
        }
        let tolerance = self.tolerance_ns;
        if let Some(set) = self.pending.iter_mut().find(|s| (s.capture_ns - t).abs() <= tolerance) {
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
            let position = self.pending.iter().position(|s| s.capture_ns > t).unwrap_or(self.pending.len());
            self.pending.insert(position, FrameSet { capture_ns: t, frames });
        }
        self.drain_ready(t)
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
            let complete = front.present() == self.camera_count;
            let expired = newest_ns - front.capture_ns > self.max_wait_ns;
            if !(complete || expired) {
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
            tracing::warn!(capture_ns = set.capture_ns, ?missing, "frame set incomplete");
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
        CameraFrame { camera_index, capture_ns, image: RgbaImage { width: 1, height: 1, rgba: Arc::new(vec![0; 4]) } }
    }

    #[test]
    fn groups_jittered_frames_into_complete_sets() {
        let mut sync = FrameSync::new(3, PERIOD, 3);
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
        let mut sync = FrameSync::new(2, PERIOD, 2);
        let mut sets = Vec::new();
        for i in 0..8i64 {
            sets.extend(sync.push(frame(0, i * PERIOD)));
            if i != 3 {
                sets.extend(sync.push(frame(1, i * PERIOD + 1_000)));
            }
        }
        // Before finish, the incomplete set 3 must already have left.
        assert!(sets.iter().any(|s| s.capture_ns == 3 * PERIOD && s.missing() == vec![1]));
        sets.extend(sync.finish());
        assert_eq!(sets.len(), 8);
        assert_eq!(sync.stats().incomplete_sets, 1);
        assert_eq!(sync.stats().missing_per_camera, vec![0, 1]);
    }

    #[test]
    fn late_and_duplicate_frames_are_dropped() {
        let mut sync = FrameSync::new(2, PERIOD, 1);
        let mut sets = sync.push(frame(0, 0));
        sets.extend(sync.push(frame(0, 1000)));
        sets.extend(sync.push(frame(1, 0)));
        assert_eq!(sets.len(), 1);
        assert!(sync.push(frame(1, 500)).is_empty());
        assert_eq!(sync.stats().late_frames, 1);
        assert_eq!(sync.stats().duplicate_frames, 1);
    }
}
