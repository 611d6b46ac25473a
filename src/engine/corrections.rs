//! A batch's corrections (rules 9), applied: the rows checked in the order
//! of `rules::corrections`, each valid reverse or clawback matched with the
//! settlement it takes back and the running totals it meets, and the holds
//! applied to the contract rows that passed every check.

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::Id;
use crate::engine::CarryIn;
use crate::engine::LedgerSettlement;
use crate::ingest::Table;
use crate::rules::codes::{Code, ExceptionRow, Severity, Source};
use crate::rules::contract::Eligible;
use crate::rules::control::CorrectionTotals;
use crate::rules::corrections::{
    Action, Correction, ScopeTotals, check_against_store, check_fields, duplicates, hold_unused, on_hold, rows_balance,
    taken_back,
};
use crate::rules::ids::IdRule;
use crate::rules::money::format_money;
use crate::rules::outputs::{PayoutRow, ReversalRow};
use crate::rules::policy::CapScope;
use crate::{Error, Result};

/// The corrections of a batch, checked and matched with the store.
#[derive(Debug, Default)]
pub struct BatchCorrections {
    pub rows_in: u64,
    /// The rows' exceptions of steps 0–4 (errors and `C_DUPLICATE_ROW`).
    pub exceptions: Vec<ExceptionRow>,
    /// Each reverse or clawback applied, in source_row order.
    pub reversals: Vec<ReversalRow>,
    /// The same, as the entries the running totals are net of.
    pub taken_back: Vec<LedgerSettlement>,
    /// contract_id -> the action that took its settlement back in this batch.
    pub taken_back_now: FxHashMap<Id, Action>,
    /// The valid holds, in source_row order.
    pub holds: Vec<Correction>,
}

/// Steps 0–4 of rules 9.2 over the corrections file, then rules 9.3 step 2:
/// each valid reverse or clawback takes its settlement's approved amount
/// back from the running totals, in source_row order.
pub fn check_and_apply(
    table: &Table,
    scope: CapScope,
    (service_year, cutoff): (i32, chrono::NaiveDate),
    carry_in: &CarryIn,
    ids: IdRule,
) -> Result<BatchCorrections> {
    let mut exceptions = Vec::new();
    let mut passed = Vec::new();
    for record in table.records() {
        match check_fields(&record, ids) {
            Ok(correction) => passed.push((correction, record)),
            Err(problem) => exceptions.push(problem),
        }
    }
    let kept = duplicates(passed, &mut exceptions);
    let mut takes = Vec::new();
    let mut holds = Vec::new();
    for correction in kept {
        match check_against_store(&correction, cutoff, service_year, &carry_in.history) {
            Err(problem) => exceptions.push(problem),
            Ok(()) if correction.action.takes_back() => takes.push(correction),
            Ok(()) => holds.push(correction),
        }
    }
    let (reversals, taken_back) = apply(&takes, carry_in, scope)?;
    let taken_back_now = takes.iter().map(|c| (c.contract_id.clone(), c.action)).collect();
    Ok(BatchCorrections { rows_in: table.len() as u64, exceptions, reversals, taken_back, taken_back_now, holds })
}

/// The item scope a settlement counted against, named by text (the
/// enterprise with its product or its category); none under `contract`
/// scope, where the item total is the contract's own.
fn item_key(scope: CapScope, s: &LedgerSettlement) -> Option<(&str, &str)> {
    match scope {
        CapScope::EnterpriseProductYear => Some((s.enterprise_id.as_str(), s.product_id.as_str())),
        CapScope::EnterpriseCategoryYear => Some((s.enterprise_id.as_str(), s.category.as_str())),
        CapScope::Contract => None,
    }
}

/// The reversal rows of `takes` and the entries they take back. Each
/// contract's last settlement of the year is the one taken back; the
/// running totals it meets are the year's, net of every earlier reversal —
/// counted by id, so an enterprise or provider no longer in the registry
/// is taken back from as well.
fn apply(
    takes: &[Correction],
    carry_in: &CarryIn,
    scope: CapScope,
) -> Result<(Vec<ReversalRow>, Vec<LedgerSettlement>)> {
    if takes.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let settlements = settlements_taken_back(takes, carry_in)?;
    let mut totals = YearTotals::of(&settlements, carry_in, scope);
    let mut rows = Vec::with_capacity(takes.len());
    let mut entries = Vec::with_capacity(takes.len());
    for (c, s) in takes.iter().zip(settlements) {
        let (before, after) = totals.take_back(s, scope);
        rows.push(ReversalRow {
            correction: c.clone(),
            settled_batch_id: carry_in.batch_ids.get(s.batch as usize).cloned().unwrap_or_default(),
            enterprise_id: s.enterprise_id.clone(),
            provider_id: s.provider_id.clone(),
            product_id: s.product_id.clone(),
            category: s.category.clone(),
            amount: s.approved_amount,
            before,
            after,
        });
        entries.push(LedgerSettlement { fingerprint: String::new(), ..s.clone() });
    }
    Ok((rows, entries))
}

/// Each correction's settlement: the contract's last settlement of the
/// year (the store says it stands; not finding it is a damaged store).
fn settlements_taken_back<'c>(takes: &[Correction], carry_in: &'c CarryIn) -> Result<Vec<&'c LedgerSettlement>> {
    let wanted: FxHashMap<&str, usize> = takes.iter().enumerate().map(|(i, c)| (c.contract_id.as_str(), i)).collect();
    let mut found: Vec<Option<&LedgerSettlement>> = vec![None; takes.len()];
    for s in &carry_in.year_settlements {
        if let Some(&i) = wanted.get(s.contract_id.as_str()) {
            found[i] = Some(s);
        }
    }
    found
        .into_iter()
        .zip(takes)
        .map(|(s, c)| {
            s.ok_or_else(|| {
                Error::Input(format!(
                    "账本不一致，请运行 verify (ledger inconsistent; run verify): 合同 {} 的兑付记录未找到 \
                     (the store names contract {} as settled this year, but holds no settlement of it)",
                    c.contract_id, c.contract_id
                ))
            })
        })
        .collect()
}

/// The year's running totals the settlements taken back count against,
/// by id (an enterprise or provider no longer in the registry included),
/// net of every reversal committed this year.
struct YearTotals<'c> {
    enterprises: FxHashMap<&'c str, Decimal>,
    providers: FxHashMap<&'c str, Decimal>,
    items: FxHashMap<(&'c str, &'c str), Decimal>,
}

impl<'c> YearTotals<'c> {
    fn of(settlements: &[&'c LedgerSettlement], carry_in: &'c CarryIn, scope: CapScope) -> YearTotals<'c> {
        let mut t = YearTotals {
            enterprises: FxHashMap::default(),
            providers: FxHashMap::default(),
            items: FxHashMap::default(),
        };
        for s in settlements {
            t.enterprises.insert(&s.enterprise_id, Decimal::ZERO);
            t.providers.insert(&s.provider_id, Decimal::ZERO);
            if let Some(key) = item_key(scope, s) {
                t.items.insert(key, Decimal::ZERO);
            }
        }
        let entries = carry_in.year_settlements.iter().map(|s| (s, s.approved_amount));
        for (s, signed) in entries.chain(carry_in.year_reversals.iter().map(|r| (r, -r.approved_amount))) {
            if let Some(total) = t.enterprises.get_mut(s.enterprise_id.as_str()) {
                *total += signed;
            }
            if let Some(total) = t.providers.get_mut(s.provider_id.as_str()) {
                *total += signed;
            }
            if let Some(total) = item_key(scope, s).and_then(|key| t.items.get_mut(&key)) {
                *total += signed;
            }
        }
        t
    }

    /// Takes settlement `s` back from each total it had added to (rules
    /// 9.3 step 2); the totals before and after.
    fn take_back(&mut self, s: &'c LedgerSettlement, scope: CapScope) -> (ScopeTotals, ScopeTotals) {
        let key = item_key(scope, s);
        let before = ScopeTotals {
            item: key.and_then(|k| self.items.get(&k).copied()).unwrap_or_default(),
            enterprise: self.enterprises[s.enterprise_id.as_str()],
            provider: self.providers[s.provider_id.as_str()],
        };
        let (before, after) = taken_back(before, s.approved_amount, key.is_none());
        if let Some(k) = key {
            self.items.insert(k, after.item);
        }
        self.enterprises.insert(&s.enterprise_id, after.enterprise);
        self.providers.insert(&s.provider_id, after.provider);
        (before, after)
    }
}

/// Rules 9.3 step 3 and 9.2 step 5: a contract row that passed every check
/// and is held leaves allocation with `E_ON_HOLD`; a hold that held no row
/// is `W_HOLD_UNUSED`. Returns how many holds held a row.
pub fn apply_holds(eligible: &mut [Vec<Eligible>], holds: &[Correction], exceptions: &mut Vec<ExceptionRow>) -> u64 {
    if holds.is_empty() {
        return 0;
    }
    let by_contract: FxHashMap<&str, usize> =
        holds.iter().enumerate().map(|(i, h)| (h.contract_id.as_str(), i)).collect();
    let mut used = vec![false; holds.len()];
    for chunk in eligible.iter_mut() {
        chunk.retain(|e| match by_contract.get(e.contract.contract_id.as_str()) {
            Some(&i) => {
                used[i] = true;
                exceptions.push(on_hold(e.contract.source_row, &e.contract.contract_id, &holds[i]));
                false
            }
            None => true,
        });
    }
    for (hold, _) in holds.iter().zip(&used).filter(|(_, used)| !**used) {
        exceptions.push(hold_unused(hold));
    }
    used.iter().filter(|u| **u).count() as u64
}

/// The control totals of the batch's corrections (rules 9.5): every
/// correction row accounted for once, and Σ approved − Σ reversed = Σ net
/// payouts.
pub fn control_totals(
    corrected: &BatchCorrections,
    holds_used: u64,
    exceptions: &[ExceptionRow],
    approved_total: Decimal,
    payouts: &[PayoutRow],
) -> CorrectionTotals {
    let (mut error_rows, mut holds_unused, mut duplicate_rows) = (0, 0, 0);
    for e in exceptions.iter().filter(|e| e.source == Source::Corrections) {
        match e.code {
            Code::W_HOLD_UNUSED => holds_unused += 1,
            Code::C_DUPLICATE_ROW => duplicate_rows += 1,
            _ if e.severity() == Severity::Error => error_rows += 1,
            _ => {}
        }
    }
    let reversal_rows = corrected.reversals.len() as u64;
    let reversed_total: Decimal = corrected.reversals.iter().map(|r| r.amount).sum();
    let net_total: Decimal = payouts.iter().map(PayoutRow::net_amount_batch).sum();
    CorrectionTotals {
        correction_rows_in: corrected.rows_in,
        reversal_rows,
        correction_error_rows: error_rows,
        holds_used,
        holds_unused,
        duplicate_rows,
        rows_balance: rows_balance(
            corrected.rows_in,
            reversal_rows,
            error_rows,
            holds_used,
            holds_unused,
            duplicate_rows,
        ),
        reversed_total: format_money(reversed_total),
        net_total: format_money(net_total),
        net_balance: approved_total - reversed_total == net_total,
    }
}
