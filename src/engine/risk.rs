//! The batch's risk flags (rules in `rules::risk`), found over its
//! settlement rows and the year so far: contract flags row by row in
//! parallel, provider and enterprise flags from sorted pairs. Flags change
//! no money; they are findings for people to check.

use chrono::NaiveDate;
use rayon::prelude::*;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::engine::CarryIn;
use crate::engine::rows::{Settlements, by_registry_index};
use crate::rules::contract::Eligible;
use crate::rules::money::format_money;
use crate::rules::outputs::ReversalRow;
use crate::rules::policy::Policy;
use crate::rules::registry::Registries;
use crate::rules::risk::{self, Contact, Flag, RiskRow, RiskSettings, SHARED, Subject};

/// What the contract flags look up by registry index.
struct Lookups<'r> {
    enterprises: Vec<Option<&'r Contact>>,
    providers: Vec<Option<&'r Contact>>,
    list_prices: Vec<Option<Decimal>>,
    /// (kind, value) -> how many registry entries hold it.
    holders: FxHashMap<(&'r str, &'r str), u32>,
}

impl<'r> Lookups<'r> {
    fn of(registries: &'r Registries) -> Lookups<'r> {
        let enterprises = by_registry_index(registries.enterprises.values(), |e| (e.index, e.contact.as_deref()));
        let providers = by_registry_index(registries.providers.values(), |p| (p.index, p.contact.as_deref()));
        let list_prices = by_registry_index(registries.products.values(), |p| (p.index, p.list_price));
        let mut holders: FxHashMap<(&str, &str), u32> = FxHashMap::default();
        for contact in enterprises.iter().chain(&providers).flatten() {
            for (kind, get) in SHARED {
                let value = get(contact);
                if !value.is_empty() {
                    *holders.entry((kind, value)).or_default() += 1;
                }
            }
        }
        Lookups { enterprises, providers, list_prices, holders }
    }
}

/// Every flag of the batch, in risk.csv's order.
pub fn flags(
    settlements: &Settlements,
    registries: &Registries,
    (carry_in, reversals): (&CarryIn, &[ReversalRow]),
) -> Vec<RiskRow> {
    let policy = settlements.policy();
    let s = policy.risk();
    let lookups = Lookups::of(registries);
    let mut rows: Vec<RiskRow> =
        (0..settlements.len()).into_par_iter().flat_map_iter(|i| contract_flags(settlements, i, &lookups, s)).collect();
    rows.extend(provider_flags(settlements, registries, (carry_in, reversals), policy));
    rows.par_sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    rows
}

fn contract_flags(settlements: &Settlements, i: usize, lookups: &Lookups, s: &RiskSettings) -> Vec<RiskRow> {
    let (e, _) = settlements.facts(i);
    let c = &e.contract;
    let row = |flag, value: String, message: String| RiskRow {
        flag,
        contract_id: c.contract_id.to_string(),
        enterprise_id: settlements.enterprise_id_at(e.enterprise_index).to_string(),
        provider_id: settlements.provider_id_at(e.provider_index).unwrap_or_default().to_string(),
        value,
        message,
        subject: Subject {
            row: Some(i as u32),
            provider: Some(e.provider_index),
            enterprise: Some(e.enterprise_index),
        },
    };
    let mut found = Vec::new();
    let amount = c.service_price - c.voucher_amount;
    if risk::fast_completion(c.signed_on, e.completed_on, amount, s) {
        let days = (e.completed_on - c.signed_on).num_days();
        found.push(row(Flag::FastCompletion, format!("{days}"), fast_message(e, days, amount, s)));
    }
    let list = lookups.list_prices.get(e.product_index as usize).copied().flatten();
    if risk::price_above_list(c.service_price, list) {
        let (price, list) = (format_money(c.service_price), format_money(list.unwrap_or_default()));
        let message = format!(
            "服务价格 {price} 高于目录指导价 {list} (service price {price} above the catalogue guide price {list})"
        );
        found.push(row(Flag::PriceAboveList, format!("{price} > {list}"), message));
    }
    let contacts = (lookups.enterprises[e.enterprise_index as usize], lookups.providers[e.provider_index as usize]);
    if let (Some(enterprise), Some(provider)) = contacts {
        let holders = |kind: &str, value: &str| lookups.holders.get(&(kind, value)).copied().unwrap_or(0);
        if let Some(shared) = risk::related(enterprise, provider, holders, s) {
            let message = format!(
                "企业与服务商共用 {shared}（共用值至多 {} 个名录主体持有，或法定代表人相同） \
                 (the enterprise and the provider share {shared}: held by at most {} registry entries, or with the same legal representative)",
                s.related_max_holders, s.related_max_holders
            );
            found.push(row(Flag::RelatedParty, shared, message));
        }
    }
    found
}

fn fast_message(e: &Eligible, days: i64, amount: Decimal, s: &RiskSettings) -> String {
    let (amount, threshold) = (format_money(amount), format_money(s.fast_completion_amount));
    format!(
        "签订 {} 后 {days} 天即确认完成（至多 {} 天），合同金额 {amount} ≥ {threshold} \
         (completed {days} day(s) after signing on {}, at most {}; contract amount {amount} ≥ {threshold})",
        e.contract.signed_on, s.fast_completion_days, e.contract.signed_on, s.fast_completion_days
    )
}

/// A provider's (or an enterprise's) year so far, by registry index: its
/// contracts, its approved total, and the counterpart most of it comes
/// from — found in one pass by a weighted majority vote (a counterpart
/// holding 80% of a provider's total, or 90% of an enterprise's quota, holds
/// most of its total), then summed exactly in a second.
struct Tally(Vec<Entry>);

/// One provider's or enterprise's tally, amounts in fen (every amount has
/// two decimals), kept together for one cache line per row.
#[derive(Clone, Copy)]
struct Entry {
    count: i64,
    total: i64,
    weight: i64,
    with_candidate: i64,
    candidate: u32,
    in_batch: bool,
}

const NONE: u32 = u32::MAX;

impl Tally {
    fn new(len: usize) -> Tally {
        let empty = Entry { count: 0, total: 0, weight: 0, with_candidate: 0, candidate: NONE, in_batch: false };
        Tally(vec![empty; len])
    }

    /// First pass: a settlement of the batch (count 0) or of the year
    /// before it (1), or a reversal (−1, amount negative), of `at` with
    /// counterpart `other`.
    fn vote(&mut self, at: u32, other: u32, amount: i64, count: i64) {
        let t = &mut self.0[at as usize];
        t.count += if count < 0 { -1 } else { 1 };
        t.total += amount;
        t.in_batch |= count == 0;
        if count < 0 || other == NONE {
            return;
        }
        if t.candidate == other {
            t.weight += amount;
        } else if t.weight >= amount {
            t.weight -= amount;
        } else {
            t.weight = amount - t.weight;
            t.candidate = other;
        }
    }

    /// Second pass: the exact amount with the candidate.
    fn sum(&mut self, at: u32, other: u32, amount: i64) {
        let t = &mut self.0[at as usize];
        if t.candidate == other {
            t.with_candidate += amount;
        }
    }

    /// Both passes over the year's rows, `at` and `other` picked from each.
    fn of<I: Iterator<Item = (u32, u32, i64, i64)>>(len: usize, rows: impl Fn() -> I) -> Tally {
        let mut tally = Tally::new(len);
        for (at, other, amount, count) in rows().filter(|r| r.0 != NONE) {
            tally.vote(at, other, amount, count);
        }
        for (at, other, amount, _) in rows().filter(|r| r.0 != NONE) {
            tally.sum(at, other, amount);
        }
        tally
    }
}

/// What the provider flags read of one settlement row of the batch.
struct BatchRow {
    provider: u32,
    enterprise: u32,
    fen: i64,
    day: NaiveDate,
}

/// The year's settlements and reversals before this batch, the batch's
/// reversals, then its settlement rows, as (provider, enterprise, amount, count) by registry index.
fn year_rows<'a>(
    batch: &'a [BatchRow],
    registries: &'a Registries,
    (carry_in, reversals): (&'a CarryIn, &'a [ReversalRow]),
) -> impl Iterator<Item = (u32, u32, i64, i64)> + 'a {
    // By ids (an entry no longer in the registry: NONE), amount, count.
    let indexed = move |provider: &str, enterprise: &str, amount: i64, count: i64| {
        let p = registries.providers.get(provider).map_or(NONE, |p| p.index);
        let e = registries.enterprises.get(enterprise).map_or(NONE, |e| e.index);
        (p, e, amount, count)
    };
    let settled = carry_in
        .year_settlements
        .iter()
        .map(move |s| indexed(&s.provider_id, &s.enterprise_id, fen(s.approved_amount), 1));
    let reversed = carry_in
        .year_reversals
        .iter()
        .map(move |r| indexed(&r.provider_id, &r.enterprise_id, -fen(r.approved_amount), -1));
    // The batch's own reversals and clawbacks (of this year's contracts).
    let reversed_now = reversals.iter().map(move |r| indexed(&r.provider_id, &r.enterprise_id, -fen(r.amount), -1));
    let batch = batch.iter().map(|r| (r.provider, r.enterprise, r.fen, 0));
    settled.chain(reversed).chain(reversed_now).chain(batch)
}

/// The flags of providers with settlements in the batch, and of their
/// enterprises, over the year so far.
fn provider_flags(
    settlements: &Settlements,
    registries: &Registries,
    (carry_in, reversals): (&CarryIn, &[ReversalRow]),
    policy: &Policy,
) -> Vec<RiskRow> {
    let s = policy.risk();
    let batch: Vec<BatchRow> = (0..settlements.len())
        .into_par_iter()
        .map(|i| {
            let (e, approved) = settlements.facts(i);
            let day = e.completed_on;
            BatchRow { provider: e.provider_index, enterprise: e.enterprise_index, fen: fen(approved), day }
        })
        .collect();
    let rows = || year_rows(&batch, registries, (carry_in, reversals));
    let (providers, enterprises) = rayon::join(
        || Tally::of(registries.providers.len(), rows),
        || Tally::of(registries.enterprises.len(), || rows().map(|(p, e, a, c)| (e, p, a, c))),
    );
    let mut rows = same_day_bulk(settlements, &batch, s);
    let first_of_year = carry_in.year_batches == 0;
    let cap = policy.provider_cap_yuan();
    for (p, t) in providers.0.iter().enumerate().filter(|(_, t)| t.in_batch) {
        let id = (Some(p as u32), settlements.provider_id_at(p as u32).unwrap_or_default());
        let (count, total, top) = (u64::try_from(t.count).unwrap_or(0), yuan(t.total), yuan(t.with_candidate));
        if t.candidate != NONE && risk::provider_concentrated(count, top, total, s) {
            let enterprise = (Some(t.candidate), settlements.enterprise_id_at(t.candidate));
            rows.push(provider_concentration((id, enterprise), (count, top, total)));
        }
        if risk::cap_race(first_of_year, total, cap, s) {
            rows.push(cap_race(id, total, cap, s));
        }
    }
    for (e, t) in enterprises.0.iter().enumerate().filter(|(_, t)| t.in_batch) {
        let (Some(quota), provider) = (settlements.quota_of(e as u32), t.candidate) else { continue };
        let with_one = yuan(t.with_candidate);
        if provider != NONE && risk::enterprise_concentrated(with_one, quota, s) {
            let enterprise = (Some(e as u32), settlements.enterprise_id_at(e as u32));
            let provider = (Some(provider), settlements.provider_id_at(provider).unwrap_or_default());
            rows.push(enterprise_concentration((enterprise, provider), with_one, quota));
        }
    }
    rows
}

fn provider_row(flag: Flag, (provider, enterprise): (Id<'_>, Id<'_>), value: String, message: String) -> RiskRow {
    RiskRow {
        flag,
        contract_id: String::new(),
        enterprise_id: enterprise.1.to_string(),
        provider_id: provider.1.to_string(),
        value,
        message,
        subject: Subject { row: None, provider: provider.0, enterprise: enterprise.0 },
    }
}

/// A registry entry as a finding names it: its index in the batch, if any, and its id.
type Id<'a> = (Option<u32>, &'a str);

const NO_ONE: Id<'static> = (None, "");

/// F_CONCENTRATION of a provider: most of its year from one enterprise.
fn provider_concentration((provider, enterprise): (Id, Id), (count, top, total): (u64, Decimal, Decimal)) -> RiskRow {
    let share = percent(top, total);
    let (top, total) = (format_money(top), format_money(total));
    let message = format!(
        "服务商本年 {count} 份合同核定 {total}，其中 {top}（{share}）来自企业 {} \
         (of the provider's {total} approved this year over {count} contracts, {top} ({share}) comes from enterprise {})",
        enterprise.1, enterprise.1
    );
    provider_row(Flag::Concentration, (provider, enterprise), format!("provider_share={share}"), message)
}

/// F_CONCENTRATION of an enterprise: most of its quota with one provider.
fn enterprise_concentration((enterprise, provider): (Id, Id), with_one: Decimal, quota: Decimal) -> RiskRow {
    let share = percent(with_one, quota);
    let (with_one, quota) = (format_money(with_one), format_money(quota));
    let message = format!(
        "企业本年在服务商 {} 用券 {with_one}，占其配额 {quota} 的 {share} \
         (the enterprise used {with_one} with provider {} this year: {share} of its quota {quota})",
        provider.1, provider.1
    );
    provider_row(Flag::Concentration, (provider, enterprise), format!("quota_share={share}"), message)
}

/// F_CAP_RACE: the year's first batch takes a provider near its cap.
fn cap_race(provider: Id, total: Decimal, cap: Decimal, s: &RiskSettings) -> RiskRow {
    let (share, from) = (percent(total, cap), percent(s.cap_race_share, Decimal::ONE));
    let (total, cap) = (format_money(total), format_money(cap));
    let message = format!(
        "年度首批即结算 {total}，达年度上限 {cap} 的 {share}（提示线 {from}） \
         (in the service year's first batch the provider reached {total}: {share} of its annual cap {cap}; flagged from {from})"
    );
    provider_row(Flag::CapRace, (provider, NO_ONE), share, message)
}

/// F_SAME_DAY_BULK: one row per provider and day with at least the
/// setting's contracts completed (a day's contracts are settled in the
/// batch whose cutoff covers it). The rows come in allocation order, by
/// completion date: each provider's count restarts when its day changes.
fn same_day_bulk(settlements: &Settlements, batch: &[BatchRow], s: &RiskSettings) -> Vec<RiskRow> {
    let mut counting: FxHashMap<u32, (NaiveDate, u64)> = FxHashMap::default();
    let mut found: Vec<(u32, NaiveDate, u64)> = Vec::new();
    let mut flush = |provider: u32, (day, n): (NaiveDate, u64)| {
        if risk::same_day_bulk(n, s) {
            found.push((provider, day, n));
        }
    };
    for r in batch {
        let entry = counting.entry(r.provider).or_insert((r.day, 0));
        if entry.0 != r.day {
            let done = std::mem::replace(entry, (r.day, 0));
            flush(r.provider, done);
        }
        entry.1 += 1;
    }
    for (provider, state) in counting {
        flush(provider, state);
    }
    found.sort_unstable();
    let rows = found.into_iter().map(|(provider, day, n)| {
        let message = format!(
            "服务商于 {day} 确认完成 {n} 份合同（提示线 {}） ({n} contracts completed on {day}; flagged from {})",
            s.same_day_bulk, s.same_day_bulk
        );
        let id = (Some(provider), settlements.provider_id_at(provider).unwrap_or_default());
        provider_row(Flag::SameDayBulk, (id, NO_ONE), format!("{day}: {n}"), message)
    });
    rows.collect()
}

/// An amount in fen (every amount here has two decimals at most).
fn fen(amount: Decimal) -> i64 {
    if amount.scale() == 2 {
        return amount.mantissa() as i64;
    }
    (amount * Decimal::ONE_HUNDRED).round().try_into().unwrap_or(i64::MAX)
}

fn yuan(fen: i64) -> Decimal {
    Decimal::new(fen, 2)
}

/// `part` of `whole` as a percentage with two decimals.
fn percent(part: Decimal, whole: Decimal) -> String {
    if whole.is_zero() {
        return "0.00%".into();
    }
    format!("{}%", format_money((part * Decimal::ONE_HUNDRED / whole).round_dp(2)))
}
