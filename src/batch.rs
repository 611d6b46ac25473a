//! One batch from parsed inputs to rendered output files. `run` and
//! `verify` both go through here, so a replay renders exactly what the
//! original run wrote.

use chrono::NaiveDate;

use crate::codes::Source;
use crate::ingest::{ColumnSpec, Table, columns, sha256_hex};
use crate::ledger::FileEntry;
use crate::policy::Policy;
use crate::report::{self, Summary};
use crate::settle::{BatchOutcome, BatchTables, CarryIn, settle_batch};
use crate::{Result, frame, html, workbook};

/// The canonical columns of each input.
pub fn input_columns(source: Source) -> &'static [ColumnSpec] {
    match source {
        Source::Contracts => &columns::CONTRACTS,
        Source::Enterprises => &columns::ENTERPRISES,
        Source::Designations => &columns::DESIGNATIONS,
        Source::Providers => &columns::PROVIDERS,
        Source::Products => &columns::PRODUCTS,
    }
}

/// A rendered output file.
pub struct OutputFile {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// Data rows, for tables.
    pub rows: Option<u64>,
}

impl OutputFile {
    pub fn entry(&self) -> FileEntry {
        FileEntry { name: self.name.to_string(), path: None, sha256: sha256_hex(&self.bytes), rows: self.rows }
    }
}

pub struct Computed {
    pub outcome: BatchOutcome,
    pub summary: Summary,
    /// In the order they are listed in the manifest.
    pub files: Vec<OutputFile>,
}

/// The identity of a batch: what `run` is told and the manifest records.
pub struct BatchSpec<'a> {
    pub batch_id: &'a str,
    pub service_year: i32,
    pub cutoff: NaiveDate,
}

/// Settles the batch and renders every output file.
pub fn compute(
    policy: &Policy,
    mut tables: Vec<(Source, Table)>,
    spec: &BatchSpec,
    carry_in: &CarryIn,
) -> Result<Computed> {
    let contracts_at = tables.iter().position(|(s, _)| *s == Source::Contracts).expect("a contracts table");
    let (_, contracts) = tables.swap_remove(contracts_at);
    let table = |source: Source| &tables.iter().find(|(s, _)| *s == source).expect("all five inputs").1;
    let batch_tables = BatchTables {
        contracts,
        enterprises: table(Source::Enterprises),
        designations: table(Source::Designations),
        providers: table(Source::Providers),
        products: table(Source::Products),
    };
    let outcome = settle_batch(batch_tables, policy, spec.batch_id, spec.service_year, spec.cutoff, carry_in)?;
    let summary = report::summary(&outcome, policy);
    let files = render(&outcome, &summary)?;
    Ok(Computed { outcome, summary, files })
}

fn render(outcome: &BatchOutcome, summary: &Summary) -> Result<Vec<OutputFile>> {
    let settled = Some(outcome.settlements.len() as u64);
    let exceptions = Some(outcome.exceptions.len() as u64);
    let file = |name, bytes, rows| OutputFile { name, bytes, rows };
    // The large files are independent: render them side by side.
    let ((settlements_csv, settlements_parquet), ((exceptions_csv, exceptions_parquet), workbook)) = rayon::join(
        || {
            rayon::join(
                || report::settlements_csv(outcome),
                || frame::settlements_parquet(&outcome.batch_id, &outcome.settlements),
            )
        },
        || {
            rayon::join(
                || {
                    rayon::join(
                        || report::exceptions_csv(outcome),
                        || frame::exceptions_parquet(&outcome.batch_id, &outcome.exceptions),
                    )
                },
                || workbook::settlement_workbook(outcome, summary),
            )
        },
    );
    Ok(vec![
        file("settlements.csv", settlements_csv?, settled),
        file("settlements.parquet", settlements_parquet?, settled),
        file("exceptions.csv", exceptions_csv?, exceptions),
        file("exceptions.parquet", exceptions_parquet?, exceptions),
        file("payouts.csv", report::payouts_csv(outcome)?, Some(outcome.payouts.len() as u64)),
        file("enterprise_usage.csv", report::usage_csv(outcome)?, Some(outcome.usage.len() as u64)),
        file("summary.json", report::summary_json(summary)?, None),
        file("settlement.xlsx", workbook?, None),
        file("report.html", html::report_html(outcome, summary).into_bytes(), None),
    ])
}
