//! `synth`: same seed, same bytes; every row-check code shows up; the
//! dataset settles, commits and verifies.

use crate::workdir::Workdir;

#[test]
fn same_seed_same_bytes_and_every_code_appears() {
    let w = Workdir::new();
    for dir in ["a", "b"] {
        w.run_ok(&[
            "synth",
            "--out",
            dir,
            "--contracts",
            "4000",
            "--seed",
            "42",
            "--error-rate",
            "0.4",
            "--quarters",
            "2",
        ]);
    }
    for name in [
        "enterprises.csv",
        "designations.csv",
        "providers.csv",
        "products.csv",
        "job.toml",
        "2025-Q1/contracts.csv",
        "2025-Q2/contracts.csv",
    ] {
        assert_eq!(w.read(&format!("a/{name}")), w.read(&format!("b/{name}")), "{name}");
    }
    w.run_ok(&["synth", "--out", "c", "--contracts", "4000", "--seed", "43", "--error-rate", "0.4", "--quarters", "2"]);
    assert_ne!(w.read("a/2025-Q1/contracts.csv"), w.read("c/2025-Q1/contracts.csv"));

    let mut codes = std::collections::BTreeSet::new();
    for batch in ["2025-Q1", "2025-Q2"] {
        w.run_ok(&["run", "a/job.toml", "--batch", batch]);
        for row in w.csv(&format!("a/out/{batch}/exceptions.csv")) {
            codes.insert(row["code"].clone());
        }
    }
    let row_checks = [
        "E_ROW_MALFORMED",
        "E_FIELD_MISSING",
        "E_DUPLICATE_ROW",
        "E_DUPLICATE_CONFLICT",
        "E_BAD_USCC",
        "E_FIELD_INVALID",
        "E_ALREADY_SETTLED",
        "E_SETTLED_CHANGED",
        "E_OTHER_SERVICE_YEAR",
        "E_NOT_COMPLETED",
        "E_DATE_ORDER",
        "E_AFTER_CUTOFF",
        "E_UNKNOWN_ENTERPRISE",
        "E_NOT_MANUFACTURING",
        "E_NOT_ABOVE_SCALE",
        "E_LARGE_ENTERPRISE",
        "E_UNKNOWN_PROVIDER",
        "E_SELF_DEALING",
        "E_PROVIDER_REVOKED",
        "E_PROVIDER_SUSPENDED",
        "E_PROVIDER_NOT_SIGNED",
        "E_UNKNOWN_PRODUCT",
        "E_PRODUCT_PROVIDER_MISMATCH",
        "E_CATEGORY_MISMATCH",
        "E_NO_CLAIM",
        "E_AMOUNT_MISMATCH",
        "E_DEPOSIT_SHORT",
        "E_BALANCE_UNPAID",
        "W_OVERPAID",
        "R_FIELD_INVALID",
        "R_DUPLICATE_ROW",
        "R_DUPLICATE_CONFLICT",
        "R_UNKNOWN_DESIGNATION",
    ];
    let caps = ["W_OVER_RATE", "W_ITEM_CAP", "W_ENTERPRISE_QUOTA", "E_ITEM_CAP_EXHAUSTED", "E_QUOTA_EXHAUSTED"];
    for code in row_checks.iter().chain(&caps) {
        assert!(codes.contains(*code), "{code} missing from {codes:?}");
    }
    assert!(w.run_ok(&["verify", "a/ledger"]).ends_with("2 个批次验证一致 (2 batches verified)\n"));
}
