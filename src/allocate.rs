//! First come, first served allocation (SPEC 4.2) with the three cap scopes
//! of SPEC 4.3. Pure and sequential by definition: the order of contracts
//! decides who gets the room left under each cap.

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::category::Category;
use crate::codes::Code;
use crate::policy::{CapScope, Policy, Tier};
use crate::validate::Eligible;

/// The running totals during one batch, kept by registry index so that the
/// sequential pass touches small vectors instead of string-keyed maps.
#[derive(Debug, Clone, Default)]
pub struct BatchTotals {
    pub enterprise_yuan: Vec<Decimal>,
    pub provider_yuan: Vec<Decimal>,
    pub item_yuan: FxHashMap<u64, Decimal>,
}

/// The item scope key of SPEC 4.3 as a number: enterprise index in the high
/// half, product or category in the low half. Under `contract` scope each
/// contract is its own key (`ordinal` is its position in the batch).
pub fn item_key(scope: CapScope, enterprise_index: u32, product_index: u32, category: Category, ordinal: u64) -> u64 {
    match scope {
        CapScope::EnterpriseProductYear => (u64::from(enterprise_index) << 32) | u64::from(product_index),
        CapScope::EnterpriseCategoryYear => (u64::from(enterprise_index) << 32) | (1 << 31) | category as u64,
        CapScope::Contract => (1 << 63) | ordinal,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Settled,
    /// Reduced below the claim; the code names the bound that applied.
    Reduced(Code),
    /// Nothing approved; the code says why.
    Rejected(Code),
}

/// The bounds one contract met and what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub outcome: Outcome,
    pub rate_limit_yuan: Decimal,
    pub item_room_yuan: Decimal,
    pub quota_room_yuan: Decimal,
    pub provider_room_yuan: Decimal,
    pub approved_yuan: Decimal,
    pub item_cap_yuan: Decimal,
    pub item_used_before_yuan: Decimal,
    pub quota_yuan: Decimal,
    pub tier: u32,
    pub enterprise_used_before_yuan: Decimal,
    pub provider_used_before_yuan: Decimal,
}

impl Allocation {
    pub fn shortfall_yuan(&self, claimed_yuan: Decimal) -> Decimal {
        claimed_yuan - self.approved_yuan
    }
}

/// Allocates one contract against the running totals and adds what it was
/// approved. Callers feed contracts in ascending (completed_on, contract_id).
pub fn allocate_one(
    policy: &Policy,
    tier: &Tier,
    eligible: &Eligible,
    key: u64,
    totals: &mut BatchTotals,
) -> Allocation {
    let c = &eligible.contract;
    let rule = &policy.categories[&eligible.category];
    let rate_limit_yuan = policy.rounding.to_cents(c.service_price * rule.rate);
    let (enterprise, provider) = (eligible.enterprise_index as usize, eligible.provider_index as usize);
    let item_used_before_yuan = totals.item_yuan.get(&key).copied().unwrap_or_default();
    let enterprise_used_before_yuan = totals.enterprise_yuan[enterprise];
    let provider_used_before_yuan = totals.provider_yuan[provider];
    let item_room_yuan = rule.cap_yuan - item_used_before_yuan;
    let quota_room_yuan = tier.quota_yuan - enterprise_used_before_yuan;
    let provider_room_yuan = policy.provider_cap_yuan - provider_used_before_yuan;
    let approved_yuan = c
        .voucher_amount
        .min(rate_limit_yuan)
        .min(item_room_yuan)
        .min(quota_room_yuan)
        .min(provider_room_yuan)
        .max(Decimal::ZERO);

    let bounds = [
        (rate_limit_yuan, Code::W_OVER_RATE, Code::E_RATE_ZERO),
        (item_room_yuan, Code::W_ITEM_CAP, Code::E_ITEM_CAP_EXHAUSTED),
        (quota_room_yuan, Code::W_ENTERPRISE_QUOTA, Code::E_QUOTA_EXHAUSTED),
        (provider_room_yuan, Code::W_PROVIDER_CAP, Code::E_PROVIDER_CAP_EXHAUSTED),
    ];
    let outcome = if approved_yuan == c.voucher_amount {
        Outcome::Settled
    } else if approved_yuan > Decimal::ZERO {
        let (_, code, _) =
            bounds.iter().find(|(bound, _, _)| *bound == approved_yuan).expect("a bound equals approved");
        Outcome::Reduced(*code)
    } else if rate_limit_yuan.is_zero() {
        Outcome::Rejected(Code::E_RATE_ZERO)
    } else {
        let (_, _, code) = bounds[1..].iter().find(|(room, _, _)| *room <= Decimal::ZERO).expect("a room is exhausted");
        Outcome::Rejected(*code)
    };
    *totals.item_yuan.entry(key).or_default() += approved_yuan;
    totals.enterprise_yuan[enterprise] += approved_yuan;
    totals.provider_yuan[provider] += approved_yuan;
    Allocation {
        outcome,
        rate_limit_yuan,
        item_room_yuan,
        quota_room_yuan,
        provider_room_yuan,
        approved_yuan,
        item_cap_yuan: rule.cap_yuan,
        item_used_before_yuan,
        quota_yuan: tier.quota_yuan,
        tier: tier.number,
        enterprise_used_before_yuan,
        provider_used_before_yuan,
    }
}

/// The allocation order: ascending (completed_on, contract_id as UTF-8 bytes).
pub fn sort_for_allocation(eligible: &mut [Eligible]) {
    // contract_ids are unique here (duplicates were removed), so the order is total
    // and an unstable sort gives the same result every time.
    eligible.sort_unstable_by(|a, b| {
        (a.completed_on, a.contract.contract_id.as_bytes()).cmp(&(b.completed_on, b.contract.contract_id.as_bytes()))
    });
}
