//! Damaged stores: every combination of one or two kinds of damage to a
//! store of two committed quarters, then a batch that exports every
//! contract again. The run either refuses (exit 2) and changes nothing, or
//! commits a batch that pays no contract already settled; it never deletes
//! or alters a committed batch folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::workdir::Workdir;

/// Kinds of damage, each applied to a copy of the store; the last four put
/// a symbolic link at each depth of the store (a batch's file, a batch
/// folder, an archived input, the objects folder), pointing at a copy of
/// what was there.
const DAMAGE: [&str; 13] = [
    "HEAD deleted",
    "HEAD rolled back to Q1",
    "HEAD cut short",
    "Q2 folder renamed to sequence 3",
    "Q1 settlements.parquet deleted",
    "Q1 settlements.parquet changed",
    "Q2 manifest deleted",
    "stray batch folder",
    "Q1 folder deleted",
    "Q1 settlements.parquet a link",
    "Q2 folder a link",
    "an archived input a link",
    "objects folder a link",
];

/// Moves `path` out of the store and puts a symbolic link to it in its place.
fn linked(w: &Workdir, path: &str) {
    let (inside, outside) = (w.path(path), w.path(&format!("outside/{}", path.replace('/', "_"))));
    std::fs::create_dir_all(w.path("outside")).unwrap();
    if std::fs::rename(&inside, &outside).is_ok() {
        std::os::unix::fs::symlink(&outside, &inside).unwrap();
    }
}

fn damage(w: &Workdir, what: &str, head_after_q1: &[u8]) {
    let path = |p: &str| w.path(p);
    match what {
        "HEAD deleted" => std::fs::remove_file(path("ledger/HEAD")).unwrap_or_default(),
        "HEAD rolled back to Q1" => w.write("ledger/HEAD", head_after_q1),
        "HEAD cut short" => {
            if let Ok(bytes) = std::fs::read(path("ledger/HEAD")) {
                w.write("ledger/HEAD", &bytes[..bytes.len() / 2]);
            }
        }
        "Q2 folder renamed to sequence 3" => {
            let _ = std::fs::rename(path("ledger/batches/000002_2025-Q2"), path("ledger/batches/000003_2025-Q2"));
        }
        "Q1 settlements.parquet deleted" => {
            let _ = std::fs::remove_file(path("ledger/batches/000001_2025-Q1/settlements.parquet"));
        }
        "Q1 settlements.parquet changed" => {
            if let Ok(mut bytes) = std::fs::read(path("ledger/batches/000001_2025-Q1/settlements.parquet")) {
                let at = bytes.len() / 3;
                bytes[at] ^= 0x40;
                w.write("ledger/batches/000001_2025-Q1/settlements.parquet", bytes);
            }
        }
        "Q2 manifest deleted" => {
            let _ = std::fs::remove_file(path("ledger/batches/000002_2025-Q2/manifest.json"));
        }
        "stray batch folder" => w.write("ledger/batches/000003_STRAY/note.txt", "?"),
        "Q1 folder deleted" => {
            let _ = std::fs::remove_dir_all(path("ledger/batches/000001_2025-Q1"));
        }
        "Q1 settlements.parquet a link" => linked(w, "ledger/batches/000001_2025-Q1/settlements.parquet"),
        "Q2 folder a link" => linked(w, "ledger/batches/000002_2025-Q2"),
        "an archived input a link" => {
            let object = std::fs::read_dir(path("ledger/objects/sha256")).unwrap().next().unwrap().unwrap();
            linked(w, &format!("ledger/objects/sha256/{}", object.file_name().to_string_lossy()));
        }
        "objects folder a link" => linked(w, "ledger/objects"),
        other => panic!("no damage {other}"),
    }
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                found.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

#[test]
fn no_damaged_store_deletes_a_batch_or_pays_twice() {
    let base = Workdir::with_example();
    base.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let head_after_q1 = base.read("ledger/HEAD");
    base.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    // A batch exporting every contract of both quarters again.
    let q1 = String::from_utf8(base.read("data/2025-Q1/contracts.csv")).unwrap();
    let q2 = String::from_utf8(base.read("data/2025-Q2/contracts.csv")).unwrap();
    let again: String = q1.clone() + &q2.lines().skip(1).map(|l| format!("{l}\n")).collect::<String>();
    base.write("data/AGAIN/contracts.csv", again);
    let settled: BTreeSet<String> = ["out/2025-Q1/settlements.csv", "out/2025-Q2/settlements.csv"]
        .iter()
        .flat_map(|p| base.csv(p))
        .map(|r| r["contract_id"].clone())
        .collect();
    assert_eq!(settled.len(), 9);

    let mut cases: Vec<Vec<&str>> = DAMAGE.iter().map(|d| vec![*d]).collect();
    for (i, a) in DAMAGE.iter().enumerate() {
        cases.extend(DAMAGE[i + 1..].iter().map(|b| vec![*a, *b]));
    }
    let mut refused = 0;
    for case in &cases {
        let w = Workdir::copy_of(&base);
        for what in case {
            damage(&w, what, &head_after_q1);
        }
        let before = files(&w.path("ledger/batches"));
        let out = w.run(&["run", "job.toml", "--batch", "AGAIN", "--cutoff", "2025-06-30"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let after = files(&w.path("ledger/batches"));
        for (name, bytes) in &before {
            assert_eq!(after.get(name), Some(bytes), "{case:?}: {name} deleted or changed; {stderr}");
        }
        match out.status.code() {
            Some(2) => {
                refused += 1;
                assert_eq!(after.len(), before.len(), "{case:?}: nothing added when refused");
            }
            Some(0) => {
                let paid_again: Vec<String> = w
                    .csv("out/AGAIN/settlements.csv")
                    .into_iter()
                    .map(|r| r["contract_id"].clone())
                    .filter(|id| settled.contains(id))
                    .collect();
                assert!(paid_again.is_empty(), "{case:?}: paid twice {paid_again:?}");
            }
            other => panic!("{case:?}: exit {other:?}: {stderr}"),
        }
    }
    // Every kind of damage here is found before anything is written.
    assert_eq!(refused, cases.len());

    // An output path that reaches the store through a link is the store.
    let w = Workdir::copy_of(&base);
    std::os::unix::fs::symlink(w.path("ledger"), w.path("alias")).unwrap();
    std::os::unix::fs::symlink(w.path("ledger/batches/000001_2025-Q1"), w.path("q1")).unwrap();
    let before = files(&w.path("ledger"));
    for output in ["alias/{batch}", "alias/batches/{batch}", "q1", "q1/../q1", "alias/objects/sha256"] {
        let job = String::from_utf8(w.read("job.toml")).unwrap().replace("out/{batch}", output);
        w.write("linked.toml", job);
        let out = w.run(&["run", "linked.toml", "--batch", "AGAIN", "--cutoff", "2025-06-30"]);
        assert_eq!(out.status.code(), Some(2), "{output}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(files(&w.path("ledger")), before, "{output}: the store unchanged");
    }
}
