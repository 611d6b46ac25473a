//! One batch from parsed inputs to rendered output files. `run` and
//! `verify` both go through here, so a replay renders exactly what the
//! original run wrote.

mod files;

use chrono::NaiveDate;

use crate::engine::{BatchOutcome, BatchTables, CarryIn, OptionalInputs, settle_batch};
use crate::ingest::ColumnSpec;
use crate::ledger::Format;
pub use files::{OUTPUT_FILES, OUTPUT_NAMES, Output};

use crate::output::{Destination, OutputFile};
use crate::report::{self, Summary};
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
    /// A job with sign-off: the proposal awaiting it, or the approvals a
    /// committed batch carries.
    pub signoff: Option<report::SignoffStamp>,
    /// The spot-check sample, drawn once the checksum of settlements.csv
    /// that seeds it is known (ledger format 5 on).
    pub sample: std::sync::OnceLock<report::sample::Sample>,
}

impl Computed {
    /// Whether this rendering draws a sample: a committed batch does, a
    /// dry run or a proposal does not.
    fn draws_sample(&self) -> bool {
        !self.dry_run && !self.signoff.as_ref().is_some_and(report::SignoffStamp::is_proposal)
    }

    /// The sample, drawn from the checksum of settlements.csv (the first
    /// call decides; every rendering of a batch has the same checksum).
    pub fn sample_with(&self, settlements_sha256: &str) -> &report::sample::Sample {
        self.sample.get_or_init(|| {
            let signature = self.signoff.as_ref().and_then(report::SignoffStamp::seed_signature);
            let seed = self.draws_sample().then(|| {
                let seed = crate::rules::risk::sample_seed(
                    &self.outcome.batch_id,
                    settlements_sha256,
                    signature.as_deref().unwrap_or(""),
                );
                (seed, signature.is_some())
            });
            report::sample::draw_sample(&self.outcome, seed)
        })
    }
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
    let proposal = computed.signoff.as_ref().is_some_and(report::SignoffStamp::is_proposal);
    let status = match (computed.dry_run, proposal) {
        (true, _) => "dry_run",
        (false, true) => "proposal",
        (false, false) => "committed",
    };
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

/// The output files a batch of ledger format `format` writes, in manifest order.
pub fn output_names(format: u32) -> &'static [&'static str] {
    let count = OUTPUT_FILES.iter().filter(|f| (f.written)(Format(format))).count();
    &OUTPUT_NAMES[..count]
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
        signoff: None,
        sample: std::sync::OnceLock::new(),
    })
}

/// Renders every output file into `destination`, in manifest order.
pub fn render(computed: &Computed, destination: &Destination) -> Result<Vec<OutputFile>> {
    render_some(computed, destination, |_| true)
}

/// Renders, without writing them anywhere, the outputs `wanted` names, to
/// learn their checksums (the proposal hash of a job with sign-off).
pub fn render_checksums(computed: &Computed, wanted: impl Fn(&str) -> bool) -> Result<Vec<OutputFile>> {
    render_some(computed, &Destination::memory(), wanted)
}

/// Renders the outputs of the batch's format that `wanted` names, side by
/// side in [`files::RENDER_ORDER`]; returns them in manifest order.
fn render_some(
    computed: &Computed,
    destination: &Destination,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<OutputFile>> {
    let chosen = |o: &Output| {
        let spec = files::spec_of(*o).1;
        (spec.written)(Format(computed.ledger_format)) && wanted(spec.name)
    };
    let order: Vec<Output> = files::RENDER_ORDER.into_iter().filter(chosen).collect();
    let mut rendered = files::render_files(computed, destination, &order)?;
    rendered.sort_by_key(|(at, _)| *at);
    Ok(rendered.into_iter().map(|(_, file)| file).collect())
}

/// Renders one output file, by name (one of [`OUTPUT_NAMES`]).
pub fn render_one(computed: &Computed, name: &str, destination: &Destination) -> Result<OutputFile> {
    let spec = OUTPUT_FILES
        .iter()
        .take(output_names(computed.ledger_format).len())
        .find(|f| f.name == name)
        .ok_or_else(|| Error::Internal(format!("no output {name}")))?;
    let (_, file) = files::render_files(computed, destination, &[spec.output])?.pop().expect("one file rendered");
    Ok(file)
}

/// The print footer of a committed batch's payout list: the batch and the
/// manifest it follows (its own manifest lists the workbook's checksum, so
/// the workbook cannot name it), and the page of how many. The new
/// manifest's SHA-256 is printed by `run` for the signed copy; through the
/// hash chain it proves the one named here. None for a dry run, whose pages
/// say 试算, or a batch of ledger format 1.
fn payout_list_footer(computed: &Computed) -> Option<String> {
    let proposal = computed.signoff.as_ref().is_some_and(report::SignoffStamp::is_proposal);
    if computed.dry_run || proposal || !Format(computed.ledger_format).guards_every_csv_cell() {
        return None;
    }
    let previous =
        computed.prev_manifest_sha256.as_deref().unwrap_or("无 none (本账本第一批 first batch of the store)");
    Some(format!(
        "&L&8批次 batch {}，上一批清单 previous manifest {previous}&R&8第 &P 页 共 &N 页",
        computed.outcome.batch_id
    ))
}
