//! Allocation, first come, first served (rules 4.2), under the item cap
//! counted by the policy's cap scope (rules 4.3).
//!
//! Contracts that passed the row checks are taken one at a time in
//! ascending (completed_on, contract_id as UTF-8 bytes). Each meets four
//! bounds — its rate limit, the room left under its item cap, under its
//! enterprise's quota and under its provider's annual cap — and is
//! approved the least of its claim and those bounds, never below zero. The
//! running totals start from the year's committed batches and grow by
//! what each contract is approved.
//!
//! This file says what one contract gets; `engine` runs the pass over a
//! batch, and `reference.rs` beside this file is the same rule in its
//! plainest form, which the tests compare the engine with.

use rust_decimal::Decimal;

use crate::rules::bounds::Bound;
use crate::rules::category::Category;
use crate::rules::codes::{Code, Detail, ExceptionRow, Severity, Source};
use crate::rules::contract::ContractCore;
use crate::rules::money::money_id;
use crate::rules::policy::{CapScope, Policy, Tier};
use crate::schema::input::field;
use crate::schema::output::name;

/// What an item cap counts (rules 4.3): the running total a contract's
/// item cap is measured against. Enterprises and products are named by
/// their registry index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemScope {
    /// One enterprise, one catalogue product, one service year.
    EnterpriseProduct { enterprise: u32, product: u32 },
    /// One enterprise, one category, one service year.
    EnterpriseCategory { enterprise: u32, category: Category },
    /// Each contract alone (`ordinal`: its place in the batch).
    Contract { ordinal: u64 },
}

impl ItemScope {
    /// The item scope of a contract of this batch.
    pub fn of_contract(scope: CapScope, enterprise: u32, product: u32, category: Category, ordinal: u64) -> ItemScope {
        match scope {
            CapScope::EnterpriseProductYear => ItemScope::EnterpriseProduct { enterprise, product },
            CapScope::EnterpriseCategoryYear => ItemScope::EnterpriseCategory { enterprise, category },
            CapScope::Contract => ItemScope::Contract { ordinal },
        }
    }

    /// The item scope a committed settlement of the year carries its
    /// approved amount into: none when its product (or category) is not
    /// known any more — such a total cannot bind a contract of this batch —
    /// and none under `contract` scope, since a settled contract never
    /// comes back and its own cap never binds again.
    pub fn carried(
        scope: CapScope,
        enterprise: u32,
        product: Option<u32>,
        category: Option<Category>,
    ) -> Option<ItemScope> {
        match scope {
            CapScope::EnterpriseProductYear => {
                product.map(|product| ItemScope::EnterpriseProduct { enterprise, product })
            }
            CapScope::EnterpriseCategoryYear => {
                category.map(|category| ItemScope::EnterpriseCategory { enterprise, category })
            }
            CapScope::Contract => None,
        }
    }

    /// The scope as one number, distinct for distinct scopes: the
    /// enterprise in the high half, the product or category in the low half.
    pub fn key(self) -> u64 {
        match self {
            ItemScope::EnterpriseProduct { enterprise, product } => (u64::from(enterprise) << 32) | u64::from(product),
            ItemScope::EnterpriseCategory { enterprise, category } => {
                (u64::from(enterprise) << 32) | (1 << 31) | category as u64
            }
            ItemScope::Contract { ordinal } => (1 << 63) | ordinal,
        }
    }
}

/// The rate limit: price × the category's rate, rounded to the fen as the
/// policy says.
pub fn rate_limit(policy: &Policy, category: Category, service_price_yuan: Decimal) -> Decimal {
    policy.rounding().to_fen(service_price_yuan * policy.category(category).rate)
}

/// The least of the claim and the four bounds, never below zero.
pub fn approved(
    claimed: Decimal,
    rate_limit: Decimal,
    item_room: Decimal,
    quota_room: Decimal,
    provider_room: Decimal,
) -> Decimal {
    claimed.min(rate_limit).min(item_room).min(quota_room).min(provider_room).max(Decimal::ZERO)
}

/// What one contract met and got in the pass: the running totals before it
/// and the approved amount. Everything else about its allocation follows
/// from these ([`allocation`]).
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

/// What a contract asks of the pass: its claim and its bounds' caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub claimed_yuan: Decimal,
    pub rate_limit_yuan: Decimal,
    pub item_cap_yuan: Decimal,
    pub quota_yuan: Decimal,
    pub provider_cap_yuan: Decimal,
}

impl Ask {
    /// What the contract is approved against these running totals.
    pub fn approved(&self, item_used: Decimal, enterprise_used: Decimal, provider_used: Decimal) -> Decimal {
        approved(
            self.claimed_yuan,
            self.rate_limit_yuan,
            self.item_cap_yuan - item_used,
            self.quota_yuan - enterprise_used,
            self.provider_cap_yuan - provider_used,
        )
    }

    /// Whether a recorded step is what this rule gives (the engine's pass
    /// is checked against it before a batch is written).
    pub fn agrees_with(&self, step: &Step) -> bool {
        step.approved_yuan
            == self.approved(
                step.item_used_before_yuan,
                step.enterprise_used_before_yuan,
                step.provider_used_before_yuan,
            )
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

/// The bounds one contract met, what it got and why.
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
    pub tier_number: u32,
    pub enterprise_used_before_yuan: Decimal,
    pub provider_used_before_yuan: Decimal,
}

impl Allocation {
    pub fn shortfall_yuan(&self, claimed_yuan: Decimal) -> Decimal {
        claimed_yuan - self.approved_yuan
    }
}

/// The outcome of a contract from its step (rules 4.2): the whole claim is
/// `SETTLED`; less is `SETTLED_REDUCED` with the first bound equal to what
/// was approved (rate, item, quota, provider); nothing is rejected, with
/// `E_RATE_ZERO` for a zero rate limit, else the first exhausted room.
/// The step must agree with the rule ([`Ask::agrees_with`]), which the
/// engine checks for every contract before any row is built.
pub fn allocation(ask: &Ask, tier: &Tier, step: &Step) -> Allocation {
    let item_room_yuan = ask.item_cap_yuan - step.item_used_before_yuan;
    let quota_room_yuan = ask.quota_yuan - step.enterprise_used_before_yuan;
    let provider_room_yuan = ask.provider_cap_yuan - step.provider_used_before_yuan;
    let approved_yuan = step.approved_yuan;
    let rate_limit_yuan = ask.rate_limit_yuan;
    // What each bound allows, in the order of [`Bound::ALL`].
    let rooms = [rate_limit_yuan, item_room_yuan, quota_room_yuan, provider_room_yuan];
    let bounds = Bound::ALL.into_iter().zip(rooms);
    let outcome = if step.settles() && approved_yuan == ask.claimed_yuan {
        Outcome::Settled
    } else if step.settles() {
        let (bound, _) = bounds.clone().find(|(_, room)| *room == approved_yuan).expect("a bound equals approved");
        Outcome::Reduced(bound.code())
    } else if rate_limit_yuan.is_zero() {
        Outcome::Rejected(Bound::Rate.exhausted())
    } else {
        let (bound, _) = bounds.skip(1).find(|(_, room)| *room <= Decimal::ZERO).expect("a room is exhausted");
        Outcome::Rejected(bound.exhausted())
    };
    Allocation {
        outcome,
        rate_limit_yuan,
        item_room_yuan,
        quota_room_yuan,
        provider_room_yuan,
        approved_yuan,
        item_cap_yuan: ask.item_cap_yuan,
        item_used_before_yuan: step.item_used_before_yuan,
        quota_yuan: ask.quota_yuan,
        tier_number: tier.number(),
        enterprise_used_before_yuan: step.enterprise_used_before_yuan,
        provider_used_before_yuan: step.provider_used_before_yuan,
    }
}

/// The exception row of a contract reduced or rejected by allocation (an
/// `adjustment` naming the shortfall, or an `error` naming the claim), with
/// every bound it met; `None` for a contract settled in full.
pub fn allocation_exception(contract: &ContractCore, a: &Allocation) -> Option<ExceptionRow> {
    let code = match a.outcome {
        Outcome::Settled => return None,
        Outcome::Reduced(code) | Outcome::Rejected(code) => code,
    };
    let c = contract;
    let detail = Detail::Bounds(Box::new([
        c.voucher_amount,
        a.rate_limit_yuan,
        a.item_room_yuan,
        a.quota_room_yuan,
        a.provider_room_yuan,
        a.approved_yuan,
    ]));
    let (named, value) = match code.severity() {
        Severity::Adjustment => (name::SHORTFALL, money_id(a.shortfall_yuan(c.voucher_amount))),
        _ => (field::VOUCHER_AMOUNT, money_id(c.voucher_amount)),
    };
    Some(ExceptionRow {
        source: Source::Contracts,
        source_row: c.source_row,
        contract_id: c.contract_id.clone(),
        code,
        field: named,
        value,
        detail,
    })
}
