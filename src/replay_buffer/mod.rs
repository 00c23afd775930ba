//! The replay buffer: a rolling record of frame sets, bounded by duration
//! and by bytes, with operator marks and `freeze(t)`.
//!
//! All times are capture times on the rig clock (ns). Trimming removes whole
//! frame sets from the old end only, so every kept set keeps its timestamps.
//! Frames are shared (`Arc`), so freezing an instant copies no pixels and
//! never blocks recording for long.

use std::collections::VecDeque;

use crate::frame_sync::FrameSet;

/// Errors of the replay buffer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplayBufferError {
    /// Nothing has been recorded yet.
    #[error("the replay buffer is empty")]
    Empty,
    /// The asked instant is outside what is held.
    #[error("time {at_ns} ns is outside the buffer ({oldest_ns}..={newest_ns} ns)")]
    OutOfRange {
        /// Asked time.
        at_ns: i64,
        /// Oldest held.
        oldest_ns: i64,
        /// Newest held.
        newest_ns: i64,
    },
    /// Too many marks.
    #[error("mark limit of {0} reached")]
    TooManyMarks(usize),
}

/// An operator mark on the rig clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Sequential id.
    pub id: u64,
    /// The marked instant.
    pub capture_ns: i64,
    /// Free label.
    pub label: String,
}

/// Maximum number of marks kept (replay servers offer about a thousand).
pub const MAX_MARKS: usize = 1000;

/// Rolling frame-set record.
#[derive(Debug)]
pub struct ReplayBuffer {
    max_duration_ns: i64,
    max_bytes: usize,
    sets: VecDeque<FrameSet>,
    bytes: usize,
    marks: Vec<Mark>,
    next_mark_id: u64,
    trimmed_sets: u64,
}

impl ReplayBuffer {
    /// A buffer keeping at most `max_duration_ns` of history and `max_bytes` of pixels.
    #[must_use]
    pub fn new(max_duration_ns: i64, max_bytes: usize) -> Self {
        Self {
            max_duration_ns,
            max_bytes,
            sets: VecDeque::new(),
            bytes: 0,
            marks: Vec::new(),
            next_mark_id: 1,
            trimmed_sets: 0,
        }
    }

    /// Records a set (sets arrive in time order from `frame_sync`), trimming
    /// the oldest to stay within bounds.
    pub fn push(&mut self, set: FrameSet) {
        self.bytes += set.byte_size();
        self.sets.push_back(set);
        while self.sets.len() > 1 {
            let (Some(oldest), Some(newest)) = (self.sets.front(), self.sets.back()) else {
                break;
            };
            if newest.capture_ns - oldest.capture_ns <= self.max_duration_ns
                && self.bytes <= self.max_bytes
            {
                break;
            }
            if let Some(old) = self.sets.pop_front() {
                self.bytes -= old.byte_size();
                self.trimmed_sets += 1;
            }
        }
    }

    /// The set nearest to `at_ns`.
    ///
    /// # Errors
    /// Empty buffer, or `at_ns` more than half the mean frame spacing outside.
    pub fn freeze(&self, at_ns: i64) -> Result<FrameSet, ReplayBufferError> {
        let (Some(oldest), Some(newest)) = (self.sets.front(), self.sets.back()) else {
            return Err(ReplayBufferError::Empty);
        };
        let spacing = if self.sets.len() > 1 {
            (newest.capture_ns - oldest.capture_ns) / (self.sets.len() as i64 - 1)
        } else {
            0
        };
        if at_ns < oldest.capture_ns - spacing / 2 || at_ns > newest.capture_ns + spacing / 2 {
            return Err(ReplayBufferError::OutOfRange {
                at_ns,
                oldest_ns: oldest.capture_ns,
                newest_ns: newest.capture_ns,
            });
        }
        let index = self.sets.partition_point(|s| s.capture_ns < at_ns);
        let candidates = [index.checked_sub(1), Some(index)];
        candidates
            .into_iter()
            .flatten()
            .filter_map(|i| self.sets.get(i))
            .min_by_key(|s| (s.capture_ns - at_ns).abs())
            .cloned()
            .ok_or(ReplayBufferError::Empty)
    }

    /// Sets between `from_ns` and `to_ns` inclusive (for slow motion).
    #[must_use]
    pub fn range(&self, from_ns: i64, to_ns: i64) -> Vec<FrameSet> {
        self.sets
            .iter()
            .filter(|s| (from_ns..=to_ns).contains(&s.capture_ns))
            .cloned()
            .collect()
    }

    /// Marks an instant.
    ///
    /// # Errors
    /// [`ReplayBufferError::TooManyMarks`].
    pub fn mark(&mut self, capture_ns: i64, label: &str) -> Result<Mark, ReplayBufferError> {
        if self.marks.len() >= MAX_MARKS {
            return Err(ReplayBufferError::TooManyMarks(MAX_MARKS));
        }
        let mark = Mark {
            id: self.next_mark_id,
            capture_ns,
            label: label.to_owned(),
        };
        self.next_mark_id += 1;
        self.marks.push(mark.clone());
        Ok(mark)
    }

    /// All marks, oldest first.
    #[must_use]
    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// Held time span `(oldest_ns, newest_ns)`.
    #[must_use]
    pub fn span_ns(&self) -> Option<(i64, i64)> {
        Some((self.sets.front()?.capture_ns, self.sets.back()?.capture_ns))
    }

    /// Number of sets held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// True when nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Bytes of pixels held.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Sets trimmed so far.
    #[must_use]
    pub fn trimmed_sets(&self) -> u64 {
        self.trimmed_sets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{CameraFrame, RgbaImage};
    use std::sync::Arc;

    fn set(capture_ns: i64) -> FrameSet {
        let image = RgbaImage {
            width: 2,
            height: 2,
            rgba: Arc::new(vec![0; 16]),
        };
        FrameSet {
            capture_ns,
            frames: vec![Some(CameraFrame {
                camera_index: 0,
                capture_ns,
                image,
            })],
        }
    }

    #[test]
    fn trims_by_duration_and_bytes() {
        let mut buffer = ReplayBuffer::new(100, 1 << 20);
        for t in (0..=300).step_by(10) {
            buffer.push(set(t));
        }
        assert_eq!(buffer.span_ns(), Some((200, 300)));
        let mut small = ReplayBuffer::new(i64::MAX, 16 * 3);
        for t in 0..10 {
            small.push(set(t));
        }
        assert_eq!(small.len(), 3);
        assert_eq!(small.bytes(), 48);
    }

    #[test]
    fn freeze_finds_nearest_and_rejects_outside() {
        let mut buffer = ReplayBuffer::new(1_000, 1 << 20);
        for t in (0..=100).step_by(10) {
            buffer.push(set(t));
        }
        assert_eq!(buffer.freeze(44).unwrap().capture_ns, 40);
        assert_eq!(buffer.freeze(46).unwrap().capture_ns, 50);
        assert!(matches!(
            buffer.freeze(500),
            Err(ReplayBufferError::OutOfRange { .. })
        ));
        assert_eq!(
            ReplayBuffer::new(1, 1).freeze(0).unwrap_err(),
            ReplayBufferError::Empty
        );
        let mark = buffer.mark(50, "goal").unwrap();
        assert_eq!(mark.id, 1);
    }
}
