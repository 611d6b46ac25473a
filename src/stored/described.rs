//! A stored settlement or exception row described as people read it: the
//! bound that decided it, its formula and clause, the check that raised
//! it. `explain` and `statements` both describe rows so.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::rules::bounds::Bound as Cut;
use crate::rules::category::Category;
use crate::rules::codes::{Check, Code};
use crate::rules::money::format_money;
use crate::rules::policy::Policy;
use crate::schema::output::name;
use crate::schema::table::StoredTable;

#[derive(Debug, Serialize)]
pub struct Settlement {
    pub seq: String,
    pub outcome: String,
    pub code: String,
    pub claimed: String,
    pub approved: String,
    pub shortfall: String,
    pub tier: String,
    pub bounds: Vec<Bound>,
    pub totals: Vec<RunningTotal>,
}

#[derive(Debug, Serialize)]
pub struct Bound {
    pub name: &'static str,
    pub name_zh: &'static str,
    pub amount: String,
    pub formula: String,
    pub clause: String,
    /// The bound that decided the approved amount.
    pub binding: bool,
}

#[derive(Debug, Serialize)]
pub struct RunningTotal {
    pub name: &'static str,
    pub name_zh: &'static str,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Serialize)]
pub struct ExceptionLine {
    pub severity: String,
    pub code: String,
    pub check: String,
    pub field: String,
    pub value: String,
    pub message: String,
}

pub fn exception_line(exceptions: &StoredTable, row: usize, policy: Option<&Policy>) -> ExceptionLine {
    let code = exceptions.text(row, name::CODE);
    ExceptionLine {
        severity: exceptions.shown(row, name::SEVERITY).to_string(),
        code: code.to_string(),
        check: policy.map_or_else(
            || Code::parse(code).map_or_else(String::new, |c| c.check().label().to_string()),
            |p| check_of(code, p),
        ),
        field: exceptions.shown(row, name::FIELD).to_string(),
        value: exceptions.shown(row, name::VALUE).to_string(),
        message: exceptions.shown(row, name::MESSAGE).to_string(),
    }
}

pub fn settlement(table: &StoredTable, row: usize, policy: &Policy) -> Settlement {
    let cell = |name: &str| table.shown(row, name);
    Settlement {
        seq: cell(name::SEQ),
        outcome: cell(name::OUTCOME),
        code: cell(name::CODE),
        claimed: cell(name::VOUCHER_AMOUNT),
        approved: format_money(table.money(row, name::APPROVED_AMOUNT).unwrap_or_default()),
        shortfall: cell(name::SHORTFALL),
        tier: cell(name::TIER),
        bounds: bounds(table, row, policy),
        totals: running_totals(table, row),
    }
}

/// The running totals a stored settlement or reversal row records before
/// and after it, one per bound that keeps one.
pub fn running_totals(table: &StoredTable, row: usize) -> Vec<RunningTotal> {
    let totals = Cut::ALL.into_iter().filter_map(Cut::running_total);
    totals
        .map(|t| RunningTotal {
            name: t.key,
            name_zh: t.name_zh,
            before: table.shown(row, t.before),
            after: table.shown(row, t.after),
        })
        .collect()
}

/// The bounds a stored settlement met: the claim, then each bound of
/// [`Cut::ALL`] with what it left, its formula, its clause and whether it
/// decided the amount.
fn bounds(table: &StoredTable, row: usize, policy: &Policy) -> Vec<Bound> {
    let code = table.text(row, name::CODE);
    let claimed = Bound {
        name: "claimed",
        name_zh: "申报抵扣金额",
        amount: format_money(table.money(row, name::VOUCHER_AMOUNT).unwrap_or_default()),
        formula: name::VOUCHER_AMOUNT.into(),
        clause: String::new(),
        binding: code.is_empty(),
    };
    let cuts = Cut::ALL.into_iter().map(|cut| described_cut(cut, table, row, policy));
    std::iter::once(claimed).chain(cuts).collect()
}

/// The bound that cut a stored settlement (the one its code names),
/// described; none for a settlement paid in full.
pub fn cut_by(table: &StoredTable, row: usize, policy: &Policy) -> Option<Bound> {
    let cut = Cut::of_code(table.text(row, name::CODE))?;
    Some(described_cut(cut, table, row, policy))
}

/// One bound as a stored settlement met it.
fn described_cut(cut: Cut, table: &StoredTable, row: usize, policy: &Policy) -> Bound {
    let category = Category::parse(table.text(row, name::CATEGORY));
    let tier: u32 = table.shown(row, name::TIER).parse().unwrap_or(0);
    let (amount, formula) = cut_formula(cut, table, row, policy);
    Bound {
        name: cut.key(),
        name_zh: cut.name_zh(),
        amount: format_money(amount),
        formula,
        clause: cut.clause(policy, category, tier),
        binding: table.text(row, name::CODE) == cut.code().as_str(),
    }
}

/// What a bound left a stored settlement, and how, from the row's columns.
fn cut_formula(cut: Cut, table: &StoredTable, row: usize, policy: &Policy) -> (Decimal, String) {
    let cell = |name: &str| table.shown(row, name);
    let amount = |name: &str| table.money(row, name).unwrap_or_default();
    match cut {
        Cut::Rate => {
            let rule = Category::parse(table.text(row, name::CATEGORY)).and_then(|c| policy.covers(c));
            let rate = rule.map_or_else(String::new, |r| r.rate.to_string());
            let (price, limit, rounding) =
                (cell(name::SERVICE_PRICE), cell(name::RATE_LIMIT), policy.rounding().as_str());
            (amount(name::RATE_LIMIT), format!("{price} × {rate} = {limit} ({rounding})"))
        }
        Cut::Item => (
            amount(name::ITEM_CAP) - amount(name::ITEM_USED_BEFORE),
            format!("{} − {} ({})", cell(name::ITEM_CAP), cell(name::ITEM_USED_BEFORE), policy.cap_scope().as_str()),
        ),
        Cut::Quota => {
            let tier = cell(name::TIER);
            let (quota, used) = (cell(name::ENTERPRISE_QUOTA), cell(name::ENTERPRISE_USED_BEFORE));
            let left = amount(name::ENTERPRISE_QUOTA) - amount(name::ENTERPRISE_USED_BEFORE);
            (left, format!("{quota} (第{tier}档 tier {tier}) − {used}"))
        }
        Cut::Provider => {
            let cap = policy.provider_cap_yuan();
            let used = cell(name::PROVIDER_USED_BEFORE);
            (cap - amount(name::PROVIDER_USED_BEFORE), format!("{} − {used}", format_money(cap)))
        }
    }
}

/// The check that decided a code, as people read it; a short deposit cites
/// the policy's clause for the minimum deposit.
fn check_of(code: &str, policy: &Policy) -> String {
    match Code::parse(code) {
        Some(Code::E_DEPOSIT_SHORT) => {
            format!("{}; {}", Check::Amounts.label(), policy.deposit_ratio_min_clause())
        }
        Some(code) => code.check().label().to_string(),
        None => String::new(),
    }
}
