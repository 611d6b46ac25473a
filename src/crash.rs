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
