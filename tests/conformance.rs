//! Runs the shared conformance checker (`../shared/conformance/check.py`,
//! beside the repository) with the built binary over the shared datasets.
//! Under `CI=true` a missing checker, dataset or `python3` fails the test;
//! elsewhere it says `SKIPPED` and why. The shipped example is checked
//! against its expected results in Rust (`datasets.rs`), with no Python.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workdir::{binary, repo};

/// Whether this is a CI run, where nothing may be skipped.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Something a test needs is missing: under CI a failure, elsewhere a skip
/// that says why.
fn missing(what: &str) {
    assert!(!in_ci(), "{what} (CI=true: nothing may be skipped)");
    eprintln!("SKIPPED: {what}");
}

/// A shared conformance dataset, if it is there (see [`missing`]).
pub fn shared_dataset(name: &str) -> Option<PathBuf> {
    let dataset = repo().join("../shared/conformance").join(name);
    if dataset.join("expected").is_dir() {
        return Some(dataset);
    }
    missing(&format!("{} not found", dataset.display()));
    None
}

fn run_check(dataset: &Path) {
    let checker = repo().join("../shared/conformance/check.py");
    if !checker.is_file() {
        return missing(&format!("{} not found", checker.display()));
    }
    if !Command::new("python3").arg("--version").output().is_ok_and(|out| out.status.success()) {
        return missing("python3 not available");
    }
    let keep = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(&checker)
        .arg(binary())
        .arg(dataset)
        .arg("--keep")
        .arg(keep.path())
        .output()
        .expect("run check.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(", 0 failed"),
        "conformance failed on {}:\n{stdout}\n{}",
        dataset.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{}: {}", dataset.display(), stdout.trim());
}

#[test]
fn shared_conformance_dataset() {
    if let Some(dataset) = shared_dataset("basic") {
        run_check(&dataset);
    }
}

/// Corrections in every quarter (rules 9): every `C_*` code, holds,
/// reversals of reversed contracts, re-exports of clawed-back ones; the
/// checker also compares correction exceptions, reversals, net payouts and
/// the year to date. Afterwards the store it leaves must verify.
#[test]
fn shared_corrections_dataset() {
    if let Some(dataset) = shared_dataset("corrections") {
        run_check(&dataset);
    }
}

/// Amounts owed back (rules 10): offsets on, refunds in every quarter,
/// every `P_*` code; the checker compares the refund exceptions, the
/// refunds applied and every provider's balance and payment. The store it
/// leaves then verifies, refunds replayed from the archive.
#[test]
fn shared_owed_dataset() {
    let Some(dataset) = shared_dataset("owed") else { return };
    let checker = repo().join("../shared/conformance/check.py");
    if !checker.is_file() {
        return missing(&format!("{} not found", checker.display()));
    }
    let keep = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(&checker)
        .arg(binary())
        .arg(&dataset)
        .arg("--keep")
        .arg(keep.path())
        .output()
        .expect("run check.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains(", 0 failed"), "conformance failed on owed:\n{stdout}");
    let verified = Command::new(binary()).arg("verify").arg(keep.path().join("ledger")).output().unwrap();
    let text = String::from_utf8_lossy(&verified.stdout);
    assert_eq!(verified.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&verified.stderr));
    assert!(text.ends_with("4 个批次验证一致 (4 batches verified)\n"), "{text}");
}

#[test]
fn example_dataset_with_the_shared_checker() {
    run_check(&repo().join("fixtures/example-2025"));
}
