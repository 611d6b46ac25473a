//! The money of one batch, computed once from its payout rows, for every
//! document that shows it: 汇总, 兑付清单, 追回清单, `summary.json`,
//! `report.html` and the printed summary (ledger format 5 on). A provider's
//! net is what it is paid when zero or more, and what it owes back when
//! negative; the batch's net is both at once:
//! approved − taken back = net = to pay − owed back.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::rules::money::format_money;
use crate::rules::outputs::PayoutRow;

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
}

impl Totals {
    /// Sums the payout rows: every provider paid, reversed or owing.
    pub fn of(payouts: &[PayoutRow]) -> Totals {
        let mut t = Totals::default();
        for p in payouts {
            t.approved += p.approved_amount_batch;
            t.taken_back += p.reversed_amount_batch;
            let net = p.net_amount_batch();
            if net < Decimal::ZERO {
                t.owed_back -= net;
                t.providers_owing += 1;
            } else {
                t.to_pay += net;
                t.providers_to_pay += 1;
            }
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

    pub fn recorded(&self) -> MoneyFigures {
        MoneyFigures {
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
            contracts_settled: 0,
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
        let m = t.recorded();
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
