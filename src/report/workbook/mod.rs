//! settlement.xlsx: what finance staff sign off on, one workbook per batch.
//! Sheets: 汇总 (summary and control totals), 兑付清单 (the payout list, laid
//! out for A4 with a total in capital numerals and room for signatures),
//! 结算明细 (settlements), 异常清单 (exceptions), 配额使用 (quota use); from
//! ledger format 3 on the payout list pays each provider's net and 追回清单
//! (reversals, clawbacks and what providers owe back) follows it.
//!
//! Spreadsheet cells hold binary numbers: money is written from its exact
//! two-decimal text, so each cell shows the ledger's amount to the fen; the
//! CSV and Parquet files remain the exact record.

mod formats_1_to_3;
mod formats_3_to_4;

use rust_decimal::Decimal;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Worksheet, XlsxError};

use crate::engine::BatchOutcome;
use crate::ledger::Format as LedgerFormat;
use crate::report::capital::to_capital;
use crate::report::detail_sheet::{DetailFormats, DetailSheet, excel_date, new_workbook};
use crate::report::figures::{self, MoneyFigures};
use crate::report::signoff_stamp::PROPOSAL_MARK;
use crate::report::{EXCEPTION_COLUMNS, SETTLEMENT_COLUMNS, SignoffStamp, Summary, USAGE_COLUMNS, USAGE_COLUMNS_PLAIN};
use crate::rules::category::Category;
use crate::rules::codes::{Code, ExceptionRow, Severity, Source};
use crate::rules::control::{CorrectionTotals, OwedTotals};
use crate::rules::money::format_money;
use crate::rules::outputs::PayoutRow;
use crate::schema::output::{self, Cell};
use crate::{Error, Result};

/// Detail sheets stop here; beyond it they point to the CSV and Parquet
/// files (Excel holds 1,048,576 rows, and a sheet that size helps nobody).
pub const DETAIL_ROWS_MAX: usize = 20_000;

struct Formats {
    header: Format,
    money: Format,
    text: Format,
    title: Format,
    total_label: Format,
    total_money: Format,
    bordered: Format,
    bordered_money: Format,
    /// A name that wraps within its column (format 4 on).
    wrapped: Format,
    bordered_date: Format,
    unit: Format,
}

impl Formats {
    /// The format of a payee's name or a reason on a list to sign.
    fn name(&self, layout: Layout) -> &Format {
        if layout.reads() { &self.wrapped } else { &self.bordered }
    }
}

fn formats() -> Formats {
    let header =
        Format::new().set_bold().set_border(FormatBorder::Thin).set_background_color("#DDEBF7").set_text_wrap();
    Formats {
        money: Format::new().set_num_format("#,##0.00"),
        text: Format::new(),
        title: Format::new().set_bold().set_font_size(16).set_align(FormatAlign::Center),
        total_label: Format::new().set_bold().set_border(FormatBorder::Thin),
        total_money: Format::new().set_bold().set_border(FormatBorder::Thin).set_num_format("#,##0.00"),
        bordered: Format::new().set_border(FormatBorder::Thin),
        bordered_money: Format::new().set_border(FormatBorder::Thin).set_num_format("#,##0.00"),
        wrapped: Format::new().set_border(FormatBorder::Thin).set_text_wrap().set_align(FormatAlign::VerticalCenter),
        unit: Format::new().set_align(FormatAlign::Right),
        bordered_date: Format::new().set_border(FormatBorder::Thin).set_num_format("yyyy-mm-dd"),
        header,
    }
}

/// A money amount as a spreadsheet number, from its exact two-decimal text.
fn number(amount: Decimal) -> f64 {
    format_money(amount).parse().unwrap_or(0.0)
}

/// What every sheet of a dry run's workbook says, in its name and print header.
pub const DRY_RUN_MARK: &str = "试算";

/// The workbook; a dry run's says 试算 (dry run, not for payment) on every
/// sheet's tab and printed page, so it cannot be signed by mistake.
/// `payout_footer` is the print footer of the list to sign, if any.
/// `format` is the ledger format the batch is written in: from 3 on the
/// payout list pays each provider's net and the sheet 追回清单 follows it.
/// `office` is the issuing office (编制单位) the job names.
pub fn settlement_workbook(
    outcome: &BatchOutcome,
    summary: &Summary,
    dry_run: bool,
    labels: Labels,
    format: u32,
) -> Result<Vec<u8>> {
    build(outcome, summary, dry_run, labels, format).map_err(|e| Error::Internal(format!("settlement.xlsx: {e}")))
}

fn build(
    outcome: &BatchOutcome,
    summary: &Summary,
    dry_run: bool,
    labels: Labels,
    format: u32,
) -> std::result::Result<Vec<u8>, XlsxError> {
    let f = formats();
    let Labels { payout_footer, office, signoff } = labels;
    // Created on the cutoff, so the file is identical on replay.
    let mut workbook = new_workbook(format!("服务券兑付结算 {}", outcome.batch_id), outcome.cutoff)?;
    let layout = Layout { format, office, signoff };
    // From format 4 every list to sign numbers its pages, a dry run's too.
    let payout_footer = payout_footer.or(layout.reads().then_some(PAGE_FOOTER));
    summary_sheet(workbook.add_worksheet(), summary, &f, layout)?;
    let payouts = workbook.add_worksheet();
    if LedgerFormat(format).owed_balances() {
        paid_payout_sheet(payouts, outcome, summary, &f, layout)?;
    } else if LedgerFormat(format).has_corrections() {
        formats_3_to_4::net_payout_sheet(payouts, outcome, &f, layout)?;
    } else {
        formats_1_to_3::payout_sheet(payouts, outcome, &f, layout)?;
    }
    if let Some(footer) = payout_footer {
        payouts.set_footer(footer);
    }
    if LedgerFormat(format).has_corrections() {
        let clawbacks = workbook.add_worksheet();
        clawback_sheet(clawbacks, outcome, &f, layout)?;
        if let Some(footer) = payout_footer {
            clawbacks.set_footer(footer);
        }
    }
    if LedgerFormat(format).owed_balances() {
        let ledger = workbook.add_worksheet();
        owed_ledger_sheet(ledger, outcome, &f, layout)?;
        if let Some(footer) = payout_footer {
            ledger.set_footer(footer);
        }
    }
    if layout.reads() {
        let d = if LedgerFormat(format).net_figures() { DetailFormats::readable() } else { DetailFormats::new() };
        settlements_detail(workbook.add_worksheet_with_constant_memory()?, outcome, &d)?;
        exceptions_detail(workbook.add_worksheet_with_constant_memory()?, outcome, &d)?;
        usage_detail(workbook.add_worksheet_with_constant_memory()?, outcome, &d)?;
    } else {
        formats_1_to_3::settlements_sheet(workbook.add_worksheet(), outcome, &f)?;
        formats_1_to_3::exceptions_sheet(workbook.add_worksheet(), outcome, &f)?;
        formats_1_to_3::usage_sheet(workbook.add_worksheet(), outcome, &f, format)?;
    }
    if LedgerFormat(format).audit_flags() {
        crate::report::audit_sheets::risk_sheet(workbook.add_worksheet_with_constant_memory()?, outcome)?;
    }
    let proposal = signoff.is_some_and(SignoffStamp::is_proposal);
    let mark = match (dry_run, proposal) {
        (true, _) => Some((DRY_RUN_MARK, "DRY RUN")),
        (false, true) => Some((PROPOSAL_MARK, "AWAITING SIGN-OFF")),
        (false, false) => None,
    };
    if let Some((mark, english)) = mark {
        for sheet in workbook.worksheets_mut() {
            let name = format!("{}（{mark}）", sheet.name());
            sheet.set_name(name)?;
            sheet.set_header(format!("&C&14&\"-,Bold\"{mark} {english} — 不得用于付款 NOT FOR PAYMENT"));
        }
    }
    workbook.save_to_buffer()
}

/// What the lists to sign print besides their rows: the print footer (if
/// any), the issuing office the job names, and the sign-off, if the job
/// asks for one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Labels<'a> {
    pub payout_footer: Option<&'a str>,
    pub office: Option<&'a str>,
    pub signoff: Option<&'a SignoffStamp>,
}

/// What the batch's ledger format asks of the workbook's layout.
#[derive(Debug, Clone, Copy)]
struct Layout<'o> {
    format: u32,
    /// The issuing office the job names (the lists of format 5 print it).
    office: Option<&'o str>,
    /// The batch's sign-off, when its job asks for one.
    signoff: Option<&'o SignoffStamp>,
}

impl Layout<'_> {
    /// Format 4 on: laid out to be read and printed without fixing (widths,
    /// wrapping names, 单位：元, frozen headers, print setup on every
    /// sheet, the detail sheets of `detail_sheet`).
    fn reads(self) -> bool {
        LedgerFormat(self.format).reads_and_prints()
    }
}

/// One provider's row of a payout list: its number in the list, name,
/// credit code, contracts, then `amounts` from the fifth column on.
fn payee_row(
    sheet: &mut Worksheet,
    row: u32,
    (index, p): (usize, &PayoutRow),
    amounts: &[Decimal],
    f: &Formats,
    layout: Layout,
) -> std::result::Result<(), XlsxError> {
    sheet.write_number_with_format(row, 0, (index + 1) as f64, &f.bordered)?;
    sheet.write_string_with_format(row, 1, payee(&p.provider_name, &p.provider_id, layout), f.name(layout))?;
    sheet.write_string_with_format(row, 2, &p.provider_id, &f.bordered)?;
    sheet.write_number_with_format(row, 3, p.contracts_settled as f64, &f.bordered)?;
    for (column, amount) in (4u16..).zip(amounts) {
        sheet.write_number_with_format(row, column, number(*amount), &f.bordered_money)?;
    }
    Ok(())
}

/// The page footer of a list to sign when no other is given (a dry run).
const PAGE_FOOTER: &str = "&R&8第 &P 页 共 &N 页";

/// A payee's name as the list shows it: the registry's name, or its credit
/// code where the registry has none (format 4 on).
fn payee<'a>(name: &'a str, id: &'a str, layout: Layout) -> &'a str {
    if layout.reads() && name.trim().is_empty() { id } else { name }
}

fn header_row(sheet: &mut Worksheet, row: u32, names: &[&str], f: &Formats) -> std::result::Result<(), XlsxError> {
    for (column, name) in names.iter().enumerate() {
        sheet.write_string_with_format(row, column as u16, *name, &f.header)?;
    }
    Ok(())
}

fn summary_sheet(
    sheet: &mut Worksheet,
    s: &Summary,
    f: &Formats,
    layout: Layout,
) -> std::result::Result<(), XlsxError> {
    sheet.set_name("汇总")?;
    sheet.set_paper_size(9); // A4
    sheet.set_print_fit_to_pages(1, 0);
    if layout.reads() {
        sheet.set_landscape();
        sheet.set_freeze_panes(1, 0)?;
        sheet.set_repeat_rows(0, 0)?;
        sheet.set_footer(PAGE_FOOTER);
    }
    sheet.set_column_width(0, 42)?;
    // Format 5's control rows of the balances owed back hold longer values.
    let owed = s.control_totals.owed.is_some();
    sheet.set_column_width(1, if owed { 48.0 } else { 24.0 })?;
    sheet.set_column_width(2, 14)?;
    sheet.merge_range(0, 0, 0, 2, &format!("服务券兑付结算汇总 Settlement summary — {}", s.batch_id), &f.title)?;
    let mut row = summary_counts(sheet, s, f)?;
    if let Some(m) = &s.money {
        row = money_rows(sheet, row + 1, m, f)?;
    }
    row = summary_controls(sheet, row + 1, s, f)?;
    row += 1;
    header_row(sheet, row, &["代码 Code", "行数 Rows"], f)?;
    row += 1;
    for (code, count) in &s.codes {
        sheet.write_string(row, 0, code)?;
        sheet.write_number(row, 1, *count as f64)?;
        row += 1;
    }
    Ok(())
}

/// 汇总's batch, alerts, row counts and amounts; returns the next row.
fn summary_counts(sheet: &mut Worksheet, s: &Summary, f: &Formats) -> std::result::Result<u32, XlsxError> {
    let texts: [(&str, String); 4] = [
        ("批次 Batch", s.batch_id.clone()),
        ("服务年度 Service year", s.service_year.to_string()),
        ("截止日期 Cutoff", s.cutoff.clone()),
        ("政策 Policy", s.policy.clone()),
    ];
    let mut row = 2;
    for (label, value) in texts {
        sheet.write_string(row, 0, label)?;
        sheet.write_string(row, 1, value)?;
        row += 1;
    }
    for alert in &s.alerts {
        sheet.write_string(row, 0, format!("⚠ 注意 {alert}"))?;
        row += 1;
    }
    row += 1;
    let counts: [(&str, u64); 5] = [
        ("合同行 Contract rows", s.contract_rows_in),
        ("全额兑付 Settled", s.settled),
        ("部分兑付 Settled, reduced", s.settled_reduced),
        ("拒绝 Rejected", s.rejected),
        ("名录异常 Registry exception rows", s.registry_exception_rows),
    ];
    for (label, value) in counts {
        sheet.write_string(row, 0, label)?;
        sheet.write_number(row, 1, value as f64)?;
        row += 1;
    }
    for (label, value) in [
        ("申报金额（兑付行）Claimed on settled rows", &s.claimed_settled),
        ("核定金额 Approved", &s.approved_total),
        ("核减金额 Shortfall", &s.shortfall_total),
    ] {
        sheet.write_string(row, 0, label)?;
        sheet.write_number_with_format(row, 1, value.parse().unwrap_or(0.0), &f.money)?;
        row += 1;
    }
    sheet.write_string(row, 0, "核定金额大写 Approved in capitals")?;
    sheet.write_string(row, 1, to_capital(s.approved_total.parse().unwrap_or_default()))?;
    Ok(row + 1)
}

/// 汇总's control totals, each with its values and whether it holds;
/// returns the next row.
fn summary_controls(
    sheet: &mut Worksheet,
    mut row: u32,
    s: &Summary,
    f: &Formats,
) -> std::result::Result<u32, XlsxError> {
    let c = &s.control_totals;
    header_row(sheet, row, &["控制总数 Control total", "数值 Values", "是否平衡 Holds"], f)?;
    row += 1;
    let holds = |h: bool| if h { "✓ 平衡 holds" } else { "✗ 不平 FAILS" };
    let approved_label = match s.money {
        Some(_) => "核定合计 = 各服务商核定之和 approved = Σ providers' approved",
        None => "核定合计 = 兑付清单合计 approved = payouts",
    };
    let mut controls = vec![
        (
            "合同行 = 兑付行 + 错误行 rows in = settled + errors",
            format!("{} = {} + {}", c.contract_rows_in, c.settlement_rows, c.contract_error_rows),
            c.rows_balance,
        ),
        (approved_label, format!("{} = {}", c.approved_total, c.payouts_total), c.payouts_balance),
        ("年度累计不超上限 year-to-date within caps", format!("{} checked", c.caps_checked), c.caps_hold),
        ("每行核定 ≤ 申报且 ≤ 比例限额 approved ≤ claim, ≤ rate limit", String::new(), c.rows_within_claim_and_rate),
    ];
    if let Some(m) = &s.money {
        controls.extend(money_controls(m, s.control_totals.corrections.as_ref()));
    }
    if let Some(o) = &s.control_totals.owed {
        controls.extend(owed_controls(o));
    }
    for (label, values, held) in controls {
        sheet.write_string_with_format(row, 0, label, &f.bordered)?;
        sheet.write_string_with_format(row, 1, values, &f.bordered)?;
        sheet.write_string_with_format(row, 2, holds(held), &f.bordered)?;
        row += 1;
    }
    Ok(row)
}

/// 汇总's money (ledger format 5 on): approved, taken back, net, and what
/// 兑付清单 pays and 追回清单 claims, each with the list it is the total of.
fn money_rows(
    sheet: &mut Worksheet,
    mut row: u32,
    m: &MoneyFigures,
    f: &Formats,
) -> std::result::Result<u32, XlsxError> {
    let lines = [
        ("本批核定 Approved this batch", &m.approved),
        ("本批冲正追回 Taken back this batch", &m.taken_back),
        ("本批净额 Net (approved − taken back)", &m.net),
        ("兑付清单应付合计 To pay: the total of 兑付清单", &m.to_pay),
        ("追回清单应退回合计 Owed back: the total of 追回清单", &m.owed_back),
    ];
    row = amount_lines(sheet, row, &lines, f)?;
    let Some(o) = &m.owed else {
        sheet.write_string(row, 0, "应付合计大写 To pay in capitals")?;
        sheet.write_string(row, 1, to_capital(m.to_pay.parse().unwrap_or_default()))?;
        return Ok(row + 1);
    };
    let lines = [
        ("本批抵扣 Withheld against balances owed (offset)", &o.offset),
        ("兑付清单实付合计 Paid: the total of 兑付清单", &o.paid),
        ("此前应退回余额 Owed back before the batch", &o.owed_before),
        ("本批新增应退回 Newly owed this batch", &o.owed_new),
        ("本批退回到账 Refunded this batch", &o.refunded),
        ("此后应退回余额 Owed back after the batch", &o.owed_after),
        ("待核对到账款 Money received matching no debt", &o.unmatched),
    ];
    row = amount_lines(sheet, row, &lines, f)?;
    sheet.write_string(row, 0, "实付合计大写 Paid in capitals")?;
    sheet.write_string(row, 1, to_capital(o.paid.parse().unwrap_or_default()))?;
    Ok(row + 1)
}

/// Labelled amounts, one a row, from their recorded text; returns the next row.
fn amount_lines(
    sheet: &mut Worksheet,
    mut row: u32,
    lines: &[(&str, &String)],
    f: &Formats,
) -> std::result::Result<u32, XlsxError> {
    for (label, value) in lines {
        sheet.write_string(row, 0, *label)?;
        sheet.write_number_with_format(row, 1, value.parse().unwrap_or(0.0), &f.money)?;
        row += 1;
    }
    Ok(row)
}

/// The control totals of the batch's money (ledger format 5 on): the
/// corrections' own (rules 9.5), and the two lists making the net.
fn money_controls(m: &MoneyFigures, k: Option<&CorrectionTotals>) -> Vec<(&'static str, String, bool)> {
    let mut rows = Vec::new();
    if let Some(k) = k {
        rows.push((
            "更正行 = 冲正追回 + 错误 + 暂缓 + 未用暂缓 + 重复 correction rows balance",
            format!(
                "{} = {} + {} + {} + {} + {}",
                k.correction_rows_in,
                k.reversal_rows,
                k.correction_error_rows,
                k.holds_used,
                k.holds_unused,
                k.duplicate_rows
            ),
            k.rows_balance,
        ));
    }
    let (holds_net, holds_lists) = m.balances();
    rows.push((
        "核定 − 冲正追回 = 净额 approved − taken back = net",
        format!("{} − {} = {}", m.approved, m.taken_back, m.net),
        holds_net,
    ));
    rows.push((
        "应付合计 − 应退回合计 = 净额 to pay − owed back = net",
        format!("{} − {} = {}", m.to_pay, m.owed_back, m.net),
        holds_lists,
    ));
    rows
}

/// The control totals of amounts owed back (rules 10.6), as checked.
fn owed_controls(o: &OwedTotals) -> Vec<(&'static str, String, bool)> {
    vec![
        (
            "实付 = 非负净额 − 抵扣 paid = positive nets − offsets",
            format!("{} (抵扣 offset {})", o.paid_total, o.offset_total),
            o.paid_balance,
        ),
        (
            "此后余额 = 此前 + 新增 − 退回 − 抵扣 owed after = before + new − refunded − offset",
            format!(
                "{} = {} + {} − {} − {}",
                o.owed_after_total, o.owed_before_total, o.owed_new_total, o.refunded_total, o.offset_total
            ),
            o.owed_balance,
        ),
        ("此前余额 = 上批结转 owed before = carried from the store", o.owed_before_total.clone(), o.carried_balance),
        (
            "退回款行 = 入账 + 错误 + 重复 refund rows balance",
            format!(
                "{} = {} + {} + {}",
                o.refund_rows_in, o.refunds_applied, o.refund_error_rows, o.refund_duplicate_rows
            ),
            o.refunds_balance,
        ),
        ("余额、实付、抵扣均不为负 nothing below zero", String::new(), o.none_negative),
    ]
}

/// 兑付清单 with balances owed back carried (rules 10.5): every provider
/// with a settlement or reversal whose net is zero or more, with its net,
/// the offset withheld and the amount paid (实付), which the list totals.
fn paid_payout_sheet(
    sheet: &mut Worksheet,
    outcome: &BatchOutcome,
    summary: &Summary,
    f: &Formats,
    layout: Layout,
) -> std::result::Result<(), XlsxError> {
    let title = format!("服务券兑付清单（批次 {}，截止 {}）", outcome.batch_id, outcome.cutoff);
    let widths = [6.0, 32.0, 22.0, 8.0, 14.0, 14.0, 14.0, 14.0, 15.0, 15.0, 15.0];
    list_sheet(sheet, "兑付清单", &widths, &title, f, layout)?;
    let names = [
        "序号",
        "服务商名称",
        "统一社会信用代码",
        "合同数",
        "本批核定金额",
        "本批冲正追回",
        "本批净额",
        "本批抵扣",
        "本批实付",
        "年度累计（净额）",
        "年度剩余额度",
    ];
    header_row(sheet, 2, &names, f)?;
    let mut row = 3;
    let mut contracts = 0;
    for (index, p) in figures::payable(&outcome.payouts).enumerate() {
        let amounts = [
            p.approved_amount_batch,
            p.reversed_amount_batch,
            p.net_amount_batch(),
            p.owed.offset_batch,
            p.owed.paid_batch,
            p.approved_amount_year,
            p.cap_remaining,
        ];
        payee_row(sheet, row, (index, p), &amounts, f, layout)?;
        contracts += p.contracts_settled;
        row += 1;
    }
    let paid = summary.money.as_ref().and_then(|m| m.owed.as_ref()).map_or("0.00", |o| o.paid.as_str());
    let paid: Decimal = paid.parse().unwrap_or_default();
    sheet.merge_range(row, 0, row, 2, "实付合计 Total paid", &f.total_label)?;
    sheet.write_number_with_format(row, 3, contracts as f64, &f.total_label)?;
    sheet.write_number_with_format(row, 8, number(paid), &f.total_money)?;
    row += 1;
    sheet.merge_range(row, 0, row, 2, "实付金额（大写）", &f.total_label)?;
    sheet.merge_range(row, 3, row, 10, &format!("人民币{}", to_capital(paid)), &f.total_label)?;
    row += 1;
    sheet.write_string(
        row,
        0,
        "本批净额为负的服务商及应退回余额见「追回清单」「应退款台账」(providers owing back: see 追回清单 and 应退款台账)",
    )?;
    let row = attestation(sheet, row + 2, layout)?;
    signatures(sheet, row + 1, layout)
}

/// What a list to sign names beside the signatures (ledger format 5 on):
/// the issuing office, and a line for this batch's manifest SHA-256,
/// which `run` prints once the batch is committed (the workbook is listed
/// in the manifest, so it cannot hold that hash itself). Returns the next row.
fn attestation(sheet: &mut Worksheet, row: u32, layout: Layout) -> std::result::Result<u32, XlsxError> {
    let office = layout.office.unwrap_or("＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿");
    sheet.write_string(row, 1, format!("编制单位 Issued by：{office}"))?;
    sheet.write_string(
        row + 1,
        1,
        "本批清单 SHA-256（run 提交后打印，请抄写）manifest SHA-256 of this batch, as run prints it：＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿＿",
    )?;
    let mut row = row + 2;
    for line in layout.signoff.map(SignoffStamp::heading_lines).unwrap_or_default() {
        sheet.write_string(row, 1, line)?;
        row += 1;
    }
    Ok(row + 1)
}

/// 追回清单 (rules 9.4): every reversal and clawback of the batch, then
/// per provider whose net for the batch is negative the amount it owes
/// back, in figures and in capital numerals.
fn clawback_sheet(
    sheet: &mut Worksheet,
    outcome: &BatchOutcome,
    f: &Formats,
    layout: Layout,
) -> std::result::Result<(), XlsxError> {
    let title = format!("冲正、追回清单（批次 {}，截止 {}）", outcome.batch_id, outcome.cutoff);
    list_sheet(sheet, "追回清单", &[6.0, 24.0, 30.0, 22.0, 8.0, 14.0, 30.0, 22.0, 12.0, 14.0], &title, f, layout)?;
    let names = [
        "序号",
        "合同编号",
        "服务商名称",
        "服务商信用代码",
        "处理方式",
        "金额",
        "原因",
        "决定文号",
        "决定日期",
        "原兑付批次",
    ];
    header_row(sheet, 2, &names, f)?;
    let row = reversal_rows(sheet, 3, outcome, f, layout)?;
    let mut row = owing_new_block(sheet, row + 3, outcome, f, layout)?;
    if outcome.owed_balances {
        row = balances_block(sheet, row + 3, outcome, f, layout, false)?;
        row = unmatched_block(sheet, row + 2, outcome, f, layout)?;
        row = attestation(sheet, row + 2, layout)?;
    }
    signatures(sheet, row + 3, layout)
}

/// 追回清单's reversals and clawbacks, then their total; returns its row.
fn reversal_rows(
    sheet: &mut Worksheet,
    mut row: u32,
    outcome: &BatchOutcome,
    f: &Formats,
    layout: Layout,
) -> std::result::Result<u32, XlsxError> {
    let name_of = |id: &'_ str| -> String {
        let name = outcome.payouts.iter().find(|p| p.provider_id == id).map_or("", |p| p.provider_name.as_str());
        payee(name, id, layout).to_string()
    };
    for (index, r) in outcome.reversals.iter().enumerate() {
        sheet.write_number_with_format(row, 0, (index + 1) as f64, &f.bordered)?;
        let c = &r.correction;
        sheet.write_string_with_format(row, 1, c.contract_id.as_str(), &f.bordered)?;
        sheet.write_string_with_format(row, 2, name_of(&r.provider_id), f.name(layout))?;
        sheet.write_string_with_format(row, 3, &r.provider_id, &f.bordered)?;
        sheet.write_string_with_format(row, 4, c.action.name_zh(), &f.bordered)?;
        sheet.write_number_with_format(row, 5, number(r.amount), &f.bordered_money)?;
        sheet.write_string_with_format(row, 6, &c.reason, f.name(layout))?;
        sheet.write_string_with_format(row, 7, &c.reference, &f.bordered)?;
        if layout.reads() {
            sheet.write_date_with_format(row, 8, &excel_date(c.decided_on)?, &f.bordered_date)?;
        } else {
            sheet.write_string_with_format(row, 8, c.decided_on.to_string(), &f.bordered)?;
        }
        sheet.write_string_with_format(row, 9, &r.settled_batch_id, &f.bordered)?;
        row += 1;
    }
    if outcome.reversals.is_empty() {
        sheet.merge_range(row, 0, row, 9, "本批无冲正或追回 (no reversal or clawback in this batch)", &f.bordered)?;
        row += 1;
    }
    let taken_back: Decimal = outcome.reversals.iter().map(|r| r.amount).sum();
    sheet.merge_range(row, 0, row, 4, "冲正追回合计 Total taken back", &f.total_label)?;
    sheet.write_number_with_format(row, 5, number(taken_back), &f.total_money)?;
    Ok(row)
}

/// What each provider whose net is negative owes from this batch, in
/// figures and 大写, and their total; returns the total's row.
fn owing_new_block(
    sheet: &mut Worksheet,
    mut row: u32,
    outcome: &BatchOutcome,
    f: &Formats,
    layout: Layout,
) -> std::result::Result<u32, XlsxError> {
    sheet.merge_range(row, 0, row, 9, "应退回金额（本批净额为负的服务商）Amounts owed back", &f.total_label)?;
    row += 1;
    header_row(sheet, row, &["序号", "服务商名称", "统一社会信用代码", "应退回金额", "金额（大写）"], f)?;
    if outcome.owed_balances {
        // The heading over the whole width of the 大写 cells below it, not
        // wrapped in one narrow column.
        sheet.merge_range(row, 4, row, 9, "金额（大写）", &f.header)?;
    }
    row += 1;
    let mut owed_total = Decimal::ZERO;
    let owing = figures::owing_new(&outcome.payouts);
    for (index, p) in owing.enumerate() {
        let owed = -p.net_amount_batch();
        sheet.write_number_with_format(row, 0, (index + 1) as f64, &f.bordered)?;
        sheet.write_string_with_format(row, 1, payee(&p.provider_name, &p.provider_id, layout), f.name(layout))?;
        sheet.write_string_with_format(row, 2, &p.provider_id, &f.bordered)?;
        sheet.write_number_with_format(row, 3, number(owed), &f.bordered_money)?;
        sheet.merge_range(row, 4, row, 9, &format!("人民币{}", to_capital(owed)), &f.bordered)?;
        owed_total += owed;
        row += 1;
    }
    sheet.merge_range(row, 0, row, 2, "应退回合计 Total owed", &f.total_label)?;
    sheet.write_number_with_format(row, 3, number(owed_total), &f.total_money)?;
    sheet.merge_range(row, 4, row, 9, &format!("人民币{}", to_capital(owed_total)), &f.total_label)?;
    Ok(row)
}

/// The balances owed back (rules 10.5), per provider with any: owed
/// before, newly owed, refunded, offset, owed after — on 追回清单, and with
/// the batches since each balance was last 0.00 on 应退款台账: the same
/// rows, written by this one function. Returns the row of its total.
fn balances_block(
    sheet: &mut Worksheet,
    mut row: u32,
    outcome: &BatchOutcome,
    f: &Formats,
    layout: Layout,
    with_since: bool,
) -> std::result::Result<u32, XlsxError> {
    sheet.merge_range(row, 0, row, 9, "应退回余额 Balances owed back", &f.total_label)?;
    row += 1;
    let mut names =
        vec!["序号", "服务商名称", "统一社会信用代码", "此前余额", "本批新增", "本批退回到账", "本批抵扣", "此后余额"];
    if with_since {
        names.push("欠款以来批次");
    }
    header_row(sheet, row, &names, f)?;
    row += 1;
    let mut totals = [Decimal::ZERO; 5];
    for (index, p) in figures::with_balance(&outcome.payouts).enumerate() {
        sheet.write_number_with_format(row, 0, (index + 1) as f64, &f.bordered)?;
        sheet.write_string_with_format(row, 1, payee(&p.provider_name, &p.provider_id, layout), f.name(layout))?;
        sheet.write_string_with_format(row, 2, &p.provider_id, &f.bordered)?;
        let o = &p.owed;
        let amounts = [o.owed_before, o.owed_new, o.refunded_batch, o.offset_batch, o.owed_after];
        for ((column, amount), total) in (3u16..).zip(amounts).zip(totals.iter_mut()) {
            sheet.write_number_with_format(row, column, number(amount), &f.bordered_money)?;
            *total += amount;
        }
        if with_since {
            let since = outcome.owing_since.get(&p.provider_id).map_or_else(String::new, |b| b.join("、"));
            sheet.write_string_with_format(row, 8, since, &f.bordered)?;
        }
        row += 1;
    }
    sheet.merge_range(row, 0, row, 2, "合计 Total", &f.total_label)?;
    for (column, total) in (3u16..).zip(totals) {
        sheet.write_number_with_format(row, column, number(total), &f.total_money)?;
    }
    Ok(row)
}

/// 待核对到账款 (rules 10.2 step 5, 10.5): money received that matches no
/// debt, to be returned or booked elsewhere. Returns its last row.
fn unmatched_block(
    sheet: &mut Worksheet,
    mut row: u32,
    outcome: &BatchOutcome,
    f: &Formats,
    layout: Layout,
) -> std::result::Result<u32, XlsxError> {
    sheet.merge_range(row, 0, row, 9, "待核对到账款 Money received matching no debt", &f.total_label)?;
    row += 1;
    header_row(sheet, row, &["序号", "服务商信用代码", "金额", "到账日期", "凭证号", "代码", "当时余额"], f)?;
    row += 1;
    for (index, u) in outcome.unmatched_refunds.iter().enumerate() {
        let r = &u.refund;
        sheet.write_number_with_format(row, 0, (index + 1) as f64, &f.bordered)?;
        sheet.write_string_with_format(row, 1, r.provider_id.as_str(), &f.bordered)?;
        sheet.write_number_with_format(row, 2, number(r.amount), &f.bordered_money)?;
        sheet.write_date_with_format(row, 3, &excel_date(r.received_on)?, &f.bordered_date)?;
        sheet.write_string_with_format(row, 4, &r.reference, f.name(layout))?;
        sheet.write_string_with_format(row, 5, u.code.as_str(), &f.bordered)?;
        sheet.write_number_with_format(row, 6, number(u.balance), &f.bordered_money)?;
        row += 1;
    }
    if outcome.unmatched_refunds.is_empty() {
        sheet.merge_range(row, 0, row, 9, "无 (none)", &f.bordered)?;
    }
    Ok(row)
}

/// 应退款台账 (ledger format 5 on): every provider with a balance owed
/// back, its movements in the batch and the batches since it last owed
/// nothing — the rows of 追回清单's balances.
fn owed_ledger_sheet(
    sheet: &mut Worksheet,
    outcome: &BatchOutcome,
    f: &Formats,
    layout: Layout,
) -> std::result::Result<(), XlsxError> {
    let title = format!("应退款台账（批次 {}，截止 {}）", outcome.batch_id, outcome.cutoff);
    list_sheet(sheet, "应退款台账", &[6.0, 30.0, 22.0, 14.0, 14.0, 14.0, 14.0, 14.0, 30.0], &title, f, layout)?;
    let row = balances_block(sheet, 2, outcome, f, layout, true)?;
    signatures(sheet, row + 3, layout)
}

/// A list to print and sign: A4 landscape, one page wide, its header row
/// (row 3) repeated on every page; its columns' widths and the title over
/// them. From format 4 the header is frozen on screen and 单位：元 stands
/// over the last column.
fn list_sheet(
    sheet: &mut Worksheet,
    name: &str,
    widths: &[f64],
    title: &str,
    f: &Formats,
    layout: Layout,
) -> std::result::Result<(), XlsxError> {
    sheet.set_name(name)?;
    sheet.set_paper_size(9); // A4
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    sheet.set_repeat_rows(2, 2)?;
    for (column, width) in widths.iter().enumerate() {
        sheet.set_column_width(column as u16, *width)?;
    }
    let last = widths.len() as u16 - 1;
    sheet.merge_range(0, 0, 0, last, title, &f.title)?;
    if layout.reads() {
        sheet.write_string_with_format(1, last, "单位：元", &f.unit)?;
        sheet.set_freeze_panes(3, 0)?;
    }
    Ok(())
}

/// The signature lines under a list to sign; a committed batch of a job
/// with sign-off prints each approval beside its role's line (a role
/// without an ink line gets its own).
fn signatures(sheet: &mut Worksheet, mut row: u32, layout: Layout) -> std::result::Result<(), XlsxError> {
    let mut approvals = layout.signoff.map(SignoffStamp::approval_lines).unwrap_or_default();
    let extra: Vec<String> = approvals
        .iter()
        .filter(|(role, _)| !["经办", "复核", "审批"].contains(&role.as_str()))
        .map(|(role, _)| format!("{role}："))
        .collect();
    let labels = ["经办人：", "复核人：", "审批人："].into_iter().map(str::to_string).chain(extra);
    for label in labels.chain(["日期：".to_string()]) {
        sheet.write_string(row, 1, &label)?;
        let role = label.trim_end_matches('：').trim_end_matches('人');
        if let Some(at) = approvals.iter().position(|(r, _)| r == role) {
            sheet.write_string(row, 3, approvals.remove(at).1)?;
        }
        row += 2;
    }
    Ok(())
}

/// Writes up to `DETAIL_ROWS_MAX` rows, then a note where the rest is.
fn overflow_note(sheet: &mut Worksheet, row: u32, total: usize, file: &str) -> std::result::Result<(), XlsxError> {
    if total > DETAIL_ROWS_MAX {
        let note = format!(
            "仅列前 {DETAIL_ROWS_MAX} 行，共 {total} 行，完整数据见 {file} (first {DETAIL_ROWS_MAX} of {total} rows; all in {file})"
        );
        sheet.write_string(row, 0, note)?;
    }
    Ok(())
}

/// 结算明细 from format 4 on.
fn settlements_detail(
    sheet: &mut Worksheet,
    outcome: &BatchOutcome,
    d: &DetailFormats,
) -> std::result::Result<(), XlsxError> {
    let total = outcome.settlements.len();
    let shown = total.min(DETAIL_ROWS_MAX);
    let files = "settlements.csv / settlements.parquet";
    let mut detail = DetailSheet::start(sheet, "结算明细", d, (shown, total), files)?;
    let readable = d.is_readable();
    let mut columns = output::SETTLEMENTS.to_vec();
    if readable {
        columns.extend([output::OUTCOME_ZH, output::CATEGORY_ZH]);
        detail.hide((0..output::SETTLEMENTS.len()).filter(|c| !output::SETTLEMENTS_PRINTED.contains(c)));
    }
    detail.table_header(&columns)?;
    for s in outcome.settlements.iter().take(shown) {
        s.for_each_cell(&outcome.batch_id, |cell| detail.cell(cell));
        if readable {
            detail.text(super::statement::outcome_zh(s.outcome));
            detail.text(Category::parse(s.category).map_or(s.category, Category::name_zh));
        }
        detail.end_row();
    }
    detail.finish(columns.len())
}

/// A severity as a reader says it.
fn severity_zh(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "错误（未兑付）",
        Severity::Adjustment => "核减",
        Severity::Warning => "提示",
    }
}

/// An input as a reader names it.
fn source_zh(source: Source) -> &'static str {
    match source {
        Source::Contracts => "合同",
        Source::Enterprises => "企业名录",
        Source::Designations => "资质名录",
        Source::Providers => "服务商名录",
        Source::Products => "产品目录",
        Source::Corrections => "更正",
        Source::Refunds => "退回款",
    }
}

/// 配额使用 from format 4 on.
fn usage_detail(
    sheet: &mut Worksheet,
    outcome: &BatchOutcome,
    d: &DetailFormats,
) -> std::result::Result<(), XlsxError> {
    let total = outcome.usage.len();
    let shown = total.min(DETAIL_ROWS_MAX);
    let files = "enterprise_usage.csv / enterprise_usage.parquet";
    let mut detail = DetailSheet::start(sheet, "配额使用", d, (shown, total), files)?;
    detail.table_header(&output::USAGE)?;
    for u in outcome.usage.iter().take(shown) {
        u.for_each_cell(&outcome.batch_id, outcome.enterprise(u), true, |cell| detail.cell(cell));
        detail.end_row();
    }
    detail.finish(output::USAGE.len())
}

/// 异常清单 from format 4 on: errors, then adjustments, then warnings, by
/// code within each. Cut, it keeps rows of every severity — each its share
/// of the rows shown, a share one does not fill going to the others — and
/// opens with the rows per code and how many of each are shown.
fn exceptions_detail(
    sheet: &mut Worksheet,
    outcome: &BatchOutcome,
    d: &DetailFormats,
) -> std::result::Result<(), XlsxError> {
    let exceptions = &outcome.exceptions;
    let key = |&i: &usize| listing_key(exceptions, i);
    let mut by_severity: [Vec<usize>; 3] = Default::default();
    for (i, e) in exceptions.iter().enumerate() {
        by_severity[e.severity() as usize].push(i);
    }
    let shares = shares(by_severity.each_ref().map(Vec::len), DETAIL_ROWS_MAX);
    let mut shown: Vec<usize> = Vec::with_capacity(shares.iter().sum());
    for (mut rows, share) in by_severity.into_iter().zip(shares) {
        if rows.len() > share {
            rows.select_nth_unstable_by_key(share, key);
            rows.truncate(share);
        }
        shown.extend(rows);
    }
    shown.sort_unstable_by_key(key);
    let total = exceptions.len();
    let files = "exceptions.csv / exceptions.parquet";
    let mut detail = DetailSheet::start(sheet, "异常清单", d, (shown.len(), total), files)?;
    if shown.len() < total {
        let mut counts: std::collections::BTreeMap<(Severity, &str), (u64, u64)> = Default::default();
        for e in exceptions.iter() {
            counts.entry((e.severity(), e.code.as_str())).or_default().0 += 1;
        }
        for &i in &shown {
            let e = &exceptions[i];
            counts.entry((e.severity(), e.code.as_str())).or_default().1 += 1;
        }
        detail.line("各代码行数 Rows per code")?;
        detail.headings(&["代码 code", "级别 severity", "说明", "本批行数 rows", "本表列出 shown"])?;
        for ((severity, code), (rows, listed)) in counts {
            detail.text(code);
            detail.text(severity.as_str());
            detail.text(Code::parse(code).map_or("", Code::text_zh));
            detail.cell(Cell::Count(rows));
            detail.cell(Cell::Count(listed));
            detail.end_row();
        }
        detail.blank();
    }
    let readable = d.is_readable();
    let mut columns = output::EXCEPTIONS.to_vec();
    if readable {
        columns.extend([output::SEVERITY_ZH, output::SOURCE_ZH]);
        detail.hide((0..output::EXCEPTIONS.len()).filter(|c| !output::EXCEPTIONS_PRINTED.contains(c)));
    }
    detail.table_header(&columns)?;
    let mut message = String::new();
    for &i in &shown {
        let e = &exceptions[i];
        message.clear();
        e.push_message(&mut message);
        e.for_each_cell(&outcome.batch_id, &message, |cell| detail.cell(cell));
        if readable {
            detail.text(severity_zh(e.severity()));
            detail.text(source_zh(e.source));
        }
        detail.end_row();
    }
    detail.finish(columns.len())
}

/// The order 异常清单 lists exceptions in: errors, then adjustments, then
/// warnings (`Severity`'s order), by code within each; the row index ends
/// the key, so the order is total (and the same as a stable sort).
fn listing_key(exceptions: &[ExceptionRow], i: usize) -> (Severity, &str, Source, u64, usize) {
    let e = &exceptions[i];
    (e.severity(), e.code.as_str(), e.source, e.source_row, i)
}

/// Rows shown per severity out of `limit`: each severity present gets an
/// equal share, and what one does not fill goes to the others.
fn shares(counts: [usize; 3], limit: usize) -> [usize; 3] {
    let mut order = [0, 1, 2];
    order.sort_by_key(|&k| counts[k]);
    let mut shares = [0; 3];
    let mut left = limit;
    for (done, &k) in order.iter().enumerate() {
        let share = counts[k].min(left / (3 - done));
        shares[k] = share;
        left -= share;
    }
    shares
}

/// The most characters a spreadsheet cell holds (Excel's limit).
const CELL_CHARS_MAX: usize = 32_767;

/// Text cut to what a cell holds, marked `…` where cut; the CSV and Parquet
/// files keep it whole.
pub(super) fn fit_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= CELL_CHARS_MAX || text.chars().count() <= CELL_CHARS_MAX {
        return std::borrow::Cow::Borrowed(text);
    }
    let cut: String = text.chars().take(CELL_CHARS_MAX - 1).collect();
    std::borrow::Cow::Owned(cut + "…")
}

/// The cells of one detail row, written left to right as their kinds say;
/// the first error is kept and returned by [`Cells::done`].
struct Cells<'s> {
    sheet: &'s mut Worksheet,
    row: u32,
    column: u16,
    formats: &'s Formats,
    failed: Option<XlsxError>,
}

impl<'s> Cells<'s> {
    fn new(sheet: &'s mut Worksheet, row: u32, formats: &'s Formats) -> Cells<'s> {
        Cells { sheet, row, column: 0, formats, failed: None }
    }

    fn write(&mut self, cell: Cell) {
        let (row, column, f) = (self.row, self.column, self.formats);
        let written = match cell {
            Cell::Text(text) => self.sheet.write_string(row, column, fit_cell(text)).map(|_| ()),
            Cell::InputText(text) => {
                self.sheet.write_string_with_format(row, column, fit_cell(text), &f.text).map(|_| ())
            }
            Cell::Money(amount) => {
                self.sheet.write_number_with_format(row, column, number(amount), &f.money).map(|_| ())
            }
            Cell::Date(date) => self.sheet.write_string(row, column, date.to_string()).map(|_| ()),
            Cell::Count(value) => self.sheet.write_number(row, column, value as f64).map(|_| ()),
            Cell::Empty => Ok(()),
        };
        if let Err(e) = written {
            self.failed.get_or_insert(e);
        }
        self.column += 1;
    }

    fn done(self) -> std::result::Result<(), XlsxError> {
        self.failed.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::shares;

    /// Every severity present keeps rows; what one cannot fill goes to the others.
    #[test]
    fn a_cut_exception_sheet_shares_its_rows_among_the_severities() {
        assert_eq!(shares([50_000, 30_000, 10], 20_000), [9_995, 9_995, 10]);
        assert_eq!(shares([50_000, 0, 0], 20_000), [20_000, 0, 0]);
        assert_eq!(shares([5, 6, 7], 20_000), [5, 6, 7]);
        assert_eq!(shares([100, 30_000, 30_000], 20_000), [100, 9_950, 9_950]);
    }
}
