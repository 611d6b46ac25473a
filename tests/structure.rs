//! Hostile structure, not just hostile bytes: random workbooks (cells of
//! every kind, far-away cells, very long strings) and random Parquet files
//! (every column type, decimals of any precision and scale, nulls) as the
//! contracts input. Each run, under a 1 GiB address-space limit, ends in
//! exit 0 with balanced control totals or in exit 2 — never a crash, a
//! panic or an exhausted machine.

use polars::prelude::*;
use proptest::prelude::*;

use crate::workdir::{Workdir, binary};

const HEADER: [&str; 12] = [
    "contract_id",
    "enterprise_id",
    "provider_id",
    "product_id",
    "category",
    "service_price",
    "voucher_amount",
    "contract_amount",
    "deposit_paid",
    "balance_paid",
    "signed_on",
    "completed_on",
];

/// Runs the example's first quarter with `contracts` as its contracts file,
/// under a 1 GiB address-space limit; returns the exit code.
fn run_limited(contracts: Vec<u8>) -> (Option<i32>, Workdir, String) {
    let w = Workdir::with_example();
    w.write("data/2025-Q1/contracts.csv", contracts);
    let out = std::process::Command::new("prlimit")
        .arg(format!("--as={}", 1u64 << 30))
        .arg(binary())
        .current_dir(w.path(""))
        .args(["run", "job.toml", "--batch", "2025-Q1", "-q"])
        .output()
        .expect("prlimit (util-linux)");
    (out.status.code(), w, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_ends_well(code: Option<i32>, w: &Workdir, stderr: &str) -> Result<(), TestCaseError> {
    prop_assert!(matches!(code, Some(0) | Some(2)), "exit {:?}: {}", code, stderr);
    if code == Some(0) {
        let summary: serde_json::Value = serde_json::from_slice(&w.read("out/2025-Q1/summary.json")).unwrap();
        prop_assert_eq!(&summary["control_totals"]["rows_balance"], &serde_json::Value::Bool(true));
    } else {
        prop_assert!(w.committed().is_empty());
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum XlsxCell {
    Text(String),
    Number(f64),
    Date(u16, u8, u8),
    Bool(bool),
    Blank,
}

fn xlsx_cell() -> impl Strategy<Value = XlsxCell> {
    prop_oneof![
        "[A-Z0-9 ,.-]{0,20}".prop_map(XlsxCell::Text),
        (1usize..6000).prop_map(|n| XlsxCell::Text("长".repeat(n))),
        any::<f64>().prop_map(XlsxCell::Number),
        (0.0f64..1e7).prop_map(XlsxCell::Number),
        (1900u16..2100, 1u8..13, 1u8..29).prop_map(|(y, m, d)| XlsxCell::Date(y, m, d)),
        any::<bool>().prop_map(XlsxCell::Bool),
        Just(XlsxCell::Blank),
    ]
}

/// A sheet: how many header columns it has (some may be missing), rows of
/// random cells, and a few cells anywhere on the sheet.
type Sheet = (usize, Vec<Vec<XlsxCell>>, Vec<(u32, u16, XlsxCell)>);

fn workbook() -> impl Strategy<Value = Sheet> {
    (
        0usize..13,
        proptest::collection::vec(proptest::collection::vec(xlsx_cell(), 0..15), 0..12),
        proptest::collection::vec((0u32..1_048_576, 0u16..16_384, xlsx_cell()), 0..4),
    )
}

fn write_cell(sheet: &mut rust_xlsxwriter::Worksheet, row: u32, column: u16, cell: &XlsxCell) {
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    match cell {
        XlsxCell::Text(text) => {
            sheet.write_string(row, column, text).unwrap();
        }
        XlsxCell::Number(value) if value.is_finite() => {
            sheet.write_number(row, column, *value).unwrap();
        }
        XlsxCell::Number(_) | XlsxCell::Blank => {}
        XlsxCell::Date(y, m, d) => {
            let day = rust_xlsxwriter::ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
            sheet.write_datetime_with_format(row, column, &day, &date).unwrap();
        }
        XlsxCell::Bool(value) => {
            sheet.write_boolean(row, column, *value).unwrap();
        }
    }
}

/// A Parquet column of one of the types a typed export may use.
#[derive(Debug, Clone)]
enum ParquetColumn {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Decimal(usize, usize, Vec<Option<i128>>),
    Date(Vec<Option<i32>>),
    Datetime(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
}

fn parquet_column(rows: usize) -> impl Strategy<Value = ParquetColumn> {
    let n = rows;
    prop_oneof![
        proptest::collection::vec(proptest::option::of("[A-Z0-9.,-]{0,12}"), n).prop_map(ParquetColumn::Text),
        proptest::collection::vec(proptest::option::of(any::<i64>()), n).prop_map(ParquetColumn::Int),
        proptest::collection::vec(proptest::option::of(any::<f64>()), n).prop_map(ParquetColumn::Float),
        (1usize..39)
            .prop_flat_map(move |precision| (Just(precision), 0..=precision))
            .prop_flat_map(move |(precision, scale)| {
                let limit = 10i128.pow(precision as u32) - 1;
                (Just(precision), Just(scale), proptest::collection::vec(proptest::option::of(-limit..=limit), n))
            })
            .prop_map(|(p, s, values)| ParquetColumn::Decimal(p, s, values)),
        proptest::collection::vec(proptest::option::of(-1_000_000i32..1_000_000), n).prop_map(ParquetColumn::Date),
        proptest::collection::vec(proptest::option::of(any::<i64>()), n).prop_map(ParquetColumn::Datetime),
        proptest::collection::vec(proptest::option::of(any::<bool>()), n).prop_map(ParquetColumn::Bool),
    ]
}

fn parquet_bytes(columns: &[ParquetColumn], rows: usize) -> Vec<u8> {
    let built: Vec<Column> = columns
        .iter()
        .zip(HEADER)
        .map(|(column, name)| match column {
            ParquetColumn::Text(v) => Column::new(name.into(), v),
            ParquetColumn::Int(v) => Column::new(name.into(), v),
            ParquetColumn::Float(v) => Column::new(name.into(), v),
            ParquetColumn::Decimal(p, s, v) => {
                Int128Chunked::new(name.into(), v).into_decimal(*p, *s).unwrap().into_series().into_column()
            }
            ParquetColumn::Date(v) => Int32Chunked::new(name.into(), v).into_date().into_series().into_column(),
            ParquetColumn::Datetime(v) => Int64Chunked::new(name.into(), v)
                .into_datetime(TimeUnit::Microseconds, None)
                .into_series()
                .into_column(),
            ParquetColumn::Bool(v) => Column::new(name.into(), v),
        })
        .collect();
    let mut frame = DataFrame::new(rows, built).unwrap();
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut frame).unwrap();
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_workbook_ends_in_exit_0_or_2((header_columns, rows, anywhere) in workbook()) {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (column, name) in HEADER.iter().take(header_columns).enumerate() {
            sheet.write_string(0, column as u16, *name).unwrap();
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                write_cell(sheet, r as u32 + 1, c as u16, cell);
            }
        }
        for (row, column, cell) in &anywhere {
            write_cell(sheet, *row, *column, cell);
        }
        let (code, w, stderr) = run_limited(book.save_to_buffer().unwrap());
        assert_ends_well(code, &w, &stderr)?;
    }

    #[test]
    fn any_typed_parquet_ends_in_exit_0_or_2(
        columns in (0usize..6).prop_flat_map(|rows| proptest::collection::vec(parquet_column(rows), 12).prop_map(move |c| (rows, c)))
    ) {
        let (rows, columns) = columns;
        let (code, w, stderr) = run_limited(parquet_bytes(&columns, rows));
        assert_ends_well(code, &w, &stderr)?;
    }
}
