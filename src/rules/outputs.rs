//! The rows a batch writes (rules 6, 9.4): one settlement row per contract
//! approved something, one payout row per provider paid or reversed, one
//! usage row per enterprise whose contracts reached allocation or were
//! reversed, one reversal row per reverse or clawback applied. Plain values; the
//! columns they are written in are declared once in `schema::output`.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::Id;
use crate::rules::allocation::Outcome;
use crate::rules::codes::ExceptionRow;
use crate::rules::contract::Fingerprint;
use crate::rules::corrections::{Correction, ScopeTotals};
use crate::rules::owed::{AppliedRefund, Owed};
use crate::schema::output::{self, Cell, Column};

/// One row of settlements, in column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRow {
    pub seq: u64,
    pub contract_id: Id,
    pub enterprise_id: Id,
    pub provider_id: Id,
    pub product_id: Id,
    pub category: &'static str,
    pub signed_on: NaiveDate,
    pub completed_on: NaiveDate,
    pub service_price: Decimal,
    pub voucher_amount: Decimal,
    pub rate_limit: Decimal,
    pub approved_amount: Decimal,
    pub shortfall: Decimal,
    pub outcome: &'static str,
    pub code: &'static str,
    /// The tier's number as the policy names it.
    pub tier_number: u32,
    pub enterprise_quota: Decimal,
    pub enterprise_used_before: Decimal,
    pub enterprise_used_after: Decimal,
    pub item_cap: Decimal,
    pub item_used_before: Decimal,
    pub item_used_after: Decimal,
    pub provider_used_before: Decimal,
    pub provider_used_after: Decimal,
    pub source_row: u64,
    pub fingerprint: Fingerprint,
}

impl SettlementRow {
    /// The row's cells in the columns' order (`schema::output::SETTLEMENTS`).
    pub fn for_each_cell(&self, batch_id: &str, mut cell: impl FnMut(Cell)) {
        let fingerprint = self.fingerprint.text();
        cell(Cell::Text(batch_id));
        cell(Cell::Count(self.seq));
        cell(Cell::Text(&self.contract_id));
        cell(Cell::Text(&self.enterprise_id));
        cell(Cell::Text(&self.provider_id));
        cell(Cell::Text(&self.product_id));
        cell(Cell::Text(self.category));
        cell(Cell::Date(self.signed_on));
        cell(Cell::Date(self.completed_on));
        cell(Cell::Money(self.service_price));
        cell(Cell::Money(self.voucher_amount));
        cell(Cell::Money(self.rate_limit));
        cell(Cell::Money(self.approved_amount));
        cell(Cell::Money(self.shortfall));
        cell(Cell::Text(self.outcome));
        cell(Cell::Text(self.code));
        cell(Cell::Count(u64::from(self.tier_number)));
        cell(Cell::Money(self.enterprise_quota));
        cell(Cell::Money(self.enterprise_used_before));
        cell(Cell::Money(self.enterprise_used_after));
        cell(Cell::Money(self.item_cap));
        cell(Cell::Money(self.item_used_before));
        cell(Cell::Money(self.item_used_after));
        cell(Cell::Money(self.provider_used_before));
        cell(Cell::Money(self.provider_used_after));
        cell(Cell::Count(self.source_row));
        cell(Cell::Text(fingerprint.as_str()));
    }
}

impl ExceptionRow {
    /// The row's cells in the columns' order (`schema::output::EXCEPTIONS`),
    /// with its message built once by the caller.
    pub fn for_each_cell(&self, batch_id: &str, message: &str, mut cell: impl FnMut(Cell)) {
        cell(Cell::Text(batch_id));
        cell(Cell::Text(self.source.as_str()));
        cell(Cell::Count(self.source_row));
        cell(Cell::InputText(&self.contract_id));
        cell(Cell::Text(self.severity().as_str()));
        cell(Cell::Text(self.code.as_str()));
        cell(Cell::Text(self.field));
        cell(Cell::InputText(&self.value));
        cell(Cell::Text(message));
    }
}

impl Outcome {
    /// The outcome and code a settlement row shows; `None` for a contract
    /// approved nothing, which gets no settlement row (its exception row
    /// says why).
    pub fn settlement_columns(self) -> Option<(&'static str, &'static str)> {
        match self {
            Outcome::Settled => Some(("SETTLED", "")),
            Outcome::Reduced(code) => Some(("SETTLED_REDUCED", code.as_str())),
            Outcome::Rejected(_) => None,
        }
    }
}

/// One row of payouts.csv: a provider with a settlement or a reversal in
/// the batch (rules 6, 9.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRow {
    pub provider_id: String,
    /// Empty for a provider no longer usable in this batch's registry
    /// (only a reversal can name one).
    pub provider_name: String,
    pub contracts_settled: u64,
    pub approved_amount_batch: Decimal,
    pub contracts_reversed: u64,
    pub reversed_amount_batch: Decimal,
    /// The year to date after the batch, net of every reversal.
    pub approved_amount_year: Decimal,
    pub cap_remaining: Decimal,
    /// The balance owed back, its movements and what is paid (rules 10.4).
    pub owed: Owed,
}

/// Which columns of `schema::output::PAYOUTS` a payout list has (the
/// ledger format says which, `ledger::Format::payout_layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PayoutLayout {
    /// No reversal columns.
    Plain,
    /// The reversal columns and the net (rules 9.4).
    Reversals,
    /// The balance owed back and the amount paid (rules 10.5).
    Owed,
}

impl PayoutLayout {
    pub fn columns(self) -> &'static [Column] {
        match self {
            PayoutLayout::Plain => &output::PAYOUTS_PLAIN,
            PayoutLayout::Reversals => &output::PAYOUTS_WITH_REVERSALS,
            PayoutLayout::Owed => &output::PAYOUTS,
        }
    }
}

impl PayoutRow {
    /// approved − reversed: what the provider is paid, or owes back when negative.
    pub fn net_amount_batch(&self) -> Decimal {
        self.approved_amount_batch - self.reversed_amount_batch
    }

    /// Whether the provider has a settlement or a reversal in the batch
    /// (else it is listed only for its balance owed back, rules 10.5).
    pub fn in_batch(&self) -> bool {
        self.contracts_settled > 0 || self.contracts_reversed > 0
    }

    /// The row's cells in the columns' order of `layout`.
    pub fn for_each_cell(&self, batch_id: &str, layout: PayoutLayout, mut cell: impl FnMut(Cell)) {
        let with_reversals = layout >= PayoutLayout::Reversals;
        cell(Cell::Text(batch_id));
        cell(Cell::Text(&self.provider_id));
        cell(Cell::InputText(&self.provider_name));
        cell(Cell::Count(self.contracts_settled));
        cell(Cell::Money(self.approved_amount_batch));
        if with_reversals {
            cell(Cell::Count(self.contracts_reversed));
            cell(Cell::Money(self.reversed_amount_batch));
            cell(Cell::Money(self.net_amount_batch()));
        }
        cell(Cell::Money(self.approved_amount_year));
        cell(Cell::Money(self.cap_remaining));
        if layout == PayoutLayout::Owed {
            let o = &self.owed;
            for amount in [o.owed_before, o.refunded_batch, o.offset_batch, o.owed_new, o.owed_after, o.paid_batch] {
                cell(Cell::Money(amount));
            }
        }
    }
}

/// One row of refunds.csv and .parquet (rules 10.5): a refund applied.
impl AppliedRefund {
    /// The row's cells in the columns' order (`schema::output::REFUNDS`).
    pub fn for_each_cell(&self, batch_id: &str, mut cell: impl FnMut(Cell)) {
        let r = &self.refund;
        cell(Cell::Text(batch_id));
        cell(Cell::Count(r.source_row));
        cell(Cell::Text(&r.provider_id));
        cell(Cell::Money(r.amount));
        cell(Cell::Date(r.received_on));
        cell(Cell::InputText(&r.reference));
        cell(Cell::Money(self.owed_before));
        cell(Cell::Money(self.owed_after));
    }
}

/// One row of enterprise_usage.csv. The enterprise's id and name are
/// looked up by its registry index: at ten million contracts there are
/// millions of rows, and two strings each would be a third of a gigabyte
/// at the batch's peak. An enterprise no longer usable in this batch's
/// registry (only a reversal can name one) has no index, tier or quota:
/// `enterprise_index` is then [`UsageRow::UNLISTED`] plus its place in the
/// batch's list of such enterprises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub enterprise_index: u32,
    /// The tier's number as the policy names it.
    pub tier_number: u32,
    pub quota: Decimal,
    pub used_before: Decimal,
    pub used_batch: Decimal,
    pub reversed_batch: Decimal,
    pub used_after: Decimal,
    pub remaining: Decimal,
}

impl UsageRow {
    /// The first `enterprise_index` of an enterprise not in the registry.
    pub const UNLISTED: u32 = 1 << 31;

    pub fn listed(&self) -> bool {
        self.enterprise_index < UsageRow::UNLISTED
    }

    /// The row's cells in the columns' order (`schema::output::USAGE`),
    /// with the enterprise's id and name looked up by the caller; without
    /// `reversed_batch` unless `with_reversals`.
    pub fn for_each_cell(
        &self,
        batch_id: &str,
        (enterprise_id, enterprise_name): (&str, &str),
        with_reversals: bool,
        mut cell: impl FnMut(Cell),
    ) {
        let listed = self.listed();
        let known = |amount: Decimal| if listed { Cell::Money(amount) } else { Cell::Empty };
        cell(Cell::Text(batch_id));
        cell(Cell::Text(enterprise_id));
        cell(Cell::InputText(enterprise_name));
        cell(if listed { Cell::Count(u64::from(self.tier_number)) } else { Cell::Empty });
        cell(known(self.quota));
        cell(Cell::Money(self.used_before));
        cell(Cell::Money(self.used_batch));
        if with_reversals {
            cell(Cell::Money(self.reversed_batch));
        }
        cell(Cell::Money(self.used_after));
        cell(known(self.remaining));
    }
}

/// One row of reversals.csv and .parquet (rules 9.4): a reverse or
/// clawback applied, with the running totals as it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalRow {
    /// The correction applied (a reverse or a clawback).
    pub correction: Correction,
    pub settled_batch_id: String,
    pub enterprise_id: String,
    pub provider_id: String,
    pub product_id: String,
    pub category: String,
    /// The approved amount taken back (positive).
    pub amount: Decimal,
    pub before: ScopeTotals,
    pub after: ScopeTotals,
}

impl ReversalRow {
    /// The row's cells in the columns' order (`schema::output::REVERSALS`).
    pub fn for_each_cell(&self, batch_id: &str, mut cell: impl FnMut(Cell)) {
        let c = &self.correction;
        cell(Cell::Text(batch_id));
        cell(Cell::Count(c.source_row));
        cell(Cell::InputText(&c.contract_id));
        cell(Cell::Text(c.action.as_str()));
        cell(Cell::Date(c.decided_on));
        cell(Cell::InputText(&c.reason));
        cell(Cell::InputText(&c.reference));
        cell(Cell::Text(&self.settled_batch_id));
        cell(Cell::Text(&self.enterprise_id));
        cell(Cell::Text(&self.provider_id));
        cell(Cell::Text(&self.product_id));
        cell(Cell::Text(&self.category));
        cell(Cell::Money(self.amount));
        for (before, after) in [
            (self.before.item, self.after.item),
            (self.before.enterprise, self.after.enterprise),
            (self.before.provider, self.after.provider),
        ] {
            cell(Cell::Money(before));
            cell(Cell::Money(after));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::codes::{Code, Detail, Source};
    use crate::rules::corrections::Action;
    use crate::schema::output::{self, Column, Kind};

    fn kinds_match(columns: &[Column], kinds: &[Kind]) {
        let want: Vec<Kind> = columns.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, want);
    }

    /// Every writer takes a row's cells in the schema's order: each row
    /// type gives exactly the schema's columns, kind by kind.
    #[test]
    fn each_row_gives_its_tables_columns_in_order() {
        let day = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
        let zero = Decimal::ZERO;
        let s = SettlementRow {
            seq: 1,
            contract_id: "C".into(),
            enterprise_id: "E".into(),
            provider_id: "P".into(),
            product_id: "D".into(),
            category: "diagnostic",
            signed_on: day,
            completed_on: day,
            service_price: zero,
            voucher_amount: zero,
            rate_limit: zero,
            approved_amount: zero,
            shortfall: zero,
            outcome: "SETTLED",
            code: "",
            tier_number: 1,
            enterprise_quota: zero,
            enterprise_used_before: zero,
            enterprise_used_after: zero,
            item_cap: zero,
            item_used_before: zero,
            item_used_after: zero,
            provider_used_before: zero,
            provider_used_after: zero,
            source_row: 1,
            fingerprint: Fingerprint([0; 32]),
        };
        let mut cells = Vec::new();
        s.for_each_cell("B", |c| cells.push(c.kind()));
        assert_eq!(cells, output::SETTLEMENTS.iter().map(|c| c.kind).collect::<Vec<_>>());
        let e = ExceptionRow {
            source: Source::Contracts,
            source_row: 1,
            contract_id: "C".into(),
            code: Code::E_NO_CLAIM,
            field: "voucher_amount",
            value: "0".into(),
            detail: Detail::None,
        };
        let mut cells = Vec::new();
        e.for_each_cell("B", "m", |c| cells.push(c.kind()));
        kinds_match(&output::EXCEPTIONS, &cells);
        let p = PayoutRow {
            provider_id: "P".into(),
            provider_name: "n".into(),
            contracts_settled: 1,
            approved_amount_batch: zero,
            contracts_reversed: 0,
            reversed_amount_batch: zero,
            approved_amount_year: zero,
            cap_remaining: zero,
            owed: Owed::default(),
        };
        for layout in [PayoutLayout::Plain, PayoutLayout::Reversals, PayoutLayout::Owed] {
            let mut cells = Vec::new();
            p.for_each_cell("B", layout, |c| cells.push(c.kind()));
            kinds_match(layout.columns(), &cells);
        }
        let u = UsageRow {
            enterprise_index: 0,
            tier_number: 1,
            quota: zero,
            used_before: zero,
            used_batch: zero,
            reversed_batch: zero,
            used_after: zero,
            remaining: zero,
        };
        let mut cells = Vec::new();
        u.for_each_cell("B", ("E", "n"), true, |c| cells.push(c.kind()));
        kinds_match(&output::USAGE, &cells);
        let mut cells = Vec::new();
        u.for_each_cell("B", ("E", "n"), false, |c| cells.push(c.kind()));
        kinds_match(&output::USAGE_PLAIN, &cells);
        let r = ReversalRow {
            correction: Correction {
                source_row: 1,
                contract_id: "C".into(),
                action: Action::Reverse,
                decided_on: day,
                reason: "r".into(),
                reference: String::new(),
            },
            settled_batch_id: "2025-Q1".into(),
            enterprise_id: "E".into(),
            provider_id: "P".into(),
            product_id: "D".into(),
            category: "diagnostic".into(),
            amount: zero,
            before: ScopeTotals::default(),
            after: ScopeTotals::default(),
        };
        let mut cells = Vec::new();
        r.for_each_cell("B", |c| cells.push(c.kind()));
        kinds_match(&output::REVERSALS, &cells);
        let refund = AppliedRefund {
            refund: crate::rules::owed::Refund {
                source_row: 2,
                provider_id: "P".into(),
                amount: zero,
                received_on: day,
                reference: "R".into(),
            },
            owed_before: zero,
            owed_after: zero,
        };
        let mut cells = Vec::new();
        refund.for_each_cell("B", |c| cells.push(c.kind()));
        kinds_match(&output::REFUNDS, &cells);
    }
}
