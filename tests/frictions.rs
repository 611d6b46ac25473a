//! What clerks, auditors and operators trip over: a Parquet file that says
//! whose it is, a file most of whose rows fail one check, printouts.

use crate::workdir::{Workdir, unzip};

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

fn sheet_text(path: &std::path::Path, name: &str) -> String {
    use calamine::Reader;
    let mut book = calamine::open_workbook_auto(path).unwrap();
    let range = book.worksheet_range(name).unwrap();
    range.rows().map(|r| r.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" | ")).collect::<Vec<_>>().join("\n")
}

/// The printed detail sheets: at most 10 columns shown (the technical ones
/// hidden, still there for the filter), outcome, category and severity in
/// Chinese, wrapped messages on rows high enough to show every line,
/// notes in black and red only for negative amounts.
#[test]
fn detail_sheets_print_what_a_reader_needs() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let bytes = w.read("out/2025-Q1/settlement.xlsx");
    // Sheets 5 and 6: 结算明细 and 异常清单 (after 汇总, 兑付清单, 追回清单, 应退款台账).
    for (sheet, columns, chinese) in [(5, 29, ["全额兑付", "部分兑付"]), (6, 11, ["错误（未兑付）", "核减"])]
    {
        let xml = unzip(&bytes, &format!("xl/worksheets/sheet{sheet}.xml"));
        let hidden = xml.split("<col ").skip(1).filter(|c| c.contains("hidden=\"1\"")).map(|c| {
            let attr = |name: &str| -> usize {
                let at = c.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                c[at..].split('"').next().unwrap().parse().unwrap()
            };
            attr("max") - attr("min") + 1
        });
        let shown = columns - hidden.sum::<usize>();
        assert!((8..=10).contains(&shown), "sheet{sheet}: {shown} columns printed");
        // Constant-memory sheets hold their strings inline.
        assert!(chinese.iter().all(|c| xml.contains(c)), "{chinese:?}");
    }
    let exceptions = unzip(&bytes, "xl/worksheets/sheet6.xml");
    assert!(exceptions.contains("customHeight=\"1\""), "a wrapped message's row is as high as its lines");
    let styles = unzip(&bytes, "xl/styles.xml");
    assert!(styles.contains("[Red]-#,##0.00"), "negative amounts in red");
    assert!(!styles.contains("FFC00000"), "no dark-red text");
}

/// 兑付清单 and 追回清单 name the issuing office (from the job) and have a
/// line for this batch's manifest SHA-256; a provider statement ends with
/// the provider's confirmation.
#[test]
fn lists_to_sign_name_the_office_and_statements_end_with_a_confirmation() {
    let w = Workdir::with_corrections();
    let job = String::from_utf8(w.read("job.toml")).unwrap();
    w.write(
        "job.toml",
        job.replacen(
            "output = \"out/{batch}\"",
            "output = \"out/{batch}\"\noffice = \"广西壮族自治区工业和信息化厅\"",
            1,
        ),
    );
    for quarter in ["2025-Q1", "2025-Q2", "2025-Q3"] {
        w.run_ok(&["run", "job.toml", "--batch", quarter]);
    }
    let book = w.path("out/2025-Q3/settlement.xlsx");
    for sheet in ["兑付清单", "追回清单"] {
        let text = sheet_text(&book, sheet);
        assert!(text.contains("编制单位 Issued by：广西壮族自治区工业和信息化厅"), "{sheet}: {text}");
        assert!(text.contains("本批清单 SHA-256"), "{sheet}");
    }
    w.run_ok(&["statements", "ledger", "--batch", "2025-Q3", "--out", "st"]);
    let statement = sheet_text(&w.path("st/91450100MA5PRW001L.xlsx"), "对账单");
    assert!(statement.contains("服务商确认") && statement.contains("盖章"), "{statement}");
    let (code, _) = (w.run(&["verify", "ledger"]).status.code(), ());
    assert_eq!(code, Some(0), "the office is replayed from the archived job");
}

/// A registry read unchanged by every quarter is counted once in the
/// year's 异常趋势, not once per batch.
#[test]
fn the_year_counts_a_registry_problem_once_per_registry_version() {
    let w = Workdir::with_corrections();
    for quarter in ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"] {
        w.run_ok(&["run", "job.toml", "--batch", quarter]);
    }
    w.run_ok(&["year", "ledger", "--year", "2025", "--out", "year"]);
    let trend = sheet_text(&w.path("year/year-2025.xlsx"), "异常趋势");
    let row = trend.lines().find(|l| l.starts_with("R_DUPLICATE_ROW")).unwrap_or_else(|| panic!("{trend}"));
    let counts: Vec<&str> = row.split(" | ").skip(2).collect();
    assert_eq!(counts, ["1", "0", "0", "0", "1"], "{row}");
    assert!(row.contains("counted once per registry version"), "{row}");
}

/// A detail sheet longer than 1,000 rows prints only its first 1,000 (its
/// first rows say so); the rest stays on screen and in the filter.
#[test]
fn a_long_detail_sheet_prints_its_first_thousand_rows() {
    let w = Workdir::new();
    let out = w.run(&["synth", "--out", "d", "--contracts", "3000", "--seed", "3"]);
    assert!(out.status.success());
    w.run_ok(&["run", "d/job.toml", "--batch", "2025-Q1"]);
    let book = w.path("d/out/2025-Q1/settlement.xlsx");
    let workbook = unzip(&std::fs::read(&book).unwrap(), "xl/workbook.xml");
    assert!(workbook.contains("_xlnm.Print_Area"), "{workbook}");
    assert!(workbook.contains("结算明细!$A$1:$AC$1004"), "{workbook}");
    let text = sheet_text(&book, "结算明细");
    assert!(text.contains("打印时仅打印前 1000 行"), "{}", &text[..300]);
}
