//! The audit trail: verify by recomputation, one tamper test per kind of file
//! in the store, explain, the ledger lock, and crashes at every point of a commit.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::workdir::{Workdir, binary};

/// The example's two quarters, committed.
fn two_quarters() -> Workdir {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    w
}

fn verify(w: &Workdir, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["verify", "ledger"];
    args.extend_from_slice(extra);
    let out = w.run(&args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn edit(w: &Workdir, relative: &str, from: &str, to: &str) {
    let text = String::from_utf8(w.read(relative)).unwrap();
    assert!(text.contains(from), "{relative} contains {from:?}");
    w.write(relative, text.replacen(from, to, 1));
}

fn flip_byte(w: &Workdir, relative: &str, at: usize) {
    let mut bytes = w.read(relative);
    bytes[at] ^= 0x01;
    w.write(relative, bytes);
}

/// The archived object of a batch's input, by the name in its manifest.
fn object_of(w: &Workdir, batch_dir: &str, input: &str) -> String {
    let manifest: serde_json::Value =
        serde_json::from_slice(&w.read(&format!("ledger/batches/{batch_dir}/manifest.json"))).unwrap();
    let sha = match input {
        "policy" | "job" => manifest[input]["sha256"].as_str().unwrap().to_string(),
        _ => manifest["inputs"].as_array().unwrap().iter().find(|i| i["name"] == input).unwrap()["sha256"]
            .as_str()
            .unwrap()
            .to_string(),
    };
    format!("ledger/objects/sha256/{}", sha.trim_start_matches("sha256:"))
}

fn manifest_sha256(w: &Workdir, batch_dir: &str) -> String {
    voucher_settle::checksum::sha256_hex(&w.read(&format!("ledger/batches/{batch_dir}/manifest.json")))
}

/// verify lists every batch with its manifest's SHA-256, the number written
/// on each signed payout list.
#[test]
fn untouched_store_verifies() {
    let w = two_quarters();
    let (q1, q2) = (manifest_sha256(&w, "000001_2025-Q1"), manifest_sha256(&w, "000002_2025-Q2"));
    let listed = format!(
        "  #1 2025-Q1  {q1}  一致 verified\n  #2 2025-Q2  {q2}  一致 verified\n2 个批次验证一致 (2 batches verified)\n"
    );
    assert_eq!(verify(&w, &[]), (Some(0), listed));
    let one = format!("  #2 2025-Q2  {q2}  一致 verified\n1 个批次验证一致 (1 batch verified)\n");
    assert_eq!(verify(&w, &["--batch", "2025-Q2"]), (Some(0), one));
    let (code, text) = verify(&w, &["--batch", "2025-Q9"]);
    assert_eq!(code, Some(2), "{text}");
}

/// `--head` anchors the store to the hash written on the last signed payout
/// list (whole, or any unambiguous prefix of at least 8 hex digits): the
/// store must end there.
#[test]
fn verify_head_checks_the_store_ends_at_the_signed_manifest() {
    let w = two_quarters();
    let (q1, q2) = (manifest_sha256(&w, "000001_2025-Q1"), manifest_sha256(&w, "000002_2025-Q2"));
    let (code, text) = verify(&w, &["--head", &q2]);
    assert_eq!(code, Some(0), "{text}");
    let bare = q2.trim_start_matches("sha256:").to_ascii_uppercase();
    assert_eq!(verify(&w, &["--head", &bare]).0, Some(0), "without its prefix, in capitals");
    assert_eq!(verify(&w, &["--head", &bare[..8]]).0, Some(0), "its first 8 hex digits");
    let (code, text) = verify(&w, &["--head", &bare[..7]]);
    assert_eq!(code, Some(2), "fewer than 8 digits: {text}");
    assert!(text.contains("at least its first 8 hex digits"), "{text}");
    let (code, text) = verify(&w, &["--head", &q1]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("names batch 2025-Q1, which 1 later batch(es) follow"), "{text}");
    let (code, text) = verify(&w, &["--head", &format!("sha256:{}", "0".repeat(64))]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("is no manifest of this store"), "{text}");
    // Rolled back to Q1 (the folder of Q2 moved away, HEAD restored to Q1):
    // the store is consistent, but does not end where the signed list says.
    let head_q2 = w.read("ledger/HEAD");
    std::fs::rename(w.path("ledger/batches/000002_2025-Q2"), w.path("q2-moved")).unwrap();
    let head_q1 = String::from_utf8(head_q2).unwrap().replace(&q2, &q1).replace("\"sequence\": 2", "\"sequence\": 1");
    w.write("ledger/HEAD", head_q1.replace("2025-Q2", "2025-Q1"));
    assert_eq!(verify(&w, &[]).0, Some(0));
    assert_eq!(verify(&w, &["--head", &q2]).0, Some(3));
}

/// Before using the store, run checks the chain from HEAD back to the first
/// batch: a manifest that no longer has the hash the next one records stops
/// the run (exit 2), nothing committed.
#[test]
fn a_broken_chain_stops_the_run() {
    let w = Workdir::with_corrections();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    edit(&w, "ledger/batches/000001_2025-Q1/manifest.json", "\"created_at\": \"", "\"created_at\": \"1");
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("chain broken"), "{stderr}");
    assert_eq!(w.committed(), ["000001_2025-Q1", "000002_2025-Q2"]);
}

/// Re-running a committed batch puts its files back into the output folder
/// only if each still has its manifest's checksum.
#[test]
fn a_tampered_file_is_not_restored() {
    let w = two_quarters();
    edit(&w, "ledger/batches/000002_2025-Q2/payouts.csv", "6400.05", "9400.05");
    std::fs::remove_dir_all(w.path("out/2025-Q2")).unwrap();
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("payouts.csv") && stderr.contains("nothing restored"), "{stderr}");
    assert!(!w.path("out/2025-Q2/payouts.csv").exists());
}

#[test]
fn an_unchanged_registry_is_archived_once() {
    let w = two_quarters();
    let objects = std::fs::read_dir(w.path("ledger/objects/sha256")).unwrap().count();
    // Two contracts files, four registries, the policy and the job file.
    assert_eq!(objects, 8);
    assert_eq!(object_of(&w, "000001_2025-Q1", "providers"), object_of(&w, "000002_2025-Q2", "providers"));
}

#[test]
fn every_kind_of_tampering_is_found() {
    type Tamper = fn(&Workdir);
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "settlements.csv cell",
            |w| {
                edit(
                    w,
                    "ledger/batches/000001_2025-Q1/settlements.csv",
                    "30000.00,10000.00,SETTLED_REDUCED",
                    "20000.00,10000.00,SETTLED_REDUCED",
                )
            },
            "batch 2025-Q1, settlements.csv, row 2, column approved_amount: stored \"20000.00\", recomputed \"30000.00\"",
        ),
        (
            "settlements.parquet byte",
            |w| flip_byte(w, "ledger/batches/000002_2025-Q2/settlements.parquet", 300),
            "batch 2025-Q2, settlements.parquet",
        ),
        (
            "exceptions.csv message",
            |w| edit(w, "ledger/batches/000001_2025-Q1/exceptions.csv", "E_AFTER_CUTOFF", "E_NOT_COMPLETED"),
            "batch 2025-Q1, exceptions.csv, row 5, column code: stored \"E_NOT_COMPLETED\", recomputed \"E_AFTER_CUTOFF\"",
        ),
        (
            "exceptions.parquet byte",
            |w| flip_byte(w, "ledger/batches/000001_2025-Q1/exceptions.parquet", 200),
            "batch 2025-Q1, exceptions.parquet",
        ),
        (
            "payouts.csv amount",
            |w| edit(w, "ledger/batches/000002_2025-Q2/payouts.csv", "6400.05", "6400.50"),
            "batch 2025-Q2, payouts.csv, row 1, column approved_amount_batch",
        ),
        (
            "enterprise_usage.csv row removed",
            |w| {
                let text = String::from_utf8(w.read("ledger/batches/000001_2025-Q1/enterprise_usage.csv")).unwrap();
                let kept: Vec<&str> = text.lines().take(3).collect();
                w.write("ledger/batches/000001_2025-Q1/enterprise_usage.csv", kept.join("\n") + "\n");
            },
            "batch 2025-Q1, enterprise_usage.csv, row 3: stored has 2 rows, recomputed 3",
        ),
        (
            "summary.json total",
            |w| {
                edit(
                    w,
                    "ledger/batches/000001_2025-Q1/summary.json",
                    "\"approved_total\": \"74000.01\"",
                    "\"approved_total\": \"74000.00\"",
                )
            },
            "batch 2025-Q1, summary.json, row",
        ),
        (
            "report.html edited",
            |w| edit(w, "ledger/batches/000002_2025-Q2/report.html", "46,400.04", "46,400.40"),
            "batch 2025-Q2, report.html, row",
        ),
        (
            "settlement.xlsx byte",
            |w| {
                let len = w.read("ledger/batches/000001_2025-Q1/settlement.xlsx").len();
                flip_byte(w, "ledger/batches/000001_2025-Q1/settlement.xlsx", len / 2)
            },
            "batch 2025-Q1, settlement.xlsx, file differs (stored sha256:",
        ),
        (
            "manifest.json field",
            |w| {
                edit(
                    w,
                    "ledger/batches/000001_2025-Q1/manifest.json",
                    "\"cutoff\": \"2025-03-31\"",
                    "\"cutoff\": \"2025-03-30\"",
                )
            },
            "batch 2025-Q2, manifest.json: prev_manifest_sha256",
        ),
        (
            "manifest taken out of the chain",
            |w| std::fs::remove_file(w.path("ledger/batches/000001_2025-Q1/manifest.json")).unwrap(),
            "000001_2025-Q1/manifest.json",
        ),
        (
            "archived contracts changed",
            |w| {
                let object = object_of(w, "000001_2025-Q1", "contracts");
                edit(w, &object, "10000.00,2500.00", "10000.00,2500.01");
            },
            "batch 2025-Q1, archived contracts",
        ),
        (
            "archived policy changed",
            |w| {
                let object = object_of(w, "000001_2025-Q1", "policy");
                edit(w, &object, "cap = \"30000\"", "cap = \"40000\"");
            },
            "batch 2025-Q1, archived policy",
        ),
        (
            "archived job deleted",
            |w| std::fs::remove_file(w.path(&object_of(w, "000002_2025-Q2", "job"))).unwrap(),
            "archived job",
        ),
        (
            "first batch folder deleted",
            |w| std::fs::remove_dir_all(w.path("ledger/batches/000001_2025-Q1")).unwrap(),
            "batch folder 000001_* missing",
        ),
        (
            "last batch folder deleted",
            |w| std::fs::remove_dir_all(w.path("ledger/batches/000002_2025-Q2")).unwrap(),
            "batch folder 000002_2025-Q2 missing",
        ),
        ("HEAD deleted", |w| std::fs::remove_file(w.path("ledger/HEAD")).unwrap(), "HEAD is missing"),
    ];
    for (what, tamper, want) in cases {
        let w = two_quarters();
        tamper(&w);
        let (code, text) = verify(&w, &[]);
        assert_eq!(code, Some(3), "{what}: {text}");
        assert!(text.contains(want), "{what}: want {want:?} in {text}");
        assert!(!text.contains("PK\u{3}") && !text.contains("\\u{"), "{what}: no raw bytes in {text}");
    }
}

#[test]
fn a_single_batch_checks_the_files_its_carry_in_comes_from() {
    let w = two_quarters();
    flip_byte(&w, "ledger/batches/000001_2025-Q1/settlements.parquet", 300);
    let (code, text) = verify(&w, &["--batch", "2025-Q2"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("batch 2025-Q1, settlements.parquet: checksum"), "{text}");
}

#[test]
fn explain_a_reduced_settlement_with_its_bounds_and_clauses() {
    let w = two_quarters();
    let text = w.run_ok(&["explain", "ledger", "C-2025-0002"]);
    assert!(text.contains("SETTLED_REDUCED W_ITEM_CAP：核定 approved 30000.00"), "{text}");
    assert!(text.contains("第十二条：数字化转型服务补贴50%"), "{text}");
    let binding: Vec<&str> = text.lines().filter(|l| l.contains("binding")).collect();
    assert_eq!(binding.len(), 1, "{text}");
    assert!(binding[0].contains("item_room") && binding[0].contains("30000.00 − 0.00"), "{text}");

    let json: serde_json::Value =
        serde_json::from_str(&w.run_ok(&["explain", "ledger", "C-2025-0002", "--json"])).unwrap();
    let history = json["history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    let s = &history[0]["settlement"];
    assert_eq!(
        (s["approved"].as_str(), s["claimed"].as_str(), s["seq"].as_str()),
        (Some("30000.00"), Some("40000.00"), Some("2"))
    );
    let bounds: Vec<(String, String, bool)> = s["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (b["name"].as_str().unwrap().into(), b["amount"].as_str().unwrap().into(), b["binding"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(
        bounds,
        [
            ("claimed".into(), "40000.00".into(), false),
            ("rate_limit".into(), "40000.00".into(), false),
            ("item_room".into(), "30000.00".into(), true),
            ("quota_room".into(), "40000.00".into(), false),
            ("provider_room".into(), "5000000.00".into(), false),
        ]
    );
    let enterprise = &s["totals"][1];
    assert_eq!((enterprise["before"].as_str(), enterprise["after"].as_str()), (Some("10000.00"), Some("40000.00")));
}

#[test]
fn explain_shows_the_whole_history() {
    let w = two_quarters();
    let history = |id: &str| -> Vec<(String, String, String)> {
        let json: serde_json::Value = serde_json::from_str(&w.run_ok(&["explain", "ledger", id, "--json"])).unwrap();
        json["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let code = e["exceptions"].as_array().unwrap().first().map_or("", |x| x["code"].as_str().unwrap());
                (e["batch_id"].as_str().unwrap().into(), e["kind"].as_str().unwrap().into(), code.into())
            })
            .collect()
    };
    assert_eq!(
        history("C-2025-0008"),
        [
            ("2025-Q1".into(), "rejected".into(), "E_AFTER_CUTOFF".into()),
            ("2025-Q2".into(), "rejected".into(), "E_ITEM_CAP_EXHAUSTED".into())
        ]
    );
    assert_eq!(
        history("C-2025-0001"),
        [
            ("2025-Q1".into(), "settled".into(), "".into()),
            ("2025-Q2".into(), "rejected".into(), "E_ALREADY_SETTLED".into())
        ]
    );
    let text = w.run_ok(&["explain", "ledger", "C-2025-0010"]);
    assert!(
        text.contains("E_DEPOSIT_SHORT [第9步 金额 / step 9: amounts; 办法：企业支付不低于合同金额20%的定金]")
            && text.contains("deposit_paid = \"999.99\""),
        "{text}"
    );
    let out = w.run(&["explain", "ledger", "C-NOPE"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_second_run_waits_for_the_ledger_lock() {
    use fs2::FileExt;
    let w = Workdir::with_example();
    std::fs::create_dir_all(w.path("ledger/batches")).unwrap();
    let lock = std::fs::File::create(w.path("ledger/.lock")).unwrap();
    lock.lock_exclusive().unwrap();
    let mut child = Command::new(binary())
        .current_dir(w.path(""))
        .args(["run", "job.toml", "--batch", "2025-Q1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert!(child.try_wait().unwrap().is_none(), "the run must wait while the ledger is locked");
    assert!(w.committed().is_empty());
    fs2::FileExt::unlock(&lock).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
}

#[test]
fn a_crash_at_any_point_of_a_commit_leaves_a_usable_store() {
    let clean = two_quarters();
    for point in voucher_settle::ledger::CRASH_POINTS {
        let w = Workdir::with_example();
        w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
        let out = w.run_env(&["run", "job.toml", "--batch", "2025-Q2"], &[("VOUCHER_SETTLE_CRASH_AT", point)]);
        assert_eq!(out.status.code(), None, "{point}: the process died");
        let (code, text) = verify(&w, &[]);
        let committed = point == "committed";
        let cut_short = point == "renamed" || point == "head-written";
        let want = if committed { "(2 batches verified)" } else { "(1 batch verified)" };
        if cut_short {
            // A folder HEAD does not name: not a store verify passes.
            assert_eq!(code, Some(3), "{point}: {text}");
        } else {
            assert_eq!(code, Some(0), "{point}: {text}");
            assert!(text.contains(want), "{point}: {text}");
        }
        // Killed between the rename and HEAD (before or after the new HEAD
        // was written beside the old one): the folder in batches/ may be
        // a commit cut short or a committed batch whose HEAD was lost; the
        // next run changes nothing and says how to go on, which the
        // operator does: the folder goes into quarantine/, kept.
        if cut_short {
            let out = w.run(&["run", "job.toml", "--batch", "2025-Q2"]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{point}: {stderr}");
            assert!(stderr.contains("000002_2025-Q2") && stderr.contains("quarantine"), "{point}: {stderr}");
            assert!(w.path("ledger/batches/000002_2025-Q2").is_dir(), "{point}: nothing deleted");
            std::fs::create_dir_all(w.path("ledger/quarantine")).unwrap();
            std::fs::rename(w.path("ledger/batches/000002_2025-Q2"), w.path("ledger/quarantine/000002_2025-Q2"))
                .unwrap();
        }
        // The next run works and ends where a run without a crash ends.
        let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
        assert_eq!(printed.contains("already committed"), committed, "{point}: {printed}");
        let (code, text) = verify(&w, &[]);
        assert_eq!(code, Some(0), "{point}: {text}");
        assert!(text.ends_with("2 个批次验证一致 (2 batches verified)\n"), "{point}: {text}");
        for name in ["settlements.csv", "exceptions.csv", "payouts.csv", "summary.json"] {
            let path = format!("out/2025-Q2/{name}");
            assert_eq!(w.read(&path), clean.read(&path), "{point}: {name}");
        }
        assert!(!w.path("ledger/staging").exists(), "{point}");
        let hidden: Vec<String> = std::fs::read_dir(w.path("out/2025-Q2"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "{point}: partial files left in the output folder: {hidden:?}");
    }
}

/// Q1's settlements.parquet rewritten with every approved amount 0.00 (a
/// valid Parquet file, so only its checksum gives it away): the next batch
/// refuses to carry it in (exit 2, nothing committed) instead of paying
/// every enterprise and provider again from zero; `explain` refuses it too.
#[test]
fn carry_in_refuses_a_rewritten_settlements_file() {
    use polars::prelude::*;
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let stored = "ledger/batches/000001_2025-Q1/settlements.parquet";
    let mut frame = ParquetReader::new(std::io::Cursor::new(w.read(stored))).finish().unwrap();
    // Every amount times zero: a well-formed file whose amounts are all wrong.
    #[allow(clippy::erasing_op)]
    let zeros = frame.column("approved_amount").unwrap().clone() * 0;
    frame.replace("approved_amount", zeros).unwrap();
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut frame).unwrap();
    w.write(stored, bytes);

    let out = w.run(&["run", "job.toml", "--batch", "2025-Q2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("settlements.parquet") && stderr.contains("manifest"), "{stderr}");
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
    let (code, text) = verify(&w, &[]);
    assert_eq!(code, Some(3), "{text}");
    // explain reads the same file through the same reader: refused, not
    // shown with an approved amount of 0.00.
    let out = w.run(&["explain", "ledger", "C-2025-0001"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("settlements.parquet") && stderr.contains("manifest"), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// HEAD deleted after two committed quarters: the run used to take both
/// batch folders for leftovers, delete them and pay C-2025-0001 again. Now
/// it changes nothing and says what it found (exit 2); verify reports it.
#[test]
fn a_missing_head_deletes_nothing_and_pays_nothing_twice() {
    let w = two_quarters();
    std::fs::remove_file(w.path("ledger/HEAD")).unwrap();
    let manifests =
        [w.read("ledger/batches/000001_2025-Q1/manifest.json"), w.read("ledger/batches/000002_2025-Q2/manifest.json")];
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("HEAD is missing") && stderr.contains("000001_2025-Q1"), "{stderr}");
    assert_eq!(w.committed(), ["000001_2025-Q1", "000002_2025-Q2"]);
    assert_eq!(w.read("ledger/batches/000001_2025-Q1/manifest.json"), manifests[0]);
    assert_eq!(w.read("ledger/batches/000002_2025-Q2/manifest.json"), manifests[1]);
    let (code, text) = verify(&w, &[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("HEAD is missing") && text.contains("000001_2025-Q1"), "{text}");
}

/// A first commit cut short between its rename and HEAD is reported as a
/// later batch's is: verify does not pass a store that run would refuse,
/// and names the folder and the way forward.
#[test]
fn a_first_commit_cut_short_is_reported_as_any_other() {
    for (batches, crashed) in [(&["2025-Q1"][..], "000001_2025-Q1"), (&["2025-Q1", "2025-Q2"], "000002_2025-Q2")] {
        let w = Workdir::with_example();
        for batch in &batches[..batches.len() - 1] {
            w.run_ok(&["run", "job.toml", "--batch", batch]);
        }
        let last = batches[batches.len() - 1];
        let out = w.run_env(&["run", "job.toml", "--batch", last], &[("VOUCHER_SETTLE_CRASH_AT", "renamed")]);
        assert_eq!(out.status.code(), None, "the process died");
        let (code, text) = verify(&w, &[]);
        assert_eq!(code, Some(3), "{text}");
        assert!(text.contains(crashed) && text.contains("quarantine"), "{text}");
        let out = w.run(&["run", "job.toml", "--batch", last]);
        assert_eq!(out.status.code(), Some(2), "run refuses it too");
    }
}

/// HEAD rolled back to Q1: the run used to delete Q2's committed folder and
/// commit it again. Now it changes nothing (exit 2), naming the folder.
#[test]
fn a_rolled_back_head_deletes_nothing() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let head_after_q1 = w.read("ledger/HEAD");
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    w.write("ledger/HEAD", head_after_q1);
    let q2 = w.read("ledger/batches/000002_2025-Q2/settlements.csv");
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("000002_2025-Q2"), "{stderr}");
    assert_eq!(w.read("ledger/batches/000002_2025-Q2/settlements.csv"), q2);
}

/// A store written in ledger format 2 (the example's two quarters, by the
/// tool before corrections) still verifies — every file replayed in its own
/// layout, byte for byte — and is continued within 2025 in this tool's
/// format (rules 9.6): the new batch reads the earlier ones in their own
/// format, and the whole store verifies.
#[test]
fn a_format_2_store_still_verifies_and_is_continued() {
    let w = Workdir::with_example();
    let fixture = crate::workdir::repo().join("fixtures/ledger-format-2");
    let status = Command::new("cp").arg("-a").arg(&fixture).arg(w.path("ledger")).status().unwrap();
    assert!(status.success());
    let (code, text) = verify(&w, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.ends_with("2 个批次验证一致 (2 batches verified)\n"), "{text}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&w.read("ledger/batches/000002_2025-Q2/manifest.json")).unwrap();
    assert_eq!(manifest["ledger_format"], 2);
    w.write("data/2025-Q3/contracts.csv", w.read("data/2025-Q2/contracts.csv"));
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q3"]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&w.read("ledger/batches/000003_2025-Q3/manifest.json")).unwrap();
    assert_eq!(manifest["ledger_format"], voucher_settle::ledger::LEDGER_FORMAT);
    assert!(w.csv("out/2025-Q3/settlements.csv").is_empty(), "every contract settled before");
    let (code, text) = verify(&w, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.ends_with("3 个批次验证一致 (3 batches verified)\n"), "{text}");
}

/// The example's first three quarters with corrections, written by the tool
/// of an older ledger format (`fixtures/ledger-format-N`): they verify byte
/// for byte, the year is continued in this tool's format (rules 9.6), the
/// fourth quarter settles the same money as a store begun in this format,
/// and the store verifies. Returns the store with the fourth quarter.
fn continue_fixture_year(format: u32) -> Workdir {
    let w = Workdir::with_corrections();
    let fixture = crate::workdir::repo().join(format!("fixtures/ledger-format-{format}"));
    let status = Command::new("cp").arg("-a").arg(&fixture).arg(w.path("ledger")).status().unwrap();
    assert!(status.success());
    let (code, text) = verify(&w, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.ends_with("3 个批次验证一致 (3 batches verified)\n"), "{text}");
    let q3: serde_json::Value = serde_json::from_slice(&w.read("ledger/batches/000003_2025-Q3/manifest.json")).unwrap();
    assert_eq!(q3["ledger_format"], format);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q4"]);
    let q4: serde_json::Value = serde_json::from_slice(&w.read("ledger/batches/000004_2025-Q4/manifest.json")).unwrap();
    assert_eq!(q4["ledger_format"], voucher_settle::ledger::LEDGER_FORMAT);
    assert_eq!(q4["outputs"].as_array().unwrap().len(), 20);
    let fresh = Workdir::with_corrections();
    for quarter in ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"] {
        fresh.run_ok(&["run", "job.toml", "--batch", quarter]);
    }
    for name in ["settlements.csv", "payouts.csv", "reversals.csv", "enterprise_usage.csv", "summary.json"] {
        let path = format!("out/2025-Q4/{name}");
        assert_eq!(w.read(&path), fresh.read(&path), "{name}: the same money in either store");
    }
    let (code, text) = verify(&w, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.ends_with("4 个批次验证一致 (4 batches verified)\n"), "{text}");
    w
}

#[test]
fn a_format_3_year_is_continued_in_the_newest_format() {
    let w = continue_fixture_year(3);
    assert!(w.path("out/2025-Q4/payouts.parquet").exists());
}

/// Format 5 as frozen (`fixtures/ledger-format-5`): its risk flags,
/// samples and Parquet footers replay byte for byte.
#[test]
fn a_format_5_year_is_continued_and_replays_byte_for_byte() {
    let w = continue_fixture_year(5);
    assert!(w.path("ledger/batches/000003_2025-Q3/sample.xlsx").exists());
    assert!(!w.csv("out/2025-Q4/sample.csv").is_empty(), "a committed batch draws its sample");
}

#[test]
fn a_format_4_year_is_continued_in_the_newest_format() {
    let w = continue_fixture_year(4);
    let summary: serde_json::Value = serde_json::from_slice(&w.read("out/2025-Q4/summary.json")).unwrap();
    assert_eq!(summary["money"]["net"], "3599.95");
    // The balance a format-4 batch left owing, read from its net (rules 10.1).
    let owing =
        w.csv("out/2025-Q4/payouts.csv").into_iter().find(|r| r["provider_id"] == "91450100MA5PRW001L").unwrap();
    let figures: Vec<&str> = ["owed_before", "owed_new", "offset_batch", "owed_after", "paid_batch"]
        .iter()
        .map(|c| owing[*c].as_str())
        .collect();
    assert_eq!(figures, ["6400.05", "0.00", "0.00", "6400.05", "3599.95"]);
}
