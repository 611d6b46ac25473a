//! Amounts owed back in a batch (rules 10): the refund rows checked in the
//! order of `rules::owed`, applied against each provider's balance once the
//! nets are final, the offsets, and every provider's figures written onto
//! its payout row — adding a row for each provider listed only for what it
//! still owes.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::ingest::Table;
use crate::rules::codes::{Code, ExceptionRow, Severity, Source};
use crate::rules::control::{OwedTotals, owed_balance, paid_balance};
use crate::rules::money::format_money;
use crate::rules::outputs::PayoutRow;
use crate::rules::owed::{
    AppliedRefund, Owed, Refund, UnmatchedRefund, apply_refunds, check_against_store, check_fields, duplicates,
};

/// What the committed batches of the store owe and applied (rules 10.1,
/// 10.2 step 3).
#[derive(Debug, Default)]
pub struct OwedCarried {
    /// Provider id (upper-cased) -> its balance after the last committed
    /// batch that lists it.
    pub balances: BTreeMap<String, Decimal>,
    /// Receipt number -> the id of the batch that applied it.
    pub references: FxHashMap<String, String>,
    /// Provider id -> the batches since its balance was last 0.00 (each
    /// batch that left it owing), for the providers owing now.
    pub owing_since: BTreeMap<String, Vec<String>>,
}

impl OwedCarried {
    /// Records a provider's balance after a committed batch.
    pub fn record(&mut self, provider_id: String, owed_after: Decimal, batch_id: &str) {
        if owed_after > Decimal::ZERO {
            self.owing_since.entry(provider_id.clone()).or_default().push(batch_id.to_string());
        } else {
            self.owing_since.remove(&provider_id);
        }
        self.balances.insert(provider_id, owed_after);
    }

    /// The batches since each provider of `payouts` last owed nothing, this
    /// one (`batch_id`) included, for those still owing after it.
    pub fn owing_after(&self, payouts: &[PayoutRow], batch_id: &str) -> BTreeMap<String, Vec<String>> {
        let owing = payouts.iter().filter(|p| p.owed.owed_after > Decimal::ZERO);
        owing
            .map(|p| {
                let mut since = self.owing_since.get(&p.provider_id).cloned().unwrap_or_default();
                since.push(batch_id.to_string());
                (p.provider_id.clone(), since)
            })
            .collect()
    }
}

/// The refunds of a batch, applied.
#[derive(Debug, Default)]
pub struct BatchOwed {
    /// Data rows of the refunds input (0 without one).
    pub rows_in: u64,
    /// In source_row order.
    pub applied: Vec<AppliedRefund>,
    /// Money that matched no debt (step 5), in source_row order.
    pub unmatched: Vec<UnmatchedRefund>,
}

/// Steps 0–4 of rules 10.2 over the refunds file; the rows kept, in
/// source_row order.
pub fn check_refunds(
    table: &Table,
    cutoff: NaiveDate,
    carried: &OwedCarried,
    exceptions: &mut Vec<ExceptionRow>,
) -> Vec<Refund> {
    let mut passed = Vec::new();
    for record in table.records() {
        match check_fields(&record) {
            Ok(refund) => passed.push(refund),
            Err(problem) => exceptions.push(problem),
        }
    }
    let kept = duplicates(passed, exceptions);
    kept.into_iter()
        .filter(|refund| match check_against_store(refund, cutoff, &carried.references) {
            Ok(()) => true,
            Err(problem) => {
                exceptions.push(problem);
                false
            }
        })
        .collect()
}

/// Rules 10.4 once the nets are final: every provider owing before the
/// batch gets a payout row (`balance_only` builds one), the refunds are
/// applied in source_row order (step 5), then each row's figures and
/// offset. The rows stay in provider_id order.
pub fn settle(
    payouts: &mut Vec<PayoutRow>,
    refunds: Vec<Refund>,
    carried: &OwedCarried,
    offset_owed: bool,
    balance_only: impl Fn(&str) -> PayoutRow,
    exceptions: &mut Vec<ExceptionRow>,
) -> (Vec<AppliedRefund>, Vec<UnmatchedRefund>) {
    let listed: rustc_hash::FxHashSet<&str> = payouts.iter().map(|p| p.provider_id.as_str()).collect();
    let owing: Vec<PayoutRow> = carried
        .balances
        .iter()
        .filter(|(id, balance)| **balance > Decimal::ZERO && !listed.contains(id.as_str()))
        .map(|(id, _)| balance_only(id))
        .collect();
    if !owing.is_empty() {
        payouts.extend(owing);
        payouts.sort_by(|a, b| a.provider_id.cmp(&b.provider_id));
    }
    let before = |id: &str| carried.balances.get(id).copied().unwrap_or_default();
    let at: FxHashMap<&str, usize> = payouts.iter().enumerate().map(|(i, p)| (p.provider_id.as_str(), i)).collect();
    let owed_now = |id: &str| match at.get(id) {
        Some(&i) => before(id) + (-payouts[i].net_amount_batch()).max(Decimal::ZERO),
        None => Decimal::ZERO,
    };
    let (applied, unmatched) = apply_refunds(refunds, owed_now, exceptions);
    let mut refunded: FxHashMap<&str, Decimal> = FxHashMap::default();
    for a in &applied {
        *refunded.entry(a.refund.provider_id.as_str()).or_default() += a.refund.amount;
    }
    for p in payouts.iter_mut() {
        let back = refunded.get(p.provider_id.as_str()).copied().unwrap_or_default();
        p.owed = Owed::of(before(&p.provider_id), p.net_amount_batch(), back, offset_owed);
    }
    (applied, unmatched)
}

/// The control totals of rules 10.6.
pub fn control_totals(
    owed: &BatchOwed,
    payouts: &[PayoutRow],
    carried: &OwedCarried,
    exceptions: &[ExceptionRow],
) -> OwedTotals {
    let (mut error_rows, mut duplicate_rows) = (0, 0);
    for e in exceptions.iter().filter(|e| e.source == Source::Refunds) {
        match e.code {
            Code::P_DUPLICATE_ROW => duplicate_rows += 1,
            _ if e.severity() == Severity::Error => error_rows += 1,
            _ => {}
        }
    }
    let sum = |f: fn(&Owed) -> Decimal| -> Decimal { payouts.iter().map(|p| f(&p.owed)).sum() };
    let positive_nets: Decimal = payouts.iter().map(|p| p.net_amount_batch().max(Decimal::ZERO)).sum();
    let (paid, offset, refunded) = (sum(|o| o.paid_batch), sum(|o| o.offset_batch), sum(|o| o.refunded_batch));
    let (before, new, after) = (sum(|o| o.owed_before), sum(|o| o.owed_new), sum(|o| o.owed_after));
    let carried_total: Decimal = carried.balances.values().sum();
    let applied_total: Decimal = owed.applied.iter().map(|a| a.refund.amount).sum();
    let unmatched_total: Decimal = owed.unmatched.iter().map(|u| u.refund.amount).sum();
    let applied_rows = owed.applied.len() as u64;
    OwedTotals {
        refund_rows_in: owed.rows_in,
        refunds_applied: applied_rows,
        refund_error_rows: error_rows,
        refund_duplicate_rows: duplicate_rows,
        refunds_unmatched: owed.unmatched.len() as u64,
        unmatched_total: format_money(unmatched_total),
        paid_total: format_money(paid),
        offset_total: format_money(offset),
        refunded_total: format_money(refunded),
        owed_before_total: format_money(before),
        owed_new_total: format_money(new),
        owed_after_total: format_money(after),
        paid_balance: paid_balance(paid, positive_nets, offset),
        owed_balance: owed_balance(after, before, new, refunded, offset),
        carried_balance: before == carried_total,
        refunds_balance: applied_total == refunded && owed.rows_in == applied_rows + error_rows + duplicate_rows,
        none_negative: payouts.iter().all(|p| {
            let o = &p.owed;
            o.owed_after >= Decimal::ZERO && o.paid_batch >= Decimal::ZERO && o.offset_batch >= Decimal::ZERO
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn row(id: &str, approved: &str, reversed: &str) -> PayoutRow {
        PayoutRow {
            provider_id: id.to_string(),
            provider_name: String::new(),
            contracts_settled: 1,
            approved_amount_batch: d(approved),
            contracts_reversed: 1,
            reversed_amount_batch: d(reversed),
            approved_amount_year: Decimal::ZERO,
            cap_remaining: Decimal::ZERO,
            owed: Owed::default(),
        }
    }

    /// Balances carried in, a provider listed only for its balance, offsets:
    /// the control totals of rules 10.6 hold; a figure changed by a fen
    /// afterwards makes them fail (the batch then stops, exit 1).
    #[test]
    fn the_control_totals_hold_and_catch_a_figure_off_by_a_fen() {
        let mut carried = OwedCarried::default();
        carried.balances.insert("A".into(), d("100.00"));
        carried.balances.insert("C".into(), d("50.00"));
        let mut payouts = vec![row("A", "300.00", "0.00"), row("B", "0.00", "80.00")];
        let balance_only = |id: &str| PayoutRow { contracts_settled: 0, contracts_reversed: 0, ..row(id, "0", "0") };
        let mut exceptions = Vec::new();
        let (applied, unmatched) = settle(&mut payouts, Vec::new(), &carried, true, balance_only, &mut exceptions);
        let ids: Vec<&str> = payouts.iter().map(|p| p.provider_id.as_str()).collect();
        assert_eq!(ids, ["A", "B", "C"]);
        let figures: Vec<(Decimal, Decimal, Decimal)> =
            payouts.iter().map(|p| (p.owed.offset_batch, p.owed.paid_batch, p.owed.owed_after)).collect();
        assert_eq!(
            figures,
            [(d("100.00"), d("200.00"), d("0.00")), (d("0"), d("0"), d("80.00")), (d("0"), d("0"), d("50.00"))]
        );
        let owed = BatchOwed { rows_in: 0, applied, unmatched };
        assert!(control_totals(&owed, &payouts, &carried, &exceptions).all_hold());
        payouts[0].owed.paid_batch += d("0.01");
        let totals = control_totals(&owed, &payouts, &carried, &exceptions);
        assert!(!totals.paid_balance && !totals.all_hold());
    }
}
