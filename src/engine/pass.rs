//! The allocation pass of `rules::allocation`, fast: the running totals
//! kept in plain vectors by registry index and by item slot (the item
//! scope's place among the scopes the batch touches), what each contract
//! asks of the pass laid out in allocation order, and the cache misses of
//! the sequential loop asked for ahead.

use rayon::prelude::*;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::engine::CarryIn;
use crate::engine::LedgerSettlement;
use crate::engine::memory::{PREFETCH_DISTANCE, PhaseLog, filled, prefetch};
use crate::rules::allocation::{Ask, ItemScope, Step, rate_limit};
use crate::rules::category::Category;
use crate::rules::contract::Eligible;
use crate::rules::policy::{CapScope, Policy, TierPosition};
use crate::rules::registry::Registries;
use crate::{Error, Result};

/// The running totals during one batch, kept by registry index so that the
/// sequential pass touches small vectors instead of string-keyed maps.
#[derive(Debug, Clone, Default)]
pub struct BatchTotals {
    pub enterprise_yuan: Vec<Decimal>,
    pub provider_yuan: Vec<Decimal>,
    /// Per item scope the batch touches, by its slot ([`Claim::item_slot`]).
    pub item_yuan: Vec<Decimal>,
}

/// The year's committed totals, placed on this batch's registry indexes.
pub struct Carried {
    pub totals: BatchTotals,
    /// Per item scope key.
    pub items: FxHashMap<u64, Decimal>,
    /// Providers no longer in the registry: kept apart for the cap check.
    pub unlisted_providers: FxHashMap<String, Decimal>,
}

/// The running totals of the committed settlements of the year, net of the
/// year's reversals — those committed and `taken_back_now`, this batch's
/// (rules 9.3). Totals of an enterprise no longer in the registry cannot
/// bind any contract of this batch; which item scope a settlement carries
/// into is the rule's ([`ItemScope::carried`]).
pub fn carried_totals(
    carry_in: &CarryIn,
    taken_back_now: &[LedgerSettlement],
    registries: &Registries,
    scope: CapScope,
) -> Carried {
    let mut totals = BatchTotals {
        enterprise_yuan: vec![Decimal::ZERO; registries.enterprises.len()],
        provider_yuan: vec![Decimal::ZERO; registries.providers.len()],
        item_yuan: Vec::new(),
    };
    let mut items: FxHashMap<u64, Decimal> = FxHashMap::default();
    let mut unlisted_providers: FxHashMap<String, Decimal> = FxHashMap::default();
    let settled = carry_in.year_settlements.iter().map(|s| (s, s.approved_amount));
    let reversed = carry_in.year_reversals.iter().chain(taken_back_now).map(|r| (r, -r.approved_amount));
    for (s, approved) in settled.chain(reversed) {
        match registries.providers.get(s.provider_id.as_str()) {
            Some(provider) => totals.provider_yuan[provider.index as usize] += approved,
            None => *unlisted_providers.entry(s.provider_id.clone()).or_default() += approved,
        }
        let Some(enterprise) = registries.enterprises.get(s.enterprise_id.as_str()) else { continue };
        totals.enterprise_yuan[enterprise.index as usize] += approved;
        let product = registries.products.get(s.product_id.as_str()).map(|p| p.index);
        if let Some(item) = ItemScope::carried(scope, enterprise.index, product, Category::parse(&s.category)) {
            *items.entry(item.key()).or_default() += approved;
        }
    }
    Carried { totals, items, unlisted_providers }
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
    /// What the rule is asked for this claim, under the provider cap.
    pub fn ask(&self, provider_cap_yuan: Decimal) -> Ask {
        Ask {
            claimed_yuan: self.voucher_yuan,
            rate_limit_yuan: self.rate_limit_yuan,
            item_cap_yuan: self.item_cap_yuan,
            quota_yuan: self.quota_yuan,
            provider_cap_yuan,
        }
    }
}

/// Per contract, in allocation order: what the sequential pass reads
/// (computed in parallel; only the running totals need the sequence).
/// `tiers` holds each enterprise's tier by registry index.
pub fn claims(policy: &Policy, tiers: &[Option<TierPosition>], eligible: &[Eligible]) -> Vec<Claim> {
    eligible
        .par_iter()
        .enumerate()
        .map(|(ordinal, e)| {
            let tier = tiers[e.enterprise_index as usize].expect("every enterprise in allocation has its tier");
            let scope = ItemScope::of_contract(
                policy.cap_scope(),
                e.enterprise_index,
                e.product_index,
                e.category,
                ordinal as u64,
            );
            Claim {
                voucher_yuan: e.contract.voucher_amount,
                rate_limit_yuan: rate_limit(policy, e.category, e.contract.service_price),
                item_cap_yuan: policy.category(e.category).cap_yuan,
                quota_yuan: policy.tier(tier).quota_yuan(),
                item_key: scope.key(),
                item_slot: 0,
                enterprise_index: e.enterprise_index,
                provider_index: e.provider_index,
            }
        })
        .collect()
}

/// Numbers the item scope keys the batch touches, each once with its cap
/// (the key includes the category, so one cap per key), in key order, and
/// gives each claim its key's place (slot). Done by sorting (key, claim)
/// pairs and walking them in order: searching millions of keys per claim
/// would miss the cache at every step.
pub fn item_slots(claims: &mut [Claim]) -> Vec<(u64, Decimal)> {
    let mut by_key: Vec<(u64, u32)> = claims.par_iter().enumerate().map(|(at, c)| (c.item_key, at as u32)).collect();
    by_key.par_sort_unstable();
    let mut item_keys: Vec<(u64, Decimal)> = Vec::new();
    for (j, &(key, at)) in by_key.iter().enumerate() {
        prefetch(by_key.get(j + PREFETCH_DISTANCE).and_then(|&(_, ahead)| claims.get(ahead as usize)));
        let claim = &mut claims[at as usize];
        if item_keys.last().is_none_or(|(last, _)| *last != key) {
            item_keys.push((key, claim.item_cap_yuan));
        }
        claim.item_slot = (item_keys.len() - 1) as u32;
    }
    item_keys
}

/// What allocation leaves behind for the rows and the summaries.
pub struct Allocated {
    /// Per contract, in allocation order.
    pub steps: Vec<Step>,
    pub rate_limits: Vec<Decimal>,
    /// Per enterprise registry index (see [`Pass`]).
    pub used_batch: Vec<Option<Decimal>>,
    /// Per provider registry index (see [`Pass`]).
    pub paid: Vec<(u64, Decimal)>,
    /// The year-to-date totals after the batch (item totals freed).
    pub totals: BatchTotals,
    /// Per enterprise registry index: the year-to-date total before the
    /// batch's contracts (net of the batch's reversals).
    pub enterprise_used_before: Vec<Decimal>,
    /// Per item scope touched: (year-to-date total, cap).
    pub item_caps: Vec<(Decimal, Decimal)>,
    pub unlisted_providers: FxHashMap<String, Decimal>,
}

/// Allocation of a batch: the carried totals, the claims and their item
/// slots, the sequential pass, and every step checked against the rule.
pub fn allocate(
    policy: &Policy,
    registries: &Registries,
    tiers: &[Option<TierPosition>],
    eligible: &[Eligible],
    carry_in: &CarryIn,
    taken_back_now: &[LedgerSettlement],
    log: &PhaseLog,
) -> Result<Allocated> {
    let carried = carried_totals(carry_in, taken_back_now, registries, policy.cap_scope());
    let mut claims = claims(policy, tiers, eligible);
    let item_keys = item_slots(&mut claims);
    let mut totals = carried.totals;
    totals.item_yuan = item_keys.iter().map(|(key, _)| carried.items.get(key).copied().unwrap_or_default()).collect();
    drop(carried.items);
    let enterprise_used_before = totals.enterprise_yuan.clone();
    log.done("claims");
    let pass = sequential_pass(policy, &claims, &mut totals);
    log.done("allocate");
    check_steps(policy, &claims, &pass.steps)?;
    // The item totals and the claims are freed before the exception rows
    // are built; the item totals touched are kept with their caps for the
    // control totals.
    let item_caps = item_keys.iter().zip(&totals.item_yuan).map(|((_, cap), used)| (*used, *cap)).collect();
    drop(item_keys);
    totals.item_yuan = Vec::new();
    let rate_limits = claims.iter().map(|c| c.rate_limit_yuan).collect();
    drop(claims);
    Ok(Allocated {
        steps: pass.steps,
        rate_limits,
        used_batch: pass.used_batch,
        paid: pass.paid,
        totals,
        enterprise_used_before,
        item_caps,
        unlisted_providers: carried.unlisted_providers,
    })
}

/// What the sequential pass leaves behind.
pub struct Pass {
    /// Per contract, in allocation order.
    pub steps: Vec<Step>,
    /// Per enterprise registry index: approved in this batch (`None`: no
    /// contract of the enterprise reached allocation).
    pub used_batch: Vec<Option<Decimal>>,
    /// Per provider registry index: contracts settled and approved in this batch.
    pub paid: Vec<(u64, Decimal)>,
}

/// First come, first served: each claim in turn meets the running totals,
/// is approved what the rule gives, and adds it to them.
pub fn sequential_pass(policy: &Policy, claims: &[Claim], totals: &mut BatchTotals) -> Pass {
    // What the pass writes is filled in side by side first, so that it
    // finds its memory already faulted in instead of taking every fresh
    // page (at 10M contracts 0.6 GB of steps) on one core.
    let mut used_batch: Vec<Option<Decimal>> = filled(totals.enterprise_yuan.len(), None);
    let mut paid: Vec<(u64, Decimal)> = vec![(0, Decimal::ZERO); totals.provider_yuan.len()];
    let mut steps: Vec<Step> = filled(claims.len(), Step::NONE);
    let provider_cap = policy.provider_cap_yuan();
    for (ordinal, (claim, step)) in claims.iter().zip(steps.iter_mut()).enumerate() {
        // The totals a claim reads sit at random places (by enterprise, by
        // item key): asked for a few claims ahead, they arrive while the
        // claims before are taken instead of one cache miss after another.
        if let Some(ahead) = claims.get(ordinal + PREFETCH_DISTANCE) {
            prefetch(totals.enterprise_yuan.get(ahead.enterprise_index as usize));
            prefetch(totals.item_yuan.get(ahead.item_slot as usize));
            prefetch(used_batch.get(ahead.enterprise_index as usize));
        }
        *step = take(provider_cap, claim, totals);
        *used_batch[claim.enterprise_index as usize].get_or_insert(Decimal::ZERO) += step.approved_yuan;
        if step.settles() {
            let provider = &mut paid[claim.provider_index as usize];
            provider.0 += 1;
            provider.1 += step.approved_yuan;
        }
    }
    Pass { steps, used_batch, paid }
}

/// One claim meets the running totals, takes what the rule gives and adds
/// it to them.
fn take(provider_cap_yuan: Decimal, claim: &Claim, totals: &mut BatchTotals) -> Step {
    let (enterprise, provider) = (claim.enterprise_index as usize, claim.provider_index as usize);
    let item = &mut totals.item_yuan[claim.item_slot as usize];
    let step = Step {
        item_used_before_yuan: *item,
        enterprise_used_before_yuan: totals.enterprise_yuan[enterprise],
        provider_used_before_yuan: totals.provider_yuan[provider],
        approved_yuan: Decimal::ZERO,
    };
    let approved_yuan = claim.ask(provider_cap_yuan).approved(
        step.item_used_before_yuan,
        step.enterprise_used_before_yuan,
        step.provider_used_before_yuan,
    );
    *item += approved_yuan;
    totals.enterprise_yuan[enterprise] += approved_yuan;
    totals.provider_yuan[provider] += approved_yuan;
    Step { approved_yuan, ..step }
}

/// Every step recomputed from the rule, on every core: a step the rule
/// would not give is an internal error (exit 1, nothing written).
pub fn check_steps(policy: &Policy, claims: &[Claim], steps: &[Step]) -> Result<()> {
    let provider_cap = policy.provider_cap_yuan();
    let broken = claims.par_iter().zip(steps).position_any(|(claim, step)| !claim.ask(provider_cap).agrees_with(step));
    match broken {
        None => Ok(()),
        Some(at) => Err(Error::Internal(format!(
            "分配结果与规则不符，未写入任何结果 (allocation disagrees with the rule at position {at}; nothing written): {:?}",
            steps[at]
        ))),
    }
}
