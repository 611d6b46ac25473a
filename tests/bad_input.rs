//! Bad contracts files: never a panic, every row accounted for, and a file
//! that cannot be read at all is exit code 2 with nothing committed.

use crate::workdir::{E1, P1, Workdir};

const HEADER: &str = "contract_id,enterprise_id,provider_id,product_id,category,service_price,voucher_amount,contract_amount,deposit_paid,balance_paid,signed_on,completed_on";

fn with_contracts(contents: &[u8]) -> Workdir {
    let w = Workdir::with_example();
    w.write("data/2025-Q1/contracts.csv", contents);
    w
}

fn error_codes(w: &Workdir) -> Vec<(String, String)> {
    w.csv("out/2025-Q1/exceptions.csv")
        .into_iter()
        .filter(|r| r["source"] == "contracts")
        .map(|r| (r["source_row"].clone(), r["code"].clone()))
        .collect()
}

#[test]
fn empty_file_is_exit_2_and_nothing_committed() {
    for contents in [&b""[..], b"\xEF\xBB\xBF", b"\n\n  \n"] {
        let w = with_contracts(contents);
        let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("contracts.csv") && stderr.contains("empty file"), "{stderr}");
        assert!(w.committed().is_empty());
    }
}

#[test]
fn header_only_settles_nothing() {
    let w = with_contracts(format!("{HEADER}\r\n").as_bytes());
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert!(printed.contains("0 = 0 + 0"), "{printed}");
    assert!(w.csv("out/2025-Q1/settlements.csv").is_empty());
    assert_eq!(w.committed().len(), 1);
}

#[test]
fn missing_required_column_names_it_in_both_languages() {
    let header = HEADER.replace(",contract_amount", "");
    let w = with_contracts(format!("{header}\n").as_bytes());
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("缺少必填列 合同金额 (missing required column contract_amount)"), "{stderr}");
    assert!(w.committed().is_empty());
}

#[test]
fn wrong_field_counts_and_blank_records_are_row_exceptions() {
    let good = format!("K1,{E1},{P1},D001,,12500,10000,2500,500,2000,2025-01-06,2025-01-20");
    let mut contents = format!("\u{feff}{HEADER}\r\n{good}\r\nK2,{E1}\r\n,,,,,,,,,,,\r\n\r\n").into_bytes();
    contents.extend_from_slice(format!("{good},extra\r\n").as_bytes());
    contents.extend_from_slice(b"K3,extra,");
    contents
        .extend_from_slice(format!("{E1},{P1},D001,,12500,10000,2500,500,2000,2025-01-06,2025-01-21\r\n").as_bytes());
    contents.extend_from_slice(b"\"K4, quoted\nwith a line break\",");
    contents
        .extend_from_slice(format!("{E1},{P1},F001,,20000,10000,10000,2000,8000,2025-01-06,2025-01-22\n").as_bytes());
    let w = with_contracts(&contents);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let settled: Vec<(String, String)> = w
        .csv("out/2025-Q1/settlements.csv")
        .into_iter()
        .map(|r| (r["source_row"].clone(), r["contract_id"].clone()))
        .collect();
    assert_eq!(settled, [("1".to_string(), "K1".to_string())]);
    // A quoted line break is read as part of the field; in a contract id it
    // is a control character, which makes the id malformed (rules 2.1).
    let errors = error_codes(&w);
    let want = [("2", "E_ROW_MALFORMED"), ("3", "E_ROW_MALFORMED"), ("4", "E_ROW_MALFORMED"), ("5", "E_FIELD_INVALID")];
    assert_eq!(errors, want.map(|(r, c)| (r.to_string(), c.to_string())));
}

/// Bytes that are not valid in the file's encoding stop the run (exit 2,
/// nothing committed), naming the file, the line, the encoding and the one
/// that fits: a GBK file declared UTF-8 would otherwise refuse every row
/// quietly; a stray byte in a UTF-8 file fits no encoding.
#[test]
fn a_file_not_valid_in_its_encoding_is_exit_2_naming_the_line() {
    let good = format!("K1,{E1},{P1},D001,,12500,10000,2500,500,2000,2025-01-06,2025-01-20");
    let mut contents = format!("{HEADER}\n{good}\n").into_bytes();
    contents.extend_from_slice(b"K3\xff\xfe,x\n");
    let w = with_contracts(&contents);
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("contracts.csv: 第 3 行不是有效的 UTF-8（自动判断 detected）(line 3 is not valid UTF-8)"),
        "{stderr}"
    );
    assert!(stderr.contains("no encoding fits"), "{stderr}");
    assert!(w.committed().is_empty());

    let w = Workdir::with_example();
    let registry = String::from_utf8(w.read("data/enterprises.csv")).unwrap();
    let (gbk, _, _) = encoding_rs::GB18030.encode(&registry);
    w.write("data/enterprises.csv", gbk.as_ref());
    let job = String::from_utf8(w.read("job.toml")).unwrap();
    w.write("job.toml", format!("{job}\n[encoding]\nenterprises = \"utf-8\"\n"));
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("enterprises.csv: 第 2 行不是有效的 UTF-8（作业 [encoding] 声明 declared by the job）"),
        "{stderr}"
    );
    assert!(stderr.contains("the whole file is valid GBK/GB18030"), "{stderr}");
}

/// Excel's "Unicode text" (UTF-16 with a BOM, tab-separated) settles like
/// the same rows in UTF-8 CSV.
#[test]
fn utf16_tab_separated_text_is_read() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let csv = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let tsv: String = rows.records().map(|r| r.unwrap().iter().collect::<Vec<_>>().join("\t") + "\r\n").collect();
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(tsv.encode_utf16().flat_map(u16::to_le_bytes));
    let other = Workdir::with_example();
    other.write("data/2025-Q1/contracts.csv", utf16);
    other.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(other.read("out/2025-Q1/settlements.csv"), w.read("out/2025-Q1/settlements.csv"));
    assert_eq!(other.read("out/2025-Q1/exceptions.csv"), w.read("out/2025-Q1/exceptions.csv"));
}

#[test]
fn every_row_of_a_messy_file_lands_exactly_once() {
    // Many kinds of bad rows at once; rows are numbered from 1 and each ends
    // up in exactly one of settlements or the error rows.
    let mut text = format!("{HEADER}\n");
    let mut rows = 0;
    for i in 0..200 {
        let line = match i % 8 {
            0 => format!("M{i},{E1},{P1},D001,,12500,10000,2500,500,2000,2025-01-06,2025-01-20"),
            1 => format!("M{i},{E1},{P1}"),
            2 => format!("M{i},{E1},{P1},F001,,20000,10000,10000,2000,8000,2025-01-06,2025-13-01"),
            3 => format!("M{},{E1},{P1},D001,,12500,10000,2500,500,2000,2025-01-06,2025-01-20", i - 3),
            4 => format!(",{E1},{P1},D001,,1,1,0,0,0,2025-01-06,2025-01-20"),
            5 => format!("M{i},{E1},{P1},D001,,abc,10000,2500,500,2000,2025-01-06,2025-01-20,x,y"),
            6 => format!("M{i},{E1},{P1},D001,,9e9,-1,,,,,"),
            _ => format!("M{i},{E1},{P1},T001,,60000,30000,30000,6000,24000,2025-01-06,2025-02-{:02}", i % 28 + 1),
        };
        text += &line;
        text.push('\n');
        rows += 1;
    }
    let w = with_contracts(text.as_bytes());
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let mut seen: Vec<u64> =
        w.csv("out/2025-Q1/settlements.csv").iter().map(|r| r["source_row"].parse().unwrap()).collect();
    seen.extend(
        w.csv("out/2025-Q1/exceptions.csv")
            .iter()
            .filter(|r| r["source"] == "contracts" && r["severity"] == "error")
            .map(|r| r["source_row"].parse::<u64>().unwrap()),
    );
    seen.sort();
    assert_eq!(seen, (1..=rows).collect::<Vec<u64>>());
}

/// Runs the first quarter under a 1 GiB address-space limit.
fn run_q1_within_1_gib(w: &Workdir) -> std::process::Output {
    std::process::Command::new("prlimit")
        .arg(format!("--as={}", 1u64 << 30))
        .arg(crate::workdir::binary())
        .current_dir(w.path(""))
        .args(["run", "job.toml", "--batch", "2025-Q1"])
        .output()
        .expect("prlimit (util-linux)")
}

/// The example's first three contract rows as a workbook, plus one cell far
/// away — the last cell a sheet can have, XFD1048576. Read as a grid this
/// 10 KB file asked for half a terabyte; read cell by cell it is three rows
/// and one malformed row, well within a 1 GiB address-space limit.
#[test]
fn a_workbook_naming_its_last_cell_is_read_within_a_memory_limit() {
    let w = Workdir::with_example();
    let text = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    // The header and three rows without quoted fields (the third has "¥20,000.00").
    let lines = text.lines().enumerate().filter(|(at, _)| *at != 3).map(|(_, line)| line).take(4);
    for (row, line) in lines.enumerate() {
        for (column, cell) in line.split(',').enumerate() {
            sheet.write_string(row as u32, column as u16, cell).unwrap();
        }
    }
    sheet.write_string(1_048_575, 16_383, "x").unwrap();
    let bytes = workbook.save_to_buffer().unwrap();
    assert!(bytes.len() < 20_000, "{} bytes", bytes.len());
    w.write("data/2025-Q1/contracts.csv", bytes);
    let out = run_q1_within_1_gib(&w);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let errors: Vec<(String, String)> = w
        .csv("out/2025-Q1/exceptions.csv")
        .into_iter()
        .filter(|r| r["source"] == "contracts" && r["severity"] == "error")
        .map(|r| (r["source_row"].clone(), r["code"].clone()))
        .collect();
    assert_eq!(errors, [("4".to_string(), "E_ROW_MALFORMED".to_string())]);
    assert_eq!(w.csv("out/2025-Q1/settlements.csv").len(), 3);
}

/// An OpenDocument spreadsheet of `rows` (each a list of cells), plus any
/// raw XML rows after them.
fn ods(rows: &[Vec<&str>], extra_rows: &str) -> Vec<u8> {
    use std::io::Write;
    let mut table = String::new();
    for row in rows {
        table.push_str("<table:table-row>");
        for cell in row {
            let text = cell.replace('&', "&amp;").replace('<', "&lt;");
            table.push_str(&format!(
                r#"<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>"#
            ));
        }
        table.push_str("</table:table-row>");
    }
    table.push_str(extra_rows);
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Sheet1">{table}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet").unwrap();
    zip.start_file("META-INF/manifest.xml", deflated).unwrap();
    zip.write_all(manifest.as_bytes()).unwrap();
    zip.start_file("content.xml", deflated).unwrap();
    zip.write_all(content.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

/// The example's contracts as an ODS file are read like the CSV; an ODS
/// file of a few kilobytes whose repeat counts declare a million rows by
/// 16,000 columns (calamine lays out such a grid whole) is refused before
/// it is read — exit 2 naming it, under a 1 GiB address-space limit.
#[test]
fn an_ods_file_is_measured_before_it_is_read() {
    let w = Workdir::with_example();
    let text = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let mut rows: Vec<Vec<&str>> = vec![header.iter().map(String::as_str).collect()];
    rows.extend(records.iter().map(|r| r.iter().collect()));
    w.write("data/2025-Q1/contracts.csv", ods(&rows, ""));
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1", "--dry-run"]);
    let csv = Workdir::with_example();
    csv.run_ok(&["run", "job.toml", "--batch", "2025-Q1", "--dry-run"]);
    // The CSV's short record 14 is malformed; in a sheet its missing cells
    // are blank (and its category then invalid): every other row alike.
    for name in ["settlements.csv", "exceptions.csv"] {
        let path = format!("out/试算/2025-Q1/{name}");
        let rows = |w: &Workdir| -> Vec<_> { w.csv(&path).into_iter().filter(|r| r["source_row"] != "14").collect() };
        assert!(rows(&csv).len() > 5, "{name}");
        assert_eq!(rows(&w), rows(&csv), "{name}");
    }

    let far = r#"<table:table-row table:number-rows-repeated="1000000"><table:table-cell/></table:table-row><table:table-row><table:table-cell table:number-columns-repeated="16000" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>"#;
    let bytes = ods(&rows[..2], far);
    assert!(bytes.len() < 5_000, "{} bytes", bytes.len());
    w.write("data/2025-Q1/contracts.csv", bytes);
    let out = run_q1_within_1_gib(&w);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("contracts.csv") && stderr.contains("ODS"), "{stderr}");
    assert!(w.committed().is_empty());
}

/// A field longer than 4,096 characters is `E_FIELD_INVALID` for its row
/// (the value keeps its first 4,097 characters), an over-long registry
/// field makes the registry row unusable; the batch goes on and its
/// workbook is written.
#[test]
fn a_field_over_the_limit_is_a_row_exception() {
    let w = Workdir::with_example();
    let long = "长".repeat(40_000);
    let text = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1] = lines[1].replacen("D001", &long, 1);
    lines[2] = lines[2].replacen(",,80000", &format!(",{long},80000"), 1);
    w.write("data/2025-Q1/contracts.csv", lines.join("\n") + "\n");
    let registry = String::from_utf8(w.read("data/enterprises.csv")).unwrap();
    w.write("data/enterprises.csv", registry.replacen("广西示例食品有限公司", &long, 1));
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let exceptions = w.csv("out/2025-Q1/exceptions.csv");
    let field = |source: &str, row: &str| {
        exceptions
            .iter()
            .find(|e| e["source"] == source && e["source_row"] == row)
            .map(|e| (e["code"].clone(), e["field"].clone(), e["value"].chars().count()))
    };
    assert_eq!(field("contracts", "1"), Some(("E_FIELD_INVALID".into(), "product_id".into(), 4097)));
    assert_eq!(field("contracts", "2"), Some(("E_FIELD_INVALID".into(), "category".into(), 4097)));
    assert_eq!(field("enterprises", "3"), Some(("R_FIELD_INVALID".into(), "name".into(), 4097)));
    assert!(w.read("out/2025-Q1/settlement.xlsx").len() > 1000);
}

/// A Parquet decimal far beyond the range of money (10^29 in a
/// decimal(38, 0) column) is `E_FIELD_INVALID`, not a crash.
#[test]
fn a_parquet_decimal_beyond_money_is_a_row_exception() {
    use polars::prelude::*;
    let w = Workdir::with_example();
    let text = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    let columns: Vec<Column> = header
        .iter()
        .zip(&row)
        .map(|(name, value)| {
            if *name == "service_price" {
                Int128Chunked::new((*name).into(), [Some(10i128.pow(29))])
                    .into_decimal(38, 0)
                    .unwrap()
                    .into_series()
                    .into_column()
            } else {
                Column::new((*name).into(), [*value])
            }
        })
        .collect();
    let mut frame = DataFrame::new(1, columns).unwrap();
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut frame).unwrap();
    w.write("data/2025-Q1/contracts.csv", bytes);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let exceptions = w.csv("out/2025-Q1/exceptions.csv");
    let e = exceptions.iter().find(|e| e["source"] == "contracts").unwrap();
    assert_eq!((e["code"].as_str(), e["field"].as_str()), ("E_FIELD_INVALID", "service_price"));
    assert_eq!(e["value"], format!("1{}", "0".repeat(29)));
}

/// A Parquet file of a few kilobytes whose columns of nulls declare three
/// million rows (36 million cells) is refused before it is read — exit 2
/// naming it, under a 1 GiB address-space limit — instead of being laid
/// out cell by cell.
#[test]
fn a_parquet_file_declaring_more_rows_than_it_holds_is_refused() {
    use polars::prelude::*;
    let rows = 3_000_000;
    let columns: Vec<Column> =
        HEADER.split(',').map(|name| Column::full_null(name.into(), rows, &DataType::String)).collect();
    let mut frame = DataFrame::new(rows, columns).unwrap();
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut frame).unwrap();
    assert!(bytes.len() < 100_000, "{} bytes", bytes.len());
    let w = with_contracts(&bytes);
    let out = run_q1_within_1_gib(&w);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("contracts.csv") && stderr.contains("3000000 rows"), "{stderr}");
    assert!(w.committed().is_empty());
}
