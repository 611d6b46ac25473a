//! Real exports as they arrive: the same datasets saved as GBK CSV with
//! Chinese headers, XLSX with numeric and date cells, Parquet with string
//! columns and Parquet with typed columns must settle identically; column
//! mappings from the job; file-level errors.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

use voucher_settle::schema::input as columns;

use crate::datasets::{batches, check_dataset, run_dataset};
use crate::workdir::{Workdir, repo};

/// The Chinese header of a column of input `stem` (its first alias in rules 2).
fn chinese(stem: &str, header: &str) -> String {
    let spec: &[columns::ColumnSpec] = match stem {
        "contracts" => &columns::CONTRACTS,
        "enterprises" => &columns::ENTERPRISES,
        "designations" => &columns::DESIGNATIONS,
        "providers" => &columns::PROVIDERS,
        "products" => &columns::PRODUCTS,
        "corrections" => &columns::CORRECTIONS,
        "refunds" => &columns::REFUNDS,
        other => panic!("no input named {other}"),
    };
    match spec.iter().find(|c| c.name == header) {
        Some(column) => column.aliases[0].to_string(),
        None if !header.is_ascii() => header.to_string(),
        None => panic!("no column {header} in {stem}"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format_ {
    GbkChineseHeaders,
    Xlsx,
    ParquetStrings,
    ParquetTyped,
}

struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn read(path: &Path) -> Csv {
    let bytes = std::fs::read(path).unwrap();
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(body);
    let mut rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
    let header = rows.remove(0);
    Csv { header, rows }
}

/// Money that a spreadsheet or a typed column would hold as a number.
fn plain_money(text: &str) -> Option<f64> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!int.is_empty() && digits(int) && frac.len() <= 2 && digits(frac) && int.len() < 13).then(|| t.parse().unwrap())
}

/// A plain `YYYY-MM-DD` date (with or without a time) that a date cell would hold.
fn plain_date(text: &str) -> Option<chrono::NaiveDate> {
    let t = text.trim();
    chrono::NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d")
        .ok()
        .filter(|_| t.len() == 10 || t.as_bytes()[10] == b' ')
}

const MONEY: [&str; 6] =
    ["service_price", "voucher_amount", "contract_amount", "deposit_paid", "balance_paid", "list_price"];
const DATES: [&str; 7] =
    ["signed_on", "completed_on", "valid_from", "valid_to", "signed_from", "signed_to", "decided_on"];

fn write_gbk(csv: &Csv, target: &Path) {
    let stem = target.file_stem().unwrap().to_str().unwrap();
    let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
    writer.write_record(csv.header.iter().map(|h| chinese(stem, h))).unwrap();
    for row in &csv.rows {
        writer.write_record(row).unwrap();
    }
    let text = String::from_utf8(writer.into_inner().unwrap()).unwrap().replace('\n', "\r\n");
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    std::fs::write(target, bytes).unwrap();
}

fn write_xlsx(csv: &Csv, target: &Path) {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    for (c, h) in csv.header.iter().enumerate() {
        sheet.write_string(0, c as u16, h).unwrap();
    }
    for (r, row) in csv.rows.iter().enumerate() {
        let r = r as u32 + 1;
        if row.len() != csv.header.len() {
            // A record of the wrong width has no faithful sheet form: keep it as text in one cell.
            sheet.write_string(r, 0, row.join(",")).unwrap();
            sheet.write_string(r, csv.header.len() as u16, "extra").unwrap();
            continue;
        }
        for (c, value) in row.iter().enumerate() {
            let column = csv.header[c].as_str();
            let c = c as u16;
            if MONEY.contains(&column) && plain_money(value).is_some() {
                sheet.write_number(r, c, plain_money(value).unwrap()).unwrap();
            } else if DATES.contains(&column) && plain_date(value).is_some() {
                let d = plain_date(value).unwrap();
                use chrono::Datelike;
                let day = ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8).unwrap();
                sheet.write_datetime_with_format(r, c, &day, &date_format).unwrap();
            } else if column == "above_scale_since" && value.len() == 4 && value.parse::<u16>().is_ok() {
                sheet.write_number(r, c, value.parse::<f64>().unwrap()).unwrap();
            } else if !value.is_empty() {
                sheet.write_string(r, c, value).unwrap();
            }
        }
    }
    workbook.save(target).unwrap();
}

fn write_parquet(csv: &Csv, target: &Path, typed: bool) {
    let width_ok: Vec<&Vec<String>> = csv.rows.iter().filter(|r| r.len() == csv.header.len()).collect();
    assert_eq!(width_ok.len(), csv.rows.len(), "Parquet cannot hold a record of the wrong width");
    let mut columns = Vec::new();
    for (c, name) in csv.header.iter().enumerate() {
        let values: Vec<&str> = csv.rows.iter().map(|r| r[c].as_str()).collect();
        let present = || values.iter().filter(|v| !v.trim().is_empty());
        let column = if typed && MONEY.contains(&name.as_str()) && present().all(|v| plain_money(v).is_some()) {
            // Money as float on odd columns and as Decimal(18, 2) on even ones: both forms arrive.
            if c % 2 == 1 {
                let floats: Vec<Option<f64>> = values.iter().map(|v| plain_money(v)).collect();
                Column::new(name.into(), floats)
            } else {
                let cents: Vec<Option<i128>> = values
                    .iter()
                    .map(|v| plain_money(v).map(|_| rust_decimal::Decimal::from_str_exact(v.trim()).unwrap()))
                    .map(|d| {
                        d.map(|mut d| {
                            d.rescale(2);
                            d.mantissa()
                        })
                    })
                    .collect();
                Int128Chunked::new(name.into(), cents).into_decimal(18, 2).unwrap().into_series().into_column()
            }
        } else if typed && DATES.contains(&name.as_str()) && present().all(|v| plain_date(v).is_some()) {
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
            if c % 2 == 0 {
                let days: Vec<Option<i32>> =
                    values.iter().map(|v| plain_date(v).map(|d| (d - epoch).num_days() as i32)).collect();
                Int32Chunked::new(name.into(), days).into_date().into_series().into_column()
            } else {
                let micros: Vec<Option<i64>> = values
                    .iter()
                    .map(|v| plain_date(v).map(|d| (d - epoch).num_days() * 86_400_000_000 + 37_800_000_000))
                    .collect();
                Int64Chunked::new(name.into(), micros)
                    .into_datetime(TimeUnit::Microseconds, None)
                    .into_series()
                    .into_column()
            }
        } else if typed && name == "above_scale_since" && present().all(|v| v.parse::<i64>().is_ok()) {
            let years: Vec<Option<i64>> = values.iter().map(|v| v.parse().ok()).collect();
            Column::new(name.into(), years)
        } else {
            Column::new(name.into(), values)
        };
        columns.push(column);
    }
    let mut frame = DataFrame::new(csv.rows.len(), columns).unwrap();
    let mut file = std::fs::File::create(target).unwrap();
    ParquetWriter::new(&mut file).finish(&mut frame).unwrap();
}

/// Copies a conformance-layout dataset, converting every table to `format`.
fn convert(source: &Path, target: &Path, format: Format_) {
    for entry in walk(source) {
        let relative = entry.strip_prefix(source).unwrap();
        let out = target.join(relative);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        if entry.extension().is_none_or(|e| e != "csv") {
            std::fs::copy(&entry, &out).unwrap();
            continue;
        }
        let csv = read(&entry);
        match format {
            Format_::GbkChineseHeaders => write_gbk(&csv, &out),
            Format_::Xlsx => write_xlsx(&csv, &out.with_extension("xlsx")),
            Format_::ParquetStrings | Format_::ParquetTyped => {
                if csv.rows.iter().all(|r| r.len() == csv.header.len()) {
                    write_parquet(&csv, &out.with_extension("parquet"), format == Format_::ParquetTyped);
                } else {
                    // Records of the wrong width exist only in CSV: that file stays CSV.
                    std::fs::copy(&entry, &out).unwrap();
                }
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files.sort();
    files
}

/// The settlements of every batch of `dataset`, run from each input format,
/// byte for byte those of the UTF-8 CSV run; the UTF-8 run itself matches
/// the dataset's expected results.
fn same_settlements_in_every_format(dataset: &Path) {
    let w = Workdir::new();
    check_dataset(dataset, &w.path("utf8"));
    let batches = batches(dataset);
    for format in [Format_::GbkChineseHeaders, Format_::Xlsx, Format_::ParquetStrings, Format_::ParquetTyped] {
        let name = format!("{format:?}");
        convert(dataset, &w.path(&format!("data-{name}")), format);
        run_dataset(&w.path(&format!("data-{name}")), &w.path(&name));
        for batch in &batches {
            for table in ["settlements.csv", "payouts.csv", "reversals.csv"] {
                let file = format!("out/{batch}/{table}");
                assert_eq!(
                    w.read(&format!("{name}/{file}")),
                    w.read(&format!("utf8/{file}")),
                    "{name}: {batch} {table} differs from the UTF-8 CSV's"
                );
            }
        }
    }
}

#[test]
fn shared_dataset_in_every_format() {
    if let Some(dataset) = crate::conformance::shared_dataset("basic") {
        same_settlements_in_every_format(&dataset);
    }
}

#[test]
fn example_dataset_in_every_format() {
    same_settlements_in_every_format(&repo().join("fixtures/example-2025"));
}

#[test]
fn job_maps_other_headers_and_reads_named_sheets() {
    let w = Workdir::with_example();
    let text = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    w.write(
        "data/2025-Q1/contracts.csv",
        text.replacen("contract_id", "合同号", 1).replacen("voucher_amount", " Voucher ", 1),
    );
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(out.status.code(), Some(2), "without the mapping the columns are missing");
    let job = String::from_utf8(w.read("job.toml")).unwrap();
    w.write(
        "job.toml",
        format!("{job}\n[columns.contracts]\n\"合同号\" = \"contract_id\"\n\"voucher\" = \"voucher_amount\"\n"),
    );
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1", "--dry-run"]);
    assert!(printed.contains("核定金额 approved 74000.01"), "{printed}");

    w.write("job.toml", format!("{job}\n[columns.contracts]\n\"合同号\" = \"contract_number\"\n"));
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("contract_number"), "{stderr}");
    w.write("job.toml", format!("{job}\n[encoding]\ncontracts = \"latin-1\"\n"));
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("encoding.contracts"));

    // A workbook whose data is on a named sheet settles like the CSV it came
    // from (Q2, once Q1 is committed).
    w.write("job.toml", &job);
    w.write("data/2025-Q1/contracts.csv", &text);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2", "--dry-run"]);
    let from_csv = w.read("out/试算/2025-Q2/settlements.csv");
    let csv = read(&w.path("data/2025-Q2/contracts.csv"));
    let mut workbook = Workbook::new();
    workbook.add_worksheet().set_name("说明").unwrap().write_string(0, 0, "本表为导出说明").unwrap();
    let sheet = workbook.add_worksheet().set_name("合同").unwrap();
    for (c, h) in csv.header.iter().enumerate() {
        sheet.write_string(0, c as u16, h).unwrap();
    }
    for (r, row) in csv.rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r as u32 + 1, c as u16, v).unwrap();
        }
    }
    workbook.save(w.path("data/2025-Q2/contracts.xlsx")).unwrap();
    let job = job.replace("data/{batch}/contracts.csv", "data/{batch}/contracts.xlsx");
    w.write("job.toml", &job);
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q2", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "the first sheet has no contract columns");
    w.write("job.toml", format!("{job}\n[sheets]\ncontracts = \"合同\"\n"));
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2", "--dry-run"]);
    assert_eq!(w.read("out/试算/2025-Q2/settlements.csv"), from_csv);
}

#[test]
fn files_that_are_not_tables_stop_the_run_with_exit_2() {
    let empty_workbook = {
        let mut workbook = Workbook::new();
        workbook.add_worksheet();
        workbook.save_to_buffer().unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a workbook with an empty sheet", empty_workbook, "empty"),
        ("a broken workbook", b"PK\x03\x04 not really a zip".to_vec(), "not a readable workbook"),
        ("a broken Parquet file", b"PAR1 garbage garbage PAR1".to_vec(), "not a readable Parquet file"),
        ("a picture", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), "missing required column"),
    ];
    for (what, bytes, want) in cases {
        let w = Workdir::with_example();
        w.write("data/enterprises.csv", &bytes);
        let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains("enterprises.csv") && stderr.contains(want), "{what}: {stderr}");
        assert!(w.committed().is_empty(), "{what}");
    }
}

#[test]
fn typed_parquet_columns_settle_like_text() {
    // The example's Q1 contracts with every amount and date in plain form, so
    // that each money column can be typed (Decimal or float) and each date
    // column typed (Date or Datetime).
    let w = Workdir::with_example();
    let mut csv = read(&w.path("data/2025-Q1/contracts.csv"));
    csv.rows.retain(|r| r.len() == csv.header.len());
    for row in &mut csv.rows {
        for (c, value) in row.iter_mut().enumerate() {
            let column = csv.header[c].as_str();
            if let (true, Some(amount)) =
                (MONEY.contains(&column), voucher_settle::rules::money::parse_money(value.trim()))
            {
                *value = voucher_settle::rules::money::format_money(amount);
            }
            if let (true, Some(day)) = (DATES.contains(&column), voucher_settle::rules::dates::parse_date(value.trim()))
            {
                *value = day.to_string();
            }
        }
    }
    let mut text = csv.header.join(",") + "\n";
    for row in &csv.rows {
        text += &(row
            .iter()
            .map(|v| if v.contains(',') { format!("\"{v}\"") } else { v.clone() })
            .collect::<Vec<_>>()
            .join(",")
            + "\n");
    }
    w.write("data/2025-Q1/contracts.csv", &text);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1", "--dry-run"]);
    let from_csv = w.read("out/试算/2025-Q1/settlements.csv");
    assert_eq!(w.csv("out/试算/2025-Q1/settlements.csv").len(), 6);

    write_parquet(&csv, &w.path("data/2025-Q1/contracts.parquet"), true);
    let frame =
        ParquetReader::new(std::fs::File::open(w.path("data/2025-Q1/contracts.parquet")).unwrap()).finish().unwrap();
    let types: Vec<String> = frame.dtypes().iter().map(|t| format!("{t:?}")).collect();
    for wanted in ["Decimal", "Float64", "Date", "Datetime"] {
        assert!(types.iter().any(|t| t.contains(wanted)), "a {wanted} column in {types:?}");
    }
    let job = String::from_utf8(w.read("job.toml")).unwrap();
    w.write("job.toml", job.replace("data/{batch}/contracts.csv", "data/{batch}/contracts.parquet"));
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1", "--dry-run"]);
    assert_eq!(w.read("out/试算/2025-Q1/settlements.csv"), from_csv);
}
