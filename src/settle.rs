//! One batch, end to end but without I/O: validated tables and the carry-in
//! from the ledger in, settlement rows, exceptions, payouts, usage and the
//! control totals out.

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::allocate::{
    Allocation, BatchTotals, Claim, Outcome, PREFETCH_DISTANCE, Step, allocation, in_allocation_order, item_key,
    prefetch, take,
};
use crate::category::Category;
use crate::codes::{Code, Detail, ExceptionRow, Severity, Source};
use crate::frame::LedgerSettlement;
use crate::ingest::Table;
use crate::money::{format_money, money_id};
use crate::policy::CapScope;
use crate::policy::{Policy, Tier};
use crate::quota::tier_for;
use crate::registry::Registries;
use crate::registry::build_registries;
use crate::validate::{Context, Eligible, Fingerprint, validate_contracts};
use crate::{Error, Id, Result};

/// What the committed batches of the ledger hand to the next batch.
#[derive(Debug, Default)]
pub struct CarryIn {
    /// The settlements of the batch's service year committed before it;
    /// the running totals start from them.
    pub year_settlements: Vec<LedgerSettlement>,
    /// contract_id -> fingerprint of every contract ever settled (any year).
    pub settled: FxHashMap<String, String>,
}

/// The five input tables of a batch, handed over so that each is dropped as
/// soon as it has been read: the registries once built, the contracts once
/// validated (at ten million contracts they hold gigabytes of text).
pub struct BatchTables {
    pub contracts: Table,
    pub enterprises: Table,
    pub designations: Table,
    pub providers: Table,
    pub products: Table,
}

/// One row of settlements (SPEC 6), in column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRow {
    pub seq: u64,
    pub contract_id: Id,
    pub enterprise_id: Id,
    pub provider_id: Id,
    pub product_id: Id,
    pub category: &'static str,
    pub signed_on: NaiveDate,
    pub completed_on: NaiveDate,
    pub service_price: Decimal,
    pub voucher_amount: Decimal,
    pub rate_limit: Decimal,
    pub approved_amount: Decimal,
    pub shortfall: Decimal,
    pub outcome: &'static str,
    pub code: &'static str,
    pub tier: u32,
    pub enterprise_quota: Decimal,
    pub enterprise_used_before: Decimal,
    pub enterprise_used_after: Decimal,
    pub item_cap: Decimal,
    pub item_used_before: Decimal,
    pub item_used_after: Decimal,
    pub provider_used_before: Decimal,
    pub provider_used_after: Decimal,
    pub source_row: u64,
    pub fingerprint: Fingerprint,
}

impl SettlementRow {
    /// Private to this module: rows are built only by [`Settlements`],
    /// which refuses a batch with any row whose approved amount is above its
    /// claim or rate limit or not positive.
    fn new(seq: u64, eligible: &Eligible, a: &Allocation, ids: &RegistryIds) -> SettlementRow {
        let c = &eligible.contract;
        let (outcome, code) = match a.outcome {
            Outcome::Settled => ("SETTLED", ""),
            Outcome::Reduced(code) => ("SETTLED_REDUCED", code.as_str()),
            Outcome::Rejected(code) => ("REJECTED", code.as_str()),
        };
        SettlementRow {
            seq,
            category: eligible.category.code(),
            signed_on: c.signed_on,
            completed_on: eligible.completed_on,
            service_price: c.service_price,
            voucher_amount: c.voucher_amount,
            rate_limit: a.rate_limit_yuan,
            approved_amount: a.approved_yuan,
            shortfall: a.shortfall_yuan(c.voucher_amount),
            outcome,
            code,
            tier: a.tier,
            enterprise_quota: a.quota_yuan,
            enterprise_used_before: a.enterprise_used_before_yuan,
            enterprise_used_after: a.enterprise_used_before_yuan + a.approved_yuan,
            item_cap: a.item_cap_yuan,
            item_used_before: a.item_used_before_yuan,
            item_used_after: a.item_used_before_yuan + a.approved_yuan,
            provider_used_before: a.provider_used_before_yuan,
            provider_used_after: a.provider_used_before_yuan + a.approved_yuan,
            source_row: c.source_row,
            fingerprint: eligible.fingerprint,
            contract_id: c.contract_id.clone(),
            enterprise_id: ids.enterprises[eligible.enterprise_index as usize].clone(),
            provider_id: ids.providers[eligible.provider_index as usize].clone(),
            product_id: ids.products[eligible.product_index as usize].clone(),
        }
    }
}

/// The registries' ids by their entries' indexes, kept for the settlement
/// rows after the registries are gone.
pub struct RegistryIds {
    enterprises: Vec<Id>,
    providers: Vec<Id>,
    products: Vec<Id>,
}

impl RegistryIds {
    fn of(registries: &Registries) -> RegistryIds {
        RegistryIds {
            enterprises: by_registry_index(registries.enterprises.iter(), |(id, e)| (e.index, id.clone())),
            providers: by_registry_index(registries.providers.iter(), |(id, p)| (p.index, id.clone())),
            products: by_registry_index(registries.products.iter(), |(id, p)| (p.index, id.clone())),
        }
    }
}

/// The settlement rows of a batch, in allocation order. They are not
/// stored as rows: each is built when it is read, from its contract and the
/// step the sequential pass recorded, so a batch holds its contracts once
/// instead of once more as rows.
pub struct Settlements {
    policy: Policy,
    /// Per enterprise registry index: its tier's position in the policy.
    tiers: Vec<Option<u32>>,
    /// Every eligible contract, in allocation order, with its step and rate limit.
    contracts: Vec<Eligible>,
    steps: Vec<Step>,
    rate_limits: Vec<Decimal>,
    /// Per settlement row: its contract's place in allocation order.
    rows: Vec<u32>,
    ids: RegistryIds,
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
    /// Fails (a bug, never data) if any row's approved amount is above its
    /// claim or its rate limit, or not positive.
    fn new(
        policy: &Policy,
        tiers: &[Option<&Tier>],
        contracts: Vec<Eligible>,
        steps: Vec<Step>,
        rate_limits: Vec<Decimal>,
        rows: Vec<u32>,
        ids: RegistryIds,
    ) -> Result<Settlements> {
        let tier_at = |tier: &Tier| policy.tiers.iter().position(|t| std::ptr::eq(t, tier)).expect("a policy tier");
        let mut settlements = Settlements {
            policy: policy.clone(),
            tiers: tiers.iter().map(|tier| tier.map(|t| tier_at(t) as u32)).collect(),
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
                let within = approved <= claimed && approved <= rate_limit;
                let totals = RowTotals {
                    claimed,
                    approved,
                    reduced: u64::from(approved != claimed),
                    within_claim_and_rate: within,
                };
                (totals, (!within || approved <= Decimal::ZERO).then_some(i))
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
        let a = allocation(&self.policy, &self.policy.tiers[tier as usize], e, rate_limit, step);
        SettlementRow::new(i as u64 + 1, e, &a, &self.ids)
    }

    pub fn iter(&self) -> impl Iterator<Item = SettlementRow> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }

    /// The rows in `range`, built in parallel into `rows` (replacing what it held).
    pub fn rows_into(&self, range: std::ops::Range<usize>, rows: &mut Vec<SettlementRow>) {
        range.into_par_iter().map(|i| self.row(i)).collect_into_vec(rows);
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRow {
    pub provider_id: String,
    pub provider_name: String,
    pub contracts_settled: u64,
    pub approved_amount_batch: Decimal,
    pub approved_amount_year: Decimal,
    pub cap_remaining: Decimal,
}

/// One row of enterprise_usage.csv. The enterprise's id and name are
/// looked up by its registry index ([`BatchOutcome::enterprise`]): at ten
/// million contracts there are millions of rows, and two strings each
/// would be a third of a gigabyte at the batch's peak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub enterprise_index: u32,
    pub tier: u32,
    pub quota: Decimal,
    pub used_before: Decimal,
    pub used_batch: Decimal,
    pub used_after: Decimal,
    pub remaining: Decimal,
}

/// The control totals of SPEC 6, as computed and checked.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
}

impl ControlTotals {
    pub fn all_hold(&self) -> bool {
        self.rows_balance && self.payouts_balance && self.caps_hold && self.rows_within_claim_and_rate
    }
}

#[derive(Debug)]
pub struct BatchOutcome {
    pub batch_id: String,
    pub service_year: i32,
    pub cutoff: NaiveDate,
    pub contract_rows_in: u64,
    pub settlements: Settlements,
    /// Sorted: contracts first, then each registry, by row.
    pub exceptions: Vec<ExceptionRow>,
    pub payouts: Vec<PayoutRow>,
    pub usage: Vec<UsageRow>,
    /// Per enterprise registry index: its name (for the usage rows).
    enterprise_names: Vec<String>,
    pub control: ControlTotals,
}

impl BatchOutcome {
    /// The id and name of the enterprise of usage row `u` (of this batch).
    pub fn enterprise(&self, u: &UsageRow) -> (&str, &str) {
        let index = u.enterprise_index as usize;
        (self.settlements.ids.enterprises[index].as_str(), self.enterprise_names[index].as_str())
    }

    /// Counts per code over all exception rows, and per outcome.
    pub fn code_counts(&self) -> BTreeMap<String, u64> {
        let mut by_code: FxHashMap<Code, u64> = FxHashMap::default();
        for e in &self.exceptions {
            *by_code.entry(e.code).or_insert(0) += 1;
        }
        by_code.into_iter().map(|(code, count)| (code.to_string(), count)).collect()
    }
}

/// Settles one batch. Fails only on a broken invariant (exit 1).
pub fn settle_batch(
    tables: BatchTables,
    policy: &Policy,
    batch_id: &str,
    service_year: i32,
    cutoff: NaiveDate,
    carry_in: &CarryIn,
) -> Result<BatchOutcome> {
    let clock = std::time::Instant::now();
    let lap = |what: &str| {
        tracing::debug!(
            step = what,
            elapsed_ms = clock.elapsed().as_millis() as u64,
            rss_mib = rss_mib(),
            "settle step"
        )
    };
    let (registries, mut exceptions) =
        build_registries(&tables.enterprises, &tables.designations, &tables.providers, &tables.products, policy);
    drop((tables.enterprises, tables.designations, tables.providers, tables.products));
    let ctx = Context { policy, registries: &registries, service_year, cutoff, settled: &carry_in.settled };
    lap("registries");
    let validated = validate_contracts(&tables.contracts, &ctx);
    drop(tables.contracts);
    lap("validate");
    exceptions.extend(validated.exceptions);
    let eligible = in_allocation_order(validated.eligible);
    let rows_in = validated.rows_in;
    lap("sort");

    let (mut totals, carried_items, unlisted_providers) = carried_totals(carry_in, &registries, policy.cap_scope);
    let enterprise_used_before = totals.enterprise_yuan.clone();
    let tiers = tiers_of(&eligible, &registries, policy, service_year, cutoff);
    // Per contract, in allocation order: what the sequential pass reads
    // (computed in parallel; only the running totals need the sequence).
    let mut claims: Vec<Claim> = eligible
        .par_iter()
        .enumerate()
        .map(|(ordinal, e)| {
            let tier = tiers[e.enterprise_index as usize].expect("every enterprise in allocation has its tier");
            Claim::new(policy, tier, e, ordinal as u64)
        })
        .collect();
    // The item scope keys this batch touches, each once with its cap (the
    // key includes the category, so one cap per key), in key order; a claim
    // finds its running total by its key's place (slot) here. Numbered by
    // sorting (key, claim) pairs and walking them in order: searching
    // millions of keys per claim would miss the cache at every step.
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
    drop(by_key);
    totals.item_yuan = item_keys.iter().map(|(key, _)| carried_items.get(key).copied().unwrap_or_default()).collect();
    drop(carried_items);
    lap("claims");

    // The sequential pass: first come, first served. What it writes is
    // filled in side by side first, so that the pass finds its memory
    // already faulted in instead of taking every fresh page (at 10M
    // contracts 0.6 GB of steps) on one core.
    let mut used_batch: Vec<Option<Decimal>> = filled(registries.enterprises.len(), None);
    // Per provider: contracts settled and approved in this batch.
    let mut paid: Vec<(u64, Decimal)> = vec![(0, Decimal::ZERO); registries.providers.len()];
    let mut steps: Vec<Step> = filled(claims.len(), Step::NONE);
    for (ordinal, (claim, step)) in claims.iter().zip(steps.iter_mut()).enumerate() {
        // The totals a claim reads sit at random places (by enterprise, by
        // item key): asked for a few claims ahead, they arrive while the
        // claims before are taken instead of one cache miss after another.
        if let Some(ahead) = claims.get(ordinal + PREFETCH_DISTANCE) {
            prefetch(totals.enterprise_yuan.get(ahead.enterprise_index as usize));
            prefetch(totals.item_yuan.get(ahead.item_slot as usize));
            prefetch(used_batch.get(ahead.enterprise_index as usize));
        }
        *step = take(policy, claim, &mut totals);
        *used_batch[claim.enterprise_index as usize].get_or_insert(Decimal::ZERO) += step.approved_yuan;
        if step.settles() {
            let provider = &mut paid[claim.provider_index as usize];
            provider.0 += 1;
            provider.1 += step.approved_yuan;
        }
    }
    lap("allocate");
    // Year-to-date total and cap of each item scope key touched, for the
    // control totals. Then the item totals and the claims are freed before
    // the exception rows are built.
    let item_caps: Vec<(Decimal, Decimal)> =
        item_keys.iter().zip(&totals.item_yuan).map(|((_, cap), used)| (*used, *cap)).collect();
    drop(item_keys);
    totals.item_yuan = Vec::new();
    let rate_limits: Vec<Decimal> = claims.iter().map(|c| c.rate_limit_yuan).collect();
    drop(claims);

    allocation_exceptions(policy, &eligible, &tiers, &rate_limits, &steps, &mut exceptions);
    let rows = (0..steps.len()).filter(|&i| steps[i].settles()).map(|i| i as u32).collect();
    let ids = RegistryIds::of(&registries);
    let settlements = Settlements::new(policy, &tiers, eligible, steps, rate_limits, rows, ids)?;
    lap("rows");
    exceptions.sort_by_key(|e| e.sort_key());
    lap("sort exceptions");
    let payouts = payouts(&paid, &totals, policy, &registries);
    let usage = usage(&used_batch, &tiers, &enterprise_used_before, &totals);
    lap("payouts and usage");
    let recounted = crate::frame::approved_by_provider(&settlements)?;
    let control = control_totals(
        rows_in,
        &settlements,
        &exceptions,
        &payouts,
        &totals,
        &item_caps,
        &usage,
        &unlisted_providers,
        &recounted,
        policy,
    );
    lap("control totals");
    if !control.all_hold() {
        return Err(Error::Internal(format!(
            "控制总数不平，未写入任何结果 (control totals do not hold; nothing written): {}",
            serde_json::to_string(&control).unwrap_or_default()
        )));
    }
    Ok(BatchOutcome {
        batch_id: batch_id.to_string(),
        service_year,
        cutoff,
        contract_rows_in: rows_in,
        settlements,
        exceptions,
        payouts,
        usage,
        // Moved out of the registry, not copied.
        enterprise_names: by_registry_index(registries.enterprises.into_iter(), |(_, e)| (e.index, e.name)),
        control,
    })
}

/// A value of each registry entry (`value` gives the entry's index and the
/// value), placed at that index.
fn by_registry_index<E, V: Default + Clone>(
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

/// The exception rows of reduced and rejected contracts, built in parallel
/// from each contract's step and written straight into `exceptions`.
fn allocation_exceptions(
    policy: &Policy,
    eligible: &[Eligible],
    tiers: &[Option<&Tier>],
    rate_limits: &[Decimal],
    steps: &[Step],
    exceptions: &mut Vec<ExceptionRow>,
) {
    let settled_whole = |i: usize| steps[i].settles() && steps[i].approved_yuan == eligible[i].contract.voucher_amount;
    let flagged: Vec<usize> = (0..steps.len()).filter(|&i| !settled_whole(i)).collect();
    exceptions.reserve(flagged.len());
    let first = exceptions.len();
    exceptions.par_extend(flagged.par_iter().map(|&i| {
        let e = &eligible[i];
        let tier = tiers[e.enterprise_index as usize].expect("tier");
        match allocation(policy, tier, e, rate_limits[i], &steps[i]) {
            a @ Allocation { outcome: Outcome::Reduced(code) | Outcome::Rejected(code), .. } => {
                allocation_exception(e, &a, code)
            }
            Allocation { outcome: Outcome::Settled, .. } => unreachable!("a settled contract got its whole claim"),
        }
    }));
    // They come in allocation order. At most one per contract row, so
    // sorted by row here on every core, in place (no key is equal), the
    // stable sort of all exceptions that follows finds them in one run and
    // only merges: the same order as before, without sorting them on one
    // core.
    exceptions[first..].par_sort_unstable_by_key(|e| e.source_row);
}

/// The exception row of an allocation that reduced or rejected a claim.
fn allocation_exception(e: &Eligible, a: &Allocation, code: Code) -> ExceptionRow {
    let c = &e.contract;
    let shortfall = a.shortfall_yuan(c.voucher_amount);
    let detail = Detail::Bounds(Box::new([
        c.voucher_amount,
        a.rate_limit_yuan,
        a.item_room_yuan,
        a.quota_room_yuan,
        a.provider_room_yuan,
        a.approved_yuan,
    ]));
    let (field, value) = match code.severity() {
        Severity::Adjustment => ("shortfall", money_id(shortfall)),
        _ => ("voucher_amount", money_id(c.voucher_amount)),
    };
    ExceptionRow {
        source: Source::Contracts,
        source_row: c.source_row,
        contract_id: c.contract_id.clone(),
        code,
        field,
        value,
        detail,
    }
}

/// `len` copies of `value`, written side by side (each thread takes the
/// page faults of its own part).
fn filled<T: Copy + Send + Sync>(len: usize, value: T) -> Vec<T> {
    (0..len).into_par_iter().map(|_| value).collect()
}

/// The process's resident memory in MiB (Linux, 4 KiB pages; 0 elsewhere), for the step log.
pub(crate) fn rss_mib() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1).and_then(|field| field.parse::<u64>().ok()));
    pages.map_or(0, |pages| pages * 4096 / (1 << 20))
}

/// The tier of every enterprise that reaches allocation, by registry index.
fn tiers_of<'p>(
    eligible: &[Eligible],
    registries: &Registries,
    policy: &'p Policy,
    service_year: i32,
    cutoff: NaiveDate,
) -> Vec<Option<&'p Tier>> {
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

/// The running totals of the committed settlements of the year, placed on
/// this batch's registry indexes, and per item scope key. Totals of an
/// enterprise or product no longer in the registries cannot bind any
/// contract of this batch; a provider no longer in the registry is kept
/// apart for the cap check.
fn carried_totals(
    carry_in: &CarryIn,
    registries: &Registries,
    scope: CapScope,
) -> (BatchTotals, FxHashMap<u64, Decimal>, FxHashMap<String, Decimal>) {
    let mut totals = BatchTotals {
        enterprise_yuan: vec![Decimal::ZERO; registries.enterprises.len()],
        provider_yuan: vec![Decimal::ZERO; registries.providers.len()],
        item_yuan: Vec::new(),
    };
    let mut items: FxHashMap<u64, Decimal> = FxHashMap::default();
    let mut unlisted_providers: FxHashMap<String, Decimal> = FxHashMap::default();
    for s in &carry_in.year_settlements {
        let approved = s.approved_amount;
        match registries.providers.get(s.provider_id.as_str()) {
            Some(provider) => totals.provider_yuan[provider.index as usize] += approved,
            None => *unlisted_providers.entry(s.provider_id.clone()).or_default() += approved,
        }
        let Some(enterprise) = registries.enterprises.get(s.enterprise_id.as_str()) else { continue };
        totals.enterprise_yuan[enterprise.index as usize] += approved;
        let key = match scope {
            CapScope::EnterpriseProductYear => match registries.products.get(s.product_id.as_str()) {
                Some(product) => item_key(scope, enterprise.index, product.index, Category::Diagnostic, 0),
                None => continue,
            },
            CapScope::EnterpriseCategoryYear => match Category::parse(&s.category) {
                Some(category) => item_key(scope, enterprise.index, 0, category, 0),
                None => continue,
            },
            // A settled contract never comes back, so its own cap never binds again.
            CapScope::Contract => continue,
        };
        *items.entry(key).or_default() += approved;
    }
    (totals, items, unlisted_providers)
}

fn payouts(paid: &[(u64, Decimal)], totals: &BatchTotals, policy: &Policy, registries: &Registries) -> Vec<PayoutRow> {
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
                cap_remaining: policy.provider_cap_yuan - approved_amount_year,
            }
        })
        .collect()
}

/// One row per enterprise with a contract that reached allocation.
fn usage(
    used_batch: &[Option<Decimal>],
    tiers: &[Option<&Tier>],
    used_before: &[Decimal],
    totals: &BatchTotals,
) -> Vec<UsageRow> {
    (0..used_batch.len())
        .into_par_iter()
        .filter_map(|index| {
            let used_batch = used_batch[index]?;
            let tier = tiers[index].expect("an enterprise that reached allocation has its tier");
            let used_after = totals.enterprise_yuan[index];
            Some(UsageRow {
                enterprise_index: index as u32,
                tier: tier.number,
                quota: tier.quota_yuan,
                used_before: used_before[index],
                used_batch,
                used_after,
                remaining: tier.quota_yuan - used_after,
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn control_totals(
    contract_rows_in: u64,
    settlements: &Settlements,
    exceptions: &[ExceptionRow],
    payouts: &[PayoutRow],
    totals: &BatchTotals,
    item_caps: &[(Decimal, Decimal)],
    usage: &[UsageRow],
    unlisted_providers: &FxHashMap<String, Decimal>,
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
    let provider_cap = policy.provider_cap_yuan;
    let caps_checked = (item_caps.len() + usage.len() + totals.provider_yuan.len() + unlisted_providers.len()) as u64;
    let caps_hold = item_caps.par_iter().all(|(used, cap)| used <= cap)
        && usage.par_iter().all(|u| u.used_after <= u.quota)
        && totals.provider_yuan.par_iter().all(|used| *used <= provider_cap)
        && unlisted_providers.values().all(|used| *used <= provider_cap);
    ControlTotals {
        contract_rows_in,
        settlement_rows: settlements.len() as u64,
        contract_error_rows,
        rows_balance: contract_rows_in == settlements.len() as u64 + contract_error_rows,
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
