//! How a batch runs fast: the rules of `rules`, applied to a whole batch on
//! every core where the rules allow it and in one tight sequential pass
//! where they do not (first come, first served). Nothing here decides an
//! amount or a code; every memory trick lives in `memory.rs`.
//!
//! [`settle_batch`] is the list of phases; each phase is a module:
//! `registries` (the four registries, side by side), `validate` (the row
//! checks on every core), `order` (allocation order), `pass` (item slots
//! and the sequential pass), `rows` (settlement and exception rows, built
//! when read), `summaries` (tiers, payouts, usage, control totals),
//! `corrections` (a batch's reversals, clawbacks and holds).

pub mod corrections;
mod duplicates;
pub mod memory;
mod order;
pub mod owed;
pub mod pass;
pub mod registries;
mod risk;
pub mod rows;
mod summaries;
mod validate;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::engine::corrections::BatchCorrections;
use crate::ingest::Table;
use crate::rules::codes::{Code, ExceptionRow, PerSource};
use crate::rules::contract::{Context, Eligible};
use crate::rules::control::ControlTotals;
use crate::rules::corrections::History;
use crate::rules::ids::IdRule;
use crate::rules::outputs::{PayoutRow, ReversalRow, UsageRow};
use crate::rules::owed::{AppliedRefund, Owed, UnmatchedRefund};
use crate::rules::policy::Policy;
use crate::rules::registry as rules_registry;
use crate::{Error, Result};

pub use owed::OwedCarried;
pub use rows::Settlements;

/// The optional inputs of a batch: its corrections (rules 9) and the
/// refunds received (rules 10.2).
#[derive(Debug, Default)]
pub struct OptionalInputs {
    pub corrections: Option<Table>,
    pub refunds: Option<Table>,
}

/// The rules a batch is settled under that depend on its ledger format.
#[derive(Debug, Clone, Copy)]
pub struct FormatRules {
    /// What a contract id may hold.
    pub ids: IdRule,
    /// Whether balances owed back are carried and refunds applied (rules 10).
    pub owed_balances: bool,
    /// Whether the batch's risk flags are found.
    pub risk_flags: bool,
}

/// What a later batch needs of a committed settlement (or, for a
/// reversal, of the entry taken back: then `approved_amount` is the amount
/// taken back and `fingerprint` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSettlement {
    pub contract_id: String,
    pub enterprise_id: String,
    pub provider_id: String,
    pub product_id: String,
    pub category: String,
    pub approved_amount: Decimal,
    pub fingerprint: String,
    /// The committing batch's place in the store (from 0); set by the ledger.
    pub batch: u32,
}

/// What the committed batches of the ledger hand to the next batch.
#[derive(Debug, Default)]
pub struct CarryIn {
    /// The settlements of the batch's service year committed before it;
    /// the running totals start from them.
    pub year_settlements: Vec<LedgerSettlement>,
    /// The reversals and clawbacks committed in the batch's service year
    /// (`approved_amount`: the amount taken back); the running totals are
    /// net of them (rules 9.3).
    pub year_reversals: Vec<LedgerSettlement>,
    /// Where every contract ever settled (any year) stands.
    pub history: History,
    /// The committed batches' ids, by their place in the store.
    pub batch_ids: Vec<String>,
    /// How many committed batches are of the batch's service year.
    pub year_batches: u32,
    /// The balances owed back after every committed batch (any year) and
    /// the receipt numbers they applied (rules 10.1).
    pub owed: OwedCarried,
}

/// The five input tables of a batch, handed over so that each is dropped as
/// soon as it has been read: the registries once built, the contracts once
/// validated (at ten million contracts they hold gigabytes of text).
pub type BatchTables = PerSource<Table>;

#[derive(Debug)]
pub struct BatchOutcome {
    pub batch_id: String,
    pub service_year: i32,
    pub cutoff: NaiveDate,
    pub contract_rows_in: u64,
    /// Data rows of the enterprises, designations, providers and products.
    pub registry_rows_in: [u64; 4],
    pub settlements: Settlements,
    /// Sorted: contracts first, then each registry, by row.
    pub exceptions: Vec<ExceptionRow>,
    pub payouts: Vec<PayoutRow>,
    pub usage: Vec<UsageRow>,
    /// Each reverse or clawback applied, in source_row order (rules 9.4).
    pub reversals: Vec<ReversalRow>,
    /// Whether the batch had a corrections input.
    pub has_corrections: bool,
    /// Each refund applied, in source_row order (rules 10.5).
    pub refunds: Vec<AppliedRefund>,
    /// Refunds that matched no debt (rules 10.2 step 5), in source_row order.
    pub unmatched_refunds: Vec<UnmatchedRefund>,
    /// Whether the batch carries balances owed back (rules 10; its ledger format).
    pub owed_balances: bool,
    /// Provider id -> the batches since its balance was last 0.00, this one
    /// included, for every provider still owing after the batch.
    pub owing_since: BTreeMap<String, Vec<String>>,
    /// Per enterprise registry index: its name (for the usage rows).
    enterprise_names: Vec<String>,
    /// The ids of the enterprises with a reversal that are no longer in
    /// the registry (usage rows from [`UsageRow::UNLISTED`]).
    unlisted_enterprises: Vec<String>,
    pub control: ControlTotals,
    /// The batch's risk flags (ledger format 5 on), in risk.csv's order.
    pub risk: Vec<crate::rules::risk::RiskRow>,
}

impl BatchOutcome {
    /// The id and name of the enterprise of usage row `u` (of this batch).
    pub fn enterprise(&self, u: &UsageRow) -> (&str, &str) {
        if !u.listed() {
            return (self.unlisted_enterprises[(u.enterprise_index - UsageRow::UNLISTED) as usize].as_str(), "");
        }
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

/// Settles one batch: registries, the corrections, row checks, allocation
/// order, the sequential pass, rows, payouts and usage, control totals.
/// Fails only on a broken invariant (exit 1, nothing written) or a store
/// that contradicts itself (exit 2).
/// `ids` is what a contract id may hold in the batch's ledger format.
#[allow(clippy::too_many_arguments)]
pub fn settle_batch(
    tables: BatchTables,
    optional: OptionalInputs,
    policy: &Policy,
    batch_id: &str,
    service_year: i32,
    cutoff: NaiveDate,
    carry_in: &CarryIn,
    rules: FormatRules,
) -> Result<BatchOutcome> {
    let (ids, corrections) = (rules.ids, optional.corrections);
    let log = memory::PhaseLog::start();
    let registry_tables = [tables.enterprises, tables.designations, tables.providers, tables.products];
    let (registries, mut exceptions, registry_rows_in) = registries_of(registry_tables, policy);
    log.done("registries");
    let mut corrected = corrections_of(corrections.as_ref(), policy, (service_year, cutoff), carry_in, ids)?;
    let ctx = contract_context(policy, &registries, (service_year, cutoff), carry_in, &corrected, ids);
    let (eligible, rows_in, holds_used) = eligible_contracts(tables.contracts, &ctx, &corrected, &mut exceptions, &log);
    let reversed = summaries::Reversed::of(&corrected.reversals, &registries);
    let reversed_enterprises = reversed.by_enterprise.keys().copied();
    let tiers = summaries::tiers_of(&eligible, reversed_enterprises, &registries, policy, service_year, cutoff);
    let mut done = pass::allocate(policy, &registries, &tiers, &eligible, carry_in, &corrected.taken_back, &log)?;
    rows::allocation_exceptions(policy, &eligible, &tiers, &done.rate_limits, &done.steps, &mut exceptions);
    let mut payouts =
        summaries::payouts(&done.paid, &reversed, &done.totals, &done.unlisted_providers, policy, &registries);
    let owed = rules.owed_balances.then(|| {
        let owing = Owing { cutoff, carry_in, policy, registries: &registries, done: &done };
        owing.settle(optional.refunds.as_ref(), &mut payouts, &mut exceptions)
    });
    let ids = rows::RegistryIds::of(&registries);
    let unlisted_enterprises: Vec<String> = reversed.unlisted_enterprises.keys().cloned().collect();
    let used_before = &done.enterprise_used_before;
    let usage = summaries::usage(&done.used_batch, &reversed, &tiers, policy, used_before, &done.totals);
    let usage = in_id_order(usage, &ids, &unlisted_enterprises);
    let (steps, rate_limits) = (std::mem::take(&mut done.steps), std::mem::take(&mut done.rate_limits));
    let settlements = Settlements::new(policy, tiers, eligible, steps, rate_limits, ids)?;
    log.done("rows");
    exceptions.append(&mut corrected.exceptions);
    let find = rules.risk_flags.then_some((&registries, carry_in, &corrected.reversals[..]));
    let (risk, control) = risk_while_checking(&settlements, find, &mut exceptions, |exceptions| {
        let counted = Counted { rows_in, settlements: &settlements, exceptions, payouts: &payouts, usage: &usage };
        let owed_totals = owed.as_ref().map(|o| (o, &carry_in.owed));
        checked_control(&counted, &done, corrections.is_some().then_some((&corrected, holds_used)), owed_totals, policy)
    });
    let control = control?;
    log.done("risk flags, control totals");
    let owing_since = if owed.is_some() { carry_in.owed.owing_after(&payouts, batch_id) } else { BTreeMap::new() };
    Ok(BatchOutcome {
        batch_id: batch_id.to_string(),
        service_year,
        cutoff,
        contract_rows_in: rows_in,
        registry_rows_in,
        settlements,
        exceptions,
        payouts,
        usage,
        reversals: corrected.reversals,
        has_corrections: corrections.is_some(),
        owed_balances: owed.is_some(),
        owing_since,
        refunds: owed.as_ref().map(|o| o.applied.clone()).unwrap_or_default(),
        unmatched_refunds: owed.map(|o| o.unmatched).unwrap_or_default(),
        // Moved out of the registry, not copied.
        enterprise_names: rows::by_registry_index(registries.enterprises.into_iter(), |(_, e)| (e.index, e.name)),
        unlisted_enterprises,
        control,
        risk,
    })
}

/// The batch's risk flags, if its format has them, found while the
/// exceptions are sorted and the control totals checked (`check`: on one
/// core, the flags on the other).
fn risk_while_checking<T: Send>(
    settlements: &Settlements,
    find: Option<(&rules_registry::Registries, &CarryIn, &[crate::rules::outputs::ReversalRow])>,
    exceptions: &mut [ExceptionRow],
    check: impl FnOnce(&[ExceptionRow]) -> T + Send,
) -> (Vec<crate::rules::risk::RiskRow>, T) {
    let (risk, checked) = rayon::join(
        || find.map(|(registries, carry_in, reversals)| risk::flags(settlements, registries, (carry_in, reversals))),
        || {
            exceptions.sort_by_key(|e| e.sort_key());
            check(exceptions)
        },
    );
    (risk.unwrap_or_default(), checked)
}

/// What the row checks of a contract read (rules 4.1): the policy, the
/// registries, the batch, where every contract stands in the store and
/// what this batch's corrections take back.
fn contract_context<'a>(
    policy: &'a Policy,
    registries: &'a rules_registry::Registries,
    (service_year, cutoff): (i32, NaiveDate),
    carry_in: &'a CarryIn,
    corrected: &'a BatchCorrections,
    ids: IdRule,
) -> Context<'a> {
    Context {
        policy,
        registries,
        service_year,
        cutoff,
        history: &carry_in.history,
        taken_back_now: &corrected.taken_back_now,
        ids,
    }
}

/// The batch's corrections checked and matched with the store (rules 9),
/// or none.
fn corrections_of(
    table: Option<&Table>,
    policy: &Policy,
    batch: (i32, NaiveDate),
    carry_in: &CarryIn,
    ids: IdRule,
) -> Result<BatchCorrections> {
    match table {
        Some(table) => corrections::check_and_apply(table, policy.cap_scope(), batch, carry_in, ids),
        None => Ok(BatchCorrections::default()),
    }
}

/// The four registries checked and keyed by id (each table let go once
/// read), their exception rows, and their data rows.
fn registries_of(tables: [Table; 4], policy: &Policy) -> (rules_registry::Registries, Vec<ExceptionRow>, [u64; 4]) {
    let rows_in = tables.each_ref().map(|t| t.len() as u64);
    let [enterprises, designations, providers, products] = tables;
    let (registries, exceptions) = registries::build(&enterprises, &designations, &providers, &products, policy);
    (registries, exceptions, rows_in)
}

/// The contract rows checked (the table let go once read), the held ones
/// taken out, the rest in allocation order; with the rows read and the
/// holds that held a row.
fn eligible_contracts(
    contracts: Table,
    ctx: &Context,
    corrected: &BatchCorrections,
    exceptions: &mut Vec<ExceptionRow>,
    log: &memory::PhaseLog,
) -> (Vec<Eligible>, u64, u64) {
    let mut validated = validate::validate_contracts(&contracts, ctx);
    drop(contracts);
    log.done("validate");
    let holds_used = corrections::apply_holds(&mut validated.eligible, &corrected.holds, &mut validated.exceptions);
    exceptions.extend(validated.exceptions);
    let eligible = order::in_allocation_order(validated.eligible);
    log.done("sort");
    (eligible, validated.rows_in, holds_used)
}

/// The usage rows in enterprise id order: registry index order is id
/// order, but enterprises no longer in the registry follow the others.
fn in_id_order(mut usage: Vec<UsageRow>, ids: &rows::RegistryIds, unlisted: &[String]) -> Vec<UsageRow> {
    if !unlisted.is_empty() {
        let id = |u: &UsageRow| -> String {
            if u.listed() {
                ids.enterprises[u.enterprise_index as usize].to_string()
            } else {
                unlisted[(u.enterprise_index - UsageRow::UNLISTED) as usize].clone()
            }
        };
        usage.sort_by_cached_key(id);
    }
    usage
}

/// What the control totals count: the batch's rows.
struct Counted<'a> {
    rows_in: u64,
    settlements: &'a Settlements,
    exceptions: &'a [ExceptionRow],
    payouts: &'a [PayoutRow],
    usage: &'a [UsageRow],
}

/// Every control total of the batch (rules 6, 9.5, 10.6), checked: one
/// that does not hold stops the batch before anything is written (exit 1).
fn checked_control(
    c: &Counted,
    done: &pass::Allocated,
    corrected: Option<(&BatchCorrections, u64)>,
    owed: Option<(&owed::BatchOwed, &OwedCarried)>,
    policy: &Policy,
) -> Result<ControlTotals> {
    let recounted = recount_by_provider(c.settlements)?;
    let caps = summaries::CapsHeld {
        totals: &done.totals,
        item_caps: &done.item_caps,
        usage: c.usage,
        unlisted_providers: &done.unlisted_providers,
        reversals: corrected.map_or(&[], |(k, _)| &k.reversals[..]),
    };
    let mut control =
        summaries::control_totals(c.rows_in, c.settlements, c.exceptions, c.payouts, &caps, &recounted, policy);
    let approved = c.settlements.totals().approved;
    control.corrections = corrected.map(|(corrected, holds_used)| {
        corrections::control_totals(corrected, holds_used, c.exceptions, approved, c.payouts)
    });
    control.owed = owed.map(|(o, carried)| owed::control_totals(o, c.payouts, carried, c.exceptions));
    if !control.all_hold() {
        return Err(Error::Internal(format!(
            "控制总数不平，未写入任何结果 (control totals do not hold; nothing written): {}",
            serde_json::to_string(&control).unwrap_or_default()
        )));
    }
    Ok(control)
}

/// What amounts owed back in a batch read (rules 10): the store's
/// balances and receipts, the policy, and the registry and year totals a
/// provider listed only for its balance is shown with.
struct Owing<'a> {
    cutoff: NaiveDate,
    carry_in: &'a CarryIn,
    policy: &'a Policy,
    registries: &'a rules_registry::Registries,
    done: &'a pass::Allocated,
}

impl Owing<'_> {
    /// The refund rows checked, the balances and offsets written onto the
    /// payout rows, and the refunds applied or left unmatched.
    fn settle(
        &self,
        refunds: Option<&Table>,
        payouts: &mut Vec<PayoutRow>,
        exceptions: &mut Vec<ExceptionRow>,
    ) -> owed::BatchOwed {
        let carried = &self.carry_in.owed;
        let checked = refunds.map(|t| owed::check_refunds(t, self.cutoff, carried, exceptions));
        let balance_only = |id: &str| balance_only_row(id, self.registries, self.done, self.policy);
        let offsets = self.policy.offset_owed();
        let (applied, unmatched) =
            owed::settle(payouts, checked.unwrap_or_default(), carried, offsets, balance_only, exceptions);
        owed::BatchOwed { rows_in: refunds.map_or(0, |t| t.len() as u64), applied, unmatched }
    }
}

/// The payout row of a provider listed only for the balance it owes
/// (rules 10.5): no counts or batch amounts, its year total and cap
/// remaining; no name when its registry row is not usable.
fn balance_only_row(
    id: &str,
    registries: &rules_registry::Registries,
    done: &pass::Allocated,
    policy: &Policy,
) -> PayoutRow {
    let (provider_name, approved_amount_year) = match registries.providers.get(id) {
        Some(p) => (p.name.clone(), done.totals.provider_yuan[p.index as usize]),
        None => (String::new(), done.unlisted_providers.get(id).copied().unwrap_or_default()),
    };
    PayoutRow {
        provider_id: id.to_string(),
        provider_name,
        contracts_settled: 0,
        approved_amount_batch: Decimal::ZERO,
        contracts_reversed: 0,
        reversed_amount_batch: Decimal::ZERO,
        approved_amount_year,
        cap_remaining: policy.provider_cap_yuan() - approved_amount_year,
        owed: Owed::default(),
    }
}

/// Per provider: settled contracts and Σ approved, counted by polars from
/// the settlement rows — independently of the pass — for the control totals.
fn recount_by_provider(settlements: &Settlements) -> Result<Vec<(String, u64, Decimal)>> {
    let providers: Vec<u32> = (0..settlements.len()).map(|i| settlements.provider_index(i)).collect();
    let approved: Vec<Decimal> = (0..settlements.len()).map(|i| settlements.approved(i)).collect();
    crate::frame::approved_by_provider(providers, approved, |index| settlements.provider_id_at(index))
}
