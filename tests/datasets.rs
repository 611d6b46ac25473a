//! Datasets in the conformance layout (policy.toml, the four registries, one
//! folder per batch with contracts.*, expected/<batch>/expected.json), run
//! batch by batch into a fresh ledger and compared with their expected
//! results — in Rust, with no Python: every contract row's outcome, code,
//! approved amount, rate limit, seq and adjustment or warning codes; the
//! registry exceptions; the payouts per provider; the batch total.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::workdir::{Workdir, binary};

/// The file of a dataset named `stem` in `dir`, whatever its format.
pub fn find(dir: &Path, stem: &str) -> PathBuf {
    ["csv", "parquet", "xlsx"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.{ext}")))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no {stem}.* in {}", dir.display()))
}

/// The batches a dataset expects, in order.
pub fn batches(dataset: &Path) -> Vec<String> {
    let mut batches: Vec<String> = std::fs::read_dir(dataset.join("expected"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    batches.sort();
    batches
}

/// Runs every batch of `dataset` in order into `work` (ledger and outputs
/// there), each with the job file a finance office would write. Panics,
/// with the tool's message, on a run that does not exit 0.
pub fn run_dataset(dataset: &Path, work: &Path) -> Vec<String> {
    let batches = batches(dataset);
    std::fs::create_dir_all(work).unwrap();
    let year = &batches[0][..4];
    for batch in &batches {
        let contracts = find(&dataset.join(batch), "contracts");
        let job = format!(
            "[job]\nservice_year = {year}\npolicy = {:?}\nledger = {:?}\noutput = {:?}\n\n[inputs]\ncontracts = {:?}\nenterprises = {:?}\ndesignations = {:?}\nproviders = {:?}\nproducts = {:?}\n",
            dataset.join("policy.toml"),
            work.join("ledger"),
            work.join("out/{batch}"),
            contracts,
            find(dataset, "enterprises"),
            find(dataset, "designations"),
            find(dataset, "providers"),
            find(dataset, "products"),
        );
        // Corrections (rules 9) and refunds (rules 10.2) when the dataset's batches have them.
        let mut job = job;
        for optional in ["corrections", "refunds"] {
            let found = ["csv", "xlsx", "parquet"]
                .map(|ext| dataset.join(batch).join(format!("{optional}.{ext}")))
                .into_iter()
                .find(|path| path.is_file());
            if let Some(path) = found {
                job.push_str(&format!("{optional} = {path:?}\n"));
            }
        }
        let job_path = work.join("job.toml");
        std::fs::write(&job_path, job).unwrap();
        let out =
            std::process::Command::new(binary()).arg("run").arg(&job_path).args(["--batch", batch]).output().unwrap();
        assert!(
            out.status.success(),
            "{} {batch}: exit {:?}: {}",
            dataset.display(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    batches
}

fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers: Vec<String> =
        reader.headers().unwrap().iter().map(|h| h.trim_start_matches('\u{feff}').to_string()).collect();
    reader.records().map(|r| headers.iter().cloned().zip(r.unwrap().iter().map(String::from)).collect()).collect()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Compares the outputs of one batch in `out` with `expected.json`; returns
/// the differences found (empty: all as expected).
pub fn compare_batch(expected: &Value, out: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let batch = text(&expected["batch"]);
    let settlements: BTreeMap<u64, BTreeMap<String, String>> =
        csv_rows(&out.join("settlements.csv")).into_iter().map(|r| (r["source_row"].parse().unwrap(), r)).collect();
    let mut errors: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut extras: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut registry: BTreeSet<(String, u64, String)> = BTreeSet::new();
    let mut corrections: BTreeSet<(u64, String)> = BTreeSet::new();
    for e in csv_rows(&out.join("exceptions.csv")) {
        let row: u64 = e["source_row"].parse().unwrap_or(0);
        if e["source"] == "corrections" {
            corrections.insert((row, e["code"].clone()));
        } else if e["source"] == "refunds" {
            // compared by `compare_owed`
        } else if e["source"] != "contracts" {
            registry.insert((e["source"].clone(), row, e["code"].clone()));
        } else if e["severity"] == "error" {
            errors.entry(row).or_default().push(e["code"].clone());
        } else {
            extras.entry(row).or_default().insert(e["code"].clone());
        }
    }
    let contracts = expected["contracts"].as_object().expect("contracts");
    for (row, want) in contracts {
        let row: u64 = row.parse().unwrap();
        let mut want_extras: BTreeSet<String> =
            want.get("warnings").and_then(Value::as_array).into_iter().flatten().map(text).collect();
        let got = settlements.get(&row);
        let got_errors = errors.get(&row).cloned().unwrap_or_default();
        let ok = match want.get("outcome") {
            Some(outcome) => {
                if text(outcome) == "SETTLED_REDUCED" {
                    want_extras.insert(text(&want["code"]));
                }
                got.is_some_and(|s| {
                    s["outcome"] == text(outcome)
                        && s["code"] == text(&want["code"])
                        && s["approved_amount"] == text(&want["approved"])
                        && s["rate_limit"] == text(&want["rate_limit"])
                        && s["seq"] == text(&want["seq"])
                        && s["contract_id"] == text(&want["contract_id"])
                }) && got_errors.is_empty()
            }
            None => got.is_none() && got_errors == [text(&want["code"])],
        };
        let got_extras = extras.get(&row).cloned().unwrap_or_default();
        if !ok || got_extras != want_extras {
            problems.push(format!(
                "{batch} contracts row {row}: want {want}, got {got:?} errors {got_errors:?} extra {got_extras:?}"
            ));
        }
    }
    for row in settlements.keys().chain(errors.keys()) {
        if !contracts.contains_key(&row.to_string()) {
            problems.push(format!("{batch} contracts row {row}: not a data row, yet reported"));
        }
    }
    let want_registry: BTreeSet<(String, u64, String)> = expected["registry_exceptions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| (text(&x["source"]), x["source_row"].as_u64().unwrap_or(0), text(&x["code"])))
        .collect();
    if registry != want_registry {
        problems.push(format!("{batch} registry exceptions: want {want_registry:?}, got {registry:?}"));
    }
    let payouts: BTreeMap<String, String> = csv_rows(&out.join("payouts.csv"))
        .into_iter()
        .filter(|p| p["approved_amount_batch"] != "0.00")
        .map(|p| (p["provider_id"].clone(), p["approved_amount_batch"].clone()))
        .collect();
    let want_payouts: BTreeMap<String, String> =
        expected["payouts"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), text(v))).collect();
    if payouts != want_payouts {
        problems.push(format!("{batch} payouts: want {want_payouts:?}, got {payouts:?}"));
    }
    if let Some(want) = expected.get("owed") {
        problems.extend(compare_owed(&batch, want, out));
    }
    if let Some(want) = expected.get("corrections") {
        problems.extend(compare_corrections(&batch, want, &corrections, out));
    }
    let total: rust_decimal::Decimal =
        settlements.values().map(|s| s["approved_amount"].parse::<rust_decimal::Decimal>().unwrap()).sum();
    if total.to_string() != text(&expected["total_approved"])
        && format!("{total:.2}") != text(&expected["total_approved"])
    {
        problems.push(format!("{batch}: total approved {total}, want {}", text(&expected["total_approved"])));
    }
    problems
}

/// Rules 9: the correction rows' exceptions (source_row, code), the
/// reversals (source_row, contract, action, amount), and per provider the
/// net payout of the batch and the year to date.
fn compare_corrections(batch: &str, want: &Value, got_exceptions: &BTreeSet<(u64, String)>, out: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let want_exceptions: BTreeSet<(u64, String)> = want["exceptions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| (x[0].as_u64().unwrap_or(0), text(&x[1])))
        .collect();
    if *got_exceptions != want_exceptions {
        problems.push(format!("{batch} correction exceptions: want {want_exceptions:?}, got {got_exceptions:?}"));
    }
    let reversals: Vec<(u64, String, String, String)> = csv_rows(&out.join("reversals.csv"))
        .into_iter()
        .map(|r| (r["source_row"].parse().unwrap(), r["contract_id"].clone(), r["action"].clone(), r["amount"].clone()))
        .collect();
    let want_reversals: Vec<(u64, String, String, String)> = want["reversals"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| (x[0].as_u64().unwrap_or(0), text(&x[1]), text(&x[2]), text(&x[3])))
        .collect();
    if reversals != want_reversals {
        problems.push(format!("{batch} reversals: want {want_reversals:?}, got {reversals:?}"));
    }
    let payouts = csv_rows(&out.join("payouts.csv"));
    for (column, key) in [("net_amount_batch", "net_payouts"), ("approved_amount_year", "year_payouts")] {
        let got: BTreeMap<String, String> =
            payouts.iter().map(|p| (p["provider_id"].clone(), p[column].clone())).collect();
        let want: BTreeMap<String, String> =
            want[key].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), text(v))).collect();
        if got != want {
            problems.push(format!("{batch} {column}: want {want:?}, got {got:?}"));
        }
    }
    problems
}

/// Amounts owed back (rules 10): the refund exceptions, the refunds applied
/// and every provider's balance and payment, as `check.py` compares them.
fn compare_owed(batch: &str, want: &Value, out: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let got: BTreeSet<(u64, String)> = csv_rows(&out.join("exceptions.csv"))
        .into_iter()
        .filter(|e| e["source"] == "refunds")
        .map(|e| (e["source_row"].parse().unwrap(), e["code"].clone()))
        .collect();
    let pairs = |v: &Value| -> Vec<Vec<String>> {
        v.as_array().into_iter().flatten().map(|x| x.as_array().unwrap().iter().map(text).collect()).collect()
    };
    let want_exceptions: BTreeSet<(u64, String)> =
        pairs(&want["exceptions"]).into_iter().map(|x| (x[0].parse().unwrap(), x[1].clone())).collect();
    if got != want_exceptions {
        problems.push(format!("{batch} refund exceptions: want {want_exceptions:?}, got {got:?}"));
    }
    let applied: Vec<Vec<String>> = csv_rows(&out.join("refunds.csv"))
        .into_iter()
        .map(|r| vec![r["source_row"].clone(), r["provider_id"].clone(), r["amount"].clone()])
        .collect();
    if applied != pairs(&want["refunds"]) {
        problems.push(format!("{batch} refunds applied: want {:?}, got {applied:?}", pairs(&want["refunds"])));
    }
    let columns = ["owed_before", "refunded_batch", "offset_batch", "owed_new", "owed_after", "paid_batch"];
    let got: BTreeMap<String, Vec<String>> = csv_rows(&out.join("payouts.csv"))
        .into_iter()
        .map(|p| (p["provider_id"].clone(), columns.iter().map(|c| p[*c].clone()).collect()))
        .collect();
    let want: BTreeMap<String, Vec<String>> = want["providers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), columns.iter().map(|c| text(&v[*c])).collect()))
        .collect();
    if got != want {
        problems.push(format!("{batch} balances and payments: want {want:?}, got {got:?}"));
    }
    problems
}

/// Runs a dataset and compares every batch with its expected results.
pub fn check_dataset(dataset: &Path, work: &Path) {
    let batches = run_dataset(dataset, work);
    let mut problems = Vec::new();
    let mut rows = 0;
    for batch in &batches {
        let expected: Value =
            serde_json::from_slice(&std::fs::read(dataset.join(format!("expected/{batch}/expected.json"))).unwrap())
                .unwrap();
        rows += expected["contracts"].as_object().map_or(0, |c| c.len());
        problems.extend(compare_batch(&expected, &work.join(format!("out/{batch}"))));
    }
    assert!(rows > 0, "{}: no expected contract rows", dataset.display());
    assert!(problems.is_empty(), "{}: {} differences:\n{}", dataset.display(), problems.len(), problems.join("\n"));
}

#[test]
fn example_dataset_matches_its_hand_computed_results() {
    let w = Workdir::new();
    check_dataset(&crate::workdir::repo().join("fixtures/example-2025"), &w.path("run"));
}

/// The checker finds a difference: an expected amount changed by a fen fails.
#[test]
fn a_wrong_expectation_is_reported() {
    let w = Workdir::new();
    let dataset = crate::workdir::repo().join("fixtures/example-2025");
    run_dataset(&dataset, &w.path("run"));
    let mut expected: Value =
        serde_json::from_slice(&std::fs::read(dataset.join("expected/2025-Q1/expected.json")).unwrap()).unwrap();
    expected["contracts"]["1"]["approved"] = Value::String("9999.99".into());
    let problems = compare_batch(&expected, &w.path("run/out/2025-Q1"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("contracts row 1"), "{problems:?}");
    // A reversal's amount off by a fen, and a net payout, are reported too.
    let mut expected: Value =
        serde_json::from_slice(&std::fs::read(dataset.join("expected/2025-Q3/expected.json")).unwrap()).unwrap();
    expected["corrections"]["reversals"][0][3] = Value::String("9999.99".into());
    expected["corrections"]["net_payouts"]["91450100MA5PRW001L"] = Value::String("-6400.04".into());
    let problems = compare_batch(&expected, &w.path("run/out/2025-Q3"));
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("reversals") && problems[1].contains("net_amount_batch"), "{problems:?}");
}
