//! The `run` command end to end: the example's two quarters, the ledger's
//! carry-over, dry runs, re-runs, job validation and determinism.

use std::collections::BTreeMap;

use crate::workdir::{P1, P2, Workdir, read_csv};

const OUTPUTS: [&str; 20] = [
    "settlements.csv",
    "settlements.parquet",
    "exceptions.csv",
    "exceptions.parquet",
    "payouts.csv",
    "enterprise_usage.csv",
    "summary.json",
    "settlement.xlsx",
    "report.html",
    "reversals.csv",
    "reversals.parquet",
    "payouts.parquet",
    "enterprise_usage.parquet",
    "refunds.csv",
    "refunds.parquet",
    "risk.csv",
    "risk.parquet",
    "sample.csv",
    "sample.parquet",
    "sample.xlsx",
];

fn payouts(w: &Workdir, batch: &str) -> BTreeMap<String, (String, String, String)> {
    w.csv(&format!("out/{batch}/payouts.csv"))
        .into_iter()
        .map(|r| {
            (
                r["provider_id"].clone(),
                (r["approved_amount_batch"].clone(), r["approved_amount_year"].clone(), r["cap_remaining"].clone()),
            )
        })
        .collect()
}

fn summary(w: &Workdir, batch: &str) -> serde_json::Value {
    serde_json::from_slice(&w.read(&format!("out/{batch}/summary.json"))).unwrap()
}

#[test]
fn example_two_quarters_carry_over() {
    let w = Workdir::with_example();
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert!(printed.contains("核定金额 approved 74000.01"), "{printed}");
    assert!(printed.contains("14 = 6 + 8"), "rows balance printed: {printed}");
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
    let q1 = payouts(&w, "2025-Q1");
    assert_eq!(q1[P1], ("29000.00".into(), "29000.00".into(), "4971000.00".into()));
    assert_eq!(q1[P2], ("45000.01".into(), "45000.01".into(), "4954999.99".into()));

    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    assert_eq!(w.committed(), ["000001_2025-Q1", "000002_2025-Q2"]);
    let q2 = payouts(&w, "2025-Q2");
    assert_eq!(q2[P1], ("6400.05".into(), "35400.05".into(), "4964599.95".into()));
    assert_eq!(q2[P2], ("39999.99".into(), "85000.00".into(), "4915000.00".into()));
    let s = summary(&w, "2025-Q2");
    assert_eq!(s["approved_total"], "46400.04");
    assert_eq!(s["codes"]["E_ALREADY_SETTLED"], 1);
    assert_eq!(s["codes"]["E_SETTLED_CHANGED"], 1);
    assert_eq!(s["codes"]["E_ITEM_CAP_EXHAUSTED"], 1);
    assert_eq!(s["codes"]["E_QUOTA_EXHAUSTED"], 1);

    // The quota of E1 was used up in Q1: its Q2 usage row starts at 50,000.
    let usage = w.csv("out/2025-Q2/enterprise_usage.csv");
    let e1 = usage.iter().find(|u| u["enterprise_id"] == crate::workdir::E1).unwrap();
    assert_eq!(
        (e1["used_before"].as_str(), e1["used_batch"].as_str(), e1["remaining"].as_str()),
        ("50000.00", "0.00", "0.00")
    );
    let reduced = w.csv("out/2025-Q2/settlements.csv").into_iter().find(|r| r["contract_id"] == "C-2025-0020").unwrap();
    assert_eq!(
        (reduced["item_used_before"].as_str(), reduced["item_used_after"].as_str(), reduced["shortfall"].as_str()),
        ("15000.01", "30000.00", "15000.01")
    );
}

#[test]
fn manifest_hashes_every_file_and_chains_batches() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    let first_manifest = w.read("ledger/batches/000001_2025-Q1/manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&w.read("ledger/batches/000002_2025-Q2/manifest.json")).unwrap();
    let sha = |bytes: &[u8]| {
        use sha2::Digest;
        format!("sha256:{:x}", sha2::Sha256::digest(bytes))
    };
    assert_eq!(manifest["prev_manifest_sha256"], sha(&first_manifest));
    assert_eq!(manifest["batch_id"], "2025-Q2");
    assert_eq!(manifest["cutoff"], "2025-06-30");
    let outputs = manifest["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), OUTPUTS.len());
    for entry in outputs {
        let name = entry["name"].as_str().unwrap();
        let in_ledger = w.read(&format!("ledger/batches/000002_2025-Q2/{name}"));
        assert_eq!(entry["sha256"], sha(&in_ledger), "{name}");
        assert_eq!(in_ledger, w.read(&format!("out/2025-Q2/{name}")), "{name} same in output folder and ledger");
    }
    let inputs = manifest["inputs"].as_array().unwrap();
    let contracts = inputs.iter().find(|i| i["name"] == "contracts").unwrap();
    assert_eq!(contracts["rows"], 9);
    assert_eq!(contracts["sha256"], sha(&w.read("data/2025-Q2/contracts.csv")));
    assert_eq!(manifest["policy"]["sha256"], sha(&w.read("policy.toml")));
}

#[test]
fn dry_run_commits_nothing() {
    let w = Workdir::with_example();
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1", "--dry-run"]);
    assert!(printed.contains("dry run"), "{printed}");
    assert!(w.committed().is_empty());
    assert_eq!(w.csv("out/试算/2025-Q1/settlements.csv").len(), 6);
    // A later real run settles Q1 as if the dry run never happened.
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(w.csv("out/2025-Q1/settlements.csv").len(), 6);
}

#[test]
fn rerun_identical_is_a_no_op_and_changed_inputs_are_refused() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let ledger_before = w.read("ledger/batches/000001_2025-Q1/manifest.json");
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert!(printed.contains("already committed"), "{printed}");
    assert_eq!(w.committed(), ["000001_2025-Q1"]);

    let mut contracts = w.read("data/2025-Q1/contracts.csv");
    contracts.extend_from_slice(b"C-2025-0099,x\n");
    w.write("data/2025-Q1/contracts.csv", contracts);
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already committed with different inputs"));
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
    assert_eq!(w.read("ledger/batches/000001_2025-Q1/manifest.json"), ledger_before);
}

#[test]
fn earlier_cutoff_than_committed_is_refused() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    w.write("data/late/contracts.csv", w.read("data/2025-Q1/contracts.csv"));
    let out = w.run(&["run", "job.toml", "--batch", "late", "--cutoff", "2025-03-31"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("earlier than committed batch 2025-Q2"), "{stderr}");
    assert_eq!(w.committed(), ["000001_2025-Q1", "000002_2025-Q2"]);
}

#[test]
fn job_and_policy_errors_exit_2_naming_the_key() {
    let cases: [(&str, &str, &str, &str); 5] = [
        ("job.toml", "ledger = \"ledger\"", "ledger = \"ledger\"\nledgr = \"x\"", "ledgr"),
        ("job.toml", "data/providers.csv", "data/no-such-file.csv", "inputs.providers"),
        ("policy.toml", "rate = \"0.80\"", "rate = \"1.20\"", "categories.diagnostic.rate"),
        ("policy.toml", "cap = \"10000\"", "cap = \"-10000\"", "categories.diagnostic.cap"),
        ("policy.toml", "[scheme]", "[scheme]\nbogus = \"1\"", "bogus"),
    ];
    for (file, from, to, want) in cases {
        let w = Workdir::with_example();
        let text = String::from_utf8(w.read(file)).unwrap();
        assert!(text.contains(from), "{from}");
        w.write(file, text.replacen(from, to, 1));
        let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {stderr}");
        assert!(stderr.contains(want), "{to}: message names {want}: {stderr}");
        assert!(stderr.contains(file) || file == "job.toml", "{stderr}");
        assert!(w.committed().is_empty());
        assert!(!w.path("out/2025-Q1").exists(), "nothing written");
    }
}

type Rows = Vec<BTreeMap<String, String>>;

/// Settlements with the source_row column taken out, and exceptions as a
/// sorted list without it: what must not depend on the input's row order.
fn order_free(w: &Workdir, batch: &str) -> (Rows, Rows) {
    let strip = |rows: Vec<BTreeMap<String, String>>| -> Vec<BTreeMap<String, String>> {
        rows.into_iter()
            .map(|mut r| {
                r.remove("source_row");
                r
            })
            .collect()
    };
    let settlements = strip(w.csv(&format!("out/{batch}/settlements.csv")));
    let mut exceptions = strip(w.csv(&format!("out/{batch}/exceptions.csv")));
    exceptions.sort();
    (settlements, exceptions)
}

#[test]
fn shuffled_input_gives_the_same_results() {
    let w = Workdir::with_example();
    let v = Workdir::with_example();
    let text = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let header = lines.remove(0);
    lines.reverse();
    lines.rotate_left(3);
    v.write("data/2025-Q1/contracts.csv", format!("{header}\n{}\n", lines.join("\n")));
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    v.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(order_free(&w, "2025-Q1"), order_free(&v, "2025-Q1"));
    for name in ["payouts.csv", "enterprise_usage.csv", "summary.json"] {
        assert_eq!(w.read(&format!("out/2025-Q1/{name}")), v.read(&format!("out/2025-Q1/{name}")), "{name}");
    }
}

#[test]
fn outputs_byte_identical_for_any_thread_count() {
    let runs: Vec<Workdir> = ["1", "2"]
        .iter()
        .map(|threads| {
            let w = Workdir::with_example();
            for batch in ["2025-Q1", "2025-Q2"] {
                let out = w.run_env(&["run", "job.toml", "--batch", batch], &[("RAYON_NUM_THREADS", threads)]);
                assert_eq!(out.status.code(), Some(0));
            }
            w
        })
        .collect();
    for batch in ["2025-Q1", "2025-Q2"] {
        for name in OUTPUTS {
            // A later batch's payout list and Parquet footers name the
            // manifest it follows, whose creation time differs between the
            // two stores; their rows are compared through the CSV twins.
            if batch == "2025-Q2" && (name == "settlement.xlsx" || name.ends_with(".parquet")) {
                continue;
            }
            let path = format!("out/{batch}/{name}");
            assert_eq!(runs[0].read(&path), runs[1].read(&path), "{path}");
        }
    }
}

#[test]
fn every_contract_row_in_exactly_one_of_settlements_or_errors() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let settled: Vec<String> = w.csv("out/2025-Q1/settlements.csv").iter().map(|r| r["source_row"].clone()).collect();
    let errors: Vec<String> = read_csv(&w.path("out/2025-Q1/exceptions.csv"))
        .into_iter()
        .filter(|r| r["source"] == "contracts" && r["severity"] == "error")
        .map(|r| r["source_row"].clone())
        .collect();
    let mut all: Vec<u64> = settled.iter().chain(&errors).map(|r| r.parse().unwrap()).collect();
    all.sort();
    assert_eq!(all, (1..=14).collect::<Vec<u64>>());
}

/// From ledger format 4 the payout list and quota use are Parquet files as
/// well, money as Decimal(18, 2); in every Parquet table an absent value is
/// null, never empty text, and each table holds what its CSV file holds.
#[test]
fn every_table_is_parquet_with_nulls_for_absent_values() {
    use polars::prelude::*;
    let w = Workdir::with_corrections();
    for quarter in ["2025-Q1", "2025-Q2"] {
        w.run_ok(&["run", "job.toml", "--batch", quarter]);
    }
    // The enterprise whose contract Q3 claws back leaves the registry: its
    // usage row has no tier or quota.
    let registry = String::from_utf8(w.read("data/enterprises.csv")).unwrap();
    let kept: Vec<&str> = registry.lines().filter(|l| !l.starts_with("91450100MA5KEX001C")).collect();
    w.write("data/enterprises.csv", kept.join("\n") + "\n");
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q3"]);
    for table in ["settlements", "exceptions", "payouts", "enterprise_usage", "reversals"] {
        let csv = w.csv(&format!("out/2025-Q3/{table}.csv"));
        let bytes = w.read(&format!("out/2025-Q3/{table}.parquet"));
        let frame = ParquetReader::new(std::io::Cursor::new(bytes.clone())).finish().unwrap();
        let text = voucher_settle::frame::read_stored(&bytes, &[]).unwrap();
        assert_eq!(frame.height(), csv.len(), "{table}");
        assert!(!csv.is_empty(), "{table}: the example's third quarter has rows");
        let header: Vec<&str> = csv[0].keys().map(String::as_str).collect();
        let mut parquet_header: Vec<&str> = text.names().collect();
        parquet_header.sort();
        assert_eq!(header, parquet_header, "{table}: the same columns");
        for name in header {
            let column = frame.column(name).unwrap();
            let empty = csv.iter().filter(|r| r[name].is_empty()).count();
            assert_eq!(column.null_count(), empty, "{table}.{name}: null exactly where the CSV is empty");
            if name.contains("amount") || name.ends_with("_before") || name == "quota" {
                assert_eq!(column.dtype(), &DataType::Decimal(18, 2), "{table}.{name}");
            }
            for (at, row) in csv.iter().enumerate() {
                let value = &text.shown(at, name);
                let written = &row[name];
                // A CSV text cell a spreadsheet would run as a formula carries a leading '.
                assert!(
                    written == value || *written == format!("'{value}"),
                    "{table}.{name}: {written:?} vs {value:?}"
                );
            }
        }
    }
    let usage = w.csv("out/2025-Q3/enterprise_usage.csv");
    assert!(usage.iter().any(|r| r["tier"].is_empty()), "an enterprise no longer listed: a null tier");
    let exceptions = w.csv("out/2025-Q3/exceptions.csv");
    assert!(exceptions.iter().any(|r| r["contract_id"].is_empty()), "a registry row: a null contract id");
}
