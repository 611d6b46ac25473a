//! The output files of a batch, in one table: for each, its name, the
//! ledger formats that write it, the CSV file it is rendered together with
//! (a large table's Parquet twin), and — in [`Renderer`] — how it is
//! rendered. The manifest lists them in the table's order.

use std::io::Write;

use rayon::prelude::*;

use super::Computed;
use crate::ledger::Format;
use crate::output::{Destination, OutputFile, OutputWriter, log_rendered, render_file};
use crate::report::{html, workbook};
use crate::schema::files as name;
use crate::{Error, Result, frame, report};

/// One output file of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    SettlementsCsv,
    SettlementsParquet,
    ExceptionsCsv,
    ExceptionsParquet,
    PayoutsCsv,
    UsageCsv,
    Summary,
    Workbook,
    Report,
    ReversalsCsv,
    ReversalsParquet,
    PayoutsParquet,
    UsageParquet,
    RefundsCsv,
    RefundsParquet,
    RiskCsv,
    RiskParquet,
    SampleCsv,
    SampleParquet,
    SampleWorkbook,
}

/// What the table says of one output file.
pub struct OutputFileSpec {
    pub output: Output,
    pub name: &'static str,
    /// Whether a batch of a ledger format writes it.
    pub written: fn(Format) -> bool,
    /// The CSV file a Parquet table is rendered together with, row group
    /// by row group, when both are asked for.
    pub csv_twin: Option<Output>,
}

fn always(_: Format) -> bool {
    true
}

const fn file(
    output: Output,
    name: &'static str,
    written: fn(Format) -> bool,
    csv_twin: Option<Output>,
) -> OutputFileSpec {
    OutputFileSpec { output, name, written, csv_twin }
}

use Output::*;

/// Every output file, in the order the manifest lists them (a format's
/// files are always the first ones of the table: later formats add at the
/// end).
pub const OUTPUT_FILES: [OutputFileSpec; 20] = [
    file(SettlementsCsv, name::SETTLEMENTS_CSV, always, None),
    file(SettlementsParquet, name::SETTLEMENTS_PARQUET, always, Some(SettlementsCsv)),
    file(ExceptionsCsv, name::EXCEPTIONS_CSV, always, None),
    file(ExceptionsParquet, name::EXCEPTIONS_PARQUET, always, Some(ExceptionsCsv)),
    file(PayoutsCsv, name::PAYOUTS_CSV, always, None),
    file(UsageCsv, name::USAGE_CSV, always, None),
    file(Summary, name::SUMMARY, always, None),
    file(Workbook, name::WORKBOOK, always, None),
    file(Report, name::REPORT, always, None),
    file(ReversalsCsv, name::REVERSALS_CSV, Format::has_corrections, None),
    file(ReversalsParquet, name::REVERSALS_PARQUET, Format::has_corrections, Some(ReversalsCsv)),
    file(PayoutsParquet, name::PAYOUTS_PARQUET, Format::reads_and_prints, None),
    file(UsageParquet, name::USAGE_PARQUET, Format::reads_and_prints, None),
    file(RefundsCsv, name::REFUNDS_CSV, Format::owed_balances, None),
    file(RefundsParquet, name::REFUNDS_PARQUET, Format::owed_balances, Some(RefundsCsv)),
    file(RiskCsv, name::RISK_CSV, Format::audit_flags, None),
    file(RiskParquet, name::RISK_PARQUET, Format::audit_flags, Some(RiskCsv)),
    file(SampleCsv, name::SAMPLE_CSV, Format::audit_flags, None),
    file(SampleParquet, name::SAMPLE_PARQUET, Format::audit_flags, Some(SampleCsv)),
    file(SampleWorkbook, name::SAMPLE_WORKBOOK, Format::audit_flags, None),
];

/// The sample's files, rendered after settlements.csv, whose checksum
/// seeds the sample (in the same task, while the other files render).
const SAMPLE_FILES: [Output; 3] = [SampleParquet, SampleCsv, SampleWorkbook];

/// The names of [`OUTPUT_FILES`], in order.
pub const OUTPUT_NAMES: [&str; OUTPUT_FILES.len()] = {
    let mut names = [""; OUTPUT_FILES.len()];
    let mut i = 0;
    while i < OUTPUT_FILES.len() {
        names[i] = OUTPUT_FILES[i].name;
        i += 1;
    }
    names
};

/// The order files are rendered in, side by side: the two large tables
/// (each with its twin) head the two halves, since rayon hands the later
/// half to the other thread; the workbook and the small files fill in.
pub const RENDER_ORDER: [Output; 20] = [
    SettlementsParquet,
    SettlementsCsv,
    SampleParquet,
    SampleCsv,
    SampleWorkbook,
    Report,
    PayoutsCsv,
    Summary,
    RefundsParquet,
    RefundsCsv,
    ExceptionsParquet,
    ExceptionsCsv,
    Workbook,
    UsageCsv,
    UsageParquet,
    RiskParquet,
    RiskCsv,
    ReversalsParquet,
    ReversalsCsv,
    PayoutsParquet,
];

/// The table's entry of `output`, and its place in manifest order.
pub fn spec_of(output: Output) -> (usize, &'static OutputFileSpec) {
    OUTPUT_FILES.iter().enumerate().find(|(_, f)| f.output == output).expect("every output is in the table")
}

/// Renders `which` side by side (a Parquet table with its CSV twin when
/// both are asked for), each with its place in manifest order.
pub fn render_files(
    computed: &Computed,
    destination: &Destination,
    which: &[Output],
) -> Result<Vec<(usize, OutputFile)>> {
    let r = Renderer::new(computed);
    let paired = |spec: &OutputFileSpec| spec.csv_twin.is_some_and(|csv| which.contains(&csv));
    let twinned_csv = |o: Output| OUTPUT_FILES.iter().any(|f| f.csv_twin == Some(o) && which.contains(&f.output));
    // With settlements.csv, the sample follows it in its task.
    let chained = |o: Output| SAMPLE_FILES.contains(&o) && which.contains(&SettlementsCsv);
    let rendered: Vec<Vec<(usize, OutputFile)>> = which
        .par_iter()
        .filter(|&&o| !twinned_csv(o) && !chained(o))
        .map(|&o| {
            let (at, spec) = spec_of(o);
            let mut files = match spec.csv_twin {
                Some(csv) if paired(spec) => r.twins(destination, spec_of(csv), (at, spec))?,
                _ => vec![r.alone(destination, o)?],
            };
            // The sample follows settlements.csv, whose checksum seeds it.
            files.extend(r.sample_files(destination, which, &files)?);
            Ok(files)
        })
        .collect::<Result<_>>()?;
    Ok(rendered.into_iter().flatten().collect())
}

/// Renders each output file of a computed batch.
struct Renderer<'c> {
    computed: &'c Computed,
    format: u32,
    /// Absent values as nulls in Parquet (format 4 on).
    nulls: bool,
    tags: frame::Tags,
    footer: Option<String>,
}

impl<'c> Renderer<'c> {
    fn new(computed: &'c Computed) -> Renderer<'c> {
        let format = computed.ledger_format;
        Renderer {
            computed,
            format,
            nulls: Format(format).reads_and_prints(),
            tags: super::parquet_tags(computed),
            footer: super::payout_list_footer(computed),
        }
    }

    fn batch_id(&self) -> &str {
        &self.computed.outcome.batch_id
    }

    /// The data rows a table holds (none for a document).
    fn rows(&self, output: Output) -> Option<u64> {
        let o = &self.computed.outcome;
        let count = match output {
            SettlementsCsv | SettlementsParquet => o.settlements.len(),
            ExceptionsCsv | ExceptionsParquet => o.exceptions.len(),
            PayoutsCsv | PayoutsParquet => o.payouts.len(),
            UsageCsv | UsageParquet => o.usage.len(),
            ReversalsCsv | ReversalsParquet => o.reversals.len(),
            RefundsCsv | RefundsParquet => o.refunds.len(),
            RiskCsv | RiskParquet => o.risk.len(),
            SampleCsv | SampleParquet => self.sample().map_or(0, |s| s.rows.len()),
            Summary | Workbook | Report | SampleWorkbook => return None,
        };
        Some(count as u64)
    }

    /// One file on its own.
    fn one(&self, output: Output, w: &mut OutputWriter) -> Result<()> {
        let (c, format, batch_id, tags) = (self.computed, self.format, self.batch_id(), &self.tags);
        let o = &c.outcome;
        match output {
            SettlementsCsv => report::settlements_csv(o, w, format),
            SettlementsParquet => {
                let fill = |range, rows: &mut Vec<_>| o.settlements.rows_into(range, rows);
                frame::settlements_parquet(batch_id, tags, self.nulls, o.settlements.len(), fill, w, |_| Ok(()))
            }
            ExceptionsCsv => report::exceptions_csv(o, w, format),
            ExceptionsParquet => frame::exceptions_parquet(batch_id, tags, self.nulls, &o.exceptions, w, |_, _| Ok(())),
            PayoutsCsv => report::payouts_csv(o, w, format),
            UsageCsv => report::usage_csv(o, w, format),
            Summary => report::summary_json(&c.summary, w),
            Workbook => {
                let labels = workbook::Labels {
                    payout_footer: self.footer.as_deref(),
                    office: c.office.as_deref(),
                    signoff: c.signoff.as_ref(),
                };
                whole(workbook::settlement_workbook(o, &c.summary, c.dry_run, labels, format), w)
            }
            Report => {
                let page = html::report_html(o, &c.summary, (c.dry_run, c.signoff.as_ref()), format);
                whole(Ok(page.into_bytes()), w)
            }
            ReversalsCsv => report::reversals_csv(o, w, format),
            ReversalsParquet => frame::reversals_parquet(batch_id, tags, self.nulls, &o.reversals, w, |_| Ok(())),
            PayoutsParquet => frame::payouts_parquet(batch_id, tags, &o.payouts, Format(format).payout_layout(), w),
            UsageParquet => {
                let rows: Vec<_> = o.usage.iter().map(|u| (u, o.enterprise(u))).collect();
                frame::usage_parquet(batch_id, tags, &rows, w)
            }
            RefundsCsv => report::refunds_csv(o, w, format),
            RefundsParquet => frame::refunds_parquet(batch_id, tags, &o.refunds, w, |_| Ok(())),
            RiskCsv => {
                report::risk_twin(w, batch_id, format).and_then(|mut t| t.write(&o.risk).and_then(|()| t.finish()))
            }
            RiskParquet => frame::risk_parquet(batch_id, tags, &o.risk, w, |_| Ok(())),
            SampleCsv => {
                let rows = &self.sample()?.rows;
                report::sample_twin(w, batch_id, format).and_then(|mut t| t.write(rows).and_then(|()| t.finish()))
            }
            SampleParquet => frame::sample_parquet(batch_id, tags, &self.sample()?.rows, w, |_| Ok(())),
            SampleWorkbook => whole(report::audit_sheets::sample_workbook(o, self.sample()?, c.office.as_deref()), w),
        }
    }

    /// The sample: drawn already, or now from the checksum of
    /// settlements.csv rendered in memory (a replay of one file).
    fn sample(&self) -> Result<&crate::report::sample::Sample> {
        if let Some(sample) = self.computed.sample.get() {
            return Ok(sample);
        }
        let w = |w: &mut OutputWriter| self.one(SettlementsCsv, w);
        let settlements = render_file(&Destination::memory(), name::SETTLEMENTS_CSV, None, w)?;
        Ok(self.computed.sample_with(&settlements.sha256))
    }

    /// The sample's files `which` asks for, once settlements.csv (among
    /// `rendered`) is: its checksum seeds the sample.
    fn sample_files(
        &self,
        destination: &Destination,
        which: &[Output],
        rendered: &[(usize, OutputFile)],
    ) -> Result<Vec<(usize, OutputFile)>> {
        let asked = SAMPLE_FILES.iter().any(|o| which.contains(o));
        let settlements = rendered.iter().find(|(_, f)| f.name == "settlements.csv").map(|(_, f)| f);
        let (true, Some(settlements)) = (asked, settlements) else { return Ok(Vec::new()) };
        self.computed.sample_with(&settlements.sha256);
        let tables = || -> Result<Vec<(usize, OutputFile)>> {
            if which.contains(&SampleParquet) && which.contains(&SampleCsv) {
                return self.twins(destination, spec_of(SampleCsv), spec_of(SampleParquet));
            }
            let single = [SampleParquet, SampleCsv].into_iter().filter(|o| which.contains(o));
            single.map(|o| self.alone(destination, o)).collect()
        };
        let workbook = || which.contains(&SampleWorkbook).then(|| self.alone(destination, SampleWorkbook)).transpose();
        let (tables, workbook) = rayon::join(tables, workbook);
        let mut files = tables?;
        files.extend(workbook?);
        Ok(files)
    }

    /// One file rendered on its own, with its place in manifest order.
    fn alone(&self, destination: &Destination, o: Output) -> Result<(usize, OutputFile)> {
        let (at, spec) = spec_of(o);
        Ok((at, render_file(destination, spec.name, self.rows(o), |w| self.one(o, w))?))
    }

    /// A CSV file and its Parquet twin in one pass over their rows: each
    /// settlement row, and each exception's message, is built once for both.
    fn twins(
        &self,
        destination: &Destination,
        (csv_at, csv): (usize, &OutputFileSpec),
        (parquet_at, parquet): (usize, &OutputFileSpec),
    ) -> Result<Vec<(usize, OutputFile)>> {
        let started = std::time::Instant::now();
        let mut csv_writer = destination.create(csv.name)?;
        let mut parquet_writer = destination.create(parquet.name)?;
        self.pair(parquet.output, &mut csv_writer, &mut parquet_writer)?;
        let rows = self.rows(parquet.output);
        let files = vec![(csv_at, csv_writer.finish(rows)?), (parquet_at, parquet_writer.finish(rows)?)];
        for (_, file) in &files {
            log_rendered(file, started);
        }
        Ok(files)
    }

    fn pair(&self, parquet: Output, csv: &mut OutputWriter, out: &mut OutputWriter) -> Result<()> {
        let (o, format, batch_id, tags, nulls) =
            (&self.computed.outcome, self.format, self.batch_id(), &self.tags, self.nulls);
        match parquet {
            SettlementsParquet => {
                let mut rows = report::SettlementsCsv::new(csv, batch_id, format)?;
                let fill = |range, buffer: &mut Vec<_>| o.settlements.rows_into(range, buffer);
                frame::settlements_parquet(batch_id, tags, nulls, o.settlements.len(), fill, out, |g| rows.write(g))?;
                rows.finish()
            }
            ExceptionsParquet => {
                let mut rows = report::ExceptionsCsv::new(csv, batch_id, format)?;
                frame::exceptions_parquet(batch_id, tags, nulls, &o.exceptions, out, |g, m| rows.write(g, m))?;
                rows.finish()
            }
            ReversalsParquet => {
                let mut rows = report::reversals_twin(csv, batch_id, format)?;
                frame::reversals_parquet(batch_id, tags, nulls, &o.reversals, out, |g| rows.write(g))?;
                rows.finish()
            }
            RefundsParquet => {
                let mut rows = report::refunds_twin(csv, batch_id, format)?;
                frame::refunds_parquet(batch_id, tags, &o.refunds, out, |g| rows.write(g))?;
                rows.finish()
            }
            RiskParquet => {
                let mut rows = report::risk_twin(csv, batch_id, format)?;
                frame::risk_parquet(batch_id, tags, &o.risk, out, |g| rows.write(g))?;
                rows.finish()
            }
            SampleParquet => {
                let mut rows = report::sample_twin(csv, batch_id, format)?;
                frame::sample_parquet(batch_id, tags, &self.sample()?.rows, out, |g| rows.write(g))?;
                rows.finish()
            }
            other => Err(Error::Internal(format!("{other:?} has no CSV twin"))),
        }
    }
}

/// A document rendered whole into its writer.
fn whole(bytes: Result<Vec<u8>>, w: &mut OutputWriter) -> Result<()> {
    w.write_all(&bytes?).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format's files are a prefix of the table (the manifest order of
    /// older batches is kept), and every file is rendered in some order.
    #[test]
    fn each_format_writes_a_prefix_of_the_table() {
        for format in 1..=crate::ledger::LEDGER_FORMAT {
            let written: Vec<bool> = OUTPUT_FILES.iter().map(|f| (f.written)(Format(format))).collect();
            let count = written.iter().filter(|w| **w).count();
            assert!(written[..count].iter().all(|w| *w), "format {format}");
        }
        for spec in &OUTPUT_FILES {
            assert!(RENDER_ORDER.contains(&spec.output), "{}", spec.name);
        }
    }
}
