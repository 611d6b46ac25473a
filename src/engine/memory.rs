//! Every memory trick of the engine in one place: prefetch hints, memory
//! filled side by side before a sequential pass writes it, the allocator
//! told to keep freed memory, and the resident memory the step log reports.
//! None of it changes a result.

use rayon::prelude::*;

/// How many elements ahead a pass over random places asks for the next ones.
pub(crate) const PREFETCH_DISTANCE: usize = 16;

/// Asks the processor to bring `value` into the cache; a hint only
/// (nothing is read or changed; `None` asks for nothing).
pub(crate) fn prefetch<T>(value: Option<&T>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(value) = value {
        // SAFETY: a prefetch reads nothing and cannot fault; the address is
        // that of a live value.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((value as *const T).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// `len` copies of `value`, written side by side (each thread takes the
/// page faults of its own part), so that a sequential pass writing into it
/// finds its memory already faulted in.
pub(crate) fn filled<T: Copy + Send + Sync>(len: usize, value: T) -> Vec<T> {
    (0..len).into_par_iter().map(|_| value).collect()
}

/// The process's resident memory in MiB (Linux, 4 KiB pages; 0 elsewhere), for the step log.
pub fn rss_mib() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1).and_then(|field| field.parse::<u64>().ok()));
    pages.map_or(0, |pages| pages * 4096 / (1 << 20))
}

unsafe extern "C" {
    /// mimalloc's documented option setter (`mimalloc.h`), linked with the allocator.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` (15 in both the v2 and the v3 `mimalloc.h`).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// A run is one process that ends when the batch is written: memory it
/// frees is kept for its own next allocation instead of being handed back
/// to the system and faulted in again, zeroed. At 10M contracts that is
/// about 9% of the wall time for about 9% more peak memory
/// (docs/PERFORMANCE.md). `MIMALLOC_PURGE_DELAY` in the environment still decides.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an allocator option; callable at any time, no memory passed.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// Logs each named phase of a batch with the time since the start and the
/// resident memory (at `-vv`).
pub struct PhaseLog {
    started: std::time::Instant,
}

impl PhaseLog {
    pub fn start() -> PhaseLog {
        PhaseLog { started: std::time::Instant::now() }
    }

    pub fn done(&self, phase: &str) {
        tracing::debug!(
            step = phase,
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            rss_mib = rss_mib(),
            "settle step"
        );
    }
}
