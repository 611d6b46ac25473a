//! `year`: the annual settlement statement read from the ledger — the
//! example's four quarters with corrections, totals computed by hand.

use std::collections::BTreeMap;

use calamine::{Data, Reader, open_workbook_auto};

use crate::workdir::Workdir;

fn four_quarters() -> Workdir {
    let w = Workdir::with_corrections();
    for quarter in ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"] {
        w.run_ok(&["run", "job.toml", "--batch", quarter]);
    }
    w
}

fn cell(data: Option<&Data>) -> String {
    match data {
        Some(Data::String(s)) => s.clone(),
        Some(Data::Float(f)) => format!("{f:.2}"),
        Some(Data::Int(i)) => i.to_string(),
        Some(Data::Empty) | None => String::new(),
        Some(other) => format!("{other}"),
    }
}

/// A sheet's table: its rows below the column-name row, keyed by the names.
fn table(path: &std::path::Path, sheet: &str) -> Vec<BTreeMap<String, String>> {
    let mut book = open_workbook_auto(path).unwrap();
    let range = book.worksheet_range(sheet).unwrap();
    let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(|c| cell(Some(c))).collect()).collect();
    let names_at = rows
        .iter()
        .position(|r| r.first().is_some_and(|c| c.ends_with("_id") || c == "category" || c == "code"))
        .unwrap();
    let names = rows[names_at].clone();
    rows[names_at + 1..]
        .iter()
        .take_while(|r| !r[0].is_empty())
        .map(|r| names.iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

/// The year's totals, computed by hand from the example's expected payouts
/// and its corrections: PRW001L paid 29,000.00 + 6,400.05 + 3,599.95 +
/// 10,000.00 and took back 10,000.00 (Q3) and 6,400.05 (Q4) = 32,599.95;
/// PRW002P paid 45,000.01 + 39,999.99 + 35,000.00 and took back 30,000.00
/// (Q3) = 90,000.00; the year 169,000.00 − 46,400.05 = 122,599.95.
#[test]
fn the_year_adds_up_to_the_hand_computed_totals() {
    let w = four_quarters();
    let printed = w.run_ok(&["year", "ledger", "--year", "2025", "--out", "year"]);
    assert!(printed.contains("4 batches"), "{printed}");
    let book = w.path("year/year-2025.xlsx");

    let batches = table(&book, "年度汇总");
    let ids: Vec<&str> = batches.iter().map(|b| b["batch_id"].as_str()).collect();
    assert_eq!(ids, ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "年度合计 year"]);
    for b in &batches[..4] {
        let settled: f64 = w
            .csv(&format!("out/{}/settlements.csv", b["batch_id"]))
            .iter()
            .map(|s| s["approved_amount"].parse::<f64>().unwrap())
            .sum();
        assert_eq!(b["approved"], format!("{settled:.2}"), "{}: the sheet = the batch's settlements", b["batch_id"]);
    }
    let year = &batches[4];
    assert_eq!(
        (year["approved"].as_str(), year["reversed"].as_str(), year["net"].as_str()),
        ("169000.00", "46400.05", "122599.95")
    );

    let providers = table(&book, "服务商年度结算");
    let by_id: BTreeMap<&str, &str> =
        providers.iter().map(|p| (p["provider_id"].as_str(), p["year_total"].as_str())).collect();
    assert_eq!(by_id, BTreeMap::from([("91450100MA5PRW001L", "32599.95"), ("91450100MA5PRW002P", "90000.00")]));
    let prw001l = providers.iter().find(|p| p["provider_id"] == "91450100MA5PRW001L").unwrap();
    assert_eq!(prw001l["net_2025-Q3"], "-6400.05", "3,599.95 paid − 10,000.00 clawed back");
    assert_eq!(prw001l["cap_remaining"], "4967400.05");

    let enterprises = table(&book, "企业年度用券");
    let used: BTreeMap<&str, &str> =
        enterprises.iter().map(|e| (e["enterprise_id"].as_str(), e["year_total"].as_str())).collect();
    assert_eq!(
        used,
        BTreeMap::from([
            ("91450100MA5KEX001C", "45000.00"),
            ("91450100MA5KEX002F", "38599.95"),
            ("91450200MA5KEX003P", "39000.00"),
        ])
    );
    let categories = table(&book, "类别统计");
    let contracts: u64 = categories.iter().map(|c| c["contracts"].parse::<f64>().unwrap() as u64).sum();
    let settled_rows: usize = ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
        .iter()
        .map(|q| w.csv(&format!("out/{q}/settlements.csv")).len())
        .sum();
    assert_eq!(contracts as usize, settled_rows);
    let codes = table(&book, "异常趋势");
    assert!(codes.iter().any(|c| c["code"] == "E_CLAWED_BACK" && c["year_total"] == "2.00"), "{codes:?}");

    let html = String::from_utf8(w.read("year/year-2025.html")).unwrap();
    assert!(html.contains("122,599.95") && html.contains("name=\"viewport\""));
    let parquet = w.read("year/year-2025-providers.parquet");
    use polars::prelude::*;
    let frame = ParquetReader::new(std::io::Cursor::new(parquet)).finish().unwrap();
    assert_eq!(frame.column("year_total").unwrap().dtype(), &DataType::Decimal(18, 2));
}

/// The command only reads: the store's files are unchanged byte for byte,
/// and the same store gives the same bytes again.
#[test]
fn the_year_only_reads_and_is_deterministic() {
    let w = four_quarters();
    let snapshot = |w: &Workdir| -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut stack = vec![w.path("ledger")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.insert(path.display().to_string(), std::fs::read(&path).unwrap());
                }
            }
        }
        files
    };
    let before = snapshot(&w);
    w.run_ok(&["year", "ledger", "--year", "2025", "--out", "a"]);
    w.run_ok(&["year", "ledger", "--year", "2025", "--out", "b"]);
    assert!(before == snapshot(&w), "the ledger is unchanged");
    for name in ["year-2025.xlsx", "year-2025.html", "year-2025-providers.parquet", "year-2025-enterprises.parquet"] {
        assert_eq!(w.read(&format!("a/{name}")), w.read(&format!("b/{name}")), "{name}");
    }
}

/// A store that fails verify's checks for the year is refused, nothing
/// written; a year without a committed batch is exit 2.
#[test]
fn a_damaged_store_or_an_empty_year_is_refused() {
    let w = four_quarters();
    let out = w.run(&["year", "ledger", "--year", "2026", "--out", "y"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let path = "ledger/batches/000002_2025-Q2/payouts.csv";
    let text = String::from_utf8(w.read(path)).unwrap();
    w.write(path, text.replacen("39999.99", "49999.99", 1));
    let out = w.run(&["year", "ledger", "--year", "2025", "--out", "y"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(2 | 3)), "{stderr}");
    assert!(stderr.contains("payouts.csv"), "{stderr}");
    assert!(!w.path("y").exists(), "nothing written");
}

/// One statement per provider of the batch: each lists exactly its
/// contracts — settled ones with the batch's approved amounts, refused ones
/// with their codes — and the batch's payout in capitals; `--provider`
/// writes one; the same store gives the same bytes.
#[test]
fn each_provider_statement_lists_exactly_its_contracts() {
    let w = four_quarters();
    let printed = w.run_ok(&["statements", "ledger", "--batch", "2025-Q1", "--out", "st"]);
    assert!(printed.contains("3 provider statements"), "{printed}");
    // Which provider each contract of the export names.
    let export = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(export.as_bytes());
    let provider_of: BTreeMap<String, String> = reader
        .records()
        .filter_map(|r| r.ok().and_then(|r| Some((r.get(0)?.trim().to_string(), r.get(2)?.trim().to_string()))))
        .collect();
    let settlements = w.csv("out/2025-Q1/settlements.csv");
    let refused: Vec<_> = w
        .csv("out/2025-Q1/exceptions.csv")
        .into_iter()
        .filter(|e| e["source"] == "contracts" && e["severity"] == "error")
        .collect();
    let payouts = w.csv("out/2025-Q1/payouts.csv");
    for entry in std::fs::read_dir(w.path("st")).unwrap() {
        let path = entry.unwrap().path();
        let provider = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut book = open_workbook_auto(&path).unwrap();
        let range = book.worksheet_range("对账单").unwrap();
        let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(|c| cell(Some(c))).collect()).collect();
        let names = rows.iter().position(|r| r[0] == "contract_id").unwrap();
        let listed: BTreeMap<String, (String, String)> = rows[names + 1..]
            .iter()
            .take_while(|r| !r[0].is_empty())
            .map(|r| (r[0].clone(), (r[4].clone(), r[6].clone())))
            .collect();
        let mut expected: BTreeMap<String, (String, String)> = settlements
            .iter()
            .filter(|s| s["provider_id"] == provider)
            .map(|s| (s["contract_id"].clone(), (s["approved_amount"].clone(), s["code"].clone())))
            .collect();
        for e in &refused {
            if provider_of.get(&e["contract_id"]) == Some(&provider) {
                expected.insert(e["contract_id"].clone(), ("0.00".to_string(), e["code"].clone()));
            }
        }
        assert!(!expected.is_empty(), "{provider}");
        assert_eq!(listed, expected, "{provider}");
        let all: String = rows.iter().flatten().cloned().collect::<Vec<_>>().join("\n");
        if let Some(p) = payouts.iter().find(|p| p["provider_id"] == provider) {
            let net: f64 = p["net_amount_batch"].parse().unwrap();
            assert!(all.contains("大写：人民币"), "{provider}: {all}");
            assert!(net > 0.0);
        }
    }
    w.run_ok(&["statements", "ledger", "--batch", "2025-Q1", "--out", "one", "--provider", "91450100MA5PRW001L"]);
    let one: Vec<_> = std::fs::read_dir(w.path("one")).unwrap().collect();
    assert_eq!(one.len(), 1);
    assert_eq!(w.read("one/91450100MA5PRW001L.xlsx"), w.read("st/91450100MA5PRW001L.xlsx"), "same bytes again");
    let out = w.run(&["statements", "ledger", "--batch", "2025-Q1", "--out", "none", "--provider", "NOPE"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
