//! The money of one batch, computed once from its payout rows, for every
//! document that shows it: 汇总, 兑付清单, 追回清单, `summary.json`,
//! `report.html` and the printed summary (ledger format 5 on). A provider's
//! net is what it is paid when zero or more, and what it owes back when
//! negative; the batch's net is both at once:
//! approved − taken back = net = to pay − owed back. With balances owed
//! back carried (rules 10), 兑付清单 pays what is left of each net after
//! the offset: paid = to pay − offset; and the balances move by
//! owed after = owed before + owed new − refunded − offset.
//!
//! Which providers each list shows is decided here too ([`payable`],
//! [`owing_new`], [`with_balance`]), so that a list and its total are the
//! same rows.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::rules::money::format_money;
use crate::rules::outputs::PayoutRow;
use crate::rules::owed::{AppliedRefund, UnmatchedRefund};

/// The batch's money, as `summary.json` records it (amounts as exact text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyFigures {
    /// Σ approved this batch.
    pub approved: String,
    /// Σ reversed and clawed back this batch.
    pub taken_back: String,
    /// approved − taken back.
    pub net: String,
    /// Σ of the nets of zero or more: the total of 兑付清单.
    pub to_pay: String,
    /// Σ owed by the providers whose net is negative: the total of 追回清单.
    pub owed_back: String,
    pub providers_to_pay: u64,
    pub providers_owing: u64,
    /// Amounts owed back (rules 10; ledger format 5 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owed: Option<OwedFigures>,
}

/// The batch's balances owed back and what is paid after offsets (rules
/// 10.5), as `summary.json` records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwedFigures {
    /// Σ paid_batch: the total of 兑付清单.
    pub paid: String,
    pub offset: String,
    pub refunded: String,
    pub owed_before: String,
    pub owed_new: String,
    pub owed_after: String,
    pub refunds_applied: u64,
    /// Refund rows that matched no debt (待核对到账款) and their sum.
    pub refunds_unmatched: u64,
    pub unmatched: String,
    /// Providers with a balance before or after, or a movement of it.
    pub providers_with_balance: u64,
}

impl MoneyFigures {
    /// The two controls every document shows, read back from the recorded
    /// text: approved − taken back = net, and to pay − owed back = net.
    pub fn balances(&self) -> (bool, bool) {
        let d = |text: &str| Decimal::from_str_exact(text).ok();
        let net = d(&self.net);
        let sum = |a: &str, b: &str| d(a).zip(d(b)).map(|(a, b)| a - b);
        (sum(&self.approved, &self.taken_back) == net, sum(&self.to_pay, &self.owed_back) == net)
    }

    /// The two controls of the balances owed back (ledger format 5 on),
    /// read back from the recorded text: to pay − offset = paid, and
    /// owed before + owed new − refunded − offset = owed after.
    pub fn owed_balances(&self) -> Option<(bool, bool)> {
        let o = self.owed.as_ref()?;
        let d = |text: &str| Decimal::from_str_exact(text).ok();
        let paid = d(&self.to_pay).zip(d(&o.offset)).map(|(a, b)| a - b) == d(&o.paid);
        let moved = (|| Some(d(&o.owed_before)? + d(&o.owed_new)? - d(&o.refunded)? - d(&o.offset)?))();
        Some((paid, moved == d(&o.owed_after)))
    }
}

/// The providers 兑付清单 lists: a settlement or a reversal in the batch,
/// and a net of zero or more.
pub fn payable(payouts: &[PayoutRow]) -> impl Iterator<Item = &PayoutRow> {
    payouts.iter().filter(|p| p.in_batch() && p.net_amount_batch() >= Decimal::ZERO)
}

/// The providers whose net for the batch is negative: what they owe from it.
pub fn owing_new(payouts: &[PayoutRow]) -> impl Iterator<Item = &PayoutRow> {
    payouts.iter().filter(|p| p.net_amount_batch() < Decimal::ZERO)
}

/// The providers with a balance owed back before or after the batch, or a
/// movement of it (追回清单's balances, 应退款台账).
pub fn with_balance(payouts: &[PayoutRow]) -> impl Iterator<Item = &PayoutRow> {
    payouts.iter().filter(|p| p.owed.has_balance())
}

/// The figures, as exact decimals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub approved: Decimal,
    pub taken_back: Decimal,
    pub to_pay: Decimal,
    pub owed_back: Decimal,
    pub providers_to_pay: u64,
    pub providers_owing: u64,
    pub paid: Decimal,
    pub offset: Decimal,
    pub refunded: Decimal,
    pub owed_before: Decimal,
    pub owed_new: Decimal,
    pub owed_after: Decimal,
    pub providers_with_balance: u64,
}

impl Totals {
    /// Sums the payout rows: every provider paid, reversed or owing.
    pub fn of(payouts: &[PayoutRow]) -> Totals {
        let mut t = Totals::default();
        for p in payouts {
            t.approved += p.approved_amount_batch;
            t.taken_back += p.reversed_amount_batch;
            let o = &p.owed;
            (t.paid, t.offset, t.refunded) =
                (t.paid + o.paid_batch, t.offset + o.offset_batch, t.refunded + o.refunded_batch);
            (t.owed_before, t.owed_new, t.owed_after) =
                (t.owed_before + o.owed_before, t.owed_new + o.owed_new, t.owed_after + o.owed_after);
            t.providers_with_balance += u64::from(o.has_balance());
        }
        for p in payable(payouts) {
            t.to_pay += p.net_amount_batch();
            t.providers_to_pay += 1;
        }
        for p in owing_new(payouts) {
            t.owed_back -= p.net_amount_batch();
            t.providers_owing += 1;
        }
        t
    }

    pub fn net(&self) -> Decimal {
        self.approved - self.taken_back
    }

    /// approved − taken back = to pay − owed back: the payout list and the
    /// clawback list together account for the batch's net.
    pub fn balance(&self) -> bool {
        self.net() == self.to_pay - self.owed_back
    }

    /// The figures as recorded; `refunds` (ledger format 5 on): the refunds
    /// applied and those that matched no debt.
    pub fn recorded(&self, refunds: Option<(&[AppliedRefund], &[UnmatchedRefund])>) -> MoneyFigures {
        let owed = refunds.map(|(applied, unmatched)| OwedFigures {
            paid: format_money(self.paid),
            offset: format_money(self.offset),
            refunded: format_money(self.refunded),
            owed_before: format_money(self.owed_before),
            owed_new: format_money(self.owed_new),
            owed_after: format_money(self.owed_after),
            refunds_applied: applied.len() as u64,
            refunds_unmatched: unmatched.len() as u64,
            unmatched: format_money(unmatched.iter().map(|u| u.refund.amount).sum()),
            providers_with_balance: self.providers_with_balance,
        });
        MoneyFigures {
            owed,
            approved: format_money(self.approved),
            taken_back: format_money(self.taken_back),
            net: format_money(self.net()),
            to_pay: format_money(self.to_pay),
            owed_back: format_money(self.owed_back),
            providers_to_pay: self.providers_to_pay,
            providers_owing: self.providers_owing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payout(approved: &str, reversed: &str) -> PayoutRow {
        PayoutRow {
            provider_id: String::new(),
            provider_name: String::new(),
            contracts_settled: 1,
            approved_amount_batch: Decimal::from_str_exact(approved).unwrap(),
            contracts_reversed: 0,
            reversed_amount_batch: Decimal::from_str_exact(reversed).unwrap(),
            approved_amount_year: Decimal::ZERO,
            cap_remaining: Decimal::ZERO,
            owed: Default::default(),
        }
    }

    /// The example's 2025-Q3: one provider owes 6,400.05, the other is paid
    /// 5,000.00; the batch's net −1,400.05 is both.
    #[test]
    fn a_negative_net_is_owed_back_and_both_lists_make_the_net() {
        let t = Totals::of(&[payout("3599.95", "10000.00"), payout("35000.00", "30000.00")]);
        let m = t.recorded(None);
        assert_eq!(
            (m.approved.as_str(), m.taken_back.as_str(), m.net.as_str(), m.to_pay.as_str(), m.owed_back.as_str()),
            ("38599.95", "40000.00", "-1400.05", "5000.00", "6400.05")
        );
        assert_eq!((m.providers_to_pay, m.providers_owing), (1, 1));
        assert!(t.balance());
        assert_eq!(m.balances(), (true, true));
        let off = MoneyFigures { owed_back: "6400.04".to_string(), ..m };
        assert_eq!(off.balances(), (true, false));
    }
}
