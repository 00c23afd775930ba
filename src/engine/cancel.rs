//! Cancellation of long work (reels, the demo clip): the CLI's Ctrl-C
//! handler requests it, the frame loops check it between frames and stop
//! with [`super::EngineError::Cancelled`]. The output writer is then
//! dropped unfinished, which removes its `.partial` file: an interrupted
//! render leaves neither a corrupt file nor a half-written one under the
//! final name, and a finished file from an earlier run is left as it was.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared "stop" request; clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag nobody has raised yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the work to stop at its next check.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    #[must_use]
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Cancelled)` once a stop was asked for, naming the stage and how
    /// far it got.
    ///
    /// # Errors
    /// [`super::EngineError::Cancelled`].
    pub fn check(&self, stage: &str, done: u64, total: u64) -> Result<(), super::EngineError> {
        if self.is_requested() {
            return Err(super::EngineError::Cancelled {
                stage: stage.to_owned(),
                done,
                total,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_request() {
        let cancel = Cancel::new();
        let seen_by_worker = cancel.clone();
        assert!(seen_by_worker.check("reel", 0, 10).is_ok());
        cancel.request();
        let err = seen_by_worker.check("reel", 3, 10).unwrap_err();
        assert_eq!(err.to_string(), "reel: cancelled after 3 of 10 frames");
    }
}
