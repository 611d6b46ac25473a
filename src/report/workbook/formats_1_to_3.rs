//! The workbook's layouts of ledger formats 1–3, kept only so that their
//! batches replay byte for byte: the payout list without reversal columns
//! (formats 1–2) and the detail sheets as plain tables (formats 1–3). This
//! file goes when those formats are retired.

use rust_decimal::Decimal;
use rust_xlsxwriter::{Worksheet, XlsxError};

use super::*;

/// The payout list of formats 1–2: every provider paid its approved amount.
pub(super) fn payout_sheet(
    sheet: &mut Worksheet,
    outcome: &BatchOutcome,
    f: &Formats,
    layout: Layout,
) -> std::result::Result<(), XlsxError> {
    let title = format!("服务券兑付清单（批次 {}，截止 {}）", outcome.batch_id, outcome.cutoff);
    list_sheet(sheet, "兑付清单", &[6.0, 34.0, 22.0, 10.0, 16.0, 16.0, 16.0], &title, f, layout)?;
    let names = ["序号", "服务商名称", "统一社会信用代码", "合同数", "本批兑付金额", "年度累计", "年度剩余额度"];
    header_row(sheet, 2, &names, f)?;
    let mut row = 3;
    let mut total = Decimal::ZERO;
    let mut contracts = 0;
    for (index, p) in outcome.payouts.iter().enumerate() {
        sheet.write_number_with_format(row, 0, (index + 1) as f64, &f.bordered)?;
        sheet.write_string_with_format(row, 1, &p.provider_name, &f.bordered)?;
        sheet.write_string_with_format(row, 2, &p.provider_id, &f.bordered)?;
        sheet.write_number_with_format(row, 3, p.contracts_settled as f64, &f.bordered)?;
        sheet.write_number_with_format(row, 4, number(p.approved_amount_batch), &f.bordered_money)?;
        sheet.write_number_with_format(row, 5, number(p.approved_amount_year), &f.bordered_money)?;
        sheet.write_number_with_format(row, 6, number(p.cap_remaining), &f.bordered_money)?;
        total += p.approved_amount_batch;
        contracts += p.contracts_settled;
        row += 1;
    }
    sheet.merge_range(row, 0, row, 2, "合计 Total", &f.total_label)?;
    sheet.write_number_with_format(row, 3, contracts as f64, &f.total_label)?;
    sheet.write_number_with_format(row, 4, number(total), &f.total_money)?;
    row += 1;
    sheet.merge_range(row, 0, row, 2, "合计金额（大写）", &f.total_label)?;
    sheet.merge_range(row, 3, row, 6, &format!("人民币{}", to_capital(total)), &f.total_label)?;
    row += 3;
    for label in ["经办人：", "复核人：", "审批人：", "日期："] {
        sheet.write_string(row, 1, label)?;
        row += 2;
    }
    Ok(())
}

pub(super) fn settlements_sheet(
    sheet: &mut Worksheet,
    outcome: &BatchOutcome,
    f: &Formats,
) -> std::result::Result<(), XlsxError> {
    sheet.set_name("结算明细")?;
    header_row(sheet, 0, &SETTLEMENT_COLUMNS, f)?;
    sheet.set_freeze_panes(1, 0)?;
    for (column, width) in [(2u16, 20.0), (3, 20.0), (4, 20.0), (6, 22.0), (14, 16.0), (15, 20.0), (26, 24.0)] {
        sheet.set_column_width(column, width)?;
    }
    let mut row = 1;
    for s in outcome.settlements.iter().take(DETAIL_ROWS_MAX) {
        let mut cells = Cells::new(sheet, row, f);
        s.for_each_cell(&outcome.batch_id, |cell| cells.write(cell));
        cells.done()?;
        row += 1;
    }
    overflow_note(sheet, row, outcome.settlements.len(), "settlements.csv")
}

pub(super) fn exceptions_sheet(
    sheet: &mut Worksheet,
    outcome: &BatchOutcome,
    f: &Formats,
) -> std::result::Result<(), XlsxError> {
    sheet.set_name("异常清单")?;
    header_row(sheet, 0, &EXCEPTION_COLUMNS, f)?;
    sheet.set_freeze_panes(1, 0)?;
    for (column, width) in [(1u16, 12.0), (3, 20.0), (5, 26.0), (6, 16.0), (7, 22.0), (8, 90.0)] {
        sheet.set_column_width(column, width)?;
    }
    // Errors first, then adjustments, then warnings; by code within each.
    let mut order: Vec<usize> = (0..outcome.exceptions.len()).collect();
    // Only the rows shown are sorted.
    let key = |&i: &usize| listing_key(&outcome.exceptions, i);
    if order.len() > DETAIL_ROWS_MAX {
        order.select_nth_unstable_by_key(DETAIL_ROWS_MAX, key);
        order.truncate(DETAIL_ROWS_MAX);
    }
    order.sort_unstable_by_key(key);
    let mut row = 1;
    for &i in order.iter().take(DETAIL_ROWS_MAX) {
        let e = &outcome.exceptions[i];
        let mut cells = Cells::new(sheet, row, f);
        e.for_each_cell(&outcome.batch_id, &e.message(), |cell| cells.write(cell));
        cells.done()?;
        row += 1;
    }
    overflow_note(sheet, row, outcome.exceptions.len(), "exceptions.csv")
}

pub(super) fn usage_sheet(
    sheet: &mut Worksheet,
    outcome: &BatchOutcome,
    f: &Formats,
    format: u32,
) -> std::result::Result<(), XlsxError> {
    sheet.set_name("配额使用")?;
    let with_reversals = LedgerFormat(format).has_corrections();
    header_row(sheet, 0, if with_reversals { &USAGE_COLUMNS } else { &USAGE_COLUMNS_PLAIN }, f)?;
    sheet.set_freeze_panes(1, 0)?;
    sheet.set_column_width(1, 22)?;
    sheet.set_column_width(2, 34)?;
    let mut row = 1;
    for u in outcome.usage.iter().take(DETAIL_ROWS_MAX) {
        let (enterprise_id, enterprise_name) = outcome.enterprise(u);
        let mut cells = Cells::new(sheet, row, f);
        u.for_each_cell(&outcome.batch_id, (enterprise_id, enterprise_name), with_reversals, |cell| cells.write(cell));
        cells.done()?;
        row += 1;
    }
    overflow_note(sheet, row, outcome.usage.len(), "enterprise_usage.csv")
}
