//! The last line of defence: a decoder that panics on hostile input must not take the worker
//! (or the upload request) down with it. The decoders are meant to return errors; this catches
//! the ones that do not.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::RenderError;

/// Runs `f`, turning a panic into [`RenderError::Corrupt`].
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, RenderError>) -> Result<T, RenderError> {
    // AssertUnwindSafe: `f` only touches values it owns or the input slice, all dropped or
    // untouched after a panic, so no broken invariant can be observed afterwards.
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(RenderError::Corrupt(format!("decoder panicked: {message}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_corrupt() {
        let result: Result<(), _> = guarded(|| panic!("index out of bounds"));
        match result {
            Err(RenderError::Corrupt(message)) => assert!(message.contains("index out of bounds")),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}
