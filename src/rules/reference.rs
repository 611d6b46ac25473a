//! A reference model of allocation (rules 4.2 and 4.3): the rule in its
//! plainest form — hash maps keyed by name, one loop, no slots, no
//! prefetching — short enough to check by reading. The tests compare the
//! engine's allocation with it on random batches; it is not used to settle.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::rules::category::Category;
use crate::rules::codes::Code;
use crate::rules::policy::{CapScope, Policy};

/// A contract that passed the row checks, as the reference sees it.
#[derive(Debug, Clone)]
pub struct Contract {
    pub contract_id: String,
    pub completed_on: NaiveDate,
    pub enterprise_id: String,
    pub provider_id: String,
    pub product_id: String,
    pub category: Category,
    pub service_price: Decimal,
    pub voucher_amount: Decimal,
    /// The enterprise's annual quota (its tier's).
    pub quota: Decimal,
}

/// What a contract got: the amount approved and the code that says why it
/// is not the whole claim (`None`: settled in full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub contract_id: String,
    pub approved: Decimal,
    pub code: Option<Code>,
}

/// Year-to-date totals before the batch, by name.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub enterprise: HashMap<String, Decimal>,
    pub provider: HashMap<String, Decimal>,
    /// By item scope: see [`item_scope`].
    pub item: HashMap<String, Decimal>,
}

/// The name of a contract's item scope under the policy's cap scope.
pub fn item_scope(scope: CapScope, c: &Contract) -> String {
    match scope {
        CapScope::EnterpriseProductYear => format!("{}/product/{}", c.enterprise_id, c.product_id),
        CapScope::EnterpriseCategoryYear => format!("{}/category/{}", c.enterprise_id, c.category.code()),
        CapScope::Contract => format!("contract/{}", c.contract_id),
    }
}

/// Allocates `contracts` first come, first served from `totals`, which it
/// leaves as they stand after the batch. Results in allocation order.
pub fn allocate(policy: &Policy, contracts: &[Contract], totals: &mut Totals) -> Vec<Granted> {
    let mut order: Vec<&Contract> = contracts.iter().collect();
    order.sort_by(|a, b| (a.completed_on, a.contract_id.as_bytes()).cmp(&(b.completed_on, b.contract_id.as_bytes())));
    let mut granted = Vec::new();
    for c in order {
        let rule = policy.category(c.category);
        let item = item_scope(policy.cap_scope(), c);
        let used_item = totals.item.get(&item).copied().unwrap_or_default();
        let used_quota = totals.enterprise.get(&c.enterprise_id).copied().unwrap_or_default();
        let used_provider = totals.provider.get(&c.provider_id).copied().unwrap_or_default();

        let rate_limit = policy.rounding().to_fen(c.service_price * rule.rate);
        let item_room = rule.cap_yuan - used_item;
        let quota_room = c.quota - used_quota;
        let provider_room = policy.provider_cap_yuan() - used_provider;
        let approved =
            c.voucher_amount.min(rate_limit).min(item_room).min(quota_room).min(provider_room).max(Decimal::ZERO);

        let code = if approved == c.voucher_amount {
            None
        } else if approved > Decimal::ZERO {
            // The first bound, in this order, that equals what was approved.
            Some(if approved == rate_limit {
                Code::W_OVER_RATE
            } else if approved == item_room {
                Code::W_ITEM_CAP
            } else if approved == quota_room {
                Code::W_ENTERPRISE_QUOTA
            } else {
                Code::W_PROVIDER_CAP
            })
        } else if rate_limit.is_zero() {
            Some(Code::E_RATE_ZERO)
        } else if item_room <= Decimal::ZERO {
            Some(Code::E_ITEM_CAP_EXHAUSTED)
        } else if quota_room <= Decimal::ZERO {
            Some(Code::E_QUOTA_EXHAUSTED)
        } else {
            Some(Code::E_PROVIDER_CAP_EXHAUSTED)
        };

        *totals.item.entry(item).or_default() += approved;
        *totals.enterprise.entry(c.enterprise_id.clone()).or_default() += approved;
        *totals.provider.entry(c.provider_id.clone()).or_default() += approved;
        granted.push(Granted { contract_id: c.contract_id.clone(), approved, code });
    }
    granted
}
