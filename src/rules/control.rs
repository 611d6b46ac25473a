//! The control totals (rules 6), which must hold for every batch before
//! anything is written, and are printed with it:
//!
//! - contract rows in = settlement rows + contract error rows;
//! - Σ approved = Σ payouts (and each provider's payout = the sum of its
//!   settlement rows, counted a second, independent way);
//! - every provider, enterprise and item scope key at or below its cap for
//!   the year to date, and at or above zero;
//! - with corrections (rules 9.5): every correction row accounted for once,
//!   and Σ approved − Σ reversed = Σ net payouts;
//! - every settlement row approved more than zero, no more than its claim
//!   and its rate limit;
//! - amounts owed back (rules 10.6): Σ paid = Σ positive nets − Σ offsets;
//!   Σ owed after = Σ owed before + Σ owed new − Σ refunded − Σ offsets;
//!   Σ owed before = the balances the store carried; every refund row
//!   accounted for once and Σ refunds applied = Σ refunded; no balance,
//!   payment or offset below zero.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The control totals, as computed and checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlTotals {
    pub contract_rows_in: u64,
    pub settlement_rows: u64,
    pub contract_error_rows: u64,
    pub rows_balance: bool,
    pub approved_total: String,
    pub payouts_total: String,
    pub payouts_balance: bool,
    pub caps_checked: u64,
    pub caps_hold: bool,
    pub rows_within_claim_and_rate: bool,
    /// Rules 9.5, for a batch with a corrections input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrections: Option<CorrectionTotals>,
    /// Rules 10.6, for a batch that carries balances owed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owed: Option<OwedTotals>,
}

/// The control totals of amounts owed back (rules 10.6).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwedTotals {
    pub refund_rows_in: u64,
    pub refunds_applied: u64,
    pub refund_error_rows: u64,
    pub refund_duplicate_rows: u64,
    /// Refund rows refused by step 5 (counted among the error rows too).
    pub refunds_unmatched: u64,
    pub unmatched_total: String,
    pub paid_total: String,
    pub offset_total: String,
    pub refunded_total: String,
    pub owed_before_total: String,
    pub owed_new_total: String,
    pub owed_after_total: String,
    /// Σ paid_batch = Σ max(0, net) − Σ offset_batch.
    pub paid_balance: bool,
    /// Σ owed_after = Σ owed_before + Σ owed_new − Σ refunded − Σ offset.
    pub owed_balance: bool,
    /// Σ owed_before = Σ the balances after the previous committed batch.
    pub carried_balance: bool,
    /// Σ refunds applied = Σ refunded_batch, and refund rows in = applied +
    /// error rows + duplicate rows.
    pub refunds_balance: bool,
    /// Every owed_after, paid_batch and offset_batch ≥ 0.
    pub none_negative: bool,
}

impl OwedTotals {
    pub fn all_hold(&self) -> bool {
        self.paid_balance && self.owed_balance && self.carried_balance && self.refunds_balance && self.none_negative
    }
}

/// Σ paid = Σ positive nets − Σ offsets (rules 10.6).
pub fn paid_balance(paid: Decimal, positive_nets: Decimal, offset: Decimal) -> bool {
    paid == positive_nets - offset
}

/// Σ owed after = Σ owed before + Σ owed new − Σ refunded − Σ offsets (rules 10.6).
pub fn owed_balance(after: Decimal, before: Decimal, new: Decimal, refunded: Decimal, offset: Decimal) -> bool {
    after == before + new - refunded - offset
}

/// The control totals of a batch's corrections (rules 9.5).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorrectionTotals {
    pub correction_rows_in: u64,
    pub reversal_rows: u64,
    pub correction_error_rows: u64,
    pub holds_used: u64,
    pub holds_unused: u64,
    pub duplicate_rows: u64,
    /// correction rows in = reversals + errors + holds used + holds unused + duplicate rows.
    pub rows_balance: bool,
    pub reversed_total: String,
    pub net_total: String,
    /// Σ approved − Σ reversed = Σ payouts.net_amount_batch.
    pub net_balance: bool,
}

impl ControlTotals {
    pub fn all_hold(&self) -> bool {
        self.rows_balance
            && self.payouts_balance
            && self.caps_hold
            && self.rows_within_claim_and_rate
            && self.corrections.as_ref().is_none_or(|c| c.rows_balance && c.net_balance)
            && self.owed.as_ref().is_none_or(OwedTotals::all_hold)
    }
}

/// Whether a settlement row's approved amount is one a row may hold:
/// more than zero, no more than the claim and the rate limit.
pub fn row_within_claim_and_rate(approved: Decimal, claimed: Decimal, rate_limit: Decimal) -> bool {
    approved > Decimal::ZERO && approved <= claimed && approved <= rate_limit
}

/// Whether a year-to-date total is within its cap and not below zero
/// (a reversal takes back only what was added, rules 9.5).
pub fn within_cap(used: Decimal, cap: Decimal) -> bool {
    Decimal::ZERO <= used && used <= cap
}

/// Whether the rows balance: every contract row is a settlement or an error.
pub fn rows_balance(contract_rows_in: u64, settlement_rows: u64, contract_error_rows: u64) -> bool {
    contract_rows_in == settlement_rows + contract_error_rows
}
