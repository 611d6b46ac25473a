//! Runs `../shared/conformance/check.py` with the built binary over the shared
//! dataset and over our own example dataset (same layout, hand-computed
//! expectations). Skips, saying why, only when python3 or the shared folder
//! is not there.

use std::path::Path;
use std::process::Command;

use crate::workdir::{binary, repo};

fn run_check(dataset: &Path) {
    let checker = repo().join("../shared/conformance/check.py");
    if !checker.is_file() {
        eprintln!("SKIPPED conformance on {}: {} not found", dataset.display(), checker.display());
        return;
    }
    let python = match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => "python3",
        _ => {
            eprintln!("SKIPPED conformance on {}: python3 not available", dataset.display());
            return;
        }
    };
    let keep = tempfile::tempdir().unwrap();
    let out = Command::new(python)
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
    run_check(&repo().join("../shared/conformance/basic"));
}

#[test]
fn example_dataset_with_hand_computed_results() {
    run_check(&repo().join("fixtures/example-2025"));
}
