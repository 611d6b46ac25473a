//! What a batch adds up to: each enterprise's tier, the payout per
//! provider, the quota use per enterprise and the control totals of
//! `rules::control`, counted on every core.

use chrono::NaiveDate;
use rayon::prelude::*;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::Id;
use crate::engine::pass::BatchTotals;
use crate::engine::rows::Settlements;
use crate::rules::codes::{ExceptionRow, Severity, Source};
use crate::rules::contract::Eligible;
use crate::rules::control::{ControlTotals, rows_balance, within_cap};
use crate::rules::money::format_money;
use crate::rules::outputs::{PayoutRow, UsageRow};
use crate::rules::policy::{Policy, TierPosition};
use crate::rules::registry::Registries;
use crate::rules::tiers::tier_for;

/// The tier of every enterprise that reaches allocation, by registry index.
pub fn tiers_of(
    eligible: &[Eligible],
    registries: &Registries,
    policy: &Policy,
    service_year: i32,
    cutoff: NaiveDate,
) -> Vec<Option<TierPosition>> {
    let mut needed = vec![false; registries.enterprises.len()];
    for e in eligible {
        needed[e.enterprise_index as usize] = true;
    }
    let no_designations = Vec::new();
    by_index(&registries.enterprises, |e| e.index)
        .par_iter()
        .map(|enterprise| {
            needed[enterprise.index as usize].then(|| {
                let held = registries.designations.get(enterprise.id.as_str()).unwrap_or(&no_designations);
                tier_for(policy, enterprise, held, service_year, cutoff)
            })
        })
        .collect()
}

/// The registry entries in index order (which is id order).
fn by_index<T: Sync>(entries: &FxHashMap<Id, T>, index: impl Fn(&T) -> u32 + Sync) -> Vec<&T> {
    let mut ordered: Vec<&T> = entries.values().collect();
    ordered.par_sort_unstable_by_key(|entry| index(entry));
    ordered
}

pub fn payouts(
    paid: &[(u64, Decimal)],
    totals: &BatchTotals,
    policy: &Policy,
    registries: &Registries,
) -> Vec<PayoutRow> {
    by_index(&registries.providers, |p| p.index)
        .into_iter()
        .filter(|p| paid[p.index as usize].0 > 0)
        .map(|p| {
            let (contracts_settled, approved_amount_batch) = paid[p.index as usize];
            let approved_amount_year = totals.provider_yuan[p.index as usize];
            PayoutRow {
                provider_id: p.id.clone(),
                provider_name: p.name.clone(),
                contracts_settled,
                approved_amount_batch,
                approved_amount_year,
                cap_remaining: policy.provider_cap_yuan() - approved_amount_year,
            }
        })
        .collect()
}

/// One row per enterprise with a contract that reached allocation.
pub fn usage(
    used_batch: &[Option<Decimal>],
    tiers: &[Option<TierPosition>],
    policy: &Policy,
    used_before: &[Decimal],
    totals: &BatchTotals,
) -> Vec<UsageRow> {
    (0..used_batch.len())
        .into_par_iter()
        .filter_map(|index| {
            let used_batch = used_batch[index]?;
            let tier = policy.tier(tiers[index].expect("an enterprise that reached allocation has its tier"));
            let used_after = totals.enterprise_yuan[index];
            Some(UsageRow {
                enterprise_index: index as u32,
                tier_number: tier.number(),
                quota: tier.quota_yuan(),
                used_before: used_before[index],
                used_batch,
                used_after,
                remaining: tier.quota_yuan() - used_after,
            })
        })
        .collect()
}

/// What the cap checks of the control totals read: the year-to-date totals
/// after the pass, by registry index and by item scope touched.
pub struct CapsHeld<'a> {
    pub totals: &'a BatchTotals,
    /// Per item scope touched: (year-to-date total, cap).
    pub item_caps: &'a [(Decimal, Decimal)],
    pub usage: &'a [UsageRow],
    pub unlisted_providers: &'a FxHashMap<String, Decimal>,
}

pub fn control_totals(
    contract_rows_in: u64,
    settlements: &Settlements,
    exceptions: &[ExceptionRow],
    payouts: &[PayoutRow],
    caps: &CapsHeld,
    recounted: &[(String, u64, Decimal)],
    policy: &Policy,
) -> ControlTotals {
    // Millions of rows and keys at 10M contracts: counted and compared on every core.
    let contract_error_rows =
        exceptions.par_iter().filter(|e| e.source == Source::Contracts && e.severity() == Severity::Error).count()
            as u64;
    let row_totals = settlements.totals();
    let approved_total = row_totals.approved;
    let payouts_total: Decimal = payouts.iter().map(|p| p.approved_amount_batch).sum();
    let provider_cap = policy.provider_cap_yuan();
    let CapsHeld { totals, item_caps, usage, unlisted_providers } = caps;
    let caps_checked = (item_caps.len() + usage.len() + totals.provider_yuan.len() + unlisted_providers.len()) as u64;
    let caps_hold = item_caps.par_iter().all(|(used, cap)| within_cap(*used, *cap))
        && usage.par_iter().all(|u| within_cap(u.used_after, u.quota))
        && totals.provider_yuan.par_iter().all(|used| within_cap(*used, provider_cap))
        && unlisted_providers.values().all(|used| within_cap(*used, provider_cap));
    ControlTotals {
        contract_rows_in,
        settlement_rows: settlements.len() as u64,
        contract_error_rows,
        rows_balance: rows_balance(contract_rows_in, settlements.len() as u64, contract_error_rows),
        approved_total: format_money(approved_total),
        payouts_total: format_money(payouts_total),
        // The payout list must also equal polars' own grouping of the settlement rows.
        payouts_balance: approved_total == payouts_total
            && recounted.len() == payouts.len()
            && recounted.iter().zip(payouts).all(|((id, contracts, approved), p)| {
                *id == p.provider_id && *contracts == p.contracts_settled && *approved == p.approved_amount_batch
            }),
        caps_checked,
        caps_hold,
        rows_within_claim_and_rate: row_totals.within_claim_and_rate,
    }
}
