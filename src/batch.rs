//! One batch from parsed inputs to rendered output files. `run` and
//! `verify` both go through here, so a replay renders exactly what the
//! original run wrote.

use std::io::Write;

use chrono::NaiveDate;

use crate::codes::Source;
use crate::ingest::{ColumnSpec, Table, columns};
use crate::output::{Destination, OutputFile, OutputWriter, render_file};
use crate::policy::Policy;
use crate::report::{self, Summary};
use crate::settle::{BatchOutcome, BatchTables, CarryIn, settle_batch};
use crate::{Error, Result, frame, html, workbook};

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

pub struct Computed {
    pub outcome: BatchOutcome,
    pub summary: Summary,
}

/// The output files, in the order the manifest lists them.
pub const OUTPUT_NAMES: [&str; 9] = [
    "settlements.csv",
    "settlements.parquet",
    "exceptions.csv",
    "exceptions.parquet",
    "payouts.csv",
    "enterprise_usage.csv",
    "summary.json",
    "settlement.xlsx",
    "report.html",
];

/// The identity of a batch: what `run` is told and the manifest records.
pub struct BatchSpec<'a> {
    pub batch_id: &'a str,
    pub service_year: i32,
    pub cutoff: NaiveDate,
}

/// Settles the batch; [`render`] then writes its files.
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
    Ok(Computed { outcome, summary })
}

/// Renders every output file into `destination`, in manifest order.
pub fn render(computed: &Computed, destination: &Destination) -> Result<Vec<OutputFile>> {
    let (outcome, summary) = (&computed.outcome, &computed.summary);
    let settled = Some(outcome.settlements.len() as u64);
    let exceptions = Some(outcome.exceptions.len() as u64);
    let file = |name, rows, render: &(dyn Fn(&mut OutputWriter) -> Result<()> + Sync)| {
        render_file(destination, name, rows, render)
    };
    let whole = |bytes: Result<Vec<u8>>| {
        move |w: &mut OutputWriter| -> Result<()> {
            w.write_all(&bytes.as_ref().map_err(|e| Error::Internal(e.to_string()))?[..])
                .map_err(|e| Error::Internal(e.to_string()))
        }
    };
    let batch_id = outcome.batch_id.as_str();
    // The large files are independent: render them side by side.
    let ((settlements_csv, settlements_parquet), ((exceptions_csv, exceptions_parquet), workbook)) = rayon::join(
        || {
            rayon::join(
                || file("settlements.csv", settled, &|w| report::settlements_csv(outcome, w)),
                || {
                    file("settlements.parquet", settled, &|w| {
                        frame::settlements_parquet(batch_id, &outcome.settlements, w)
                    })
                },
            )
        },
        || {
            rayon::join(
                || {
                    rayon::join(
                        || file("exceptions.csv", exceptions, &|w| report::exceptions_csv(outcome, w)),
                        || {
                            file("exceptions.parquet", exceptions, &|w| {
                                frame::exceptions_parquet(batch_id, &outcome.exceptions, w)
                            })
                        },
                    )
                },
                || file("settlement.xlsx", None, &whole(workbook::settlement_workbook(outcome, summary))),
            )
        },
    );
    let files = vec![
        settlements_csv?,
        settlements_parquet?,
        exceptions_csv?,
        exceptions_parquet?,
        file("payouts.csv", Some(outcome.payouts.len() as u64), &|w| report::payouts_csv(outcome, w))?,
        file("enterprise_usage.csv", Some(outcome.usage.len() as u64), &|w| report::usage_csv(outcome, w))?,
        file("summary.json", None, &|w| report::summary_json(summary, w))?,
        workbook?,
        file("report.html", None, &whole(Ok(html::report_html(outcome, summary).into_bytes())))?,
    ];
    debug_assert!(files.iter().map(|f| f.name).eq(OUTPUT_NAMES));
    Ok(files)
}
