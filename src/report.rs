//! Output formats in one place: CSV files (UTF-8 with BOM, money with two
//! decimals), summary.json and the printed summary.

use std::io::Write;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::codes::{ExceptionRow, Severity, Source};
use crate::dates::iso;
use crate::money::{format_money, push_money};
use crate::policy::Policy;
use crate::settle::{BatchOutcome, ControlTotals, SettlementRow};
use crate::{Error, Result};

const BOM: &[u8] = b"\xEF\xBB\xBF";

pub const SETTLEMENT_COLUMNS: [&str; 27] = [
    "batch_id",
    "seq",
    "contract_id",
    "enterprise_id",
    "provider_id",
    "product_id",
    "category",
    "signed_on",
    "completed_on",
    "service_price",
    "voucher_amount",
    "rate_limit",
    "approved_amount",
    "shortfall",
    "outcome",
    "code",
    "tier",
    "enterprise_quota",
    "enterprise_used_before",
    "enterprise_used_after",
    "item_cap",
    "item_used_before",
    "item_used_after",
    "provider_used_before",
    "provider_used_after",
    "source_row",
    "fingerprint",
];
pub const EXCEPTION_COLUMNS: [&str; 9] =
    ["batch_id", "source", "source_row", "contract_id", "severity", "code", "field", "value", "message"];
pub const PAYOUT_COLUMNS: [&str; 7] = [
    "batch_id",
    "provider_id",
    "provider_name",
    "contracts_settled",
    "approved_amount_batch",
    "approved_amount_year",
    "cap_remaining",
];
pub const USAGE_COLUMNS: [&str; 9] = [
    "batch_id",
    "enterprise_id",
    "enterprise_name",
    "tier",
    "quota",
    "used_before",
    "used_batch",
    "used_after",
    "remaining",
];

/// A CSV file being written: UTF-8 with BOM, one field at a time, money
/// formatted in place without a string per cell.
struct CsvOut<W: Write> {
    writer: csv::Writer<W>,
    scratch: String,
}

type CsvResult = std::result::Result<(), csv::Error>;

impl<W: Write> CsvOut<W> {
    fn new(mut out: W, header: &[&str]) -> std::result::Result<CsvOut<W>, csv::Error> {
        out.write_all(BOM)?;
        let mut writer = csv::WriterBuilder::new().buffer_capacity(1 << 16).from_writer(out);
        writer.write_record(header)?;
        Ok(CsvOut { writer, scratch: String::with_capacity(64) })
    }
    fn text(&mut self, value: &str) -> CsvResult {
        self.writer.write_field(value)
    }
    /// Input text a spreadsheet must not run as a formula.
    fn input_text(&mut self, value: &str) -> CsvResult {
        if needs_apostrophe(value) {
            self.scratch.clear();
            self.scratch.push('\'');
            self.scratch.push_str(value);
            return self.writer.write_field(&self.scratch);
        }
        self.writer.write_field(value)
    }
    fn money(&mut self, amount: Decimal) -> CsvResult {
        self.scratch.clear();
        push_money(&mut self.scratch, amount);
        self.writer.write_field(&self.scratch)
    }
    fn message(&mut self, exception: &ExceptionRow) -> CsvResult {
        self.scratch.clear();
        exception.push_message(&mut self.scratch);
        self.writer.write_field(&self.scratch)
    }
    fn number(&mut self, value: u64) -> CsvResult {
        self.writer.write_field(itoa::Buffer::new().format(value))
    }
    fn end_row(&mut self) -> CsvResult {
        self.writer.write_record(None::<&[u8]>)
    }
    fn finish(mut self) -> Result<()> {
        self.writer.flush().map_err(|e| Error::Internal(format!("CSV render: {e}")))
    }
}

fn render_failed(e: csv::Error) -> Error {
    Error::Internal(format!("CSV render: {e}"))
}

/// Input text shown in a spreadsheet must not run as a formula: a value
/// starting with = + - @ or a control character gets a leading apostrophe.
fn needs_apostrophe(value: &str) -> bool {
    matches!(value.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r'))
}

pub fn settlements_csv(outcome: &BatchOutcome, w: impl Write) -> Result<()> {
    let mut out = CsvOut::new(w, &SETTLEMENT_COLUMNS).map_err(render_failed)?;
    for s in &outcome.settlements {
        settlement_row(&mut out, &outcome.batch_id, s).map_err(render_failed)?;
    }
    out.finish()
}

fn settlement_row(out: &mut CsvOut<impl Write>, batch_id: &str, s: &SettlementRow) -> CsvResult {
    out.text(batch_id)?;
    out.number(s.seq)?;
    out.text(&s.contract_id)?;
    out.text(&s.enterprise_id)?;
    out.text(&s.provider_id)?;
    out.text(&s.product_id)?;
    out.text(s.category)?;
    out.text(iso(s.signed_on).as_str())?;
    out.text(iso(s.completed_on).as_str())?;
    for amount in [s.service_price, s.voucher_amount, s.rate_limit, s.approved_amount, s.shortfall] {
        out.money(amount)?;
    }
    out.text(s.outcome)?;
    out.text(s.code)?;
    out.number(u64::from(s.tier))?;
    for amount in [
        s.enterprise_quota,
        s.enterprise_used_before,
        s.enterprise_used_after,
        s.item_cap,
        s.item_used_before,
        s.item_used_after,
        s.provider_used_before,
        s.provider_used_after,
    ] {
        out.money(amount)?;
    }
    out.number(s.source_row)?;
    out.text(s.fingerprint.text().as_str())?;
    out.end_row()
}

pub fn exceptions_csv(outcome: &BatchOutcome, w: impl Write) -> Result<()> {
    let mut out = CsvOut::new(w, &EXCEPTION_COLUMNS).map_err(render_failed)?;
    for e in &outcome.exceptions {
        let row = |out: &mut CsvOut<_>| -> CsvResult {
            out.text(&outcome.batch_id)?;
            out.text(e.source.as_str())?;
            out.number(e.source_row)?;
            out.input_text(&e.contract_id)?;
            out.text(e.severity().as_str())?;
            out.text(e.code.as_str())?;
            out.text(e.field)?;
            out.input_text(&e.value)?;
            out.message(e)?;
            out.end_row()
        };
        row(&mut out).map_err(render_failed)?;
    }
    out.finish()
}

pub fn payouts_csv(outcome: &BatchOutcome, w: impl Write) -> Result<()> {
    let mut out = CsvOut::new(w, &PAYOUT_COLUMNS).map_err(render_failed)?;
    for p in &outcome.payouts {
        let row = |out: &mut CsvOut<_>| -> CsvResult {
            out.text(&outcome.batch_id)?;
            out.text(&p.provider_id)?;
            out.input_text(&p.provider_name)?;
            out.number(p.contracts_settled)?;
            out.money(p.approved_amount_batch)?;
            out.money(p.approved_amount_year)?;
            out.money(p.cap_remaining)?;
            out.end_row()
        };
        row(&mut out).map_err(render_failed)?;
    }
    out.finish()
}

pub fn usage_csv(outcome: &BatchOutcome, w: impl Write) -> Result<()> {
    let mut out = CsvOut::new(w, &USAGE_COLUMNS).map_err(render_failed)?;
    for u in &outcome.usage {
        let row = |out: &mut CsvOut<_>| -> CsvResult {
            out.text(&outcome.batch_id)?;
            out.text(&u.enterprise_id)?;
            out.input_text(&u.enterprise_name)?;
            out.number(u64::from(u.tier))?;
            for amount in [u.quota, u.used_before, u.used_batch, u.used_after, u.remaining] {
                out.money(amount)?;
            }
            out.end_row()
        };
        row(&mut out).map_err(render_failed)?;
    }
    out.finish()
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Summary {
    pub batch_id: String,
    pub service_year: i32,
    pub cutoff: String,
    pub policy: String,
    pub contract_rows_in: u64,
    pub settled: u64,
    pub settled_reduced: u64,
    pub rejected: u64,
    pub registry_exception_rows: u64,
    /// Exception rows per code (errors, adjustments and warnings).
    pub codes: std::collections::BTreeMap<String, u64>,
    pub claimed_settled: String,
    pub approved_total: String,
    pub shortfall_total: String,
    pub providers_paid: u64,
    pub enterprises_touched: u64,
    pub control_totals: ControlTotals,
}

pub fn summary(outcome: &BatchOutcome, policy: &Policy) -> Summary {
    let reduced = outcome.settlements.iter().filter(|s| s.outcome == "SETTLED_REDUCED").count() as u64;
    let rejected =
        outcome.exceptions.iter().filter(|e| e.source == Source::Contracts && e.severity() == Severity::Error).count()
            as u64;
    Summary {
        batch_id: outcome.batch_id.clone(),
        service_year: outcome.service_year,
        cutoff: outcome.cutoff.to_string(),
        policy: policy.name.clone(),
        contract_rows_in: outcome.contract_rows_in,
        settled: outcome.settlements.len() as u64 - reduced,
        settled_reduced: reduced,
        rejected,
        registry_exception_rows: outcome.exceptions.iter().filter(|e| e.source != Source::Contracts).count() as u64,
        codes: outcome.code_counts(),
        claimed_settled: format_money(outcome.settlements.iter().map(|s| s.voucher_amount).sum()),
        approved_total: format_money(outcome.approved_total()),
        shortfall_total: format_money(outcome.settlements.iter().map(|s| s.shortfall).sum()),
        providers_paid: outcome.payouts.len() as u64,
        enterprises_touched: outcome.usage.len() as u64,
        control_totals: outcome.control.clone(),
    }
}

pub fn summary_json(summary: &Summary, mut w: impl Write) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(summary).map_err(|e| Error::Internal(format!("summary.json: {e}")))?;
    bytes.push(b'\n');
    w.write_all(&bytes).map_err(|e| Error::Internal(format!("summary.json: {e}")))
}

/// The printed summary, Chinese with English alongside.
pub fn printed_summary(s: &Summary) -> String {
    let c = &s.control_totals;
    let mark = |holds: bool| {
        if holds { "✓ 平衡 holds" } else { "✗ 不平 FAILS" }
    };
    let mut out = String::new();
    out += &format!("批次 batch {}  服务年度 service year {}  截止 cutoff {}\n", s.batch_id, s.service_year, s.cutoff);
    out += &format!("政策 policy: {}\n", s.policy);
    out += &format!(
        "合同行 contract rows {}: 兑付 settled {}, 部分兑付 reduced {}, 拒绝 rejected {}\n",
        s.contract_rows_in, s.settled, s.settled_reduced, s.rejected
    );
    out += &format!(
        "核定金额 approved {}  (申报 claimed {}, 核减 shortfall {})\n",
        s.approved_total, s.claimed_settled, s.shortfall_total
    );
    out += &format!(
        "服务商 providers paid {}, 企业 enterprises touched {}, 名录异常 registry exceptions {}\n",
        s.providers_paid, s.enterprises_touched, s.registry_exception_rows
    );
    if !s.codes.is_empty() {
        let codes: Vec<String> = s.codes.iter().map(|(code, n)| format!("{code} {n}")).collect();
        out += &format!("异常代码 codes: {}\n", codes.join(", "));
    }
    out += "控制总数 control totals:\n";
    out += &format!(
        "  合同行 = 兑付行 + 错误行 rows in = settled + errors: {} = {} + {}  {}\n",
        c.contract_rows_in,
        c.settlement_rows,
        c.contract_error_rows,
        mark(c.rows_balance)
    );
    out += &format!(
        "  核定合计 = 兑付清单合计 approved = payouts: {} = {}  {}\n",
        c.approved_total,
        c.payouts_total,
        mark(c.payouts_balance)
    );
    out +=
        &format!("  年度累计不超上限 year-to-date within caps ({} checked)  {}\n", c.caps_checked, mark(c.caps_hold));
    out += &format!(
        "  每行核定 ≤ 申报且 ≤ 比例限额 each row approved ≤ claim and ≤ rate limit  {}\n",
        mark(c.rows_within_claim_and_rate)
    );
    out
}
