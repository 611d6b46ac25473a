//! The settlement rows and the allocation exceptions of a batch, built
//! from each contract and the step the sequential pass recorded for it.
//! Settlement rows are not stored: each is built when it is read, so a
//! batch holds its contracts once instead of once more as rows.

use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::Id;
use crate::rules::allocation::{Allocation, Ask, Step, allocation, allocation_exception};
use crate::rules::codes::ExceptionRow;
use crate::rules::contract::Eligible;
use crate::rules::control::row_within_claim_and_rate;
use crate::rules::outputs::SettlementRow;
use crate::rules::policy::{Policy, TierPosition};
use crate::rules::registry::Registries;
use crate::{Error, Result};

/// The registries' ids by their entries' indexes, kept for the settlement
/// rows after the registries are gone.
pub struct RegistryIds {
    pub(crate) enterprises: Vec<Id>,
    pub(crate) providers: Vec<Id>,
    products: Vec<Id>,
}

impl RegistryIds {
    pub fn of(registries: &Registries) -> RegistryIds {
        RegistryIds {
            enterprises: by_registry_index(registries.enterprises.iter(), |(id, e)| (e.index, id.clone())),
            providers: by_registry_index(registries.providers.iter(), |(id, p)| (p.index, id.clone())),
            products: by_registry_index(registries.products.iter(), |(id, p)| (p.index, id.clone())),
        }
    }
}

/// A value of each registry entry (`value` gives the entry's index and the
/// value), placed at that index.
pub fn by_registry_index<E, V: Default + Clone>(
    entries: impl ExactSizeIterator<Item = E>,
    value: impl Fn(E) -> (u32, V),
) -> Vec<V> {
    let mut placed = vec![V::default(); entries.len()];
    for entry in entries {
        let (index, v) = value(entry);
        placed[index as usize] = v;
    }
    placed
}

/// What a contract asked of allocation, from what the batch kept of it.
fn ask(policy: &Policy, tier: TierPosition, e: &Eligible, rate_limit_yuan: Decimal) -> Ask {
    Ask {
        claimed_yuan: e.contract.voucher_amount,
        rate_limit_yuan,
        item_cap_yuan: policy.category(e.category).cap_yuan,
        quota_yuan: policy.tier(tier).quota_yuan(),
        provider_cap_yuan: policy.provider_cap_yuan(),
    }
}

/// The allocation of contract `e` from its step.
fn allocation_of(
    policy: &Policy,
    tier: TierPosition,
    e: &Eligible,
    rate_limit_yuan: Decimal,
    step: &Step,
) -> Allocation {
    allocation(&ask(policy, tier, e, rate_limit_yuan), policy.tier(tier), step)
}

/// The exception rows of reduced and rejected contracts, built in parallel
/// from each contract's step and written straight into `exceptions`.
pub fn allocation_exceptions(
    policy: &Policy,
    eligible: &[Eligible],
    tiers: &[Option<TierPosition>],
    rate_limits: &[Decimal],
    steps: &[Step],
    exceptions: &mut Vec<ExceptionRow>,
) {
    let settled_whole = |i: usize| steps[i].settles() && steps[i].approved_yuan == eligible[i].contract.voucher_amount;
    let flagged: Vec<usize> = (0..steps.len()).filter(|&i| !settled_whole(i)).collect();
    exceptions.reserve(flagged.len());
    let first = exceptions.len();
    exceptions.par_extend(flagged.par_iter().filter_map(|&i| {
        let e = &eligible[i];
        let tier = tiers[e.enterprise_index as usize].expect("an eligible contract's enterprise has a tier");
        allocation_exception(&e.contract, &allocation_of(policy, tier, e, rate_limits[i], &steps[i]))
    }));
    // They come in allocation order. At most one per contract row, so
    // sorted by row here on every core, in place (no key is equal), the
    // stable sort of all exceptions that follows finds them in one run and
    // only merges: the same order as before, without sorting them on one
    // core.
    exceptions[first..].par_sort_unstable_by_key(|e| e.source_row);
}

/// The settlement rows of a batch, in allocation order.
pub struct Settlements {
    policy: Policy,
    /// Per enterprise registry index: its tier.
    tiers: Vec<Option<TierPosition>>,
    /// Every eligible contract, in allocation order, with its step and rate limit.
    contracts: Vec<Eligible>,
    steps: Vec<Step>,
    rate_limits: Vec<Decimal>,
    /// Per settlement row: its contract's place in allocation order.
    rows: Vec<u32>,
    pub(crate) ids: RegistryIds,
    totals: RowTotals,
}

/// Sums over the settlement rows, taken once.
#[derive(Debug, Clone, Copy)]
pub struct RowTotals {
    pub claimed: Decimal,
    pub approved: Decimal,
    /// Rows approved less than their claim (SETTLED_REDUCED).
    pub reduced: u64,
    /// Every row's approved amount is within its claim and its rate limit.
    pub within_claim_and_rate: bool,
}

impl RowTotals {
    const NONE: RowTotals =
        RowTotals { claimed: Decimal::ZERO, approved: Decimal::ZERO, reduced: 0, within_claim_and_rate: true };

    fn add(self, other: RowTotals) -> RowTotals {
        RowTotals {
            claimed: self.claimed + other.claimed,
            approved: self.approved + other.approved,
            reduced: self.reduced + other.reduced,
            within_claim_and_rate: self.within_claim_and_rate && other.within_claim_and_rate,
        }
    }
}

impl Settlements {
    /// The rows are the contracts whose step settles. Fails (a bug, never
    /// data) if any row's approved amount is above its claim or its rate
    /// limit, or not positive.
    pub fn new(
        policy: &Policy,
        tiers: Vec<Option<TierPosition>>,
        contracts: Vec<Eligible>,
        steps: Vec<Step>,
        rate_limits: Vec<Decimal>,
        ids: RegistryIds,
    ) -> Result<Settlements> {
        let rows = (0..steps.len()).filter(|&i| steps[i].settles()).map(|i| i as u32).collect();
        let mut settlements = Settlements {
            policy: policy.clone(),
            tiers,
            contracts,
            steps,
            rate_limits,
            rows,
            ids,
            totals: RowTotals::NONE,
        };
        // One pass: the totals, and the first row that must not exist.
        let this = &settlements;
        let (totals, broken) = (0..this.len())
            .into_par_iter()
            .map(|i| {
                let (e, step, rate_limit) = this.parts(i);
                let (approved, claimed) = (step.approved_yuan, e.contract.voucher_amount);
                let within = row_within_claim_and_rate(approved, claimed, rate_limit);
                let totals = RowTotals {
                    claimed,
                    approved,
                    reduced: u64::from(approved != claimed),
                    within_claim_and_rate: within,
                };
                (totals, (!within).then_some(i))
            })
            .reduce(
                || (RowTotals::NONE, None),
                |(a, i), (b, j)| {
                    let first = match (i, j) {
                        (Some(i), Some(j)) => Some(i.min(j)),
                        (i, j) => i.or(j),
                    };
                    (a.add(b), first)
                },
            );
        if let Some(i) = broken {
            let (e, step, rate_limit) = this.parts(i);
            return Err(Error::Internal(format!(
                "control total broken: contract {} approved {} of claim {} with rate limit {rate_limit}",
                e.contract.contract_id, step.approved_yuan, e.contract.voucher_amount
            )));
        }
        settlements.totals = totals;
        Ok(settlements)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn parts(&self, i: usize) -> (&Eligible, &Step, Decimal) {
        let ordinal = self.rows[i] as usize;
        (&self.contracts[ordinal], &self.steps[ordinal], self.rate_limits[ordinal])
    }

    /// Row `i` (from 0; its seq is `i + 1`).
    pub fn row(&self, i: usize) -> SettlementRow {
        let (e, step, rate_limit) = self.parts(i);
        let tier = self.tiers[e.enterprise_index as usize].expect("a settled contract's enterprise has its tier");
        let a = allocation_of(&self.policy, tier, e, rate_limit, step);
        let (outcome, code) = a.outcome.settlement_columns().expect("a settlement row's contract was approved");
        let c = &e.contract;
        let ids = &self.ids;
        SettlementRow {
            seq: i as u64 + 1,
            category: e.category.code(),
            signed_on: c.signed_on,
            completed_on: e.completed_on,
            service_price: c.service_price,
            voucher_amount: c.voucher_amount,
            rate_limit: a.rate_limit_yuan,
            approved_amount: a.approved_yuan,
            shortfall: a.shortfall_yuan(c.voucher_amount),
            outcome,
            code,
            tier_number: a.tier_number,
            enterprise_quota: a.quota_yuan,
            enterprise_used_before: a.enterprise_used_before_yuan,
            enterprise_used_after: a.enterprise_used_before_yuan + a.approved_yuan,
            item_cap: a.item_cap_yuan,
            item_used_before: a.item_used_before_yuan,
            item_used_after: a.item_used_before_yuan + a.approved_yuan,
            provider_used_before: a.provider_used_before_yuan,
            provider_used_after: a.provider_used_before_yuan + a.approved_yuan,
            source_row: c.source_row,
            fingerprint: e.fingerprint,
            contract_id: c.contract_id.clone(),
            enterprise_id: ids.enterprises[e.enterprise_index as usize].clone(),
            provider_id: ids.providers[e.provider_index as usize].clone(),
            product_id: ids.products[e.product_index as usize].clone(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = SettlementRow> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }

    /// The rows in `range`, built in parallel into `rows` (replacing what it held).
    pub fn rows_into(&self, range: std::ops::Range<usize>, rows: &mut Vec<SettlementRow>) {
        range.into_par_iter().map(|i| self.row(i)).collect_into_vec(rows);
    }

    /// What the risk flags read of row `i`: its contract as the batch kept
    /// it and its approved amount, without building the row.
    pub fn facts(&self, i: usize) -> (&Eligible, Decimal) {
        let (e, step, _) = self.parts(i);
        (e, step.approved_yuan)
    }

    /// The policy the batch was settled under.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The annual quota of the enterprise with registry index `index`.
    pub fn quota_of(&self, index: u32) -> Option<Decimal> {
        let tier = self.tiers.get(index as usize).copied().flatten()?;
        Some(self.policy.tier(tier).quota_yuan())
    }

    /// The id of the enterprise with registry index `index`.
    pub fn enterprise_id_at(&self, index: u32) -> &str {
        self.ids.enterprises.get(index as usize).map_or("", |id| id.as_str())
    }

    pub fn approved(&self, i: usize) -> Decimal {
        self.parts(i).1.approved_yuan
    }

    /// The registry index of row `i`'s provider.
    pub fn provider_index(&self, i: usize) -> u32 {
        self.parts(i).0.provider_index
    }

    /// The id of the provider with registry index `index`.
    pub fn provider_id_at(&self, index: u32) -> Option<&str> {
        self.ids.providers.get(index as usize).map(|id| id.as_str())
    }

    pub fn totals(&self) -> RowTotals {
        self.totals
    }
}

impl std::fmt::Debug for Settlements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Settlements({} rows, {:?})", self.len(), self.totals)
    }
}
