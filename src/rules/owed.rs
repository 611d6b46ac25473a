//! Amounts owed back (rules 10): a provider whose batch net is negative
//! owes that money until it is refunded (缴回) or, where the policy says so,
//! withheld from its later payouts (抵扣). Caps and quotas never see any of
//! this: they count approvals; this counts cash.
//!
//! - 10.1 the balance carried from batch to batch ([`carried_after`] for a
//!   batch committed before the balance was recorded);
//! - 10.2 the checks of the refund rows, in their order: steps 0–1
//!   ([`check_fields`]), step 2 ([`duplicates`]), steps 3–4
//!   ([`check_against_store`]), step 5 ([`apply_refunds`]);
//! - 10.3 and 10.4 a provider's figures for the batch ([`Owed::of`]).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::Id;
use crate::record::Record;
use crate::rules::codes::{Code, Detail, ExceptionRow, Source};
use crate::rules::dates::parse_date;
use crate::rules::ids::IdRule;
use crate::rules::money::{format_money, parse_money};
use crate::rules::uscc::normalize_uscc;
use crate::schema::input::{REFUNDS, field, refund as col, too_long};

/// A refund row whose fields are well formed (rules 10.2 steps 0–1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub source_row: u64,
    /// Upper-cased (rules 2.6).
    pub provider_id: Id,
    pub amount: Decimal,
    pub received_on: NaiveDate,
    /// Trimmed.
    pub reference: String,
}

/// A refund applied (rules 10.2 step 5), with the provider's balance just
/// before and after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRefund {
    pub refund: Refund,
    pub owed_before: Decimal,
    pub owed_after: Decimal,
}

/// Money received that matches no debt (refused by step 5): listed under
/// 待核对到账款 so that it is returned or booked elsewhere, never dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedRefund {
    pub refund: Refund,
    pub code: Code,
    /// The balance the row met.
    pub balance: Decimal,
}

/// An exception on a refund row that could not be read whole: field and
/// value are the field concerned and its text; no contract id.
fn record_exception(record: &Record, code: Code, field: &'static str) -> ExceptionRow {
    let value = REFUNDS.iter().position(|c| c.name == field).and_then(|i| record.raw(i)).unwrap_or_default();
    ExceptionRow {
        source: Source::Refunds,
        source_row: record.source_row,
        contract_id: Id::default(),
        code,
        field,
        value: Id::from(value),
        detail: Detail::None,
    }
}

/// An exception on a refund that passed steps 0–1.
pub fn refund_exception(refund: &Refund, code: Code, field: &'static str, value: &str) -> ExceptionRow {
    ExceptionRow {
        source: Source::Refunds,
        source_row: refund.source_row,
        contract_id: Id::default(),
        code,
        field,
        value: Id::from(value),
        detail: Detail::None,
    }
}

/// Steps 0 and 1: the record's shape, then each field in table order —
/// empty is `P_FIELD_MISSING`; a malformed credit code, amount, date or
/// reference, or an amount of 0.00, is `P_FIELD_INVALID`.
pub fn check_fields(record: &Record) -> Result<Refund, ExceptionRow> {
    if let Some(why) = record.malformed {
        return Err(ExceptionRow {
            detail: Detail::Text(why.to_string()),
            ..record_exception(record, Code::P_ROW_MALFORMED, "")
        });
    }
    let required = |index: usize| match record.get(index) {
        "" => Err(record_exception(record, Code::P_FIELD_MISSING, REFUNDS[index].name)),
        text if too_long(text) => Err(record_exception(record, Code::P_FIELD_INVALID, REFUNDS[index].name)),
        text => Ok(text),
    };
    let invalid = |field| record_exception(record, Code::P_FIELD_INVALID, field);
    let provider_id = normalize_uscc(required(col::PROVIDER_ID)?).ok_or_else(|| invalid(field::PROVIDER_ID))?;
    let amount =
        parse_money(required(col::AMOUNT)?).filter(|a| *a > Decimal::ZERO).ok_or_else(|| invalid(field::AMOUNT))?;
    let received_on = parse_date(required(col::RECEIVED_ON)?).ok_or_else(|| invalid(field::RECEIVED_ON))?;
    let reference = required(col::REFERENCE)?;
    if !IdRule::Visible.accepts(reference) {
        return Err(invalid(field::REFERENCE));
    }
    Ok(Refund { source_row: record.source_row, provider_id, amount, received_on, reference: reference.to_string() })
}

/// Step 2: among the rows that passed steps 0–1 (in source_row order), rows
/// with the same reference: all equal (provider, amount and date as parsed
/// values) — the first is kept, the others `P_DUPLICATE_ROW` (a warning);
/// otherwise every one of them `P_DUPLICATE_CONFLICT`. Returns the rows kept.
pub fn duplicates(rows: Vec<Refund>, exceptions: &mut Vec<ExceptionRow>) -> Vec<Refund> {
    let mut groups: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
    for (at, row) in rows.iter().enumerate() {
        groups.entry(row.reference.as_str()).or_default().push(at);
    }
    let same = |a: &Refund, b: &Refund| {
        a.provider_id == b.provider_id && a.amount == b.amount && a.received_on == b.received_on
    };
    let mut keep = vec![true; rows.len()];
    let mut flagged: Vec<(usize, Code)> = Vec::new();
    for members in groups.values().filter(|m| m.len() > 1) {
        let identical = members.iter().all(|&m| same(&rows[m], &rows[members[0]]));
        let (code, out) =
            if identical { (Code::P_DUPLICATE_ROW, &members[1..]) } else { (Code::P_DUPLICATE_CONFLICT, &members[..]) };
        flagged.extend(out.iter().map(|&m| (m, code)));
    }
    flagged.sort_unstable();
    for (m, code) in flagged {
        keep[m] = false;
        exceptions.push(refund_exception(&rows[m], code, field::REFERENCE, &rows[m].reference));
    }
    rows.into_iter().zip(keep).filter_map(|(row, k)| k.then_some(row)).collect()
}

/// Steps 3 and 4 for a row kept by step 2: a reference applied by a
/// committed batch (`applied`: reference → that batch's id) is
/// `P_ALREADY_APPLIED`, its value the batch; received after the cutoff is
/// `P_AFTER_CUTOFF`.
pub fn check_against_store(
    refund: &Refund,
    cutoff: NaiveDate,
    applied: &FxHashMap<String, String>,
) -> Result<(), ExceptionRow> {
    if let Some(batch) = applied.get(&refund.reference) {
        return Err(refund_exception(refund, Code::P_ALREADY_APPLIED, field::REFERENCE, batch));
    }
    if refund.received_on > cutoff {
        let date = refund.received_on.to_string();
        return Err(refund_exception(refund, Code::P_AFTER_CUTOFF, field::RECEIVED_ON, &date));
    }
    Ok(())
}

/// Step 5, in source_row order: each refund against its provider's balance
/// left by the refunds applied before it, starting from `owed` (the
/// provider's `owed_before + owed_new`: a debt that arose in this batch can
/// be repaid in it). Nothing owed is `P_NOT_OWED`, more than owed
/// `P_EXCEEDS_OWED` (refused whole, never split; the value is the balance
/// the row met); otherwise the refund is applied.
pub fn apply_refunds(
    refunds: Vec<Refund>,
    owed: impl Fn(&str) -> Decimal,
    exceptions: &mut Vec<ExceptionRow>,
) -> (Vec<AppliedRefund>, Vec<UnmatchedRefund>) {
    let mut balances: FxHashMap<Id, Decimal> = FxHashMap::default();
    let (mut applied, mut unmatched) = (Vec::new(), Vec::new());
    for refund in refunds {
        let balance = *balances.entry(refund.provider_id.clone()).or_insert_with(|| owed(&refund.provider_id));
        let code = if balance.is_zero() {
            Code::P_NOT_OWED
        } else if refund.amount > balance {
            Code::P_EXCEEDS_OWED
        } else {
            let owed_after = balance - refund.amount;
            balances.insert(refund.provider_id.clone(), owed_after);
            applied.push(AppliedRefund { refund, owed_before: balance, owed_after });
            continue;
        };
        exceptions.push(refund_exception(&refund, code, field::AMOUNT, &format_money(balance)));
        unmatched.push(UnmatchedRefund { refund, code, balance });
    }
    (applied, unmatched)
}

/// A provider's money for one batch beyond its net (rules 10.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owed {
    /// Its balance after the batches committed before this one (10.1).
    pub owed_before: Decimal,
    /// max(0, −net): what this batch's corrections leave it owing.
    pub owed_new: Decimal,
    /// Σ the refunds applied for it in this batch.
    pub refunded_batch: Decimal,
    /// What is withheld from this batch's payment (10.3).
    pub offset_batch: Decimal,
    pub owed_after: Decimal,
    /// max(0, net) − offset: what it is paid.
    pub paid_batch: Decimal,
}

impl Owed {
    /// The figures of a provider whose batch net is `net`, with `refunded`
    /// applied; `offset_owed` is the policy's (10.3): a positive net then
    /// pays off what is still owed after the refunds, as far as it goes.
    pub fn of(owed_before: Decimal, net: Decimal, refunded: Decimal, offset_owed: bool) -> Owed {
        let owed_new = (-net).max(Decimal::ZERO);
        let positive = net.max(Decimal::ZERO);
        let still_owed = owed_before + owed_new - refunded;
        let offset_batch = if offset_owed && positive > Decimal::ZERO && still_owed > Decimal::ZERO {
            still_owed.min(positive)
        } else {
            Decimal::ZERO
        };
        Owed {
            owed_before,
            owed_new,
            refunded_batch: refunded,
            offset_batch,
            owed_after: still_owed - offset_batch,
            paid_batch: positive - offset_batch,
        }
    }

    /// Whether the provider has a balance to show: owed before or after,
    /// or any movement of it in the batch.
    pub fn has_balance(&self) -> bool {
        [self.owed_before, self.owed_new, self.refunded_batch, self.offset_batch, self.owed_after]
            .iter()
            .any(|a| !a.is_zero())
    }
}

/// Rules 10.1 for a batch committed before the balance was recorded: the
/// balance after it is the one before it plus what its net left owing (a
/// row without a net has net = approved).
pub fn carried_after(owed_before: Decimal, net: Decimal) -> Decimal {
    owed_before + (-net).max(Decimal::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn an_offset_withholds_what_is_still_owed_as_far_as_the_net_goes() {
        let o = Owed::of(d("6400.05"), d("3599.95"), d("0.00"), true);
        assert_eq!((o.offset_batch, o.paid_batch, o.owed_after), (d("3599.95"), d("0.00"), d("2800.10")));
        let o = Owed::of(d("6400.05"), d("3599.95"), d("0.00"), false);
        assert_eq!((o.offset_batch, o.paid_batch, o.owed_after), (d("0.00"), d("3599.95"), d("6400.05")));
        let o = Owed::of(d("100.00"), d("3599.95"), d("60.00"), true);
        assert_eq!((o.offset_batch, o.paid_batch, o.owed_after), (d("40.00"), d("3559.95"), d("0.00")));
    }

    #[test]
    fn a_negative_net_is_owed_new_and_pays_nothing() {
        let o = Owed::of(d("10.00"), d("-6400.05"), d("400.05"), true);
        assert_eq!(
            (o.owed_new, o.offset_batch, o.paid_batch, o.owed_after),
            (d("6400.05"), d("0"), d("0"), d("6010.00"))
        );
        assert_eq!(carried_after(d("10.00"), d("-5.00")), d("15.00"));
        assert_eq!(carried_after(d("10.00"), d("5.00")), d("10.00"));
    }

    #[test]
    fn refunds_meet_the_balance_left_by_the_ones_before_them() {
        let refund = |row, amount: &str| Refund {
            source_row: row,
            provider_id: Id::from("P"),
            amount: d(amount),
            received_on: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            reference: format!("R{row}"),
        };
        let mut exceptions = Vec::new();
        let (applied, unmatched) = apply_refunds(
            vec![refund(2, "60.00"), refund(3, "50.00"), refund(4, "40.00"), refund(5, "1.00")],
            |_| d("100.00"),
            &mut exceptions,
        );
        assert_eq!(
            applied.iter().map(|a| (a.refund.source_row, a.owed_after)).collect::<Vec<_>>(),
            [(2, d("40.00")), (4, d("0.00"))]
        );
        assert_eq!(
            unmatched.iter().map(|u| (u.refund.source_row, u.code)).collect::<Vec<_>>(),
            [(3, Code::P_EXCEEDS_OWED), (5, Code::P_NOT_OWED)]
        );
        assert_eq!(exceptions[0].value.as_str(), "40.00");
    }
}
