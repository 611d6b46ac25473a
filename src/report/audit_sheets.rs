//! What auditors read of a batch's findings: the sheet 风险提示 of
//! settlement.xlsx (flags by code with counts and the settings, then every
//! row) and the workbook sample.xlsx with its sheet 抽查清单 (the sample,
//! its seed and method in words, and columns for the checker to fill in).

use rust_xlsxwriter::{Format, FormatBorder, Worksheet, XlsxError};

use crate::engine::BatchOutcome;
use crate::report::detail_sheet::new_workbook;
use crate::report::sample::Sample;
use crate::rules::money::format_money;
use crate::rules::risk::{Flag, RiskSettings};
use crate::{Error, Result};

/// Rows a sheet lists before it says where the rest is (the CSV file):
/// enough to work through by hand, few enough to print.
const SHEET_ROWS_MAX: usize = 5_000;
/// The findings 风险提示 lists (risk.csv holds every one).
const RISK_ROWS_MAX: usize = 1_000;

struct Looks {
    title: Format,
    header: Format,
    cell: Format,
    money: Format,
}

fn looks() -> Looks {
    Looks {
        title: Format::new().set_bold().set_font_size(14),
        header: Format::new().set_bold().set_border(FormatBorder::Thin).set_background_color("#D9E1F2"),
        cell: Format::new().set_border(FormatBorder::Thin),
        money: Format::new().set_border(FormatBorder::Thin).set_num_format("#,##0.00"),
    }
}

fn header(sheet: &mut Worksheet, row: u32, names: &[&str], l: &Looks) -> std::result::Result<(), XlsxError> {
    for (column, name) in names.iter().enumerate() {
        sheet.write_string_with_format(row, column as u16, *name, &l.header)?;
    }
    Ok(())
}

/// 风险提示: per flag its meaning and count, the thresholds in force, then
/// the findings (the first 1,000; risk.csv holds all).
pub fn risk_sheet(sheet: &mut Worksheet, outcome: &BatchOutcome) -> std::result::Result<(), XlsxError> {
    let l = looks();
    let settings = outcome.settlements.policy().risk();
    sheet.set_name("风险提示")?;
    sheet.set_landscape();
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    for (column, width) in [22.0, 40.0, 22.0, 22.0, 22.0, 24.0, 80.0].into_iter().enumerate() {
        sheet.set_column_width(column as u16, width)?;
    }
    let title = format!("风险提示（批次 {}）：供核查的线索，不改变任何金额，也不是结论", outcome.batch_id);
    sheet.write_string_with_format(0, 0, title, &l.title)?;
    header(sheet, 2, &["提示代码 flag", "含义 meaning", "条数 findings"], &l)?;
    let mut row = 3;
    for flag in Flag::ALL {
        let count = outcome.risk.iter().filter(|r| r.flag == flag).count();
        sheet.write_string_with_format(row, 0, flag.code(), &l.cell)?;
        sheet.write_string_with_format(row, 1, flag.meaning_zh(), &l.cell)?;
        sheet.write_number_with_format(row, 2, count as f64, &l.cell)?;
        row += 1;
    }
    row += 1;
    sheet.write_string(row, 0, "阈值（政策文件 [risk]） thresholds (the policy's [risk]):")?;
    for line in settings.lines() {
        row += 1;
        sheet.write_string(row, 0, line)?;
    }
    row += 2;
    let names =
        ["提示代码 flag", "合同编号 contract", "企业 enterprise", "服务商 provider", "触发值 value", "说明 message"];
    header(sheet, row, &names, &l)?;
    for r in outcome.risk.iter().take(RISK_ROWS_MAX) {
        row += 1;
        let cells = [r.flag.code(), &r.contract_id, &r.enterprise_id, &r.provider_id, &r.value, &r.message];
        for (column, text) in cells.into_iter().enumerate() {
            sheet.write_string_with_format(row, column as u16, text, &l.cell)?;
        }
    }
    if outcome.risk.len() > RISK_ROWS_MAX {
        let note = format!(
            "仅列前 {RISK_ROWS_MAX} 条，全部 {} 条见 risk.csv (the first {RISK_ROWS_MAX} shown; all in risk.csv)",
            outcome.risk.len()
        );
        sheet.write_string(row + 1, 0, note)?;
    }
    Ok(())
}

/// sample.xlsx: the sheet 抽查清单.
pub fn sample_workbook(outcome: &BatchOutcome, sample: &Sample, office: Option<&str>) -> Result<Vec<u8>> {
    build(outcome, sample, office).map_err(|e| Error::Internal(format!("sample.xlsx: {e}")))
}

fn build(outcome: &BatchOutcome, sample: &Sample, office: Option<&str>) -> std::result::Result<Vec<u8>, XlsxError> {
    let l = looks();
    let settings: &RiskSettings = outcome.settlements.policy().risk();
    let mut workbook = new_workbook(format!("抽查清单 {}", outcome.batch_id), outcome.cutoff)?;
    let sheet = workbook.add_worksheet();
    sheet.set_name("抽查清单")?;
    sheet.set_landscape();
    sheet.set_paper_size(9);
    sheet.set_print_fit_to_pages(1, 0);
    let widths = [8.0, 30.0, 24.0, 22.0, 22.0, 14.0, 10.0, 24.0, 12.0, 12.0];
    for (column, width) in widths.into_iter().enumerate() {
        sheet.set_column_width(column as u16, width)?;
    }
    let title = format!("抽查清单（批次 {}，截止 {}）", outcome.batch_id, outcome.cutoff);
    sheet.write_string_with_format(0, 0, title, &l.title)?;
    let mut row = 1;
    if let Some(office) = office {
        sheet.write_string(row, 0, format!("编制单位 Issued by：{office}"))?;
        row += 1;
    }
    for line in sample.method(settings) {
        sheet.write_string(row, 0, line)?;
        row += 1;
    }
    row += 1;
    let names = [
        "序号",
        "抽取依据",
        "合同编号",
        "企业信用代码",
        "服务商信用代码",
        "核定金额",
        "分配顺序",
        "核查结果",
        "核查人",
        "核查日期",
    ];
    header(sheet, row, &names, &l)?;
    sheet.set_repeat_rows(row, row)?;
    for s in sample.rows.iter().take(SHEET_ROWS_MAX) {
        row += 1;
        sheet.write_number_with_format(row, 0, s.sample_no as f64, &l.cell)?;
        for (column, text) in [(1, &s.basis), (2, &s.contract_id), (3, &s.enterprise_id), (4, &s.provider_id)] {
            sheet.write_string_with_format(row, column, text, &l.cell)?;
        }
        let amount: f64 = format_money(s.approved_amount).parse().unwrap_or(0.0);
        sheet.write_number_with_format(row, 5, amount, &l.money)?;
        sheet.write_number_with_format(row, 6, s.seq as f64, &l.cell)?;
        for column in 7..10 {
            sheet.write_blank(row, column, &l.cell)?;
        }
    }
    if sample.rows.len() > SHEET_ROWS_MAX {
        sheet.write_string(
            row + 1,
            0,
            format!("仅列前 {SHEET_ROWS_MAX} 份，全部 {} 份见 sample.csv", sample.rows.len()),
        )?;
    }
    workbook.save_to_buffer()
}
