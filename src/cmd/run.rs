//! `voucher-settle run JOB.toml --batch 2025-Q1`: settle one batch and commit it.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::codes::Source;
use crate::dates::parse_date;
use crate::ingest::{ColumnSpec, Table, columns, read_table, sha256_hex};
use crate::job::{Batch, JobSpec, load_job};
use crate::ledger::{CommittedBatch, FileEntry, Ledger, MANIFEST, Manifest, write_synced};
use crate::policy::load_policy;
use crate::settle::{BatchOutcome, BatchTables, settle_batch};
use crate::{Error, Result, TOOL_VERSION, frame, report};

/// Settle one batch of a service year and commit it to the ledger store.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The job file (TOML): policy, ledger, output folder and the five inputs.
    pub job: PathBuf,
    /// Batch id. `YYYY-Qn` implies the quarter's last day as cutoff.
    #[arg(long)]
    pub batch: String,
    /// Cutoff date (YYYY-MM-DD): contracts completed after it wait for a later batch.
    #[arg(long)]
    pub cutoff: Option<String>,
    /// Write the reports to the output folder but commit nothing to the ledger.
    #[arg(long)]
    pub dry_run: bool,
}

/// What a run did, for the caller to print.
pub enum RunReport {
    Settled {
        printed: String,
        output: PathBuf,
        committed: Option<PathBuf>,
    },
    AlreadyCommitted {
        batch_id: String,
        dir: PathBuf,
    },
}

pub fn run(args: &RunArgs) -> Result<RunReport> {
    let cutoff = match &args.cutoff {
        None => None,
        Some(text) => Some(parse_date(text.trim()).ok_or_else(|| {
            Error::Input(format!(
                "--cutoff {text:?}: 日期无效 (not a date, use YYYY-MM-DD)"
            ))
        })?),
    };
    let batch = Batch::resolve(&args.batch, cutoff)?;
    let job = load_job(&args.job, batch)?;
    let policy = load_policy(&job.policy)?;
    if policy.service_year != job.service_year {
        return Err(Error::Input(format!(
            "{}: 政策年度 {} 与作业年度 {} 不符 (policy service_year {} differs from the job's {})",
            job.policy.display(),
            policy.service_year,
            job.service_year,
            policy.service_year,
            job.service_year
        )));
    }
    let policy_bytes = std::fs::read(&job.policy).map_err(|e| Error::unreadable(&job.policy, e))?;
    let tables = read_inputs(&job)?;
    let input_entries: Vec<FileEntry> = tables
        .iter()
        .map(|(source, table)| FileEntry {
            name: source.as_str().to_string(),
            path: Some(table.path.display().to_string()),
            sha256: table.sha256.clone(),
            rows: Some(table.records.len() as u64),
        })
        .collect();
    let policy_entry = FileEntry {
        name: "policy".into(),
        path: Some(job.policy.display().to_string()),
        sha256: sha256_hex(&policy_bytes),
        rows: None,
    };

    let ledger = Ledger::open(&job.ledger)?;
    let committed = ledger.committed()?;
    if let Some(done) = committed
        .iter()
        .find(|b| b.manifest.batch_id == job.batch.id)
    {
        return already_committed(done, &policy_entry, &input_entries);
    }
    refuse_earlier_cutoff(&committed, &job)?;
    let carry_in = ledger.carry_in(&committed, job.service_year, policy.cap_scope)?;
    let table = |source: Source| {
        &tables
            .iter()
            .find(|(s, _)| *s == source)
            .expect("five inputs")
            .1
    };
    let batch_tables = BatchTables {
        contracts: table(Source::Contracts),
        enterprises: table(Source::Enterprises),
        designations: table(Source::Designations),
        providers: table(Source::Providers),
        products: table(Source::Products),
    };
    let outcome = settle_batch(
        &batch_tables,
        &policy,
        &job.batch.id,
        job.service_year,
        job.batch.cutoff,
        &carry_in,
    )?;
    let summary = report::summary(&outcome, &policy);
    let mut files = render_outputs(&outcome, &summary)?;
    let manifest = Manifest {
        tool_version: TOOL_VERSION.to_string(),
        sequence: committed.last().map_or(1, |b| b.manifest.sequence + 1),
        batch_id: job.batch.id.clone(),
        service_year: job.service_year,
        cutoff: job.batch.cutoff.to_string(),
        dry_run: args.dry_run,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        job: job.job_path.display().to_string(),
        policy: policy_entry,
        inputs: input_entries,
        outputs: files.iter().map(|f| f.entry.clone()).collect(),
        prev_manifest_sha256: committed.last().map(|b| b.manifest_sha256.clone()),
    };
    let mut manifest_bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
    manifest_bytes.push(b'\n');
    files.push(OutputFile {
        entry: FileEntry {
            name: MANIFEST.into(),
            path: None,
            sha256: sha256_hex(&manifest_bytes),
            rows: None,
        },
        bytes: manifest_bytes,
    });
    let named: Vec<(String, Vec<u8>)> =
        files.into_iter().map(|f| (f.entry.name, f.bytes)).collect();
    let committed_dir = if args.dry_run {
        None
    } else {
        Some(ledger.commit(&manifest, &named)?)
    };
    write_output_folder(&job.output, &named)?;
    Ok(RunReport::Settled {
        printed: report::printed_summary(&summary),
        output: job.output.clone(),
        committed: committed_dir,
    })
}

/// Reads the five inputs in parallel; any unreadable file stops the run.
fn read_inputs(job: &JobSpec) -> Result<Vec<(Source, Table)>> {
    let spec = |source: Source| -> &'static [ColumnSpec] {
        match source {
            Source::Contracts => &columns::CONTRACTS,
            Source::Enterprises => &columns::ENTERPRISES,
            Source::Designations => &columns::DESIGNATIONS,
            Source::Providers => &columns::PROVIDERS,
            Source::Products => &columns::PRODUCTS,
        }
    };
    Source::ALL
        .par_iter()
        .map(|&source| read_table(job.input(source), spec(source)).map(|t| (source, t)))
        .collect()
}

fn already_committed(
    done: &CommittedBatch,
    policy: &FileEntry,
    inputs: &[FileEntry],
) -> Result<RunReport> {
    if done.manifest.same_inputs(&policy.sha256, inputs) {
        return Ok(RunReport::AlreadyCommitted {
            batch_id: done.manifest.batch_id.clone(),
            dir: done.dir.clone(),
        });
    }
    Err(Error::Input(format!(
        "批次 {} 已提交，且输入或政策与提交时不同，拒绝重算 (batch {} is already committed with different inputs or policy; refused): {}",
        done.manifest.batch_id,
        done.manifest.batch_id,
        done.dir.display()
    )))
}

fn refuse_earlier_cutoff(committed: &[CommittedBatch], job: &JobSpec) -> Result<()> {
    let last = committed
        .iter()
        .rev()
        .find(|b| b.manifest.service_year == job.service_year && !b.manifest.dry_run);
    let Some(last) = last else { return Ok(()) };
    let last_cutoff = parse_date(&last.manifest.cutoff).ok_or_else(|| {
        Error::Input(format!(
            "{}: manifest cutoff {:?} is not a date",
            last.dir.display(),
            last.manifest.cutoff
        ))
    })?;
    if job.batch.cutoff < last_cutoff {
        return Err(Error::Input(format!(
            "截止日期 {} 早于已提交批次 {} 的截止日期 {} (cutoff is earlier than committed batch {}'s)",
            job.batch.cutoff, last.manifest.batch_id, last.manifest.cutoff, last.manifest.batch_id
        )));
    }
    Ok(())
}

struct OutputFile {
    entry: FileEntry,
    bytes: Vec<u8>,
}

fn render_outputs(outcome: &BatchOutcome, summary: &report::Summary) -> Result<Vec<OutputFile>> {
    let settled = outcome.settlements.len() as u64;
    let exceptions = outcome.exceptions.len() as u64;
    let rendered = [
        (
            "settlements.csv",
            report::settlements_csv(outcome)?,
            Some(settled),
        ),
        (
            "settlements.parquet",
            frame::settlements_parquet(&outcome.settlements)?,
            Some(settled),
        ),
        (
            "exceptions.csv",
            report::exceptions_csv(outcome)?,
            Some(exceptions),
        ),
        (
            "exceptions.parquet",
            frame::exceptions_parquet(&outcome.batch_id, &outcome.exceptions)?,
            Some(exceptions),
        ),
        (
            "payouts.csv",
            report::payouts_csv(outcome)?,
            Some(outcome.payouts.len() as u64),
        ),
        (
            "enterprise_usage.csv",
            report::usage_csv(outcome)?,
            Some(outcome.usage.len() as u64),
        ),
        ("summary.json", report::summary_json(summary)?, None),
    ];
    Ok(rendered
        .into_iter()
        .map(|(name, bytes, rows)| OutputFile {
            entry: FileEntry {
                name: name.into(),
                path: None,
                sha256: sha256_hex(&bytes),
                rows,
            },
            bytes,
        })
        .collect())
}

/// Writes the batch's files into the job's output folder, each through a
/// temporary name so that a reader never sees half a file.
fn write_output_folder(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    for (name, bytes) in files {
        let temporary = dir.join(format!(".{name}.partial"));
        write_synced(&temporary, bytes)?;
        let path = dir.join(name);
        std::fs::rename(&temporary, &path).map_err(|e| Error::write(&path, e))?;
    }
    Ok(())
}
