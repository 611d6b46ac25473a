//! The payout list of ledger formats 3–4, kept only so that their
//! batches replay byte for byte. This file goes when those formats are
//! retired.

use rust_decimal::Decimal;
use rust_xlsxwriter::{Worksheet, XlsxError};

use super::*;

/// The payout list from ledger format 3 on (rules 9.4): every provider
/// whose net for the batch is zero or more, paid that net; a provider
/// whose net is negative is on 追回清单 instead.
pub(super) fn net_payout_sheet(
    sheet: &mut Worksheet,
    outcome: &BatchOutcome,
    f: &Formats,
    layout: Layout,
) -> std::result::Result<(), XlsxError> {
    let title = format!("服务券兑付清单（批次 {}，截止 {}）", outcome.batch_id, outcome.cutoff);
    list_sheet(sheet, "兑付清单", &[6.0, 34.0, 22.0, 8.0, 15.0, 15.0, 16.0, 16.0, 16.0], &title, f, layout)?;
    let names = [
        "序号",
        "服务商名称",
        "统一社会信用代码",
        "合同数",
        "本批核定金额",
        "本批冲正追回",
        "本批应付净额",
        "年度累计（净额）",
        "年度剩余额度",
    ];
    header_row(sheet, 2, &names, f)?;
    let mut row = 3;
    let mut total = Decimal::ZERO;
    let mut contracts = 0;
    let paid = figures::payable(&outcome.payouts);
    for (index, p) in paid.enumerate() {
        let amounts = [
            p.approved_amount_batch,
            p.reversed_amount_batch,
            p.net_amount_batch(),
            p.approved_amount_year,
            p.cap_remaining,
        ];
        payee_row(sheet, row, (index, p), &amounts, f, layout)?;
        total += p.net_amount_batch();
        contracts += p.contracts_settled;
        row += 1;
    }
    sheet.merge_range(row, 0, row, 2, "应付合计 Total to pay", &f.total_label)?;
    sheet.write_number_with_format(row, 3, contracts as f64, &f.total_label)?;
    sheet.write_number_with_format(row, 6, number(total), &f.total_money)?;
    row += 1;
    sheet.merge_range(row, 0, row, 2, "合计金额（大写）", &f.total_label)?;
    sheet.merge_range(row, 3, row, 8, &format!("人民币{}", to_capital(total)), &f.total_label)?;
    row += 1;
    if figures::owing_new(&outcome.payouts).next().is_some() {
        sheet.write_string(
            row,
            0,
            "本批净额为负的服务商不在本清单，见「追回清单」(providers whose net is negative owe it back: see 追回清单)",
        )?;
    }
    signatures(sheet, row + 2, layout)
}
