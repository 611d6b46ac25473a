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
use crate::rules::outputs::{PayoutRow, ReversalRow, UsageRow};
use crate::rules::policy::{Policy, TierPosition};
use crate::rules::registry::Registries;
use crate::rules::tiers::tier_for;

/// The tier of every enterprise that reaches allocation or has a reversal
/// in the batch (`reversed`: registry indexes), by registry index.
pub fn tiers_of(
    eligible: &[Eligible],
    reversed: impl Iterator<Item = u32>,
    registries: &Registries,
    policy: &Policy,
    service_year: i32,
    cutoff: NaiveDate,
) -> Vec<Option<TierPosition>> {
    let mut needed = vec![false; registries.enterprises.len()];
    for index in eligible.iter().map(|e| e.enterprise_index).chain(reversed) {
        needed[index as usize] = true;
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

/// What the batch's reversals took back, by registry index where the
/// enterprise or provider is still usable, by id where it is not.
#[derive(Debug, Default)]
pub struct Reversed {
    pub by_enterprise: FxHashMap<u32, Decimal>,
    /// Per provider registry index: contracts reversed and the amount.
    pub by_provider: FxHashMap<u32, (u64, Decimal)>,
    /// Enterprise id -> (year total before the batch, amount taken back).
    pub unlisted_enterprises: std::collections::BTreeMap<String, (Decimal, Decimal)>,
    /// Provider id -> (contracts reversed, amount taken back).
    pub unlisted_providers: std::collections::BTreeMap<String, (u64, Decimal)>,
}

impl Reversed {
    pub fn of(rows: &[ReversalRow], registries: &Registries) -> Reversed {
        let mut reversed = Reversed::default();
        for r in rows {
            match registries.enterprises.get(r.enterprise_id.as_str()) {
                Some(e) => *reversed.by_enterprise.entry(e.index).or_default() += r.amount,
                None => {
                    let entry = reversed
                        .unlisted_enterprises
                        .entry(r.enterprise_id.clone())
                        .or_insert((r.before.enterprise, Decimal::ZERO));
                    entry.1 += r.amount;
                }
            }
            let provider = match registries.providers.get(r.provider_id.as_str()) {
                Some(p) => reversed.by_provider.entry(p.index).or_default(),
                None => reversed.unlisted_providers.entry(r.provider_id.clone()).or_default(),
            };
            provider.0 += 1;
            provider.1 += r.amount;
        }
        reversed
    }
}

/// One row per provider with a settlement or a reversal in the batch, in
/// provider_id order; a provider no longer in the registry has no name.
pub fn payouts(
    paid: &[(u64, Decimal)],
    reversed: &Reversed,
    totals: &BatchTotals,
    unlisted_totals: &FxHashMap<String, Decimal>,
    policy: &Policy,
    registries: &Registries,
) -> Vec<PayoutRow> {
    let cap = policy.provider_cap_yuan();
    let mut rows: Vec<PayoutRow> = by_index(&registries.providers, |p| p.index)
        .into_iter()
        .filter(|p| paid[p.index as usize].0 > 0 || reversed.by_provider.contains_key(&p.index))
        .map(|p| {
            let (contracts_settled, approved_amount_batch) = paid[p.index as usize];
            let (contracts_reversed, reversed_amount_batch) =
                reversed.by_provider.get(&p.index).copied().unwrap_or_default();
            let approved_amount_year = totals.provider_yuan[p.index as usize];
            PayoutRow {
                provider_id: p.id.clone(),
                provider_name: p.name.clone(),
                contracts_settled,
                approved_amount_batch,
                contracts_reversed,
                reversed_amount_batch,
                approved_amount_year,
                cap_remaining: cap - approved_amount_year,
                owed: Default::default(),
            }
        })
        .collect();
    if !reversed.unlisted_providers.is_empty() {
        for (id, &(contracts_reversed, reversed_amount_batch)) in &reversed.unlisted_providers {
            let approved_amount_year = unlisted_totals.get(id).copied().unwrap_or_default();
            rows.push(PayoutRow {
                provider_id: id.clone(),
                provider_name: String::new(),
                contracts_settled: 0,
                approved_amount_batch: Decimal::ZERO,
                contracts_reversed,
                reversed_amount_batch,
                approved_amount_year,
                cap_remaining: cap - approved_amount_year,
                owed: Default::default(),
            });
        }
        rows.sort_by(|a, b| a.provider_id.cmp(&b.provider_id));
    }
    rows
}

/// One row per enterprise with a contract that reached allocation or a
/// reversal in the batch, by registry index (id order); enterprises no
/// longer in the registry follow, numbered from [`UsageRow::UNLISTED`] in
/// the order of `reversed.unlisted_enterprises` (the caller puts every row
/// in id order).
pub fn usage(
    used_batch: &[Option<Decimal>],
    reversed: &Reversed,
    tiers: &[Option<TierPosition>],
    policy: &Policy,
    used_before_contracts: &[Decimal],
    totals: &BatchTotals,
) -> Vec<UsageRow> {
    let mut rows: Vec<UsageRow> = (0..used_batch.len())
        .into_par_iter()
        .filter_map(|index| {
            let reversed_batch = reversed.by_enterprise.get(&(index as u32)).copied();
            if used_batch[index].is_none() && reversed_batch.is_none() {
                return None;
            }
            let reversed_batch = reversed_batch.unwrap_or_default();
            let tier = policy.tier(tiers[index].expect("an enterprise in the usage list has its tier"));
            let used_after = totals.enterprise_yuan[index];
            Some(UsageRow {
                enterprise_index: index as u32,
                tier_number: tier.number(),
                quota: tier.quota_yuan(),
                used_before: used_before_contracts[index] + reversed_batch,
                used_batch: used_batch[index].unwrap_or_default(),
                reversed_batch,
                used_after,
                remaining: tier.quota_yuan() - used_after,
            })
        })
        .collect();
    for (at, (before, amount)) in reversed.unlisted_enterprises.values().enumerate() {
        rows.push(UsageRow {
            enterprise_index: UsageRow::UNLISTED + at as u32,
            tier_number: 0,
            quota: Decimal::ZERO,
            used_before: *before,
            used_batch: Decimal::ZERO,
            reversed_batch: *amount,
            used_after: *before - *amount,
            remaining: Decimal::ZERO,
        });
    }
    rows
}

/// What the cap checks of the control totals read: the year-to-date totals
/// after the pass, by registry index and by item scope touched.
pub struct CapsHeld<'a> {
    pub totals: &'a BatchTotals,
    /// Per item scope touched: (year-to-date total, cap).
    pub item_caps: &'a [(Decimal, Decimal)],
    pub usage: &'a [UsageRow],
    pub unlisted_providers: &'a FxHashMap<String, Decimal>,
    /// The running totals after each reversal of the batch.
    pub reversals: &'a [ReversalRow],
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
    let CapsHeld { totals, item_caps, usage, unlisted_providers, reversals } = caps;
    let caps_checked =
        (item_caps.len() + usage.len() + totals.provider_yuan.len() + unlisted_providers.len() + 3 * reversals.len())
            as u64;
    // An enterprise no longer in the registry has no quota: its total is
    // checked not to fall below zero.
    let unlimited = Decimal::MAX;
    let caps_hold = item_caps.par_iter().all(|(used, cap)| within_cap(*used, *cap))
        && usage.par_iter().all(|u| within_cap(u.used_after, if u.listed() { u.quota } else { unlimited }))
        && reversals.iter().all(|r| {
            within_cap(r.after.item, unlimited)
                && within_cap(r.after.enterprise, unlimited)
                && within_cap(r.after.provider, provider_cap)
        })
        && totals.provider_yuan.par_iter().all(|used| within_cap(*used, provider_cap))
        && unlisted_providers.values().all(|used| within_cap(*used, provider_cap));
    ControlTotals {
        contract_rows_in,
        settlement_rows: settlements.len() as u64,
        contract_error_rows,
        rows_balance: rows_balance(contract_rows_in, settlements.len() as u64, contract_error_rows),
        approved_total: format_money(approved_total),
        payouts_total: format_money(payouts_total),
        // The payout list must also equal polars' own grouping of the
        // settlement rows (providers with only a reversal have no settlement row).
        payouts_balance: approved_total == payouts_total && {
            let paid: Vec<&PayoutRow> = payouts.iter().filter(|p| p.contracts_settled > 0).collect();
            recounted.len() == paid.len()
                && recounted.iter().zip(paid).all(|((id, contracts, approved), p)| {
                    *id == p.provider_id && *contracts == p.contracts_settled && *approved == p.approved_amount_batch
                })
        },
        caps_checked,
        caps_hold,
        rows_within_claim_and_rate: row_totals.within_claim_and_rate,
        corrections: None,
        owed: None,
    }
}
