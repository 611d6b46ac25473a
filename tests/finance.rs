//! What finance staff sign off on: the workbook and the HTML report agree
//! with the CSV outputs, to the fen.

use calamine::{Data, Reader, open_workbook_auto};

use crate::workdir::Workdir;

fn two_quarters() -> Workdir {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    w
}

fn text(cell: Option<&Data>) -> String {
    match cell {
        Some(Data::String(s)) => s.clone(),
        Some(Data::Float(f)) => format!("{f:.2}"),
        Some(Data::Int(i)) => i.to_string(),
        Some(other) => format!("{other}"),
        None => String::new(),
    }
}

#[test]
fn workbook_sheets_totals_and_cells_match_the_csv() {
    let w = two_quarters();
    let mut book = open_workbook_auto(w.path("out/2025-Q2/settlement.xlsx")).unwrap();
    assert_eq!(book.sheet_names(), ["汇总", "兑付清单", "追回清单", "结算明细", "异常清单", "配额使用"]);

    // 兑付清单: one row per provider as in payouts.csv, then the total and its capitals.
    let payouts = w.csv("out/2025-Q2/payouts.csv");
    let sheet = book.worksheet_range("兑付清单").unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| text(Some(c))).collect()).collect();
    let title = rows.iter().find(|r| r[0].contains("服务券兑付清单")).unwrap();
    assert!(title[0].contains("2025-Q2"));
    let header = rows.iter().position(|r| r[1] == "服务商名称").unwrap();
    for (i, p) in payouts.iter().enumerate() {
        let row = &rows[header + 1 + i];
        assert_eq!(row[1], p["provider_name"]);
        assert_eq!(row[2], p["provider_id"]);
        assert_eq!(row[4], p["approved_amount_batch"]);
        assert_eq!(row[5], p["reversed_amount_batch"]);
        assert_eq!(row[6], p["net_amount_batch"]);
        assert_eq!(row[7], p["approved_amount_year"]);
        assert_eq!(row[8], p["cap_remaining"]);
    }
    let total = &rows[header + 1 + payouts.len()];
    assert_eq!((total[0].as_str(), total[6].as_str()), ("应付合计 Total to pay", "46400.04"));
    let capitals = &rows[header + 2 + payouts.len()];
    assert_eq!(capitals[3], "人民币肆万陆仟肆佰元零肆分");
    assert!(rows.iter().any(|r| r.iter().any(|c| c == "审批人：")), "room for signatures");

    // 结算明细: the same rows and amounts as settlements.csv.
    let settlements = w.csv("out/2025-Q2/settlements.csv");
    let sheet = book.worksheet_range("结算明细").unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| text(Some(c))).collect()).collect();
    assert_eq!(rows.len(), settlements.len() + 1);
    for (row, s) in rows[1..].iter().zip(&settlements) {
        assert_eq!((&row[2], &row[12], &row[14]), (&s["contract_id"], &s["approved_amount"], &s["outcome"]));
    }

    // 异常清单: errors first, then adjustments, then warnings.
    let sheet = book.worksheet_range("异常清单").unwrap();
    let severities: Vec<String> = sheet.rows().skip(1).map(|r| text(r.get(4))).collect();
    let rank = |s: &str| ["error", "adjustment", "warning"].iter().position(|x| *x == s).unwrap();
    assert!(severities.windows(2).all(|p| rank(&p[0]) <= rank(&p[1])), "{severities:?}");
    assert_eq!(severities.len(), w.csv("out/2025-Q2/exceptions.csv").len());

    // 汇总: the totals and every control total marked as holding.
    let sheet = book.worksheet_range("汇总").unwrap();
    let cells: Vec<String> = sheet.rows().flat_map(|r| r.iter().map(|c| text(Some(c))).collect::<Vec<_>>()).collect();
    assert_eq!(cells.iter().filter(|c| c.as_str() == "✓ 平衡 holds").count(), 4);
    assert!(cells.iter().any(|c| c == "46400.04"));
    assert!(cells.iter().any(|c| c == "肆万陆仟肆佰元零肆分"));

    // 配额使用: one row per enterprise of enterprise_usage.csv.
    let sheet = book.worksheet_range("配额使用").unwrap();
    assert_eq!(sheet.rows().count(), w.csv("out/2025-Q2/enterprise_usage.csv").len() + 1);
}

#[test]
fn html_report_holds_the_totals_and_no_external_reference() {
    let w = two_quarters();
    let html = String::from_utf8(w.read("out/2025-Q2/report.html")).unwrap();
    for wanted in [
        "2025-Q2",
        "46,400.04",
        "肆万陆仟肆佰元零肆分",
        "46400.04 = 46400.04",
        "9 = 3 + 6",
        "E_QUOTA_EXHAUSTED",
        "广西示例数字科技有限公司",
        "<svg",
    ] {
        assert!(html.contains(wanted), "{wanted}");
    }
    for external in ["http://", "https://", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(external), "{external} in report.html");
    }
}
