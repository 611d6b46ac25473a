//! Third-party parsers (polars for Parquet, calamine for workbooks) may
//! panic on a damaged file. A panic there is the file's fault, not a bug of
//! this tool: it becomes exit 2 naming the file, and no panic message or
//! backtrace reaches the user. Panics anywhere else are printed as always.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

/// Parsers running inside [`quietly`] now (on any thread: polars hands
/// work to its own pool, whose panics come back to the caller).
static QUIET: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();
/// The message of the last panic kept quiet.
static LAST: Mutex<Option<String>> = Mutex::new(None);

/// Runs `parse`; a panic in it is returned as its message instead.
pub fn quietly<T>(parse: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.load(Ordering::SeqCst) > 0 {
                let text = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".to_string());
                *LAST.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
            } else {
                default(info);
            }
        }));
    });
    QUIET.fetch_add(1, Ordering::SeqCst);
    let result = std::panic::catch_unwind(AssertUnwindSafe(parse));
    QUIET.fetch_sub(1, Ordering::SeqCst);
    result.map_err(|_| LAST.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_else(|| "panic".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_is_returned_as_its_message() {
        assert_eq!(quietly(|| 7), Ok(7));
        let caught = quietly(|| -> u8 { panic!("index: 0 out of bounds") });
        assert_eq!(caught, Err("index: 0 out of bounds".to_string()));
    }
}
