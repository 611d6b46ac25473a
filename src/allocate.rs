//! First come, first served allocation (SPEC 4.2) with the three cap scopes
//! of SPEC 4.3. Pure and sequential by definition: the order of contracts
//! decides who gets the room left under each cap.

use rayon::prelude::*;
use rust_decimal::Decimal;

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
    /// Per item scope key the batch touches, by its slot ([`Claim::item_slot`]).
    pub item_yuan: Vec<Decimal>,
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

/// What the sequential pass records for one contract: the running totals
/// it met and what it was approved. Everything else about its allocation
/// follows from these ([`allocation`]), away from the sequential pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub approved_yuan: Decimal,
    pub item_used_before_yuan: Decimal,
    pub enterprise_used_before_yuan: Decimal,
    pub provider_used_before_yuan: Decimal,
}

impl Step {
    /// Nothing approved, no totals met: a placeholder until the pass records the step.
    pub const NONE: Step = Step {
        approved_yuan: Decimal::ZERO,
        item_used_before_yuan: Decimal::ZERO,
        enterprise_used_before_yuan: Decimal::ZERO,
        provider_used_before_yuan: Decimal::ZERO,
    };

    /// Whether the contract gets a settlement row (something approved).
    pub fn settles(&self) -> bool {
        self.approved_yuan > Decimal::ZERO
    }
}

/// The rate limit of SPEC 4.2: price × the category's rate, rounded to the fen.
pub fn rate_limit(policy: &Policy, eligible: &Eligible) -> Decimal {
    let rule = &policy.categories[&eligible.category];
    policy.rounding.to_cents(eligible.contract.service_price * rule.rate)
}

/// The least of the claim and the four bounds, never below zero.
fn approved(
    claimed: Decimal,
    rate_limit: Decimal,
    item_room: Decimal,
    quota_room: Decimal,
    provider_room: Decimal,
) -> Decimal {
    claimed.min(rate_limit).min(item_room).min(quota_room).min(provider_room).max(Decimal::ZERO)
}

/// What the sequential pass needs of one contract, prepared in parallel
/// and laid out in allocation order, so that the pass reads one array
/// front to back instead of following references.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub voucher_yuan: Decimal,
    pub rate_limit_yuan: Decimal,
    pub item_cap_yuan: Decimal,
    pub quota_yuan: Decimal,
    pub item_key: u64,
    /// The item key's place among the keys the batch touches, in key order.
    pub item_slot: u32,
    pub enterprise_index: u32,
    pub provider_index: u32,
}

impl Claim {
    /// `ordinal` is the contract's place in the allocation order.
    pub fn new(policy: &Policy, tier: &Tier, eligible: &Eligible, ordinal: u64) -> Claim {
        let e = eligible;
        Claim {
            voucher_yuan: e.contract.voucher_amount,
            rate_limit_yuan: rate_limit(policy, e),
            item_cap_yuan: policy.categories[&e.category].cap_yuan,
            quota_yuan: tier.quota_yuan,
            item_key: item_key(policy.cap_scope, e.enterprise_index, e.product_index, e.category, ordinal),
            item_slot: 0,
            enterprise_index: e.enterprise_index,
            provider_index: e.provider_index,
        }
    }
}

/// The sequential step of SPEC 4.2 for one contract: meets the running
/// totals, takes what fits and adds it to them. Callers feed contracts in
/// ascending (completed_on, contract_id).
pub fn take(policy: &Policy, claim: &Claim, totals: &mut BatchTotals) -> Step {
    let (enterprise, provider) = (claim.enterprise_index as usize, claim.provider_index as usize);
    let item = &mut totals.item_yuan[claim.item_slot as usize];
    let step = Step {
        item_used_before_yuan: *item,
        enterprise_used_before_yuan: totals.enterprise_yuan[enterprise],
        provider_used_before_yuan: totals.provider_yuan[provider],
        approved_yuan: Decimal::ZERO,
    };
    let approved_yuan = approved(
        claim.voucher_yuan,
        claim.rate_limit_yuan,
        claim.item_cap_yuan - step.item_used_before_yuan,
        claim.quota_yuan - step.enterprise_used_before_yuan,
        policy.provider_cap_yuan - step.provider_used_before_yuan,
    );
    *item += approved_yuan;
    totals.enterprise_yuan[enterprise] += approved_yuan;
    totals.provider_yuan[provider] += approved_yuan;
    Step { approved_yuan, ..step }
}

/// The bounds a contract met, what it got and why, from its step. Pure, so
/// the rows are built in parallel once the sequential pass is done.
pub fn allocation(
    policy: &Policy,
    tier: &Tier,
    eligible: &Eligible,
    rate_limit_yuan: Decimal,
    step: &Step,
) -> Allocation {
    let c = &eligible.contract;
    let rule = &policy.categories[&eligible.category];
    let item_room_yuan = rule.cap_yuan - step.item_used_before_yuan;
    let quota_room_yuan = tier.quota_yuan - step.enterprise_used_before_yuan;
    let provider_room_yuan = policy.provider_cap_yuan - step.provider_used_before_yuan;
    let approved_yuan = step.approved_yuan;
    debug_assert_eq!(
        approved_yuan,
        approved(c.voucher_amount, rate_limit_yuan, item_room_yuan, quota_room_yuan, provider_room_yuan)
    );
    let bounds = [
        (rate_limit_yuan, Code::W_OVER_RATE, Code::E_RATE_ZERO),
        (item_room_yuan, Code::W_ITEM_CAP, Code::E_ITEM_CAP_EXHAUSTED),
        (quota_room_yuan, Code::W_ENTERPRISE_QUOTA, Code::E_QUOTA_EXHAUSTED),
        (provider_room_yuan, Code::W_PROVIDER_CAP, Code::E_PROVIDER_CAP_EXHAUSTED),
    ];
    let outcome = if step.settles() && approved_yuan == c.voucher_amount {
        Outcome::Settled
    } else if step.settles() {
        let (_, code, _) =
            bounds.iter().find(|(bound, _, _)| *bound == approved_yuan).expect("a bound equals approved");
        Outcome::Reduced(*code)
    } else if rate_limit_yuan.is_zero() {
        Outcome::Rejected(Code::E_RATE_ZERO)
    } else {
        let (_, _, code) = bounds[1..].iter().find(|(room, _, _)| *room <= Decimal::ZERO).expect("a room is exhausted");
        Outcome::Rejected(*code)
    };
    Allocation {
        outcome,
        rate_limit_yuan,
        item_room_yuan,
        quota_room_yuan,
        provider_room_yuan,
        approved_yuan,
        item_cap_yuan: rule.cap_yuan,
        item_used_before_yuan: step.item_used_before_yuan,
        quota_yuan: tier.quota_yuan,
        tier: tier.number,
        enterprise_used_before_yuan: step.enterprise_used_before_yuan,
        provider_used_before_yuan: step.provider_used_before_yuan,
    }
}

/// Where an eligible contract sits among validation's chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct At {
    part: u32,
    index: u32,
}

/// The eligible contracts in allocation order: ascending (completed_on,
/// contract_id as UTF-8 bytes), gathered into one vector so that every later
/// pass reads them front to back. Only (date, inline id, position) keys are
/// sorted, not the contracts themselves.
pub fn in_allocation_order(parts: Vec<Vec<Eligible>>) -> Vec<Eligible> {
    // Sized up front: collected from a flat_map the vector would grow by
    // doubling, copying itself into ever larger fresh blocks.
    let mut keys: Vec<(chrono::NaiveDate, crate::Id, At)> = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    keys.extend(parts.iter().enumerate().flat_map(|(part, contracts)| {
        contracts.iter().enumerate().map(move |(index, e)| {
            (e.completed_on, e.contract.contract_id.clone(), At { part: part as u32, index: index as u32 })
        })
    }));
    // contract_ids are unique here (duplicates were removed), so the order is
    // total and an unstable sort gives the same result every time.
    keys.par_sort_unstable_by(|a, b| (a.0, a.1.as_bytes()).cmp(&(b.0, b.1.as_bytes())));
    let order: Vec<At> = keys.into_iter().map(|(_, _, at)| at).collect();
    let contract = |at: &At| &parts[at.part as usize][at.index as usize];
    (0..order.len())
        .into_par_iter()
        .map(|ordinal| {
            // The contracts sit in validation's chunks in input order: the
            // ones a few places ahead are asked for while this one is copied.
            prefetch(order.get(ordinal + PREFETCH_DISTANCE).map(contract));
            contract(&order[ordinal]).clone()
        })
        .collect()
}

/// How many elements ahead a pass over random places asks for the next ones.
pub(crate) const PREFETCH_DISTANCE: usize = 16;

/// Asks the processor to bring `value` into the cache; a hint only
/// (nothing is read or changed; `None` asks for nothing).
pub(crate) fn prefetch<T>(value: Option<&T>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(value) = value {
        // SAFETY: a prefetch reads nothing and cannot fault; the address is
        // that of a live value.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((value as *const T).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
