//! One batch from parsed inputs to rendered output files. `run` and
//! `verify` both go through here, so a replay renders exactly what the
//! original run wrote.

use std::io::Write;

use rayon::prelude::*;

use chrono::NaiveDate;

use crate::engine::{BatchOutcome, BatchTables, CarryIn, OptionalInputs, settle_batch};
use crate::ingest::ColumnSpec;
use crate::ledger::Format;
use crate::output::{Destination, OutputFile, OutputWriter, log_rendered, render_file};
use crate::report::{self, Summary};
use crate::report::{html, workbook};
use crate::rules::codes::Source;
use crate::rules::policy::Policy;
use crate::schema::input as columns;
use crate::{Error, Result, frame};

/// The canonical columns of each input.
pub fn input_columns(source: Source) -> &'static [ColumnSpec] {
    match source {
        Source::Contracts => &columns::CONTRACTS,
        Source::Enterprises => &columns::ENTERPRISES,
        Source::Designations => &columns::DESIGNATIONS,
        Source::Providers => &columns::PROVIDERS,
        Source::Products => &columns::PRODUCTS,
        Source::Corrections => &columns::CORRECTIONS,
        Source::Refunds => &columns::REFUNDS,
    }
}

pub struct Computed {
    pub outcome: BatchOutcome,
    pub summary: Summary,
    /// A dry run: every report for people says 试算 (not for payment).
    pub dry_run: bool,
    /// The ledger format to render in (`ledger::LEDGER_FORMAT`, or a
    /// committed batch's own when `verify` replays it).
    pub ledger_format: u32,
    /// The manifest this batch follows in its store, which the payout
    /// list's print footer names.
    pub prev_manifest_sha256: Option<String>,
    /// The batch's place in its store (from 1) and the tool version its
    /// manifest records.
    pub sequence: u64,
    pub tool_version: String,
    /// The issuing office (编制单位) the lists to sign name.
    pub office: Option<String>,
}

/// What every Parquet file of a batch says of itself in its footer (ledger
/// format 5 on): the batch, its place in the store, the manifest it
/// follows, the ledger format and tool version, and whether it is
/// committed or a dry run — so that a file found alone is not counted as
/// a committed batch's by mistake. (A file cannot name its own manifest,
/// which lists its checksum.)
fn parquet_tags(computed: &Computed) -> frame::Tags {
    if !Format(computed.ledger_format).net_figures() {
        return frame::Tags::new();
    }
    let status = if computed.dry_run { "dry_run" } else { "committed" };
    [
        ("voucher_settle.batch_id", computed.outcome.batch_id.clone()),
        ("voucher_settle.sequence", computed.sequence.to_string()),
        ("voucher_settle.prev_manifest_sha256", computed.prev_manifest_sha256.clone().unwrap_or_default()),
        ("voucher_settle.ledger_format", computed.ledger_format.to_string()),
        ("voucher_settle.tool_version", computed.tool_version.clone()),
        ("voucher_settle.status", status.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The output files, in the order the manifest lists them; reversals from
/// ledger format 3 on, payouts and usage as Parquet from format 4 on,
/// refunds from format 5 on ([`output_names`]).
pub const OUTPUT_NAMES: [&str; 15] = [
    "settlements.csv",
    "settlements.parquet",
    "exceptions.csv",
    "exceptions.parquet",
    "payouts.csv",
    "enterprise_usage.csv",
    "summary.json",
    "settlement.xlsx",
    "report.html",
    "reversals.csv",
    "reversals.parquet",
    "payouts.parquet",
    "enterprise_usage.parquet",
    "refunds.csv",
    "refunds.parquet",
];

/// The output files a batch of ledger format `format` writes, in manifest order.
pub fn output_names(format: u32) -> &'static [&'static str] {
    let format = Format(format);
    if format.owed_balances() {
        &OUTPUT_NAMES
    } else if format.reads_and_prints() {
        OUTPUT_NAMES.split_at(13).0
    } else if format.has_corrections() {
        OUTPUT_NAMES.split_at(11).0
    } else {
        OUTPUT_NAMES.split_at(9).0
    }
}

/// The identity of a batch: what `run` is told and the manifest records.
pub struct BatchSpec<'a> {
    pub batch_id: &'a str,
    pub service_year: i32,
    pub cutoff: NaiveDate,
    /// The ledger format the batch is written in.
    pub ledger_format: u32,
    /// The manifest the batch follows in its store.
    pub prev_manifest_sha256: Option<&'a str>,
    /// Its place in the store, from 1.
    pub sequence: u64,
    /// The tool version its manifest records (this tool's for a new batch).
    pub tool_version: &'a str,
    /// The issuing office its job names.
    pub office: Option<&'a str>,
}

/// Settles the batch; [`render`] then writes its files.
pub fn compute(
    policy: &Policy,
    tables: BatchTables,
    optional: OptionalInputs,
    spec: &BatchSpec,
    carry_in: &CarryIn,
) -> Result<Computed> {
    let rules = Format(spec.ledger_format).rules();
    let (id, year, cutoff) = (spec.batch_id, spec.service_year, spec.cutoff);
    let outcome = settle_batch(tables, optional, policy, id, year, cutoff, carry_in, rules)?;
    let mut summary = report::summary(&outcome, policy);
    if Format(spec.ledger_format).net_figures() {
        let refunds = outcome.owed_balances.then_some((&outcome.refunds[..], &outcome.unmatched_refunds[..]));
        summary.money = Some(report::figures::Totals::of(&outcome.payouts).recorded(refunds));
        summary.alerts = report::alerts(&outcome);
    }
    Ok(Computed {
        outcome,
        summary,
        dry_run: false,
        ledger_format: spec.ledger_format,
        prev_manifest_sha256: spec.prev_manifest_sha256.map(str::to_string),
        sequence: spec.sequence,
        tool_version: spec.tool_version.to_string(),
        office: spec.office.map(str::to_string),
    })
}

/// Renders every output file into `destination`, in manifest order.
pub fn render(computed: &Computed, destination: &Destination) -> Result<Vec<OutputFile>> {
    // The files are independent: rendered side by side, then listed in
    // manifest order. The two large tables (each rendered with its twin)
    // head the two halves of the list, since rayon hands the later half to
    // the other thread; the workbook and the small files fill in behind.
    const ORDER: [usize; 15] = [1, 0, 7, 5, 3, 2, 12, 8, 4, 6, 10, 9, 11, 14, 13];
    let count = output_names(computed.ledger_format).len();
    let order: Vec<usize> = ORDER.into_iter().filter(|&at| at < count).collect();
    let mut rendered = render_files(computed, destination, &order)?;
    rendered.sort_by_key(|(at, _)| *at);
    Ok(rendered.into_iter().map(|(_, file)| file).collect())
}

/// Renders one output file, by name (one of [`OUTPUT_NAMES`]).
pub fn render_one(computed: &Computed, name: &str, destination: &Destination) -> Result<OutputFile> {
    let at = output_names(computed.ledger_format)
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| Error::Internal(format!("no output {name}")))?;
    let (_, file) = render_files(computed, destination, &[at])?.pop().expect("one file rendered");
    Ok(file)
}

/// Renders the output files at the given positions of [`OUTPUT_NAMES`], in parallel.
fn render_files(computed: &Computed, destination: &Destination, which: &[usize]) -> Result<Vec<(usize, OutputFile)>> {
    let (outcome, summary, dry_run) = (&computed.outcome, &computed.summary, computed.dry_run);
    let format = computed.ledger_format;
    let nulls = Format(format).reads_and_prints();
    let footer = payout_list_footer(computed);
    let batch_id = outcome.batch_id.as_str();
    let settled_rows = outcome.settlements.len();
    let settled = Some(settled_rows as u64);
    let fill_settlements = |range, rows: &mut Vec<_>| outcome.settlements.rows_into(range, rows);
    let exceptions = Some(outcome.exceptions.len() as u64);
    let whole = |bytes: Result<Vec<u8>>, w: &mut OutputWriter| -> Result<()> {
        w.write_all(&bytes?).map_err(|e| Error::Internal(e.to_string()))
    };
    type Render<'a> = Box<dyn Fn(&mut OutputWriter) -> Result<()> + Sync + 'a>;
    let reversals = Some(outcome.reversals.len() as u64);
    let refunds = Some(outcome.refunds.len() as u64);
    let layout = Format(format).payout_layout();
    let tags = parquet_tags(computed);
    let files: [(&'static str, Option<u64>, Render); 15] = [
        ("settlements.csv", settled, Box::new(|w| report::settlements_csv(outcome, w, format))),
        (
            "settlements.parquet",
            settled,
            Box::new(|w| {
                frame::settlements_parquet(batch_id, &tags, nulls, settled_rows, fill_settlements, w, |_| Ok(()))
            }),
        ),
        ("exceptions.csv", exceptions, Box::new(|w| report::exceptions_csv(outcome, w, format))),
        (
            "exceptions.parquet",
            exceptions,
            Box::new(|w| frame::exceptions_parquet(batch_id, &tags, nulls, &outcome.exceptions, w, |_, _| Ok(()))),
        ),
        ("payouts.csv", Some(outcome.payouts.len() as u64), Box::new(|w| report::payouts_csv(outcome, w, format))),
        ("enterprise_usage.csv", Some(outcome.usage.len() as u64), Box::new(|w| report::usage_csv(outcome, w, format))),
        ("summary.json", None, Box::new(|w| report::summary_json(summary, w))),
        (
            "settlement.xlsx",
            None,
            Box::new(|w| {
                whole(
                    workbook::settlement_workbook(
                        outcome,
                        summary,
                        dry_run,
                        (footer.as_deref(), computed.office.as_deref()),
                        format,
                    ),
                    w,
                )
            }),
        ),
        (
            "report.html",
            None,
            Box::new(|w| whole(Ok(html::report_html(outcome, summary, dry_run, format).into_bytes()), w)),
        ),
        ("reversals.csv", reversals, Box::new(|w| report::reversals_csv(outcome, w, format))),
        (
            "reversals.parquet",
            reversals,
            Box::new(|w| frame::reversals_parquet(batch_id, &tags, nulls, &outcome.reversals, w, |_| Ok(()))),
        ),
        (
            "payouts.parquet",
            Some(outcome.payouts.len() as u64),
            Box::new(|w| frame::payouts_parquet(batch_id, &tags, &outcome.payouts, layout, w)),
        ),
        (
            "enterprise_usage.parquet",
            Some(outcome.usage.len() as u64),
            Box::new(|w| {
                let rows: Vec<_> = outcome.usage.iter().map(|u| (u, outcome.enterprise(u))).collect();
                frame::usage_parquet(batch_id, &tags, &rows, w)
            }),
        ),
        ("refunds.csv", refunds, Box::new(|w| report::refunds_csv(outcome, w, format))),
        (
            "refunds.parquet",
            refunds,
            Box::new(|w| frame::refunds_parquet(batch_id, &tags, &outcome.refunds, w, |_| Ok(()))),
        ),
    ];
    debug_assert!(files.iter().map(|(name, _, _)| *name).eq(OUTPUT_NAMES));
    // A large table's CSV file and its Parquet twin, when both are asked
    // for, are rendered together: each settlement row, and each exception's
    // message, is built once for both.
    type Twins<'a> = Box<dyn Fn(&mut OutputWriter, &mut OutputWriter) -> Result<()> + Sync + 'a>;
    let twins: [(usize, usize, Option<u64>, Twins); 4] = [
        (
            SETTLEMENTS_CSV,
            SETTLEMENTS_PARQUET,
            settled,
            Box::new(|csv, parquet| {
                let mut csv = report::SettlementsCsv::new(csv, batch_id, format)?;
                frame::settlements_parquet(batch_id, &tags, nulls, settled_rows, fill_settlements, parquet, |group| {
                    csv.write(group)
                })?;
                csv.finish()
            }),
        ),
        (
            EXCEPTIONS_CSV,
            EXCEPTIONS_PARQUET,
            exceptions,
            Box::new(|csv, parquet| {
                let mut csv = report::ExceptionsCsv::new(csv, batch_id, format)?;
                let rows = &outcome.exceptions;
                frame::exceptions_parquet(batch_id, &tags, nulls, rows, parquet, |group, messages| {
                    csv.write(group, messages)
                })?;
                csv.finish()
            }),
        ),
        (
            REVERSALS_CSV,
            REVERSALS_PARQUET,
            reversals,
            Box::new(|csv, parquet| {
                let mut rows = report::ReversalsCsv::new(csv, batch_id, format)?;
                frame::reversals_parquet(batch_id, &tags, nulls, &outcome.reversals, parquet, |group| {
                    rows.write(group)
                })?;
                rows.finish()
            }),
        ),
        (
            REFUNDS_CSV,
            REFUNDS_PARQUET,
            refunds,
            Box::new(|csv, parquet| {
                let mut rows = report::RefundsCsv::new(csv, batch_id, format)?;
                frame::refunds_parquet(batch_id, &tags, &outcome.refunds, parquet, |group| rows.write(group))?;
                rows.finish()
            }),
        ),
    ];
    let together = |csv: usize, parquet: usize| which.contains(&csv) && which.contains(&parquet);
    let rendered: Vec<Vec<(usize, OutputFile)>> = which
        .par_iter()
        .filter(|&&at| !twins.iter().any(|(csv, parquet, _, _)| at == *csv && together(*csv, *parquet)))
        .map(|&at| {
            let twin = twins.iter().find(|(csv, parquet, _, _)| at == *parquet && together(*csv, *parquet));
            if let Some((csv, parquet, rows, render)) = twin {
                return render_twins(destination, (*csv, *parquet), *rows, render);
            }
            let (name, rows, render) = &files[at];
            render_file(destination, name, *rows, render).map(|file| vec![(at, file)])
        })
        .collect::<Result<_>>()?;
    Ok(rendered.into_iter().flatten().collect())
}

/// The print footer of a committed batch's payout list: the batch and the
/// manifest it follows (its own manifest lists the workbook's checksum, so
/// the workbook cannot name it), and the page of how many. The new
/// manifest's SHA-256 is printed by `run` for the signed copy; through the
/// hash chain it proves the one named here. None for a dry run, whose pages
/// say 试算, or a batch of ledger format 1.
fn payout_list_footer(computed: &Computed) -> Option<String> {
    if computed.dry_run || !Format(computed.ledger_format).guards_every_csv_cell() {
        return None;
    }
    let previous =
        computed.prev_manifest_sha256.as_deref().unwrap_or("无 none (本账本第一批 first batch of the store)");
    Some(format!(
        "&L&8批次 batch {}，上一批清单 previous manifest {previous}&R&8第 &P 页 共 &N 页",
        computed.outcome.batch_id
    ))
}

/// Positions of the large tables' files in [`OUTPUT_NAMES`].
const SETTLEMENTS_CSV: usize = 0;
const SETTLEMENTS_PARQUET: usize = 1;
const EXCEPTIONS_CSV: usize = 2;
const EXCEPTIONS_PARQUET: usize = 3;
const REVERSALS_CSV: usize = 9;
const REVERSALS_PARQUET: usize = 10;
const REFUNDS_CSV: usize = 13;
const REFUNDS_PARQUET: usize = 14;

/// A CSV file and its Parquet twin (positions in [`OUTPUT_NAMES`]) in one
/// pass over their `rows` rows: `render` writes both.
fn render_twins(
    destination: &Destination,
    (csv_at, parquet_at): (usize, usize),
    rows: Option<u64>,
    render: impl Fn(&mut OutputWriter, &mut OutputWriter) -> Result<()>,
) -> Result<Vec<(usize, OutputFile)>> {
    let started = std::time::Instant::now();
    let mut csv_writer = destination.create(OUTPUT_NAMES[csv_at])?;
    let mut parquet_writer = destination.create(OUTPUT_NAMES[parquet_at])?;
    render(&mut csv_writer, &mut parquet_writer)?;
    let files = vec![(csv_at, csv_writer.finish(rows)?), (parquet_at, parquet_writer.finish(rows)?)];
    for (_, file) in &files {
        log_rendered(file, started);
    }
    Ok(files)
}
