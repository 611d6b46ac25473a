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
    let total = |name, name_zh, before: &str, after: &str| RunningTotal {
        name,
        name_zh,
        before: cell(before),
        after: cell(after),
    };
    Settlement {
        seq: cell(name::SEQ),
        outcome: cell(name::OUTCOME),
        code: cell(name::CODE),
        claimed: cell(name::VOUCHER_AMOUNT),
        approved: format_money(table.money(row, name::APPROVED_AMOUNT).unwrap_or_default()),
        shortfall: cell(name::SHORTFALL),
        tier: cell(name::TIER),
        bounds: bounds(table, row, policy),
        totals: vec![
            total("item", "项目累计", name::ITEM_USED_BEFORE, name::ITEM_USED_AFTER),
            total("enterprise", "企业累计", name::ENTERPRISE_USED_BEFORE, name::ENTERPRISE_USED_AFTER),
            total("provider", "服务商累计", name::PROVIDER_USED_BEFORE, name::PROVIDER_USED_AFTER),
        ],
    }
}

/// The bounds a stored settlement met: the claim and the four cuts, each
/// with its formula, clause and whether it decided the amount.
fn bounds(table: &StoredTable, row: usize, policy: &Policy) -> Vec<Bound> {
    let cell = |name: &str| table.shown(row, name);
    let amount = |name: &str| table.money(row, name).unwrap_or_default();
    let rule = Category::parse(table.text(row, name::CATEGORY)).and_then(|c| policy.covers(c));
    let category_clause = rule.map_or_else(String::new, |r| r.clause.clone());
    let tier_number: u32 = cell(name::TIER).parse().unwrap_or(0);
    let tier_clause =
        policy.tiers().iter().find(|t| t.number() == tier_number).map_or_else(String::new, |t| t.clause().to_string());
    let code = cell(name::CODE);
    let bound = |cut: Cut, value: Decimal, formula: String, clause: String| Bound {
        name: cut.key(),
        name_zh: cut.name_zh(),
        amount: format_money(value),
        formula,
        clause,
        binding: code == cut.code().as_str(),
    };
    let claimed = Bound {
        name: "claimed",
        name_zh: "申报抵扣金额",
        amount: format_money(amount(name::VOUCHER_AMOUNT)),
        formula: name::VOUCHER_AMOUNT.into(),
        clause: String::new(),
        binding: code.is_empty(),
    };
    let rate = rule.map_or_else(String::new, |r| r.rate.to_string());
    let (price, rate_limit, rounding) = (cell(name::SERVICE_PRICE), cell(name::RATE_LIMIT), policy.rounding().as_str());
    let (item_cap, item_used) = (cell(name::ITEM_CAP), cell(name::ITEM_USED_BEFORE));
    let (quota, quota_used) = (cell(name::ENTERPRISE_QUOTA), cell(name::ENTERPRISE_USED_BEFORE));
    let provider_used = cell(name::PROVIDER_USED_BEFORE);
    vec![
        claimed,
        bound(
            Cut::Rate,
            amount(name::RATE_LIMIT),
            format!("{price} × {rate} = {rate_limit} ({rounding})"),
            category_clause.clone(),
        ),
        bound(
            Cut::Item,
            amount(name::ITEM_CAP) - amount(name::ITEM_USED_BEFORE),
            format!("{item_cap} − {item_used} ({})", policy.cap_scope().as_str()),
            category_clause,
        ),
        bound(
            Cut::Quota,
            amount(name::ENTERPRISE_QUOTA) - amount(name::ENTERPRISE_USED_BEFORE),
            format!("{quota} (第{tier_number}档 tier {tier_number}) − {quota_used}"),
            tier_clause,
        ),
        bound(
            Cut::Provider,
            policy.provider_cap_yuan() - amount(name::PROVIDER_USED_BEFORE),
            format!("{} − {provider_used}", format_money(policy.provider_cap_yuan())),
            policy.provider_cap_clause().to_string(),
        ),
    ]
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
