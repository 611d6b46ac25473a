//! Crash points: where a test of the commit protocol may stop the process
//! (`VOUCHER_SETTLE_CRASH_AT=<point>`), to prove that a run killed there
//! leaves the store as it was before or committed.

/// Where the commit path can be made to stop dead, as `kill -9` would, for
/// the crash tests: `VOUCHER_SETTLE_CRASH_AT=<point>` aborts the process there.
pub const CRASH_POINTS: [&str; 7] =
    ["staging-first-file", "objects", "staging-written", "staging-synced", "renamed", "head-written", "committed"];

/// Aborts the process if the crash tests asked to stop at `point`.
pub fn crash_point(point: &str) {
    if std::env::var("VOUCHER_SETTLE_CRASH_AT").is_ok_and(|p| p == point) {
        std::process::abort();
    }
}

/// Where a test can make an operation fail as a full disk or a refused
/// rename would: `VOUCHER_SETTLE_FAIL_AT=<point>` makes it return an error.
/// `head` fails the write of `HEAD` as a disk that fills there would
/// (`ENOSPC`, after the batch folder was renamed into place).
pub const FAIL_POINTS: [&str; 2] = ["publish", "head"];

/// The error a test asked for at `point`, if it did.
pub fn fail_point(point: &str) -> std::io::Result<()> {
    if std::env::var("VOUCHER_SETTLE_FAIL_AT").is_ok_and(|p| p == point) {
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        return Err(std::io::Error::new(
            full.kind(),
            format!("{full}: failed on purpose at {point} (VOUCHER_SETTLE_FAIL_AT)"),
        ));
    }
    Ok(())
}
