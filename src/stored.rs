//! A committed batch read back: its stored tables, each checked against
//! its manifest checksum, its archived policy, and a stored settlement or
//! exception row described as people read it (the bound that decided it,
//! its formula and clause, the check that raised it). `explain` and
//! `statements` both read through here.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::frame::{TextTable, parquet_row_slices, parquet_rows};
use crate::ledger::{CommittedBatch, Ledger};
use crate::rules::bounds::Bound as Cut;
use crate::rules::category::Category;
use crate::rules::codes::{Check, Code};
use crate::rules::money::format_money;
use crate::rules::policy::{Policy, parse_policy};
use crate::schema::output::name;
use crate::{Error, Result};

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

pub fn exception_line(exceptions: &TextTable, row: &[String], policy: Option<&Policy>) -> ExceptionLine {
    let code = exceptions.cell(row, name::CODE);
    ExceptionLine {
        severity: exceptions.cell(row, name::SEVERITY).to_string(),
        code: code.to_string(),
        check: policy.map_or_else(
            || Code::parse(code).map_or_else(String::new, |c| c.check().label().to_string()),
            |p| check_of(code, p),
        ),
        field: exceptions.cell(row, name::FIELD).to_string(),
        value: exceptions.cell(row, name::VALUE).to_string(),
        message: exceptions.cell(row, name::MESSAGE).to_string(),
    }
}

/// A committed batch's table, checked against its manifest checksum, handed
/// over `rows` rows at a time.
pub fn stored_table_slices(
    ledger: &Ledger,
    batch: &CommittedBatch,
    name: &str,
    rows: usize,
    each: impl FnMut(TextTable),
) -> Result<()> {
    parquet_row_slices(&ledger.stored_output(batch, name)?, rows, each)
}

pub fn stored_table(ledger: &Ledger, batch: &CommittedBatch, name: &str) -> Result<TextTable> {
    parquet_rows(&ledger.stored_output(batch, name)?)
}

pub fn archived_policy(ledger: &Ledger, batch: &CommittedBatch) -> Result<Policy> {
    let bytes = ledger
        .read_object(&batch.manifest.policy.sha256)
        .map_err(|e| Error::Input(format!("archived policy of batch {}: {e}", batch.manifest.batch_id)))?;
    parse_policy(&String::from_utf8_lossy(&bytes))
        .map_err(|e| Error::Input(format!("archived policy of batch {}: {e}", batch.manifest.batch_id)))
}

pub fn settlement(table: &TextTable, row: &[String], policy: &Policy) -> Settlement {
    let cell = |name: &str| table.cell(row, name).to_string();
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
        approved: format_money(Decimal::from_str_exact(table.cell(row, name::APPROVED_AMOUNT)).unwrap_or_default()),
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
fn bounds(table: &TextTable, row: &[String], policy: &Policy) -> Vec<Bound> {
    let cell = |name: &str| table.cell(row, name).to_string();
    let amount = |name: &str| Decimal::from_str_exact(table.cell(row, name)).unwrap_or_default();
    let rule = Category::parse(table.cell(row, name::CATEGORY)).and_then(|c| policy.covers(c));
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

/// A stored CSV file's rows as column → value, each text cell without the
/// one leading `'` that guards it.
pub fn csv_rows(bytes: &[u8], what: &str) -> Result<Vec<BTreeMap<String, String>>> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::Reader::from_reader(text);
    let headers = reader.headers().map_err(|e| Error::Internal(format!("{what}: {e}")))?.clone();
    reader
        .records()
        .map(|record| {
            let record = record.map_err(|e| Error::Internal(format!("{what}: {e}")))?;
            let unguard = |v: &str| v.strip_prefix('\'').unwrap_or(v).to_string();
            Ok(headers.iter().zip(record.iter()).map(|(h, v)| (h.to_string(), unguard(v))).collect())
        })
        .collect()
}
