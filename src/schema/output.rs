//! The output tables' columns (rules 6), in the order they are written, each
//! with its kind. The CSV writers, the Parquet builders, the workbook and
//! `explain` all take their columns from here.

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// What a column holds, and so how each format writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text the tool writes (codes, checked ids, dates as text), as it is.
    Text,
    /// Text taken from an input as it was given (names, raw values): in a
    /// CSV cell, text a spreadsheet would run as a formula is guarded.
    InputText,
    /// Yuan with exactly two decimals; Decimal(18, 2) in Parquet.
    Money,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A whole number (a count, a row number, a tier number).
    Count,
}

/// One value of a row, in its column's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    Text(&'a str),
    InputText(&'a str),
    Money(Decimal),
    Date(NaiveDate),
    Count(u64),
    /// No value: a column whose value is unknown for this row (the tier and
    /// quota of an enterprise no longer in the registry). CSV and workbook
    /// cells are left empty; the Parquet tables have no such column.
    Empty,
}

impl Cell<'_> {
    /// The cell's kind (an empty cell says Money: it stands only in money
    /// and tier columns of rows that have no such value).
    pub fn kind(&self) -> Kind {
        match self {
            Cell::Empty => Kind::Money,
            Cell::Text(_) => Kind::Text,
            Cell::InputText(_) => Kind::InputText,
            Cell::Money(_) => Kind::Money,
            Cell::Date(_) => Kind::Date,
            Cell::Count(_) => Kind::Count,
        }
    }
}

/// One column of an output table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// The column's Chinese heading, for people.
    pub heading_zh: &'static str,
}

const fn column(name: &'static str, kind: Kind, heading_zh: &'static str) -> Column {
    Column { name, kind, heading_zh }
}

use Kind::{Count, Date, InputText, Money, Text};

/// settlements.csv and .parquet: one row per contract approved something.
pub const SETTLEMENTS: [Column; 27] = [
    column("batch_id", Text, "批次"),
    column("seq", Count, "兑付顺序"),
    column("contract_id", Text, "合同编号"),
    column("enterprise_id", Text, "企业信用代码"),
    column("provider_id", Text, "服务商信用代码"),
    column("product_id", Text, "产品编号"),
    column("category", Text, "服务类别"),
    column("signed_on", Date, "签订日期"),
    column("completed_on", Date, "完成确认日期"),
    column("service_price", Money, "服务产品原价"),
    column("voucher_amount", Money, "服务券抵扣金额"),
    column("rate_limit", Money, "比例限额"),
    column("approved_amount", Money, "核定兑付金额"),
    column("shortfall", Money, "核减金额"),
    column("outcome", Text, "结果"),
    column("code", Text, "代码"),
    column("tier", Count, "配额档次"),
    column("enterprise_quota", Money, "企业年度配额"),
    column("enterprise_used_before", Money, "企业此前已用"),
    column("enterprise_used_after", Money, "企业此后已用"),
    column("item_cap", Money, "项目上限"),
    column("item_used_before", Money, "项目此前已用"),
    column("item_used_after", Money, "项目此后已用"),
    column("provider_used_before", Money, "服务商此前已结算"),
    column("provider_used_after", Money, "服务商此后已结算"),
    column("source_row", Count, "源文件行号"),
    column("fingerprint", Text, "内容指纹"),
];

/// exceptions.csv and .parquet: one row per error, adjustment or warning.
pub const EXCEPTIONS: [Column; 9] = [
    column("batch_id", Text, "批次"),
    column("source", Text, "来源"),
    column("source_row", Count, "源文件行号"),
    column("contract_id", InputText, "合同编号"),
    column("severity", Text, "级别"),
    column("code", Text, "代码"),
    column("field", Text, "字段"),
    column("value", InputText, "值"),
    column("message", Text, "说明"),
];

/// payouts.csv and .parquet: one row per provider with a settlement, a
/// reversal, an applied refund or a balance owed before the batch (rules 6,
/// 9.4, 10.5).
pub const PAYOUTS: [Column; 16] = [
    column("batch_id", Text, "批次"),
    column("provider_id", Text, "服务商信用代码"),
    column("provider_name", InputText, "服务商名称"),
    column("contracts_settled", Count, "兑付合同数"),
    column("approved_amount_batch", Money, "本批兑付金额"),
    column("contracts_reversed", Count, "冲正追回合同数"),
    column("reversed_amount_batch", Money, "本批冲正追回金额"),
    column("net_amount_batch", Money, "本批净额"),
    column("approved_amount_year", Money, "年度累计兑付"),
    column("cap_remaining", Money, "年度上限余额"),
    column("owed_before", Money, "此前应退回余额"),
    column("refunded_batch", Money, "本批退回到账"),
    column("offset_batch", Money, "本批抵扣"),
    column("owed_new", Money, "本批新增应退回"),
    column("owed_after", Money, "此后应退回余额"),
    column("paid_batch", Money, "本批实付"),
];

/// payouts.csv and .parquet as ledger formats 3 and 4 wrote them (no
/// balance owed back).
pub const PAYOUTS_WITH_REVERSALS: [Column; 10] = [
    PAYOUTS[0], PAYOUTS[1], PAYOUTS[2], PAYOUTS[3], PAYOUTS[4], PAYOUTS[5], PAYOUTS[6], PAYOUTS[7], PAYOUTS[8],
    PAYOUTS[9],
];

/// payouts.csv as ledger formats 1 and 2 wrote it (no reversal columns).
pub const PAYOUTS_PLAIN: [Column; 7] =
    [PAYOUTS[0], PAYOUTS[1], PAYOUTS[2], PAYOUTS[3], PAYOUTS[4], PAYOUTS[8], PAYOUTS[9]];

/// enterprise_usage.csv: one row per enterprise whose contracts reached
/// allocation or were reversed (rules 6, 9.4).
pub const USAGE: [Column; 10] = [
    column("batch_id", Text, "批次"),
    column("enterprise_id", Text, "企业信用代码"),
    column("enterprise_name", InputText, "企业名称"),
    column("tier", Count, "配额档次"),
    column("quota", Money, "年度配额"),
    column("used_before", Money, "此前已用"),
    column("used_batch", Money, "本批使用"),
    column("reversed_batch", Money, "本批冲正追回"),
    column("used_after", Money, "此后已用"),
    column("remaining", Money, "剩余配额"),
];

/// enterprise_usage.csv as ledger formats 1 and 2 wrote it.
pub const USAGE_PLAIN: [Column; 9] =
    [USAGE[0], USAGE[1], USAGE[2], USAGE[3], USAGE[4], USAGE[5], USAGE[6], USAGE[8], USAGE[9]];

/// reversals.csv and .parquet: one row per reverse or clawback applied (rules 9.4).
pub const REVERSALS: [Column; 19] = [
    column("batch_id", Text, "批次"),
    column("source_row", Count, "源文件行号"),
    column("contract_id", InputText, "合同编号"),
    column("action", Text, "处理方式"),
    column("decided_on", Date, "决定日期"),
    column("reason", InputText, "原因"),
    column("reference", InputText, "文号"),
    column("settled_batch_id", Text, "原兑付批次"),
    column("enterprise_id", Text, "企业信用代码"),
    column("provider_id", Text, "服务商信用代码"),
    column("product_id", Text, "产品编号"),
    column("category", Text, "服务类别"),
    column("amount", Money, "冲正追回金额"),
    column("item_used_before", Money, "项目此前已用"),
    column("item_used_after", Money, "项目此后已用"),
    column("enterprise_used_before", Money, "企业此前已用"),
    column("enterprise_used_after", Money, "企业此后已用"),
    column("provider_used_before", Money, "服务商此前已结算"),
    column("provider_used_after", Money, "服务商此后已结算"),
];

/// refunds.csv and .parquet: one row per refund applied, in source_row
/// order, with the provider's balance just before and after it (rules 10.5).
pub const REFUNDS: [Column; 8] = [
    column("batch_id", Text, "批次"),
    column("source_row", Count, "源文件行号"),
    column("provider_id", Text, "服务商信用代码"),
    column("amount", Money, "退回金额"),
    column("received_on", Date, "到账日期"),
    column("reference", InputText, "凭证号"),
    column("owed_before", Money, "入账前应退回余额"),
    column("owed_after", Money, "入账后应退回余额"),
];

/// risk.csv and .parquet (ledger format 5 on): one row per finding, flags in
/// their order, then by contract, provider and enterprise.
pub const RISK: [Column; 7] = [
    column("batch_id", Text, "批次"),
    column("flag", Text, "提示代码"),
    column("contract_id", Text, "合同编号"),
    column("enterprise_id", Text, "企业信用代码"),
    column("provider_id", Text, "服务商信用代码"),
    column("value", Text, "触发值"),
    column("message", Text, "说明"),
];

/// sample.csv and .parquet (ledger format 5 on): the spot-check sample, in
/// its order: contracts flagged, contracts of flagged providers, the draw.
pub const SAMPLE: [Column; 8] = [
    column("batch_id", Text, "批次"),
    column("sample_no", Count, "抽查序号"),
    column("basis", Text, "抽取依据"),
    column("contract_id", Text, "合同编号"),
    column("enterprise_id", Text, "企业信用代码"),
    column("provider_id", Text, "服务商信用代码"),
    column("approved_amount", Money, "核定金额"),
    column("seq", Count, "分配顺序"),
];

/// A provider statement's contract lines (服务商结算对账单, `statements`).
pub const STATEMENT_LINES: [Column; 8] = [
    column("contract_id", Text, "合同编号"),
    column("enterprise_id", Text, "企业信用代码"),
    column("claimed", Money, "申报抵扣金额"),
    column("outcome", Text, "结果"),
    column("approved_amount", Money, "核定兑付金额"),
    column("shortfall", Money, "核减金额"),
    column("code", Text, "代码"),
    column("reason", InputText, "原因"),
];

/// Columns repeated once per batch of a year table: `{prefix}_{batch}`,
/// headed `{heading_zh} {batch}` (the exception trend's by the batch alone).
#[derive(Debug, Clone, Copy)]
pub struct PerBatch {
    pub prefix: &'static str,
    pub heading_zh: &'static str,
    pub kind: Kind,
}

/// The year's tables (`year`): 年度汇总, one row per batch.
pub const YEAR_BATCHES: [Column; 9] = [
    column("batch_id", Text, "批次"),
    column("rows_in", Count, "合同行"),
    column("settled", Count, "全额兑付"),
    column("reduced", Count, "部分兑付"),
    column("rejected", Count, "拒绝"),
    column("approved", Money, "核定金额"),
    column("reversed", Money, "冲正追回"),
    column("net", Money, "净额"),
    column("signed_by", InputText, "签批"),
];

/// 服务商年度结算: these, each batch's net, then [`YEAR_PROVIDERS_AFTER`].
pub const YEAR_PROVIDERS: [Column; 2] =
    [column("provider_id", Text, "服务商信用代码"), column("provider_name", InputText, "服务商名称")];
pub const YEAR_PROVIDERS_PER_BATCH: PerBatch = PerBatch { prefix: "net", heading_zh: "净额", kind: Money };
pub const YEAR_PROVIDERS_AFTER: [Column; 8] = [
    column("year_total", Money, "年度合计"),
    column("cap_remaining", Money, "年度上限余额"),
    column("contracts", Count, "兑付合同数"),
    column("owed_new", Money, "年度新增应退回"),
    column("refunded", Money, "年度退回到账"),
    column("offset", Money, "年度抵扣"),
    column("owed_at_end", Money, "年末应退回余额"),
    column("risk_flags", Text, "风险提示"),
];

/// 企业年度用券: these, each batch's use, then [`YEAR_ENTERPRISES_AFTER`].
pub const YEAR_ENTERPRISES: [Column; 4] = [
    column("enterprise_id", Text, "企业信用代码"),
    column("enterprise_name", InputText, "企业名称"),
    column("tier", Count, "配额档次"),
    column("quota", Money, "年度配额"),
];
pub const YEAR_ENTERPRISES_PER_BATCH: PerBatch = PerBatch { prefix: "used", heading_zh: "使用", kind: Money };
pub const YEAR_ENTERPRISES_AFTER: [Column; 2] =
    [column("year_total", Money, "年度合计"), column("remaining", Money, "剩余配额")];

/// 类别统计: these, then one count per bound, `bound_{code}`.
pub const YEAR_CATEGORIES: [Column; 5] = [
    column("category", Text, "服务类别"),
    column("contracts", Count, "兑付合同数"),
    column("claimed", Money, "申报抵扣金额"),
    column("approved", Money, "核定金额"),
    column("average_rate_percent", Money, "平均兑付比例(%)"),
];
pub const YEAR_CATEGORIES_PER_BOUND: &str = "bound";

/// 异常趋势: these, each batch's rows, then [`YEAR_CODES_AFTER`].
pub const YEAR_CODES: [Column; 2] = [column("code", Text, "代码"), column("meaning", Text, "说明")];
pub const YEAR_CODES_PER_BATCH: PerBatch = PerBatch { prefix: "rows", heading_zh: "", kind: Count };
pub const YEAR_CODES_AFTER: [Column; 1] = [column("year_total", Count, "年度合计")];

/// The columns of settlements a printed 结算明细 shows (ledger format 5
/// on), by index; its Chinese outcome and category follow them.
pub const SETTLEMENTS_PRINTED: [usize; 8] = [1, 2, 3, 4, 10, 12, 13, 15];

/// The columns of exceptions a printed 异常清单 shows, by index; the
/// severity and source in Chinese follow them.
pub const EXCEPTIONS_PRINTED: [usize; 6] = [2, 3, 5, 6, 7, 8];

/// The columns a printed sheet adds in Chinese after a table's own.
pub const OUTCOME_ZH: Column = column("outcome_zh", Text, "结果");
pub const CATEGORY_ZH: Column = column("category_zh", Text, "服务类别");
pub const SEVERITY_ZH: Column = column("severity_zh", Text, "级别");
pub const SOURCE_ZH: Column = column("source_zh", Text, "来源");

/// Every output column's name, for the code that reads a stored table back
/// by column: no output column name is spelled outside this module.
pub mod name {
    pub const ACTION: &str = "action";
    pub const BASIS: &str = "basis";
    pub const FLAG: &str = "flag";
    pub const SAMPLE_NO: &str = "sample_no";
    pub const AMOUNT: &str = "amount";
    pub const APPROVED_AMOUNT: &str = "approved_amount";
    pub const APPROVED_AMOUNT_BATCH: &str = "approved_amount_batch";
    pub const APPROVED_AMOUNT_YEAR: &str = "approved_amount_year";
    pub const BATCH_ID: &str = "batch_id";
    pub const CAP_REMAINING: &str = "cap_remaining";
    pub const CATEGORY: &str = "category";
    pub const CATEGORY_ZH: &str = "category_zh";
    pub const CODE: &str = "code";
    pub const COMPLETED_ON: &str = "completed_on";
    pub const CONTRACT_ID: &str = "contract_id";
    pub const CONTRACTS_REVERSED: &str = "contracts_reversed";
    pub const CONTRACTS_SETTLED: &str = "contracts_settled";
    pub const DECIDED_ON: &str = "decided_on";
    pub const ENTERPRISE_ID: &str = "enterprise_id";
    pub const ENTERPRISE_NAME: &str = "enterprise_name";
    pub const ENTERPRISE_QUOTA: &str = "enterprise_quota";
    pub const ENTERPRISE_USED_AFTER: &str = "enterprise_used_after";
    pub const ENTERPRISE_USED_BEFORE: &str = "enterprise_used_before";
    pub const FIELD: &str = "field";
    pub const FINGERPRINT: &str = "fingerprint";
    pub const ITEM_CAP: &str = "item_cap";
    pub const ITEM_USED_AFTER: &str = "item_used_after";
    pub const ITEM_USED_BEFORE: &str = "item_used_before";
    pub const MESSAGE: &str = "message";
    pub const NET_AMOUNT_BATCH: &str = "net_amount_batch";
    pub const OFFSET_BATCH: &str = "offset_batch";
    pub const OUTCOME: &str = "outcome";
    pub const OUTCOME_ZH: &str = "outcome_zh";
    pub const OWED_AFTER: &str = "owed_after";
    pub const OWED_BEFORE: &str = "owed_before";
    pub const OWED_NEW: &str = "owed_new";
    pub const PAID_BATCH: &str = "paid_batch";
    pub const PRODUCT_ID: &str = "product_id";
    pub const PROVIDER_ID: &str = "provider_id";
    pub const PROVIDER_NAME: &str = "provider_name";
    pub const PROVIDER_USED_AFTER: &str = "provider_used_after";
    pub const PROVIDER_USED_BEFORE: &str = "provider_used_before";
    pub const QUOTA: &str = "quota";
    pub const RATE_LIMIT: &str = "rate_limit";
    pub const REASON: &str = "reason";
    pub const RECEIVED_ON: &str = "received_on";
    pub const REFERENCE: &str = "reference";
    pub const REFUNDED_BATCH: &str = "refunded_batch";
    pub const REMAINING: &str = "remaining";
    pub const REVERSED_AMOUNT_BATCH: &str = "reversed_amount_batch";
    pub const REVERSED_BATCH: &str = "reversed_batch";
    pub const SEQ: &str = "seq";
    pub const SERVICE_PRICE: &str = "service_price";
    pub const SETTLED_BATCH_ID: &str = "settled_batch_id";
    pub const SEVERITY: &str = "severity";
    pub const SEVERITY_ZH: &str = "severity_zh";
    pub const SHORTFALL: &str = "shortfall";
    pub const SIGNED_ON: &str = "signed_on";
    pub const SOURCE: &str = "source";
    pub const SOURCE_ROW: &str = "source_row";
    pub const SOURCE_ZH: &str = "source_zh";
    pub const TIER: &str = "tier";
    pub const USED_AFTER: &str = "used_after";
    pub const USED_BATCH: &str = "used_batch";
    pub const USED_BEFORE: &str = "used_before";
    pub const VALUE: &str = "value";
    pub const VOUCHER_AMOUNT: &str = "voucher_amount";
}

/// The names of a table's columns, in order.
pub const fn names<const N: usize>(columns: &[Column; N]) -> [&'static str; N] {
    let mut names = [""; N];
    let mut i = 0;
    while i < N {
        names[i] = columns[i].name;
        i += 1;
    }
    names
}

/// The columns of `columns` of one kind, in order.
pub fn of_kind(columns: &[Column], kind: Kind) -> impl Iterator<Item = &'static str> + '_ {
    columns.iter().filter(move |c| c.kind == kind).map(|c| c.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_column_of_some_table() {
        let tables = [
            &SETTLEMENTS[..],
            &EXCEPTIONS[..],
            &PAYOUTS[..],
            &USAGE[..],
            &REVERSALS[..],
            &REFUNDS[..],
            &RISK[..],
            &SAMPLE[..],
        ];
        for n in [
            name::PROVIDER_ID,
            name::OWED_AFTER,
            name::SETTLED_BATCH_ID,
            name::MESSAGE,
            name::QUOTA,
            name::FLAG,
            name::BASIS,
            name::SAMPLE_NO,
        ] {
            assert!(tables.iter().any(|t| t.iter().any(|c| c.name == n)), "{n}");
        }
    }

    #[test]
    fn names_are_unique_within_each_table() {
        for table in [
            &SETTLEMENTS[..],
            &EXCEPTIONS[..],
            &PAYOUTS[..],
            &USAGE[..],
            &REVERSALS[..],
            &REFUNDS[..],
            &RISK[..],
            &SAMPLE[..],
        ] {
            let mut names: Vec<&str> = table.iter().map(|c| c.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), table.len());
        }
    }
}
