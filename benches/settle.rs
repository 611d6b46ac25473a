//! The settlement benchmark: `cargo bench --bench settle [-- 100000 1000000 ...]`.
//!
//! For each size it writes a synthetic dataset (`synth`, seed 1, 5% error
//! rows), then settles it end to end with the release binary — from CSV and
//! from Parquet, all outputs written and committed — and records wall time,
//! peak RSS and rows/s. The floor is polars alone reading the same contracts
//! file and writing it back as CSV and as Parquet; the ratio of our time to
//! the floor is printed; each figure is the best of three runs, after the
//! freshly written dataset has been synced to disk. Results are printed as
//! a Markdown table for the README. Not a test: nothing here can fail a build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use polars::prelude::*;
use voucher_settle::cmd::synth::{SynthArgs, run as synth};

/// Runs per measurement; the best is reported.
const RUNS: usize = 3;

struct Measured {
    seconds: f64,
    peak_rss_mib: f64,
}

/// Runs a command to the end and measures its wall time and peak RSS.
fn measure(command: &mut Command) -> Measured {
    let started = Instant::now();
    // wait4 below reaps the child and reports its own peak RSS, which wait() cannot.
    #[allow(clippy::zombie_processes)]
    let child = command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("spawn");
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child and fills a zeroed rusage struct.
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(waited > 0 && status == 0, "benchmark command failed: status {status}");
    Measured { seconds: started.elapsed().as_secs_f64(), peak_rss_mib: usage.ru_maxrss as f64 / 1024.0 }
}

/// polars alone: read the contracts file, write it back as CSV and Parquet.
fn floor(contracts: &Path, work: &Path) -> f64 {
    let started = Instant::now();
    let mut frame = if contracts.extension().is_some_and(|e| e == "parquet") {
        ParquetReader::new(std::fs::File::open(contracts).unwrap()).finish().unwrap()
    } else {
        let options = CsvReadOptions::default()
            .with_infer_schema_length(Some(0))
            .with_parse_options(CsvParseOptions::default().with_truncate_ragged_lines(true));
        options.try_into_reader_with_file_path(Some(contracts.to_path_buf())).unwrap().finish().unwrap()
    };
    CsvWriter::new(std::fs::File::create(work.join("floor.csv")).unwrap()).finish(&mut frame).unwrap();
    ParquetWriter::new(std::fs::File::create(work.join("floor.parquet")).unwrap()).finish(&mut frame).unwrap();
    started.elapsed().as_secs_f64()
}

fn main() {
    let sizes: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.replace('_', "").parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![100_000, 1_000_000] } else { sizes };
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_voucher-settle"));
    let root = std::env::temp_dir().join("voucher-settle-bench");
    println!("machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
    println!("| contracts | input | wall (s) | peak RSS (MiB) | rows/s | polars floor (s) | ratio |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for &n in &sizes {
        for format in ["csv", "parquet"] {
            let dir = root.join(format!("{n}-{format}"));
            let _ = std::fs::remove_dir_all(&dir);
            synth(&SynthArgs {
                out: dir.clone(),
                contracts: n,
                seed: 1,
                error_rate: 0.05,
                quarters: 1,
                format: format.into(),
            })
            .expect("synth");
            // The dataset was just written: let its dirty pages reach the disk
            // first, so that the writeback does not run during the measurement.
            // SAFETY: sync(2) takes no arguments and cannot fail.
            unsafe { libc::sync() };
            // Best of three (this VM's timings vary by a third between
            // identical runs); each run starts from an empty ledger.
            let run = (0..RUNS)
                .map(|_| {
                    let _ = std::fs::remove_dir_all(dir.join("ledger"));
                    let _ = std::fs::remove_dir_all(dir.join("out"));
                    unsafe { libc::sync() };
                    measure(Command::new(&binary).current_dir(&dir).args(["run", "job.toml", "--batch", "2025-Q1"]))
                })
                .min_by(|a, b| a.seconds.total_cmp(&b.seconds))
                .expect("at least one run");
            let contracts = dir.join(format!("2025-Q1/contracts.{format}"));
            let floor_seconds = (0..RUNS).map(|_| floor(&contracts, &dir)).fold(f64::INFINITY, f64::min);
            println!(
                "| {n} | {format} | {:.2} | {:.0} | {:.0} | {:.2} | {:.1}x |",
                run.seconds,
                run.peak_rss_mib,
                n as f64 / run.seconds,
                floor_seconds,
                run.seconds / floor_seconds
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
