//! 服务商结算对账单: one provider's statement for one batch, as a workbook
//! laid out like the batch workbook's detail sheets (Chinese headings over
//! the column names, widths from the values, 单位：元, print setup, page
//! numbers).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_xlsxwriter::XlsxError;

use crate::report::capital::to_capital;
use crate::report::detail_sheet::{DetailFormats, DetailSheet, new_workbook};
use crate::rules::corrections::Action;
use crate::rules::dates::parse_date;
use crate::schema::output::{Cell, STATEMENT_LINES};
use crate::{Error, Result};

/// One contract of the provider in the batch.
pub struct ContractLine {
    pub contract_id: String,
    pub enterprise_id: String,
    /// The voucher amount claimed, where it is an amount.
    pub claimed: Option<Decimal>,
    pub outcome: String,
    pub approved: Decimal,
    pub shortfall: Option<Decimal>,
    pub code: String,
    /// Why, in Chinese: the bound that cut the claim and its clause, or the
    /// check that refused it.
    pub reason: String,
}

pub struct Statement {
    pub provider_id: String,
    pub name: String,
    pub batch_id: String,
    pub cutoff: String,
    pub contracts: Vec<ContractLine>,
    /// Reversals and clawbacks: contract, action, amount, reason.
    pub taken_back: Vec<(String, String, Decimal, String)>,
    /// The batch's net payout (negative: owed back).
    pub net: Decimal,
    pub year_to_date: Option<Decimal>,
    pub cap_remaining: Option<Decimal>,
    /// The balance owed back (ledger format 5 on).
    pub owed: Option<StatementOwed>,
}

/// A provider's balance owed back around one batch (rules 10.5).
#[derive(Debug, Clone, Default)]
pub struct StatementOwed {
    pub before: Decimal,
    pub new: Decimal,
    /// Each refund applied: received on, reference, amount.
    pub refunds: Vec<(String, String, Decimal)>,
    pub refunded: Decimal,
    pub offset: Decimal,
    pub after: Decimal,
    pub paid: Decimal,
}

impl Statement {
    pub fn new(provider_id: &str, batch_id: &str, cutoff: &str) -> Statement {
        Statement {
            provider_id: provider_id.to_string(),
            name: String::new(),
            batch_id: batch_id.to_string(),
            cutoff: cutoff.to_string(),
            contracts: Vec::new(),
            taken_back: Vec::new(),
            net: Decimal::ZERO,
            year_to_date: None,
            cap_remaining: None,
            owed: None,
        }
    }

    pub fn workbook(&self) -> Result<Vec<u8>> {
        self.build().map_err(|e| Error::Internal(format!("statement {}: {e}", self.provider_id)))
    }

    fn build(&self) -> std::result::Result<Vec<u8>, XlsxError> {
        let created = parse_date(&self.cutoff).or_else(|| NaiveDate::from_ymd_opt(2000, 1, 1)).unwrap_or_default();
        let title = format!("服务商结算对账单 {} {}", self.batch_id, self.provider_id);
        let mut workbook = new_workbook(title, created)?;
        let f = DetailFormats::readable();
        let sheet = workbook.add_worksheet();
        let rows = self.contracts.len();
        let mut d = DetailSheet::start(sheet, "对账单", &f, (rows, rows), "")?;
        d.line(&format!("服务商结算对账单（批次 {}，截止 {}）", self.batch_id, self.cutoff))?;
        let name = if self.name.trim().is_empty() { "（名录无名称）" } else { self.name.as_str() };
        d.line(&format!("服务商 {name}　统一社会信用代码 {}", self.provider_id))?;
        d.line("单位：元")?;
        let columns: Vec<(&str, &str)> = STATEMENT_LINES.iter().map(|c| (c.heading_zh, c.name)).collect();
        d.table_header_of(&columns)?;
        for c in &self.contracts {
            d.cell(Cell::Text(&c.contract_id));
            d.cell(Cell::Text(&c.enterprise_id));
            d.cell(c.claimed.map_or(Cell::Empty, Cell::Money));
            d.cell(Cell::Text(outcome_zh(&c.outcome)));
            d.cell(Cell::Money(c.approved));
            d.cell(c.shortfall.map_or(Cell::Empty, Cell::Money));
            d.cell(Cell::Text(&c.code));
            d.cell(Cell::Text(&c.reason));
            d.end_row();
        }
        d.end_table();
        d.blank();
        self.taken_back_lines(&mut d);
        let approved: Decimal = self.contracts.iter().map(|c| c.approved).sum();
        let taken_back: Decimal = self.taken_back.iter().map(|t| t.2).sum();
        d.line(&format!("本批核定 approved {}　本批冲正追回 taken back {}", money(approved), money(taken_back)))?;
        let (label, amount) =
            if self.net < Decimal::ZERO { ("本批应退回", -self.net) } else { ("本批应付净额", self.net) };
        d.line(&format!("{label} {}（大写：人民币{}）", money(amount), to_capital(amount)))?;
        if let Some(o) = &self.owed {
            owed_lines(&mut d, o)?;
        }
        d.blank();
        d.line("服务商确认 Provider's confirmation：以上内容核对无误 (checked and correct)。")?;
        d.line("服务商（盖章 seal）：＿＿＿＿＿＿＿＿＿＿＿＿　　经办人 signed：＿＿＿＿＿＿　　日期 date：＿＿＿＿年＿＿月＿＿日")?;
        if let (Some(year), Some(left)) = (self.year_to_date, self.cap_remaining) {
            d.line(&format!(
                "年度累计 year to date {}，年度上限 {}，剩余 {}",
                money(year),
                money(year + left),
                money(left)
            ))?;
        }
        d.finish(8)?;
        workbook.save_to_buffer()
    }
}

/// The balance owed back: before, newly owed, each refund received, the
/// offset withheld, after; then the amount paid, in figures and 大写.
fn owed_lines(d: &mut DetailSheet, o: &StatementOwed) -> std::result::Result<(), XlsxError> {
    d.line(&format!(
        "此前应退回余额 owed before {}　本批新增 newly owed {}　本批退回到账 refunded {}　本批抵扣 offset {}　此后应退回余额 owed after {}",
        money(o.before),
        money(o.new),
        money(o.refunded),
        money(o.offset),
        money(o.after)
    ))?;
    for (received_on, reference, amount) in &o.refunds {
        d.line(&format!("退回到账 refund received {received_on}　凭证号 {reference}　金额 {}", money(*amount)))?;
    }
    d.line(&format!("本批实付 paid {}（大写：人民币{}）", money(o.paid), to_capital(o.paid)))
}

impl Statement {
    /// Each reversal and clawback: contract, action, amount, reason.
    fn taken_back_lines(&self, d: &mut DetailSheet) {
        for (contract, action, amount, reason) in &self.taken_back {
            d.text(contract);
            d.text(match Action::parse(action) {
                Some(known) => known.name_zh(),
                None => action,
            });
            d.cell(Cell::Money(*amount));
            d.text(reason);
            d.end_row();
        }
        if !self.taken_back.is_empty() {
            d.blank();
        }
    }
}

fn money(amount: Decimal) -> String {
    super::html::grouped(amount)
}

/// An outcome as a reader says it (the statements and 结算明细).
pub(super) fn outcome_zh(outcome: &str) -> &str {
    match outcome {
        "SETTLED" => "全额兑付",
        "SETTLED_REDUCED" => "部分兑付",
        "REJECTED" => "拒绝",
        other => other,
    }
}
