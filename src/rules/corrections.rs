//! Corrections of settled money (rules 9): reversal (冲正), clawback (追回)
//! and hold (暂缓). A settlement is never edited; a later batch's
//! corrections take its approved amount back from the running totals it
//! had added to, or keep a contract out of one batch.
//!
//! - 9.1 the actions, [`Action`];
//! - 9.2 the checks of the correction rows, in their order: steps 0–1
//!   ([`check_fields`]), step 2 (the duplicate rule, [`duplicates`]), step 3
//!   and step 4 ([`check_against_store`]), step 5 ([`hold_unused`]);
//! - 9.3 what a valid correction does: [`taken_back`] (the running totals
//!   after a reversal or clawback), [`Standing`] (where a contract stands
//!   for step 4 of the contract checks), [`on_hold`] (a held contract row);
//! - 9.5 the control totals of corrections, [`rows_balance`].

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::Id;
use crate::record::Record;
use crate::rules::codes::{Code, Detail, ExceptionRow, Source};
use crate::rules::dates::parse_date;
use crate::rules::ids::IdRule;
use crate::schema::input::{CORRECTIONS, correction as col, field, too_long};

/// Longest reason accepted, in Unicode scalar values after trimming.
pub const MAX_REASON_CHARS: usize = 500;

/// What a correction does (rules 9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// 冲正: the settlement was wrong; its amount is taken back and the
    /// contract may be settled again.
    Reverse,
    /// 追回: the subsidy is recovered for cause; its amount is taken back
    /// and the contract can never be settled again.
    Clawback,
    /// 暂缓: the contract is not settled in this batch.
    Hold,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Reverse, Action::Clawback, Action::Hold];

    /// The action named by a field: its English code in any letter case,
    /// or its Chinese name.
    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| text.eq_ignore_ascii_case(a.as_str()) || text == a.name_zh())
    }

    /// The English code the outputs write.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Reverse => "reverse",
            Action::Clawback => "clawback",
            Action::Hold => "hold",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Action::Reverse => "冲正",
            Action::Clawback => "追回",
            Action::Hold => "暂缓",
        }
    }

    /// Whether the action takes a settlement's amount back.
    pub fn takes_back(self) -> bool {
        self != Action::Hold
    }
}

/// A correction row whose fields are well formed (rules 9.2 steps 0–1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    pub source_row: u64,
    pub contract_id: Id,
    pub action: Action,
    pub decided_on: NaiveDate,
    pub reason: String,
    pub reference: String,
}

fn exception(record: &Record, code: Code, field: &'static str) -> ExceptionRow {
    ExceptionRow::of_record(Source::Corrections, &CORRECTIONS, col::CONTRACT_ID, record, code, field)
}

/// An exception row for a correction that passed steps 0–1.
pub fn correction_exception(correction: &Correction, code: Code, field: &'static str, value: &str) -> ExceptionRow {
    ExceptionRow {
        source: Source::Corrections,
        source_row: correction.source_row,
        contract_id: correction.contract_id.clone(),
        code,
        field,
        value: Id::from(value),
        detail: Detail::None,
    }
}

/// Steps 0 and 1: the record's shape, then each field in the order of the
/// table of rules 9.1 — empty and required is `C_FIELD_MISSING`; an unknown
/// action, a malformed date or a reason over 500 characters is
/// `C_FIELD_INVALID`, and so is a contract_id holding a character `ids`
/// does not allow.
pub fn check_fields(record: &Record, ids: IdRule) -> Result<Correction, ExceptionRow> {
    if let Some(why) = record.malformed {
        return Err(ExceptionRow {
            detail: Detail::Text(why.to_string()),
            ..exception(record, Code::C_ROW_MALFORMED, "")
        });
    }
    let invalid = |field| exception(record, Code::C_FIELD_INVALID, field);
    // A field longer than the limit is malformed, whatever it is.
    let text = |index: usize| match record.get(index) {
        text if too_long(text) => Err(invalid(CORRECTIONS[index].name)),
        text => Ok(text),
    };
    let required = |index: usize| match text(index)? {
        "" => Err(exception(record, Code::C_FIELD_MISSING, CORRECTIONS[index].name)),
        text => Ok(text),
    };
    let contract_id = required(col::CONTRACT_ID)?;
    if !ids.characters_allowed(contract_id) {
        return Err(invalid(field::CONTRACT_ID));
    }
    let action = Action::parse(required(col::ACTION)?).ok_or_else(|| invalid(field::ACTION))?;
    let decided_on = parse_date(required(col::DECIDED_ON)?).ok_or_else(|| invalid(field::DECIDED_ON))?;
    let reason = required(col::REASON)?;
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(invalid(field::REASON));
    }
    Ok(Correction {
        source_row: record.source_row,
        contract_id: Id::from(contract_id),
        action,
        decided_on,
        reason: reason.to_string(),
        reference: text(col::REFERENCE)?.to_string(),
    })
}

/// Step 2: among the rows that passed steps 0–1 (in source_row order),
/// rows naming the same contract: all equal field by field (trimmed, the
/// action as its code) — the first is kept, the others `C_DUPLICATE_ROW`
/// (a warning); otherwise every one of them `C_DUPLICATE`. Returns the rows
/// kept.
pub fn duplicates(rows: Vec<(Correction, Record)>, exceptions: &mut Vec<ExceptionRow>) -> Vec<Correction> {
    let mut groups: FxHashMap<Id, Vec<usize>> = FxHashMap::default();
    for (at, (row, _)) in rows.iter().enumerate() {
        groups.entry(row.contract_id.clone()).or_default().push(at);
    }
    let same = |a: &(Correction, Record), b: &(Correction, Record)| {
        a.0.action == b.0.action
            && (0..CORRECTIONS.len()).filter(|&i| i != col::ACTION).all(|i| a.1.get(i) == b.1.get(i))
    };
    let mut keep = vec![true; rows.len()];
    for members in groups.values().filter(|m| m.len() > 1) {
        let identical = members.iter().all(|&m| same(&rows[m], &rows[members[0]]));
        let (code, flagged) =
            if identical { (Code::C_DUPLICATE_ROW, &members[1..]) } else { (Code::C_DUPLICATE, &members[..]) };
        for &m in flagged {
            keep[m] = false;
            exceptions.push(correction_exception(&rows[m].0, code, field::CONTRACT_ID, &rows[m].0.contract_id));
        }
    }
    rows.into_iter().zip(keep).filter_map(|((row, _), k)| k.then_some(row)).collect()
}

/// Where a contract stands in the committed batches of the store: its last
/// settlement stands, or was reversed or clawed back. A contract never
/// settled has no standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// The last settlement stands: its fingerprint (rules 4.1 step 4), the
    /// service year of the batch that committed it, and that batch's place
    /// in the store (from 0).
    Settled { fingerprint: String, service_year: i32, batch: u32 },
    /// The last settlement was taken back by `action` (reverse or clawback).
    TakenBack { action: Action, service_year: i32, batch: u32 },
}

impl Standing {
    pub fn service_year(&self) -> i32 {
        match self {
            Standing::Settled { service_year, .. } | Standing::TakenBack { service_year, .. } => *service_year,
        }
    }
}

/// contract_id -> its standing, for every contract ever settled in the store.
pub type History = FxHashMap<String, Standing>;

/// Steps 3 and 4 for a row kept by step 2: decided after the cutoff is
/// `C_AFTER_CUTOFF`; a reverse or clawback of a contract never settled is
/// `C_NOT_SETTLED`, of a settlement of another service year
/// `C_OTHER_SERVICE_YEAR`, of a settlement already taken back
/// `C_ALREADY_REVERSED`.
pub fn check_against_store(
    correction: &Correction,
    cutoff: NaiveDate,
    service_year: i32,
    history: &History,
) -> Result<(), ExceptionRow> {
    let fail = |code, field: &'static str, value: &str| Err(correction_exception(correction, code, field, value));
    if correction.decided_on > cutoff {
        return fail(Code::C_AFTER_CUTOFF, field::DECIDED_ON, &correction.decided_on.to_string());
    }
    if !correction.action.takes_back() {
        return Ok(());
    }
    let id = correction.contract_id.as_str();
    match history.get(id) {
        None => fail(Code::C_NOT_SETTLED, field::CONTRACT_ID, id),
        Some(standing) if standing.service_year() != service_year => {
            fail(Code::C_OTHER_SERVICE_YEAR, field::CONTRACT_ID, id)
        }
        Some(Standing::TakenBack { .. }) => fail(Code::C_ALREADY_REVERSED, field::CONTRACT_ID, id),
        Some(Standing::Settled { .. }) => Ok(()),
    }
}

/// Step 5: a hold that held no contract row of the batch (the export does
/// not have the contract, or its row failed an earlier check) is the
/// warning `W_HOLD_UNUSED`.
pub fn hold_unused(hold: &Correction) -> ExceptionRow {
    correction_exception(hold, Code::W_HOLD_UNUSED, field::CONTRACT_ID, &hold.contract_id)
}

/// A contract row that passed every check and is held by the batch's
/// correction `hold`: `E_ON_HOLD`, its value the correction's source_row.
pub fn on_hold(source_row: u64, contract_id: &str, hold: &Correction) -> ExceptionRow {
    ExceptionRow {
        source: Source::Contracts,
        source_row,
        contract_id: Id::from(contract_id),
        code: Code::E_ON_HOLD,
        field: field::CONTRACT_ID,
        value: Id::from(hold.source_row.to_string()),
        detail: Detail::None,
    }
}

/// Running totals of one settlement's three scopes: its item scope key,
/// its enterprise, its provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeTotals {
    pub item: Decimal,
    pub enterprise: Decimal,
    pub provider: Decimal,
}

/// Rules 9.3 step 2: a reversal or clawback takes the settlement's approved
/// amount back from each running total it had added to. Under
/// `cap_scope = contract` the item total is the contract's own, so it goes
/// from the amount to zero (`item_is_own`).
pub fn taken_back(before: ScopeTotals, amount: Decimal, item_is_own: bool) -> (ScopeTotals, ScopeTotals) {
    let before = if item_is_own { ScopeTotals { item: amount, ..before } } else { before };
    let after = ScopeTotals {
        item: before.item - amount,
        enterprise: before.enterprise - amount,
        provider: before.provider - amount,
    };
    (before, after)
}

/// Rules 9.5: every correction row is accounted for once — applied as a
/// reversal, an error row, a hold that held a contract, an unused hold, or
/// a duplicate row.
pub fn rows_balance(
    rows_in: u64,
    reversals: u64,
    error_rows: u64,
    holds_used: u64,
    holds_unused: u64,
    duplicate_rows: u64,
) -> bool {
    rows_in == reversals + error_rows + holds_used + holds_unused + duplicate_rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_read_in_english_any_case_or_in_chinese() {
        assert_eq!(Action::parse("REVERSE"), Some(Action::Reverse));
        assert_eq!(Action::parse("追回"), Some(Action::Clawback));
        assert_eq!(Action::parse("暂缓"), Some(Action::Hold));
        assert_eq!(Action::parse("delete"), None);
    }

    #[test]
    fn a_reversal_takes_the_amount_back_from_each_total() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let before = ScopeTotals { item: d("15000.00"), enterprise: d("40000.00"), provider: d("900000.00") };
        let (b, a) = taken_back(before, d("5000.00"), false);
        assert_eq!(b, before);
        assert_eq!(a, ScopeTotals { item: d("10000.00"), enterprise: d("35000.00"), provider: d("895000.00") });
        let (b, a) = taken_back(before, d("5000.00"), true);
        assert_eq!((b.item, a.item), (d("5000.00"), d("0.00")));
    }
}
