//! The settlement benchmark: `cargo bench --bench settle [-- 100000 1000000 ...]`.
//!
//! For each size it writes a synthetic dataset (`synth`, seed 1, 5% error
//! rows), then settles it end to end with the release binary — from CSV and
//! from Parquet, all outputs written and committed — and records wall time,
//! peak RSS and rows/s. The floor is polars alone reading the same contracts
//! file and writing it back as CSV and as Parquet; the ratio of our time to
//! the floor is printed. Beside it the outputs floor: polars alone reading
//! the same contracts file and writing what rules 6 asks a run to write (the
//! batch's two large tables, once each as CSV and as Parquet) — the floor
//! writes one table back, a run writes two larger ones. Each figure is the
//! best of three runs, after the freshly written dataset has been synced to
//! disk. Results are printed as a Markdown table. Not a test: nothing here
//! can fail a build.
//!
//! With `--corrections K` (`cargo bench --bench settle -- --corrections
//! 10000 1000000`) it measures what corrections cost instead: two quarters
//! of N contracts each, the first committed once; then the second quarter
//! settled alternately without and with a corrections file of K rows (nine
//! in ten reverse or claw back a contract the first quarter settled, one in
//! ten holds one of the second quarter's), each run from a copy of the
//! store as the first quarter left it (five runs each; best and median).
//!
//! With `BENCH_BASELINE=/path/to/voucher-settle` set, each dataset is also
//! settled by that binary, the two run alternately (five runs each), and
//! both are reported with their best and median: how a change is judged
//! against the code before it on a machine whose timings drift.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use polars::prelude::*;

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

/// polars alone reading the contracts file.
fn read_contracts(contracts: &Path) -> DataFrame {
    if contracts.extension().is_some_and(|e| e == "parquet") {
        ParquetReader::new(std::fs::File::open(contracts).unwrap()).finish().unwrap()
    } else {
        let options = CsvReadOptions::default()
            .with_infer_schema_length(Some(0))
            .with_parse_options(CsvParseOptions::default().with_truncate_ragged_lines(true));
        options.try_into_reader_with_file_path(Some(contracts.to_path_buf())).unwrap().finish().unwrap()
    }
}

/// Writes each table as CSV and as Parquet into `work`.
fn write_back(tables: &mut [DataFrame], work: &Path) {
    for (at, frame) in tables.iter_mut().enumerate() {
        CsvWriter::new(std::fs::File::create(work.join(format!("floor-{at}.csv"))).unwrap()).finish(frame).unwrap();
        let parquet = std::fs::File::create(work.join(format!("floor-{at}.parquet"))).unwrap();
        ParquetWriter::new(parquet).finish(frame).unwrap();
    }
}

/// The floor: polars alone reading the contracts file and writing it back
/// as CSV and Parquet.
fn floor(contracts: &Path, work: &Path) -> f64 {
    let started = Instant::now();
    write_back(&mut [read_contracts(contracts)], work);
    started.elapsed().as_secs_f64()
}

/// polars alone doing the reading and writing a run cannot avoid: reading
/// the contracts file as the floor does, then writing the batch's two large
/// tables once each as CSV and as Parquet (one folder, no checksums). The
/// tables are read beforehand, untimed, from the run's own settlements.csv
/// and exceptions.csv, column types inferred (money becomes floating-point
/// numbers; as text the tables took half as long again to write).
fn outputs_floor(contracts: &Path, out: &Path, work: &Path) -> f64 {
    let mut tables: Vec<DataFrame> = ["settlements", "exceptions"]
        .iter()
        .map(|name| {
            let options = CsvReadOptions::default().with_infer_schema_length(None);
            let path = out.join(format!("{name}.csv"));
            options.try_into_reader_with_file_path(Some(path)).unwrap().finish().unwrap()
        })
        .collect();
    let started = Instant::now();
    drop(read_contracts(contracts));
    write_back(&mut tables, work);
    started.elapsed().as_secs_f64()
}

/// Runs one floor in a child process (this benchmark run again with
/// `--floor ...`) and returns the seconds it printed. The benchmark itself
/// stays small this way, which the peak RSS figures depend on: a child's
/// `ru_maxrss` starts from its parent's peak at the moment it is spawned
/// (Linux carries the high-water mark of the memory it replaces at `exec`),
/// so after polars had read a table here every run would report at least
/// that much.
fn floor_in_child(args: &[&Path]) -> f64 {
    let output =
        Command::new(std::env::current_exe().expect("own path")).arg("--floor").args(args).output().expect("floor");
    assert!(output.status.success(), "floor failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().parse().expect("seconds")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "--floor") {
        let paths: Vec<PathBuf> = args[2..].iter().map(PathBuf::from).collect();
        let seconds = match paths.as_slice() {
            [contracts, work] => floor(contracts, work),
            [contracts, out, work] => outputs_floor(contracts, out, work),
            _ => panic!("--floor CONTRACTS [OUT] WORK"),
        };
        println!("{seconds}");
        return;
    }
    let corrections: Option<usize> = args
        .iter()
        .position(|a| a == "--corrections")
        .map(|at| args.get(at + 1).and_then(|k| k.replace('_', "").parse().ok()).expect("--corrections K"));
    let sizes: Vec<u64> = args
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(at, _)| args[at - 1] != "--corrections")
        .filter_map(|(_, a)| a.replace('_', "").parse().ok())
        .collect();
    let sizes = if sizes.is_empty() { vec![100_000, 1_000_000] } else { sizes };
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_voucher-settle"));
    let root = std::env::temp_dir().join("voucher-settle-bench");
    if let Some(k) = corrections {
        for &n in &sizes {
            corrections_cost(&binary, &root.join(format!("{n}-corrections")), n, k);
        }
        return;
    }
    println!("machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
    println!(
        "| contracts | input | wall (s) | peak RSS (MiB) | rows/s | polars floor (s) | ratio | outputs floor (s) | outputs floor / floor |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &sizes {
        for format in ["csv", "parquet"] {
            let dir = root.join(format!("{n}-{format}"));
            let _ = std::fs::remove_dir_all(&dir);
            // In a child process too, for the same reason as the floors.
            let synth = Command::new(&binary)
                .args(["synth", "--out"])
                .arg(&dir)
                .args(["--contracts", &n.to_string(), "--seed", "1", "--error-rate", "0.05", "--format", format])
                .output()
                .expect("synth");
            assert!(synth.status.success(), "synth failed: {}", String::from_utf8_lossy(&synth.stderr));
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
            if let Some(baseline) = std::env::var_os("BENCH_BASELINE") {
                compare(&PathBuf::from(baseline), &binary, &dir, n, format);
            }
            let contracts = dir.join(format!("2025-Q1/contracts.{format}"));
            let floor_seconds = (0..RUNS).map(|_| floor_in_child(&[&contracts, &dir])).fold(f64::INFINITY, f64::min);
            let out = dir.join("out/2025-Q1");
            let outputs_seconds =
                (0..RUNS).map(|_| floor_in_child(&[&contracts, &out, &dir])).fold(f64::INFINITY, f64::min);
            println!(
                "| {n} | {format} | {:.2} | {:.0} | {:.0} | {:.2} | {:.1}x | {:.2} | {:.1}x |",
                run.seconds,
                run.peak_rss_mib,
                n as f64 / run.seconds,
                floor_seconds,
                run.seconds / floor_seconds,
                outputs_seconds,
                outputs_seconds / floor_seconds
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// One run of `binary` settling the dataset in `dir` from an empty ledger.
fn settle_once(binary: &Path, dir: &Path) -> Measured {
    let _ = std::fs::remove_dir_all(dir.join("ledger"));
    let _ = std::fs::remove_dir_all(dir.join("out"));
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    measure(Command::new(binary).current_dir(dir).args(["run", "job.toml", "--batch", "2025-Q1"]))
}

/// The baseline binary and this one run alternately on the same dataset.
fn compare(baseline: &Path, binary: &Path, dir: &Path, n: u64, format: &str) {
    const PAIRS: usize = 5;
    let mut runs: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..PAIRS {
        runs[0].push(settle_once(baseline, dir));
        runs[1].push(settle_once(binary, dir));
    }
    for (name, measured) in ["baseline", "this build"].iter().zip(runs.iter_mut()) {
        measured.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        let peaks: Vec<f64> = measured.iter().map(|m| m.peak_rss_mib).collect();
        println!(
            "compare {n} {format} {name}: best {:.2} s, median {:.2} s, peak RSS {:.0}–{:.0} MiB",
            measured[0].seconds,
            measured[PAIRS / 2].seconds,
            peaks.iter().copied().fold(f64::INFINITY, f64::min),
            peaks.iter().copied().fold(0.0, f64::max)
        );
    }
}

/// A second quarter of `n` contracts settled without and with `k`
/// corrections, alternately, each from a copy of the store after the first.
fn corrections_cost(binary: &Path, dir: &Path, n: u64, k: usize) {
    let _ = std::fs::remove_dir_all(dir);
    let synth = Command::new(binary)
        .args(["synth", "--out"])
        .arg(dir)
        .args(["--contracts", &(2 * n).to_string(), "--quarters", "2", "--seed", "1", "--error-rate", "0.05"])
        .output()
        .expect("synth");
    assert!(synth.status.success(), "synth failed: {}", String::from_utf8_lossy(&synth.stderr));
    measure(Command::new(binary).current_dir(dir).args(["run", "job.toml", "--batch", "2025-Q1"]));
    let copy = |from: &str, to: &str| {
        let _ = std::fs::remove_dir_all(dir.join(to));
        assert!(Command::new("cp").arg("-a").arg(dir.join(from)).arg(dir.join(to)).status().unwrap().success());
    };
    copy("ledger", "ledger-after-q1");
    let settled: Vec<String> = csv_column(&dir.join("out/2025-Q1/settlements.csv"), "contract_id");
    let second: Vec<String> = csv_column(&dir.join("2025-Q2/contracts.csv"), "contract_id");
    let mut text = String::from("contract_id,action,decided_on,reason,reference\n");
    for at in 0..k {
        let line = match at % 10 {
            9 => format!("{},hold,2025-05-01,材料待补充,\n", second[(at * 7) % second.len()]),
            r => {
                let action = if r % 2 == 0 { "reverse" } else { "clawback" };
                format!(
                    "{},{action},2025-05-01,平台数据录入错误,桂工信〔2025〕1号\n",
                    settled[(at * 13) % settled.len()]
                )
            }
        };
        text.push_str(&line);
    }
    std::fs::write(dir.join("2025-Q2/corrections.csv"), text).unwrap();
    let job = std::fs::read_to_string(dir.join("job.toml")).unwrap();
    let with = job.replacen("[inputs]\n", "[inputs]\ncorrections = \"{batch}/corrections.csv\"\n", 1);
    assert_ne!(with, job, "the synthetic job has an [inputs] section");
    std::fs::write(dir.join("job-corrections.toml"), with).unwrap();
    const PAIRS: usize = 5;
    let mut runs: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..PAIRS {
        for (at, job) in ["job.toml", "job-corrections.toml"].iter().enumerate() {
            copy("ledger-after-q1", "ledger");
            let _ = std::fs::remove_dir_all(dir.join("out/2025-Q2"));
            // SAFETY: sync(2) takes no arguments and cannot fail.
            unsafe { libc::sync() };
            runs[at].push(measure(Command::new(binary).current_dir(dir).args(["run", job, "--batch", "2025-Q2"])));
        }
    }
    for (name, measured) in ["without corrections".to_string(), format!("with {k} corrections")].iter().zip(&mut runs) {
        measured.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        println!(
            "corrections {n} contracts, {name}: best {:.2} s, median {:.2} s, peak RSS {:.0} MiB",
            measured[0].seconds,
            measured[PAIRS / 2].seconds,
            measured.iter().map(|m| m.peak_rss_mib).fold(0.0, f64::max)
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// One column of a CSV file (a BOM is skipped), as text.
fn csv_column(path: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == name).unwrap();
    lines.filter_map(|l| l.split(',').nth(at).map(str::to_string)).filter(|v| !v.is_empty()).collect()
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
