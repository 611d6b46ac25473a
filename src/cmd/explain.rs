//! `voucher-settle explain LEDGER CONTRACT_ID`: the whole history of one
//! contract in the store — for a settlement, every bound with the policy
//! clause it comes from, which one bound, and each running total before and
//! after; for a rejection, the failed check and the offending value.

use std::path::PathBuf;

use serde::Serialize;

use crate::ledger::{CommittedBatch, Ledger};
use crate::rules::codes::Source;
use crate::rules::corrections::Action;
use crate::rules::money::format_money;
use crate::schema::files;
use crate::schema::output::name;
use crate::schema::table::StoredTable;
use crate::stored::StoredBatch;
use crate::stored::carry::add_owed;
pub use crate::stored::described::{Bound, ExceptionLine, RunningTotal, Settlement};
use crate::stored::described::{exception_line, running_totals, settlement};
use crate::{Error, Result};

/// 逐批次说明一份合同如何兑付或为何被拒 Explain how a contract was settled or why it was refused, batch by batch.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// 账本目录（作业文件的 `ledger`） The ledger store folder (the job's `ledger`).
    pub ledger: PathBuf,
    /// 合同编号（与导出文件一致） The contract_id as in the export.
    pub contract_id: String,
    /// 输出 JSON 供程序读取 Print JSON for machines instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct Explanation {
    pub contract_id: String,
    pub history: Vec<Event>,
    /// Where a reversal or clawback of the contract left its provider
    /// owing: the provider's balance owed back after that batch and each
    /// later one, until it is 0.00 (rules 10.5; refunds and offsets are
    /// the provider's, not the contract's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub owed: Vec<OwedLine>,
}

/// A provider's balance owed back around one batch.
#[derive(Debug, Serialize)]
pub struct OwedLine {
    pub batch_id: String,
    pub provider_id: String,
    pub owed_before: String,
    pub owed_after: String,
    /// Where the batch's policy withholds balances from later payments
    /// (rules 10.3): the clause it cites.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offsets: Option<String>,
}

/// What happened to the contract in one batch.
#[derive(Debug, Serialize)]
pub struct Event {
    pub batch_id: String,
    pub sequence: u64,
    pub cutoff: String,
    /// `settled` or `rejected` (a contract row); `reverse` or `clawback`
    /// (a correction applied, rules 9); `correction` (a correction row with
    /// an exception: not applied, or a hold that held nothing).
    pub kind: &'static str,
    pub source_row: String,
    /// Who signed the batch off (a job with sign-off).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub signed_by: String,
    /// The risk flags of the contract, and of its provider, in this batch
    /// (ledger format 5 on): `CODE: message`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Its place in the batch's spot-check sample and why, if sampled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement: Option<Settlement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reversal: Option<Reversal>,
    /// Every exception row of the contract in this batch.
    pub exceptions: Vec<ExceptionLine>,
}

/// A reversal or clawback of the contract's settlement (rules 9.3, 9.4).
#[derive(Debug, Serialize)]
pub struct Reversal {
    pub action: String,
    pub amount: String,
    pub decided_on: String,
    pub reason: String,
    pub reference: String,
    /// The batch whose settlement was taken back.
    pub settled_batch_id: String,
    pub provider_id: String,
    pub totals: Vec<RunningTotal>,
}

pub fn run(args: &ExplainArgs) -> Result<String> {
    let explanation = explain(args)?;
    if args.json {
        return serde_json::to_string_pretty(&explanation).map_err(|e| Error::Internal(e.to_string()));
    }
    Ok(render_text(&explanation))
}

pub fn explain(args: &ExplainArgs) -> Result<Explanation> {
    let ledger = Ledger::open_read(&args.ledger)?;
    let contract_id = args.contract_id.trim();
    let mut history = Vec::new();
    let committed = ledger.committed()?;
    for batch in &committed {
        let stored = StoredBatch::new(&ledger, batch);
        let exceptions = stored.table(files::EXCEPTIONS_PARQUET)?;
        // A batch's corrections come before its contracts (rules 9.3).
        history.extend(correction_events(&stored, &exceptions, contract_id)?);
        history.extend(contract_event(&stored, &exceptions, contract_id)?);
    }
    if history.is_empty() {
        return Err(Error::Input(format!(
            "{}: 账本中没有合同 {contract_id} (contract not found in any committed batch)",
            args.ledger.display()
        )));
    }
    let owed = owed_history(&ledger, &committed, &history)?;
    Ok(Explanation { contract_id: contract_id.to_string(), history, owed })
}

/// What a batch did with the contract's row: settled it, or refused it
/// with its exceptions; `None` if the batch's export did not hold it.
fn contract_event(stored: &StoredBatch, exceptions: &StoredTable, contract_id: &str) -> Result<Option<Event>> {
    let settlements = stored.table(files::SETTLEMENTS_PARQUET)?;
    let settled = settlements.rows().find(|&r| settlements.text(r, name::CONTRACT_ID) == contract_id);
    let exception_rows: Vec<usize> = exceptions
        .rows()
        .filter(|&r| {
            exceptions.text(r, name::CONTRACT_ID) == contract_id
                && exceptions.text(r, name::SOURCE) == Source::Contracts.as_str()
        })
        .collect();
    if settled.is_none() && exception_rows.is_empty() {
        return Ok(None);
    }
    let policy = stored.policy()?;
    let source_row = match settled {
        Some(row) => settlements.shown(row, name::SOURCE_ROW),
        None => exceptions.shown(exception_rows[0], name::SOURCE_ROW),
    };
    let provider = settled.map(|row| settlements.text(row, name::PROVIDER_ID)).unwrap_or_default();
    let (flags, sampled) = findings(stored, (contract_id, provider))?;
    let kind = if settled.is_some() { "settled" } else { "rejected" };
    Ok(Some(Event {
        flags,
        sampled,
        settlement: settled.map(|row| settlement(&settlements, row, &policy)),
        exceptions: exception_rows.iter().map(|&row| exception_line(exceptions, row, Some(&policy))).collect(),
        ..event(stored.batch, kind, source_row)
    }))
}

/// The risk flags of a contract and of its provider in a batch, and its
/// place in the batch's sample (a batch of ledger format 5 on).
fn findings(stored: &StoredBatch, (contract, provider): (&str, &str)) -> Result<(Vec<String>, Option<String>)> {
    if !stored.format().audit_flags() {
        return Ok((Vec::new(), None));
    }
    let risk = stored.risk()?;
    let flags = risk
        .rows()
        .filter(|&r| {
            let of_contract = risk.text(r, name::CONTRACT_ID) == contract;
            of_contract
                || (risk.text(r, name::CONTRACT_ID).is_empty()
                    && !provider.is_empty()
                    && risk.text(r, name::PROVIDER_ID) == provider)
        })
        .map(|r| format!("{}: {}", risk.text(r, name::FLAG), risk.text(r, name::MESSAGE)))
        .collect();
    let sample = stored.table(files::SAMPLE_PARQUET)?;
    let sampled = sample.rows().find(|&r| sample.text(r, name::CONTRACT_ID) == contract).map_or_else(
        || "未抽中 (not in the batch's spot-check sample)".to_string(),
        |r| {
            let (number, basis) = (sample.shown(r, name::SAMPLE_NO), sample.text(r, name::BASIS));
            format!("抽查第 {number} 份，依据 {basis} (sample no. {number}, basis {basis})")
        },
    );
    Ok((flags, Some(sampled)))
}

/// The provider's balance owed back after the contract's first reversal
/// or clawback that left it owing, and after each later batch until the
/// balance is 0.00.
fn owed_history(ledger: &Ledger, committed: &[CommittedBatch], history: &[Event]) -> Result<Vec<OwedLine>> {
    let Some((batch_id, provider)) =
        history.iter().find_map(|e| e.reversal.as_ref().map(|r| (e.batch_id.as_str(), r.provider_id.as_str())))
    else {
        return Ok(Vec::new());
    };
    let mut owed = crate::engine::OwedCarried::default();
    let mut lines = Vec::new();
    for batch in committed {
        let stored = StoredBatch::new(ledger, batch);
        let before = owed.balances.get(provider).copied().unwrap_or_default();
        add_owed(&mut owed, &stored)?;
        let after = owed.balances.get(provider).copied().unwrap_or_default();
        let started = !lines.is_empty() || (batch.manifest.batch_id == batch_id && after > before);
        if !started {
            continue;
        }
        let policy = stored.policy()?;
        let offsets =
            policy.offset_owed().then(|| policy.offset_owed_clause().unwrap_or(policy.reference()).to_string());
        lines.push(OwedLine {
            batch_id: batch.manifest.batch_id.clone(),
            provider_id: provider.to_string(),
            owed_before: format_money(before),
            owed_after: format_money(after),
            offsets,
        });
        if after.is_zero() {
            break;
        }
    }
    Ok(lines)
}

/// The batch's corrections of the contract: a reversal or clawback applied
/// (with the running totals before and after it), and correction rows with
/// an exception.
fn correction_events(stored: &StoredBatch, exceptions: &StoredTable, contract_id: &str) -> Result<Vec<Event>> {
    let event = |kind, source_row| event(stored.batch, kind, source_row);
    let reversals = stored.reversals(&[])?;
    let mut events: Vec<Event> = reversals
        .rows()
        .filter(|&r| reversals.text(r, name::CONTRACT_ID) == contract_id)
        .map(|row| {
            let reversal = reversal(&reversals, row);
            let kind = if reversal.action == Action::Clawback.as_str() { "clawback" } else { "reverse" };
            Event { reversal: Some(reversal), ..event(kind, reversals.shown(row, name::SOURCE_ROW)) }
        })
        .collect();
    for row in exceptions.rows().filter(|&r| {
        exceptions.text(r, name::SOURCE) == Source::Corrections.as_str()
            && exceptions.text(r, name::CONTRACT_ID) == contract_id
    }) {
        events.push(Event {
            exceptions: vec![exception_line(exceptions, row, None)],
            ..event("correction", exceptions.shown(row, name::SOURCE_ROW))
        });
    }
    Ok(events)
}

/// An event of a batch with nothing in it yet but its kind and source row.
fn event(batch: &CommittedBatch, kind: &'static str, source_row: String) -> Event {
    Event {
        batch_id: batch.manifest.batch_id.clone(),
        sequence: batch.manifest.sequence,
        cutoff: batch.manifest.cutoff.clone(),
        kind,
        source_row,
        signed_by: crate::signoff::signed_by(&batch.manifest),
        flags: Vec::new(),
        sampled: None,
        settlement: None,
        reversal: None,
        exceptions: Vec::new(),
    }
}

/// A stored reversal row with the running totals before and after it.
fn reversal(reversals: &StoredTable, row: usize) -> Reversal {
    let cell = |name: &str| reversals.shown(row, name);
    Reversal {
        action: cell(name::ACTION),
        amount: cell(name::AMOUNT),
        decided_on: cell(name::DECIDED_ON),
        reason: cell(name::REASON),
        reference: cell(name::REFERENCE),
        settled_batch_id: cell(name::SETTLED_BATCH_ID),
        provider_id: cell(name::PROVIDER_ID),
        totals: running_totals(reversals, row),
    }
}

/// Who signed the event's batch off, the contract's risk flags there and
/// whether it was sampled.
fn audit_notes(event: &Event) -> String {
    let mut out = String::new();
    if !event.signed_by.is_empty() {
        out += &format!("  签批 signed off by: {}\n", event.signed_by);
    }
    for flag in &event.flags {
        out += &format!("  风险提示 flag {flag}\n");
    }
    if let Some(sampled) = &event.sampled {
        out += &format!("  抽查 sampled: {sampled}\n");
    }
    out
}

fn render_text(explanation: &Explanation) -> String {
    let mut out = format!("合同 contract {}\n", explanation.contract_id);
    for event in &explanation.history {
        out += &format!(
            "\n批次 batch {} (#{}, 截止 cutoff {})，{}第 {} 行 source row {}\n",
            event.batch_id,
            event.sequence,
            event.cutoff,
            if matches!(event.kind, "reverse" | "clawback" | "correction") { "更正文件 corrections, " } else { "" },
            event.source_row,
            event.source_row
        );
        out += &audit_notes(event);
        if let Some(r) = &event.reversal {
            let zh = if r.action == "clawback" { "追回" } else { "冲正" };
            out += &format!(
                "  {zh} {}：退回 taken back {}（原兑付批次 settled in {}），决定日期 decided on {}，原因 reason {}{}\n",
                r.action,
                r.amount,
                r.settled_batch_id,
                r.decided_on,
                r.reason,
                if r.reference.is_empty() { String::new() } else { format!("，文号 reference {}", r.reference) }
            );
            out += "  累计 running totals (before → after):\n";
            for t in &r.totals {
                out += &format!("    {:<10} {} → {}  {}\n", t.name, t.before, t.after, t.name_zh);
            }
        }
        if let Some(s) = &event.settlement {
            let code = if s.code.is_empty() { String::new() } else { format!(" {}", s.code) };
            out += &format!(
                "  {}{}：核定 approved {}，申报 claimed {}，核减 shortfall {}，分配顺序 seq {}，配额档 tier {}\n",
                s.outcome, code, s.approved, s.claimed, s.shortfall, s.seq, s.tier
            );
            out += "  约束 bounds (approved = min of these):\n";
            for b in &s.bounds {
                let mark = if b.binding { "  ← 起作用 binding" } else { "" };
                let clause = if b.clause.is_empty() { String::new() } else { format!("  [{}]", b.clause) };
                out += &format!("    {:<13} {:>12}  {} {}{clause}{mark}\n", b.name, b.amount, b.name_zh, b.formula);
            }
            out += "  累计 running totals (before → after):\n";
            for t in &s.totals {
                out += &format!("    {:<10} {} → {}  {}\n", t.name, t.before, t.after, t.name_zh);
            }
        }
        for e in &event.exceptions {
            out += &format!("  {} {} [{}]\n", e.severity, e.code, e.check);
            out += &format!("    字段 field {} = {:?}\n    {}\n", e.field, e.value, e.message);
        }
    }
    if let Some(first) = explanation.owed.first() {
        out += &format!(
            "服务商 {} 应退回余额 provider's balance owed back (退回与抵扣属于服务商，不归属单个合同 refunds and offsets are the provider's, not the contract's):\n",
            first.provider_id
        );
        for line in &explanation.owed {
            let offsets = line.offsets.as_ref().map_or_else(String::new, |c| format!("  （可抵扣 offsets on [{c}]）"));
            out += &format!("  批次 batch {}: {} → {}{offsets}\n", line.batch_id, line.owed_before, line.owed_after);
        }
    }
    out
}
