//! Output formats in one place: CSV files (UTF-8 with BOM, money with two
//! decimals), summary.json and the printed summary.

pub mod audit_sheets;
pub mod capital;
mod detail_sheet;
pub mod figures;
pub mod html;
pub mod sample;
pub mod statement;
pub mod workbook;
pub mod year;

pub use signoff_stamp::{ApprovalLine, SignoffStamp};
mod signoff_stamp;

use std::io::Write;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::engine::BatchOutcome;
use crate::frame::RowCells;
use crate::ledger::Format;
use crate::rules::codes::{Check, Code, ExceptionRow, Severity, Source};
use crate::rules::control::ControlTotals;
use crate::rules::corrections::Action;
use crate::rules::dates::iso;
use crate::rules::money::{format_money, push_money};
use crate::rules::outputs::{ReversalRow, SettlementRow};
use crate::rules::owed::AppliedRefund;
use crate::rules::policy::Policy;
use crate::rules::risk::{RiskRow, SampleRow};
use crate::schema::output::{self, Cell};
use crate::{Error, Result};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The output tables' column names, from the one schema.
pub const SETTLEMENT_COLUMNS: [&str; 27] = output::names(&output::SETTLEMENTS);
pub const EXCEPTION_COLUMNS: [&str; 9] = output::names(&output::EXCEPTIONS);
pub const REFUND_COLUMNS: [&str; 8] = output::names(&output::REFUNDS);
pub const RISK_COLUMNS: [&str; 7] = output::names(&output::RISK);
pub const SAMPLE_COLUMNS: [&str; 8] = output::names(&output::SAMPLE);
pub const USAGE_COLUMNS: [&str; 10] = output::names(&output::USAGE);
pub const USAGE_COLUMNS_PLAIN: [&str; 9] = output::names(&output::USAGE_PLAIN);
pub const REVERSAL_COLUMNS: [&str; 19] = output::names(&output::REVERSALS);

/// A CSV file being written: UTF-8 with BOM, comma-separated, `\n` after
/// each record, a field quoted only when it holds a comma, a quote or a line
/// break (quotes doubled) — what the csv crate writes by default, without
/// its per-byte state machine for the fields that cannot need quoting
/// (money, counts, dates, codes). Money is formatted in place.
struct CsvOut<W: Write> {
    out: W,
    buffer: Vec<u8>,
    row_started: bool,
    scratch: String,
    /// The ledger format written (see `ledger::LEDGER_FORMAT`): from 2 on,
    /// every text cell is guarded; in 1 only the input text columns were.
    format: u32,
}

type CsvResult = std::io::Result<()>;

const CSV_BUFFER: usize = 1 << 16;

impl<W: Write> CsvOut<W> {
    fn new(mut out: W, header: &[&str], format: u32) -> std::io::Result<CsvOut<W>> {
        out.write_all(BOM)?;
        let buffer = Vec::with_capacity(CSV_BUFFER + 4096);
        let mut csv = CsvOut { out, buffer, row_started: false, scratch: String::new(), format };
        for name in header {
            csv.text(name);
        }
        csv.end_row()?;
        Ok(csv)
    }
    fn separator(&mut self) {
        if self.row_started {
            self.buffer.push(b',');
        }
        self.row_started = true;
    }
    /// A field that cannot hold a comma, a quote or a line break.
    fn plain(&mut self, value: &str) {
        debug_assert!(!needs_quotes(value.as_bytes()));
        self.separator();
        self.buffer.extend_from_slice(value.as_bytes());
    }
    /// One cell, written as its kind says.
    fn cell(&mut self, cell: Cell) {
        match cell {
            // Every text cell of every CSV file, in this one place.
            Cell::Text(text) | Cell::InputText(text) if Format(self.format).guards_every_csv_cell() => {
                self.guarded_text(text)
            }
            // Ledger format 1, as batches written before were.
            Cell::Text(text) => self.text(text),
            Cell::InputText(text) => self.guarded_text(text),
            Cell::Money(amount) => self.money(amount),
            Cell::Date(date) => self.plain(iso(date).as_str()),
            Cell::Count(value) => self.plain(itoa::Buffer::new().format(value)),
            Cell::Empty => self.plain(""),
        }
    }
    fn text(&mut self, value: &str) {
        self.separator();
        let bytes = value.as_bytes();
        if needs_quotes(bytes) {
            self.buffer.push(b'"');
            for &byte in bytes {
                if byte == b'"' {
                    self.buffer.push(b'"');
                }
                self.buffer.push(byte);
            }
            self.buffer.push(b'"');
        } else {
            self.buffer.extend_from_slice(bytes);
        }
    }
    /// Text a spreadsheet must not run as a formula.
    fn guarded_text(&mut self, value: &str) {
        if needs_apostrophe(value, self.format) {
            let mut guarded = std::mem::take(&mut self.scratch);
            guarded.clear();
            guarded.push('\'');
            guarded.push_str(value);
            self.text(&guarded);
            self.scratch = guarded;
            return;
        }
        self.text(value)
    }
    fn money(&mut self, amount: Decimal) {
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        push_money(&mut text, amount);
        self.plain(&text);
        self.scratch = text;
    }
    fn end_row(&mut self) -> CsvResult {
        self.buffer.push(b'\n');
        self.row_started = false;
        if self.buffer.len() >= CSV_BUFFER {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }
    fn finish(mut self) -> Result<()> {
        self.out.write_all(&self.buffer).map_err(render_failed)
    }
}

/// Whether a CSV field must be quoted: it holds a comma, a quote or a line break.
fn needs_quotes(bytes: &[u8]) -> bool {
    memchr::memchr3(b',', b'"', b'\n', bytes).is_some() || memchr::memchr(b'\r', bytes).is_some()
}

fn render_failed(e: std::io::Error) -> Error {
    Error::Internal(format!("CSV render: {e}"))
}

/// Text shown in a spreadsheet must not run as a formula: a value starting
/// with = + - @, a tab or a carriage return gets a leading apostrophe. So
/// does a value starting with an apostrophe, so that the rule to read a
/// cell back exactly is one: a cell starting with ' had one ' added.
fn needs_apostrophe(value: &str, format: u32) -> bool {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => true,
        Some('\'') => Format(format).guards_every_csv_cell(),
        _ => false,
    }
}

pub fn settlements_csv(outcome: &BatchOutcome, w: impl Write, format: u32) -> Result<()> {
    let mut csv = SettlementsCsv::new(w, &outcome.batch_id, format)?;
    for s in outcome.settlements.iter() {
        csv.write(std::slice::from_ref(&s))?;
    }
    csv.finish()
}

/// settlements.csv written a slice of rows at a time, so that the rows
/// built for a Parquet row group serve the CSV file too.
pub struct SettlementsCsv<'b, W: Write> {
    out: CsvOut<W>,
    batch_id: &'b str,
}

impl<'b, W: Write> SettlementsCsv<'b, W> {
    pub fn new(w: W, batch_id: &'b str, format: u32) -> Result<Self> {
        Ok(SettlementsCsv { out: CsvOut::new(w, &SETTLEMENT_COLUMNS, format).map_err(render_failed)?, batch_id })
    }

    pub fn write(&mut self, rows: &[SettlementRow]) -> Result<()> {
        for s in rows {
            settlement_row(&mut self.out, self.batch_id, s).map_err(render_failed)?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        self.out.finish()
    }
}

fn settlement_row(out: &mut CsvOut<impl Write>, batch_id: &str, s: &SettlementRow) -> CsvResult {
    s.for_each_cell(batch_id, |cell| out.cell(cell));
    out.end_row()
}

pub fn exceptions_csv(outcome: &BatchOutcome, w: impl Write, format: u32) -> Result<()> {
    let mut out = CsvOut::new(w, &EXCEPTION_COLUMNS, format).map_err(render_failed)?;
    let mut message = String::with_capacity(512);
    for e in &outcome.exceptions {
        message.clear();
        e.push_message(&mut message);
        exception_row(&mut out, &outcome.batch_id, e, &message).map_err(render_failed)?;
    }
    out.finish()
}

/// exceptions.csv written a slice of rows at a time, with the messages
/// built for the Parquet row groups of the same rows.
pub struct ExceptionsCsv<'b, W: Write> {
    out: CsvOut<W>,
    batch_id: &'b str,
}

impl<'b, W: Write> ExceptionsCsv<'b, W> {
    pub fn new(w: W, batch_id: &'b str, format: u32) -> Result<Self> {
        Ok(ExceptionsCsv { out: CsvOut::new(w, &EXCEPTION_COLUMNS, format).map_err(render_failed)?, batch_id })
    }

    /// Writes `rows`, each with its message from `messages`.
    pub fn write(&mut self, rows: &[ExceptionRow], messages: &[&str]) -> Result<()> {
        if rows.len() != messages.len() {
            return Err(Error::Internal(format!("exceptions.csv: {} rows, {} messages", rows.len(), messages.len())));
        }
        for (e, message) in rows.iter().zip(messages) {
            exception_row(&mut self.out, self.batch_id, e, message).map_err(render_failed)?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        self.out.finish()
    }
}

fn exception_row(out: &mut CsvOut<impl Write>, batch_id: &str, e: &ExceptionRow, message: &str) -> CsvResult {
    e.for_each_cell(batch_id, message, |cell| out.cell(cell));
    out.end_row()
}

pub fn payouts_csv(outcome: &BatchOutcome, w: impl Write, format: u32) -> Result<()> {
    let layout = Format(format).payout_layout();
    let columns: Vec<&str> = layout.columns().iter().map(|c| c.name).collect();
    let mut out = CsvOut::new(w, &columns, format).map_err(render_failed)?;
    for p in &outcome.payouts {
        p.for_each_cell(&outcome.batch_id, layout, |cell| out.cell(cell));
        out.end_row().map_err(render_failed)?;
    }
    out.finish()
}

pub fn usage_csv(outcome: &BatchOutcome, w: impl Write, format: u32) -> Result<()> {
    let with_reversals = Format(format).has_corrections();
    let columns: &[&str] = if with_reversals { &USAGE_COLUMNS } else { &USAGE_COLUMNS_PLAIN };
    let mut out = CsvOut::new(w, columns, format).map_err(render_failed)?;
    for u in &outcome.usage {
        u.for_each_cell(&outcome.batch_id, outcome.enterprise(u), with_reversals, |cell| out.cell(cell));
        out.end_row().map_err(render_failed)?;
    }
    out.finish()
}

/// A small table's CSV file (reversals, refunds), written beside its
/// Parquet twin row group by row group.
pub struct TwinCsv<'b, W: Write, R> {
    out: CsvOut<W>,
    batch_id: &'b str,
    cells: RowCells<R>,
}

impl<'b, W: Write, R> TwinCsv<'b, W, R> {
    fn new(w: W, columns: &[&str], (batch_id, format): (&'b str, u32), cells: RowCells<R>) -> Result<Self> {
        Ok(TwinCsv { out: CsvOut::new(w, columns, format).map_err(render_failed)?, batch_id, cells })
    }

    pub fn write(&mut self, rows: &[R]) -> Result<()> {
        for r in rows {
            (self.cells)(r, self.batch_id, &mut |cell| self.out.cell(cell));
            self.out.end_row().map_err(render_failed)?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        self.out.finish()
    }
}

/// reversals.csv (rules 9.4).
pub fn reversals_twin<W: Write>(w: W, batch_id: &str, format: u32) -> Result<TwinCsv<'_, W, ReversalRow>> {
    TwinCsv::new(w, &REVERSAL_COLUMNS, (batch_id, format), |r, b, cell| r.for_each_cell(b, cell))
}

/// refunds.csv (rules 10.5).
pub fn refunds_twin<W: Write>(w: W, batch_id: &str, format: u32) -> Result<TwinCsv<'_, W, AppliedRefund>> {
    TwinCsv::new(w, &REFUND_COLUMNS, (batch_id, format), |r, b, cell| r.for_each_cell(b, cell))
}

/// risk.csv (ledger format 5 on).
pub fn risk_twin<W: Write>(w: W, batch_id: &str, format: u32) -> Result<TwinCsv<'_, W, RiskRow>> {
    TwinCsv::new(w, &RISK_COLUMNS, (batch_id, format), |r, b, cell| r.for_each_cell(b, cell))
}

/// sample.csv (ledger format 5 on).
pub fn sample_twin<W: Write>(w: W, batch_id: &str, format: u32) -> Result<TwinCsv<'_, W, SampleRow>> {
    TwinCsv::new(w, &SAMPLE_COLUMNS, (batch_id, format), |r, b, cell| r.for_each_cell(b, cell))
}

pub fn refunds_csv(outcome: &BatchOutcome, w: impl Write, format: u32) -> Result<()> {
    let mut out = refunds_twin(w, &outcome.batch_id, format)?;
    out.write(&outcome.refunds)?;
    out.finish()
}

pub fn reversals_csv(outcome: &BatchOutcome, w: impl Write, format: u32) -> Result<()> {
    let mut out = reversals_twin(w, &outcome.batch_id, format)?;
    out.write(&outcome.reversals)?;
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
    /// A batch with a corrections input (rules 9.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrections: Option<CorrectionsSummary>,
    /// The batch's money as every document shows it (ledger format 5 on):
    /// approved, taken back, net, what 兑付清单 pays and 追回清单 claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub money: Option<figures::MoneyFigures>,
    /// Inputs most of whose rows fail one and the same field check (ledger
    /// format 5 on): one line each, with the likely cause.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
}

/// One line per input most of whose rows (more than half, of at least two)
/// fail the same check of their record or fields: the batch still settles
/// (exceptions are data), but a wrong encoding, column mapping or export
/// looks exactly like this, and staff should hear of it before they sign.
pub fn alerts(outcome: &BatchOutcome) -> Vec<String> {
    let mut counts: std::collections::BTreeMap<(Source, Code, &str), u64> = std::collections::BTreeMap::new();
    for e in outcome.exceptions.iter().filter(|e| e.severity() == Severity::Error) {
        let field_check =
            matches!(e.code.check(), Check::RecordShape | Check::FieldFormats) || e.code == Code::R_FIELD_INVALID;
        if field_check {
            *counts.entry((e.source, e.code, e.field)).or_default() += 1;
        }
    }
    let rows_of = |source: Source| match source {
        Source::Contracts => outcome.contract_rows_in,
        Source::Enterprises => outcome.registry_rows_in[0],
        Source::Designations => outcome.registry_rows_in[1],
        Source::Providers => outcome.registry_rows_in[2],
        Source::Products => outcome.registry_rows_in[3],
        Source::Corrections | Source::Refunds => 0,
    };
    counts
        .into_iter()
        .filter(|((source, _, _), count)| rows_of(*source) >= 2 && count * 2 > rows_of(*source))
        .map(|((source, code, field), count)| {
            let (name, rows) = (source.as_str(), rows_of(source));
            format!(
                "{name} 有 {count}/{rows} 行未通过同一检查 {code}（字段 {field}）：多半是编码、列映射或导出有误，请先核对该文件 ({count} of {rows} {name} rows fail the same check, {code} on {field}: most likely a wrong encoding, column mapping or export; check the file first)"
            )
        })
        .collect()
}

/// What a batch's corrections did, counted by action and by code.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct CorrectionsSummary {
    pub rows_in: u64,
    /// Reverses and clawbacks applied, by action; holds that held a contract.
    pub applied: std::collections::BTreeMap<String, u64>,
    /// Correction rows with an exception, by code.
    pub codes: std::collections::BTreeMap<String, u64>,
    pub reversed_total: String,
    /// Providers whose net for the batch is negative, and what they owe in all.
    pub providers_owing: u64,
    pub owed_total: String,
}

pub fn summary(outcome: &BatchOutcome, policy: &Policy) -> Summary {
    let totals = outcome.settlements.totals();
    let reduced = totals.reduced;
    let rejected =
        outcome.exceptions.iter().filter(|e| e.source == Source::Contracts && e.severity() == Severity::Error).count()
            as u64;
    Summary {
        batch_id: outcome.batch_id.clone(),
        service_year: outcome.service_year,
        cutoff: outcome.cutoff.to_string(),
        policy: policy.name().to_string(),
        contract_rows_in: outcome.contract_rows_in,
        settled: outcome.settlements.len() as u64 - reduced,
        settled_reduced: reduced,
        rejected,
        registry_exception_rows: outcome
            .exceptions
            .iter()
            .filter(|e| !matches!(e.source, Source::Contracts | Source::Corrections | Source::Refunds))
            .count() as u64,
        codes: outcome.code_counts(),
        claimed_settled: format_money(totals.claimed),
        approved_total: format_money(totals.approved),
        shortfall_total: format_money(totals.claimed - totals.approved),
        providers_paid: outcome.payouts.iter().filter(|p| p.contracts_settled > 0).count() as u64,
        enterprises_touched: outcome.usage.len() as u64,
        control_totals: outcome.control.clone(),
        corrections: outcome.has_corrections.then(|| corrections_summary(outcome)),
        money: None,
        alerts: Vec::new(),
    }
}

fn corrections_summary(outcome: &BatchOutcome) -> CorrectionsSummary {
    let mut applied = std::collections::BTreeMap::new();
    for r in &outcome.reversals {
        *applied.entry(r.correction.action.as_str().to_string()).or_insert(0) += 1;
    }
    let holds_used = outcome.control.corrections.as_ref().map_or(0, |c| c.holds_used);
    if holds_used > 0 {
        applied.insert(Action::Hold.as_str().to_string(), holds_used);
    }
    let mut codes = std::collections::BTreeMap::new();
    for e in outcome.exceptions.iter().filter(|e| e.source == Source::Corrections) {
        *codes.entry(e.code.as_str().to_string()).or_insert(0) += 1;
    }
    let owing: Vec<Decimal> =
        outcome.payouts.iter().map(|p| p.net_amount_batch()).filter(|net| *net < Decimal::ZERO).collect();
    CorrectionsSummary {
        rows_in: outcome.control.corrections.as_ref().map_or(0, |c| c.correction_rows_in),
        applied,
        codes,
        reversed_total: format_money(outcome.reversals.iter().map(|r| r.amount).sum()),
        providers_owing: owing.len() as u64,
        owed_total: format_money(-owing.iter().copied().sum::<Decimal>()),
    }
}

pub fn summary_json(summary: &Summary, mut w: impl Write) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(summary).map_err(|e| Error::Internal(format!("summary.json: {e}")))?;
    bytes.push(b'\n');
    w.write_all(&bytes).map_err(|e| Error::Internal(format!("summary.json: {e}")))
}

/// The printed summary, Chinese with English alongside.
pub fn printed_summary(s: &Summary) -> String {
    let mut out = String::new();
    for alert in &s.alerts {
        out += &format!("⚠ 注意 {alert}\n");
    }
    out += &printed_counts(s);
    out += &printed_controls(s);
    if let (Some(k), Some(summary)) = (&s.control_totals.corrections, &s.corrections) {
        out += &printed_corrections(s, k, summary);
    }
    if let (Some(o), Some(m)) = (&s.control_totals.owed, s.money.as_ref().and_then(|m| m.owed.as_ref())) {
        out += &printed_owed(o, m);
    }
    out
}

fn mark(holds: bool) -> &'static str {
    if holds { "✓ 平衡 holds" } else { "✗ 不平 FAILS" }
}

/// The batch, its rows and money, and its codes.
fn printed_counts(s: &Summary) -> String {
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
    if let Some(m) = &s.money {
        out += &format!(
            "本批净额 net {} = 核定 approved {} − 冲正追回 taken back {} = 兑付清单应付 to pay {} − 追回清单应退回 owed back {}\n",
            m.net, m.approved, m.taken_back, m.to_pay, m.owed_back
        );
    }
    if !s.codes.is_empty() {
        let codes: Vec<String> = s.codes.iter().map(|(code, n)| format!("{code} {n}")).collect();
        out += &format!("异常代码 codes: {}\n", codes.join(", "));
    }
    out
}

/// The control totals of every batch (rules 6).
fn printed_controls(s: &Summary) -> String {
    let c = &s.control_totals;
    let mut out = String::new();
    out += "控制总数 control totals:\n";
    out += &format!(
        "  合同行 = 兑付行 + 错误行 rows in = settled + errors: {} = {} + {}  {}\n",
        c.contract_rows_in,
        c.settlement_rows,
        c.contract_error_rows,
        mark(c.rows_balance)
    );
    let approved_label = match s.money {
        Some(_) => "核定合计 = 各服务商核定之和 approved = Σ providers' approved",
        None => "核定合计 = 兑付清单合计 approved = payouts",
    };
    out += &format!("  {approved_label}: {} = {}  {}\n", c.approved_total, c.payouts_total, mark(c.payouts_balance));
    out +=
        &format!("  年度累计不超上限 year-to-date within caps ({} checked)  {}\n", c.caps_checked, mark(c.caps_hold));
    out += &format!(
        "  每行核定 ≤ 申报且 ≤ 比例限额 each row approved ≤ claim and ≤ rate limit  {}\n",
        mark(c.rows_within_claim_and_rate)
    );
    out
}

/// The corrections and their control totals (rules 9.5).
fn printed_corrections(
    s: &Summary,
    k: &crate::rules::control::CorrectionTotals,
    summary: &CorrectionsSummary,
) -> String {
    let c = &s.control_totals;
    let mut out = String::new();
    let applied: Vec<String> = summary.applied.iter().map(|(action, n)| format!("{action} {n}")).collect();
    out += &format!(
        "更正 corrections: 行 rows {}, 执行 applied [{}], 冲正追回合计 taken back {}, 应退回服务商 providers owing {} ({})\n",
        summary.rows_in,
        applied.join(", "),
        summary.reversed_total,
        summary.providers_owing,
        summary.owed_total
    );
    out += &format!(
        "  更正行 = 冲正追回 + 错误 + 暂缓 + 未用暂缓 + 重复 correction rows in = reversals + errors + holds + unused holds + duplicates: {} = {} + {} + {} + {} + {}  {}\n",
        k.correction_rows_in,
        k.reversal_rows,
        k.correction_error_rows,
        k.holds_used,
        k.holds_unused,
        k.duplicate_rows,
        mark(k.rows_balance)
    );
    out += &format!(
        "  核定 − 冲正追回 = 净额 approved − taken back = net: {} − {} = {}  {}\n",
        c.approved_total,
        k.reversed_total,
        k.net_total,
        mark(k.net_balance)
    );
    out
}

/// Amounts owed back and their control totals (rules 10.6).
fn printed_owed(o: &crate::rules::control::OwedTotals, m: &figures::OwedFigures) -> String {
    let mut out = String::new();
    out += &format!(
        "应退回款 owed back: 实付 paid {} (抵扣 offset {}), 此前 before {} + 新增 new {} − 退回 refunded {} − 抵扣 offset {} = 此后 after {}; 待核对到账款 unmatched {} ({} 笔 rows)\n",
        m.paid,
        m.offset,
        m.owed_before,
        m.owed_new,
        m.refunded,
        m.offset,
        m.owed_after,
        m.unmatched,
        m.refunds_unmatched
    );
    out += &format!(
        "  实付 = 非负净额 − 抵扣 paid = positive nets − offsets  {}\n  此后余额 = 此前 + 新增 − 退回 − 抵扣 owed after = before + new − refunded − offset  {}\n  此前余额 = 上批结转 owed before = carried  {}\n",
        mark(o.paid_balance),
        mark(o.owed_balance),
        mark(o.carried_balance)
    );
    out += &format!(
        "  退回款行 = 入账 + 错误 + 重复 refund rows in = applied + errors + duplicates: {} = {} + {} + {}  {}\n  余额、实付、抵扣均不为负 nothing below zero  {}\n",
        o.refund_rows_in,
        o.refunds_applied,
        o.refund_error_rows,
        o.refund_duplicate_rows,
        mark(o.refunds_balance),
        mark(o.none_negative)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our writer must give the bytes the csv crate's default writer gives.
    #[test]
    fn csv_fields_match_the_csv_crate() {
        let fields = [
            "",
            "plain",
            "a,b",
            "say \"hi\"",
            "\"",
            "line\nbreak",
            "cr\rhere",
            "广西，示例（有限）公司",
            " padded ",
            "'=apostrophe",
            "tab\there",
            "#hash",
        ];
        let mut ours = Vec::new();
        let mut out = CsvOut::new(&mut ours, &["a", "b"], 2).unwrap();
        for pair in fields.chunks(2) {
            for field in pair {
                out.text(field);
            }
            out.end_row().unwrap();
        }
        out.finish().unwrap();

        let mut theirs = BOM.to_vec();
        let mut writer = csv::WriterBuilder::new().from_writer(&mut theirs);
        writer.write_record(["a", "b"]).unwrap();
        for pair in fields.chunks(2) {
            writer.write_record(pair).unwrap();
        }
        writer.flush().unwrap();
        drop(writer);
        assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(theirs).unwrap());
    }
}
