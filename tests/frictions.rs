//! What clerks, auditors and operators trip over: a Parquet file that says
//! whose it is, a file most of whose rows fail one check, printouts.

use crate::workdir::Workdir;

/// The key–value pairs of a Parquet file's footer, as text (the footer is
/// Thrift: each key and value is stored as its length and its bytes).
fn footer_has(bytes: &[u8], key: &str, value: &str) -> bool {
    let pair = |text: &str| {
        let mut encoded = vec![text.len() as u8];
        encoded.extend_from_slice(text.as_bytes());
        encoded
    };
    let (key, value) = (pair(key), pair(value));
    let at = bytes.windows(key.len()).position(|w| w == key.as_slice());
    at.is_some_and(|at| bytes[at..].windows(value.len()).take(64).any(|w| w == value.as_slice()))
}

/// Every Parquet file of a batch names its batch, place in the store, the
/// manifest it follows, format, tool version and whether it is committed;
/// a dry run's says dry_run.
#[test]
fn every_parquet_file_says_whose_it_is_and_whether_it_is_committed() {
    let w = Workdir::with_refunds();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2", "--dry-run"]);
    let head = String::from_utf8(w.read("ledger/batches/000001_2025-Q1/manifest.json")).unwrap();
    let q1 = format!("sha256:{}", sha256(head.as_bytes()));
    for name in ["settlements", "exceptions", "payouts", "enterprise_usage", "reversals", "refunds"] {
        let committed = w.read(&format!("out/2025-Q1/{name}.parquet"));
        assert!(footer_has(&committed, "voucher_settle.batch_id", "2025-Q1"), "{name}");
        assert!(footer_has(&committed, "voucher_settle.sequence", "1"), "{name}");
        assert!(footer_has(&committed, "voucher_settle.status", "committed"), "{name}");
        assert!(footer_has(&committed, "voucher_settle.ledger_format", "5"), "{name}");
        let dry = w.read(&format!("out/试算/2025-Q2/{name}.parquet"));
        assert!(footer_has(&dry, "voucher_settle.status", "dry_run"), "{name}");
        assert!(footer_has(&dry, "voucher_settle.sequence", "2"), "{name}");
        assert!(footer_has(&dry, "voucher_settle.prev_manifest_sha256", &q1), "{name}");
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// A registry mapped to the wrong columns still settles (exceptions are
/// data), but the printed summary, the log and 汇总 say in one line that
/// most of its rows fail one check, and why that usually happens.
#[test]
fn a_file_most_of_whose_rows_fail_one_check_is_named() {
    let w = Workdir::with_example();
    // An export whose dates came out as Excel serial numbers.
    let providers = String::from_utf8(w.read("data/providers.csv")).unwrap();
    let lines: Vec<String> = providers
        .lines()
        .enumerate()
        .map(|(at, line)| {
            let mut fields: Vec<&str> = line.split(',').collect();
            if at > 0 {
                fields[3] = "45292";
            }
            fields.join(",")
        })
        .collect();
    let rows = lines.len() - 1;
    w.write("data/providers.csv", lines.join("\n"));
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = format!("providers 有 {rows}/{rows} 行未通过同一检查 R_FIELD_INVALID（字段 signed_from）");
    let line = line.as_str();
    assert!(stdout.contains(&format!("⚠ 注意 {line}")), "{stdout}");
    assert!(stderr.contains("WARN") && stderr.contains(line), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&w.read("out/2025-Q1/summary.json")).unwrap();
    assert!(summary["alerts"][0].as_str().unwrap().starts_with(line));
    let mut book = calamine::open_workbook_auto(w.path("out/2025-Q1/settlement.xlsx")).unwrap();
    use calamine::Reader;
    let sheet = book.worksheet_range("汇总").unwrap();
    assert!(sheet.rows().any(|r| r[0].to_string().starts_with(&format!("⚠ 注意 {line}"))));
}
