//! Hostile structure, not just hostile bytes: random workbooks (cells of
//! every kind, far-away cells, very long strings, shared strings declaring
//! any count or holding a huge string), ODS files with tables nested in
//! cells, random Parquet files (every column type, decimals of any
//! precision and scale, nulls) and damaged ones, as the contracts input. Each run, under a 1 GiB address-space limit, ends in
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
    prop_assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{}", stderr);
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

/// The workbook with its shared strings changed: `declared` as their
/// `uniqueCount` (calamine reserves room for that many up front), and one
/// more string of `padding` bytes (which deflates to almost nothing).
fn with_shared_strings(book: &[u8], declared: Option<u64>, padding: usize) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut archive = ::zip::ZipArchive::new(std::io::Cursor::new(book)).unwrap();
    let mut out = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = ::zip::write::SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Deflated);
    for index in 0..archive.len() {
        let mut part = archive.by_index(index).unwrap();
        let name = part.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        part.read_to_end(&mut bytes).unwrap();
        out.start_file(name.as_str(), deflated).unwrap();
        if name != "xl/sharedStrings.xml" {
            out.write_all(&bytes).unwrap();
            continue;
        }
        let text = String::from_utf8(bytes).unwrap();
        let text = match declared {
            Some(count) => {
                let at = text.find("uniqueCount=\"").unwrap() + "uniqueCount=\"".len();
                let end = at + text[at..].find('"').unwrap();
                format!("{}{count}{}", &text[..at], &text[end..])
            }
            None => text,
        };
        let (head, tail) = text.split_at(text.rfind("</sst>").unwrap());
        out.write_all(head.as_bytes()).unwrap();
        out.write_all(b"<si><t>").unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for start in (0..padding).step_by(chunk.len()) {
            out.write_all(&chunk[..chunk.len().min(padding - start)]).unwrap();
        }
        out.write_all(b"</t></si>").unwrap();
        out.write_all(tail.as_bytes()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// An ODS file: the header row, then rows whose cells hold text or tables
/// nested to some depth, each table with repeat counts as given.
fn nested_ods(nesting: &[(u8, u32, u32)]) -> Vec<u8> {
    use std::io::Write;
    let cell = |text: &str| {
        format!(r#"<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>"#)
    };
    let mut table: String = format!("<table:table-row>{}</table:table-row>", HEADER.map(cell).concat());
    for &(depth, rows, columns) in nesting {
        let mut inner = format!(
            r#"<table:table-row table:number-rows-repeated="{rows}"><table:table-cell table:number-columns-repeated="{columns}" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>"#
        );
        for _ in 0..depth {
            inner = format!(
                "<table:table-row><table:table-cell><table:table>{inner}</table:table></table:table-cell></table:table-row>"
            );
        }
        table.push_str(&inner);
    }
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Sheet1">{table}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let mut zip = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = ::zip::write::SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Stored);
    let deflated = ::zip::write::SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Deflated);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet").unwrap();
    zip.start_file("content.xml", deflated).unwrap();
    zip.write_all(content.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    /// Shared strings declaring any count, or holding one string of up to
    /// 400 MiB in a file of a few hundred kilobytes.
    #[test]
    fn any_shared_strings_end_in_exit_0_or_2(
        declared in prop_oneof![Just(None), (0u64..u64::MAX).prop_map(Some), (0u64..1000).prop_map(Some)],
        padding in prop_oneof![Just(0usize), 0usize..100_000, Just(400usize << 20)],
    ) {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (column, name) in HEADER.iter().enumerate() {
            sheet.write_string(0, column as u16, *name).unwrap();
        }
        sheet.write_string(1, 0, "C-1").unwrap();
        let bytes = with_shared_strings(&book.save_to_buffer().unwrap(), declared, padding);
        let (code, w, stderr) = run_limited(bytes);
        assert_ends_well(code, &w, &stderr)?;
    }

    /// Tables nested in cells, to any depth, declaring up to a million rows
    /// by 16,000 columns each.
    #[test]
    fn any_nested_ods_ends_in_exit_0_or_2(
        nesting in proptest::collection::vec((0u8..4, 1u32..1_000_000, 1u32..16_000), 0..4)
    ) {
        let (code, w, stderr) = run_limited(nested_ods(&nesting));
        assert_ends_well(code, &w, &stderr)?;
    }

    /// A valid Parquet file with up to eight of its bytes changed.
    #[test]
    fn any_damaged_parquet_ends_in_exit_0_or_2(
        columns in (1usize..6).prop_flat_map(|rows| proptest::collection::vec(parquet_column(rows), 12).prop_map(move |c| (rows, c))),
        damage in proptest::collection::vec((0.0f64..1.0, 1u8..=255), 1..8),
    ) {
        let (rows, columns) = columns;
        let mut bytes = parquet_bytes(&columns, rows);
        for (at, flip) in damage {
            let at = ((bytes.len() - 1) as f64 * at) as usize;
            bytes[at] ^= flip;
        }
        let (code, w, stderr) = run_limited(bytes);
        assert_ends_well(code, &w, &stderr)?;
    }
}
