//! Output formats in one place: CSV files (UTF-8 with BOM, money with two
//! decimals), summary.json and the printed summary.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::codes::{Severity, Source};
use crate::money::format_money;
use crate::policy::Policy;
use crate::settle::{BatchOutcome, ControlTotals};
use crate::{Error, Result};

const BOM: &[u8] = b"\xEF\xBB\xBF";

pub const SETTLEMENT_COLUMNS: [&str; 27] = [
    "batch_id",
    "seq",
    "contract_id",
    "enterprise_id",
    "provider_id",
    "product_id",
    "category",
    "signed_on",
    "completed_on",
    "service_price",
    "voucher_amount",
    "rate_limit",
    "approved_amount",
    "shortfall",
    "outcome",
    "code",
    "tier",
    "enterprise_quota",
    "enterprise_used_before",
    "enterprise_used_after",
    "item_cap",
    "item_used_before",
    "item_used_after",
    "provider_used_before",
    "provider_used_after",
    "source_row",
    "fingerprint",
];
pub const EXCEPTION_COLUMNS: [&str; 9] =
    ["batch_id", "source", "source_row", "contract_id", "severity", "code", "field", "value", "message"];
pub const PAYOUT_COLUMNS: [&str; 7] = [
    "batch_id",
    "provider_id",
    "provider_name",
    "contracts_settled",
    "approved_amount_batch",
    "approved_amount_year",
    "cap_remaining",
];
pub const USAGE_COLUMNS: [&str; 9] = [
    "batch_id",
    "enterprise_id",
    "enterprise_name",
    "tier",
    "quota",
    "used_before",
    "used_batch",
    "used_after",
    "remaining",
];

/// Writes rows of text cells as CSV with a BOM.
fn csv_bytes(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new().from_writer(BOM.to_vec());
    let fail = |e: csv::Error| Error::Internal(format!("CSV render: {e}"));
    writer.write_record(header).map_err(fail)?;
    for row in rows {
        writer.write_record(&row).map_err(fail)?;
    }
    writer.into_inner().map_err(|e| Error::Internal(format!("CSV render: {e}")))
}

/// Input text shown in a spreadsheet must not run as a formula: a value
/// starting with = + - @ or a control character gets a leading apostrophe.
pub fn spreadsheet_safe(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    }
}

pub fn settlements_csv(outcome: &BatchOutcome) -> Result<Vec<u8>> {
    let m = |d: Decimal| format_money(d);
    csv_bytes(
        &SETTLEMENT_COLUMNS,
        outcome.settlements.iter().map(|s| {
            vec![
                s.batch_id.clone(),
                s.seq.to_string(),
                s.contract_id.clone(),
                s.enterprise_id.clone(),
                s.provider_id.clone(),
                s.product_id.clone(),
                s.category.clone(),
                s.signed_on.to_string(),
                s.completed_on.to_string(),
                m(s.service_price),
                m(s.voucher_amount),
                m(s.rate_limit),
                m(s.approved_amount),
                m(s.shortfall),
                s.outcome.clone(),
                s.code.clone(),
                s.tier.to_string(),
                m(s.enterprise_quota),
                m(s.enterprise_used_before),
                m(s.enterprise_used_after),
                m(s.item_cap),
                m(s.item_used_before),
                m(s.item_used_after),
                m(s.provider_used_before),
                m(s.provider_used_after),
                s.source_row.to_string(),
                s.fingerprint.clone(),
            ]
        }),
    )
}

pub fn exceptions_csv(outcome: &BatchOutcome) -> Result<Vec<u8>> {
    csv_bytes(
        &EXCEPTION_COLUMNS,
        outcome.exceptions.iter().map(|e| {
            vec![
                outcome.batch_id.clone(),
                e.source.as_str().to_string(),
                e.source_row.to_string(),
                spreadsheet_safe(&e.contract_id),
                e.severity().as_str().to_string(),
                e.code.to_string(),
                e.field.to_string(),
                spreadsheet_safe(&e.value),
                e.message(),
            ]
        }),
    )
}

pub fn payouts_csv(outcome: &BatchOutcome) -> Result<Vec<u8>> {
    csv_bytes(
        &PAYOUT_COLUMNS,
        outcome.payouts.iter().map(|p| {
            vec![
                outcome.batch_id.clone(),
                p.provider_id.clone(),
                spreadsheet_safe(&p.provider_name),
                p.contracts_settled.to_string(),
                format_money(p.approved_amount_batch),
                format_money(p.approved_amount_year),
                format_money(p.cap_remaining),
            ]
        }),
    )
}

pub fn usage_csv(outcome: &BatchOutcome) -> Result<Vec<u8>> {
    csv_bytes(
        &USAGE_COLUMNS,
        outcome.usage.iter().map(|u| {
            vec![
                outcome.batch_id.clone(),
                u.enterprise_id.clone(),
                spreadsheet_safe(&u.enterprise_name),
                u.tier.to_string(),
                format_money(u.quota),
                format_money(u.used_before),
                format_money(u.used_batch),
                format_money(u.used_after),
                format_money(u.remaining),
            ]
        }),
    )
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Summary {
    pub batch_id: String,
    pub service_year: i32,
    pub cutoff: String,
    pub policy: String,
    pub contract_rows_in: u64,
    pub settled: u64,
    pub settled_reduced: u64,
    pub rejected: u64,
    pub registry_exception_rows: u64,
    /// Exception rows per code (errors, adjustments and warnings).
    pub codes: std::collections::BTreeMap<String, u64>,
    pub claimed_settled: String,
    pub approved_total: String,
    pub shortfall_total: String,
    pub providers_paid: u64,
    pub enterprises_touched: u64,
    pub control_totals: ControlTotals,
}

pub fn summary(outcome: &BatchOutcome, policy: &Policy) -> Summary {
    let reduced = outcome.settlements.iter().filter(|s| s.outcome == "SETTLED_REDUCED").count() as u64;
    let rejected =
        outcome.exceptions.iter().filter(|e| e.source == Source::Contracts && e.severity() == Severity::Error).count()
            as u64;
    Summary {
        batch_id: outcome.batch_id.clone(),
        service_year: outcome.service_year,
        cutoff: outcome.cutoff.to_string(),
        policy: policy.name.clone(),
        contract_rows_in: outcome.contract_rows_in,
        settled: outcome.settlements.len() as u64 - reduced,
        settled_reduced: reduced,
        rejected,
        registry_exception_rows: outcome.exceptions.iter().filter(|e| e.source != Source::Contracts).count() as u64,
        codes: outcome.code_counts(),
        claimed_settled: format_money(outcome.settlements.iter().map(|s| s.voucher_amount).sum()),
        approved_total: format_money(outcome.approved_total()),
        shortfall_total: format_money(outcome.settlements.iter().map(|s| s.shortfall).sum()),
        providers_paid: outcome.payouts.len() as u64,
        enterprises_touched: outcome.usage.len() as u64,
        control_totals: outcome.control.clone(),
    }
}

pub fn summary_json(summary: &Summary) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(summary).map_err(|e| Error::Internal(format!("summary.json: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The printed summary, Chinese with English alongside.
pub fn printed_summary(s: &Summary) -> String {
    let c = &s.control_totals;
    let mark = |holds: bool| {
        if holds { "✓ 平衡 holds" } else { "✗ 不平 FAILS" }
    };
    let mut out = String::new();
    out += &format!("批次 batch {}  服务年度 service year {}  截止 cutoff {}\n", s.batch_id, s.service_year, s.cutoff);
    out += &format!("政策 policy: {}\n", s.policy);
    out += &format!(
        "合同行 contract rows {}: 兑付 settled {}, 部分兑付 reduced {}, 拒绝 rejected {}\n",
        s.contract_rows_in, s.settled, s.settled_reduced, s.rejected
    );
    out += &format!(
        "核定金额 approved {}  (申报 claimed {}, 核减 shortfall {})\n",
        s.approved_total, s.claimed_settled, s.shortfall_total
    );
    out += &format!(
        "服务商 providers paid {}, 企业 enterprises touched {}, 名录异常 registry exceptions {}\n",
        s.providers_paid, s.enterprises_touched, s.registry_exception_rows
    );
    if !s.codes.is_empty() {
        let codes: Vec<String> = s.codes.iter().map(|(code, n)| format!("{code} {n}")).collect();
        out += &format!("异常代码 codes: {}\n", codes.join(", "));
    }
    out += "控制总数 control totals:\n";
    out += &format!(
        "  合同行 = 兑付行 + 错误行 rows in = settled + errors: {} = {} + {}  {}\n",
        c.contract_rows_in,
        c.settlement_rows,
        c.contract_error_rows,
        mark(c.rows_balance)
    );
    out += &format!(
        "  核定合计 = 兑付清单合计 approved = payouts: {} = {}  {}\n",
        c.approved_total,
        c.payouts_total,
        mark(c.payouts_balance)
    );
    out +=
        &format!("  年度累计不超上限 year-to-date within caps ({} checked)  {}\n", c.caps_checked, mark(c.caps_hold));
    out += &format!(
        "  每行核定 ≤ 申报且 ≤ 比例限额 each row approved ≤ claim and ≤ rate limit  {}\n",
        mark(c.rows_within_claim_and_rate)
    );
    out
}
