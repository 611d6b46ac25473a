//! Property tests (a bounded number of cases): no input makes the readers or
//! the row checks panic, and every row of a random contracts file lands in
//! exactly one of settlements or the error rows.

use std::path::Path;

use proptest::prelude::*;
use voucher_settle::engine::{BatchTables, CarryIn, settle_batch};
use voucher_settle::ingest::{InputOptions, parse_table};
use voucher_settle::rules::codes::{Severity, Source};
use voucher_settle::rules::policy::parse_policy;
use voucher_settle::schema::input as columns;

use crate::workdir::{E1, E2, E3, P1, P2};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary bytes, as CSV, as a would-be workbook and as would-be Parquet:
    /// a table or an error, never a panic.
    #[test]
    fn readers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600), header in any::<bool>()) {
        let mut bytes = if header { b"contract_id,enterprise_id\n".to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&body);
        for prefix in [&b""[..], b"PK\x03\x04", b"PAR1"] {
            let mut input = prefix.to_vec();
            input.extend_from_slice(&bytes);
            let _ = parse_table(Path::new("x.csv"), &input, &columns::CONTRACTS, &InputOptions::default());
            let _ = parse_table(Path::new("x.csv"), &input, &columns::ENTERPRISES, &InputOptions::default());
        }
    }
}

/// Field values, good and bad, that a contracts export may hold.
fn field(column: usize) -> BoxedStrategy<String> {
    let pick = |values: Vec<&'static str>| proptest::sample::select(values).prop_map(String::from).boxed();
    match column {
        0 => prop_oneof![pick(vec!["C1", "C2", "C3", " C1 ", "", "合同-1"]), "[A-Z]{1,3}[0-9]{0,3}"].boxed(),
        1 => pick(vec![E1, E2, E3, P1, "91450100MA5KEX001D", "", "x"]),
        2 => pick(vec![P1, P2, E1, "", "914501"]),
        3 => pick(vec!["D001", "F001", "T001", "M001", "Z9", ""]),
        4 => pick(vec!["", "diagnostic", "financing", "诊断服务", "咨询", "DIAGNOSTIC"]),
        5..=9 => prop_oneof![
            pick(vec!["0", "0.01", "¥1,000.00", "-5", "1e3", "abc", "", "12,50.00", "99999999999999999"]),
            (0u32..60_000, 0u32..100).prop_map(|(y, f)| format!("{y}.{f:02}")),
        ]
        .boxed(),
        _ => pick(vec![
            "2025-01-05",
            "2025/2/3",
            "2025年3月4日",
            "2024-12-31",
            "2025-02-30",
            "",
            "2025-03-01 10:00",
            "2025-05-01",
        ]),
    }
}

fn contract_line() -> BoxedStrategy<String> {
    prop_oneof![
        8 => (0..12).map(field).collect::<Vec<_>>().prop_map(|f| f.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(",")),
        1 => proptest::collection::vec(field(0), 1..15).prop_map(|f| f.join(",")),
        1 => Just(",,,   ,,,,,,,,".to_string()),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn every_row_lands_exactly_once(lines in proptest::collection::vec(contract_line(), 0..40)) {
        let example = crate::workdir::repo().join("fixtures/example-2025");
        let registry = |name: &str, spec: &[columns::ColumnSpec]| {
            let path = example.join(name);
            parse_table(&path, &std::fs::read(&path).unwrap(), spec, &InputOptions::default()).unwrap()
        };
        let header = columns::CONTRACTS.iter().map(|c| c.name).collect::<Vec<_>>().join(",");
        let text = format!("{header}\n{}\n", lines.join("\n"));
        let contracts = parse_table(Path::new("contracts.csv"), text.as_bytes(), &columns::CONTRACTS, &InputOptions::default()).unwrap();
        let (enterprises, designations) = (registry("enterprises.csv", &columns::ENTERPRISES), registry("designations.csv", &columns::DESIGNATIONS));
        let (providers, products) = (registry("providers.csv", &columns::PROVIDERS), registry("products.csv", &columns::PRODUCTS));
        let rows = contracts.len() as u64;
        let tables = BatchTables { contracts, enterprises, designations, providers, products };
        let policy = parse_policy(&std::fs::read_to_string(crate::workdir::repo().join("jobs/policy/gx-2025.toml")).unwrap()).unwrap();
        let cutoff = chrono::NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
        let outcome = settle_batch(tables, Default::default(), &policy, "P", 2025, cutoff, &CarryIn::default(), voucher_settle::ledger::Format::NEWEST.rules()).unwrap();
        let mut landed: Vec<u64> = outcome.settlements.iter().map(|s| s.source_row).collect();
        landed.extend(outcome.exceptions.iter().filter(|e| e.source == Source::Contracts && e.severity() == Severity::Error).map(|e| e.source_row));
        landed.sort();
        prop_assert_eq!(landed, (1..=rows).collect::<Vec<u64>>());
        prop_assert!(outcome.control.all_hold());
    }
}
