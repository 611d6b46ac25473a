//! The names of a committed batch's files, for the code that writes them
//! (`batch::files`, in its table of output files) and the code that reads
//! them back (`stored`).

pub const SETTLEMENTS_CSV: &str = "settlements.csv";
pub const SETTLEMENTS_PARQUET: &str = "settlements.parquet";
pub const EXCEPTIONS_CSV: &str = "exceptions.csv";
pub const EXCEPTIONS_PARQUET: &str = "exceptions.parquet";
pub const PAYOUTS_CSV: &str = "payouts.csv";
pub const USAGE_CSV: &str = "enterprise_usage.csv";
pub const SUMMARY: &str = "summary.json";
pub const WORKBOOK: &str = "settlement.xlsx";
pub const REPORT: &str = "report.html";
pub const REVERSALS_CSV: &str = "reversals.csv";
pub const REVERSALS_PARQUET: &str = "reversals.parquet";
pub const PAYOUTS_PARQUET: &str = "payouts.parquet";
pub const USAGE_PARQUET: &str = "enterprise_usage.parquet";
pub const REFUNDS_CSV: &str = "refunds.csv";
pub const REFUNDS_PARQUET: &str = "refunds.parquet";
pub const RISK_CSV: &str = "risk.csv";
pub const RISK_PARQUET: &str = "risk.parquet";
pub const SAMPLE_CSV: &str = "sample.csv";
pub const SAMPLE_PARQUET: &str = "sample.parquet";
pub const SAMPLE_WORKBOOK: &str = "sample.xlsx";
