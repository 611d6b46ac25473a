//! `voucher-settle run JOB.toml --batch 2025-Q1`: settle one batch and commit it.

mod signed;

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::NaiveDate;

use rayon::prelude::*;

use crate::batch::{BatchSpec, Computed, OUTPUT_NAMES, compute, input_columns, render};
use crate::checksum::sha256_hex;
use crate::engine::{BatchOutcome, BatchTables, CarryIn, OptionalInputs};
use crate::ingest::{InputOptions, Table, read_table};
use crate::job::load_policy;
use crate::job::{BatchRequest, JobSpec, load_job, service_year_and_ledger, today_in_china};
use crate::ledger::{CommittedBatch, FileEntry, Format, LEDGER_FORMAT, Ledger, MANIFEST, Manifest, Staging};
use crate::output::{Destination, Folder, OutputFile, Publication};
use crate::progress::Progress;
use crate::report::Summary;
use crate::rules::batches::{BatchId, BatchKind, differ_only_by_case, first_uncommitted, pending};
use crate::rules::codes::{PerSource, Source};
use crate::rules::dates::parse_date;
use crate::rules::policy::Policy;
use crate::schema::files;
use crate::stored::StoredBatch;
use crate::{Error, Result, TOOL_VERSION, report};

/// 结算一个批次并提交账本 Settle one batch of a service year and commit it to the ledger store.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// 作业文件（TOML）：政策、账本、输出目录和五个输入 The job file (TOML): policy, ledger, output folder and the five inputs.
    pub job: PathBuf,
    /// 批次号：`YYYY-Qn`、补结算 `YYYY-FU-yyyyQn`、带 --cutoff 的其他编号，或 `auto`（按序结算已结束且未提交的各季度）
    /// Batch id: `YYYY-Qn` (cut off on the quarter's last day), a follow-up
    /// `YYYY-FU-yyyyQn`, another id with --cutoff, or `auto`: every quarter
    /// ended as of --as-of (default: today, China time) not yet committed, in order.
    #[arg(long)]
    pub batch: String,
    /// 与 `--batch auto` 同用：按此日期判断（YYYY-MM-DD） With `--batch auto`: the date to resolve against (YYYY-MM-DD).
    #[arg(long)]
    pub as_of: Option<String>,
    /// 截止日期（YYYY-MM-DD），之后完成的合同留待后续批次 Cutoff date (YYYY-MM-DD): contracts completed after it wait for a later batch.
    #[arg(long)]
    pub cutoff: Option<String>,
    /// 试算：只生成报表，不提交账本 Write the reports to the output folder but commit nothing to the ledger.
    #[arg(long)]
    pub dry_run: bool,
    /// 不显示进度 No progress display on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

/// What a run did, for the caller to print.
pub enum RunReport {
    Settled {
        printed: String,
        output: PathBuf,
        committed: Option<PathBuf>,
        manifest_sha256: String,
        /// Committed, but the output folder could not be written.
        publish_warning: Option<String>,
        /// What was done to complete the last committed batch's output
        /// folder, which a stopped run or someone had left incomplete.
        repaired: Option<String>,
        summary: Summary,
        /// The settled batch itself, handed back rather than freed here: a
        /// caller about to exit can leave its millions of rows to the system
        /// instead of freeing them one by one (`main.rs`).
        batch: Box<BatchOutcome>,
    },
    /// A job with sign-off whose batch awaits approvals: settled and
    /// written as a proposal, nothing committed.
    Proposed {
        printed: String,
        output: PathBuf,
        proposal_sha256: String,
        /// The roles still to approve.
        missing: Vec<String>,
        summary: Summary,
    },
    AlreadyCommitted {
        batch_id: String,
        /// The committed batch's manifest SHA-256.
        manifest_sha256: String,
        dir: PathBuf,
        output: PathBuf,
        /// The committed files put back into the output folder (missing or
        /// not as committed); none when every one was intact.
        restored: Vec<String>,
        summary: Option<Summary>,
    },
}

fn date_option(flag: &str, text: Option<&String>) -> Result<Option<NaiveDate>> {
    let Some(text) = text else { return Ok(None) };
    let date = parse_date(text.trim())
        .ok_or_else(|| Error::Input(format!("{flag} {text:?}: 日期无效 (not a date, use YYYY-MM-DD)")))?;
    Ok(Some(date))
}

/// The batches `--batch auto` settles, in order (rules 7): every quarter
/// and follow-up of the job's service year that has ended as of `--as-of`
/// (default: today, China time) and is not committed yet — so a missed
/// export is caught up in order, all in one run; when all are committed,
/// the last one again (a no-op). Any other `--batch` is itself.
pub fn batches_to_run(args: &RunArgs) -> Result<Vec<String>> {
    if !args.batch.trim().eq_ignore_ascii_case("auto") {
        return Ok(vec![args.batch.clone()]);
    }
    let as_of = date_option("--as-of", args.as_of.as_ref())?.unwrap_or_else(today_in_china);
    let (service_year, ledger) = service_year_and_ledger(&args.job)?;
    let committed: Vec<String> = if ledger.join("batches").is_dir() {
        Ledger::open_read(&ledger)?.committed()?.into_iter().map(|b| b.manifest.batch_id).collect()
    } else {
        Vec::new()
    };
    let batches = pending(service_year, as_of, |id| committed.iter().any(|c| c == id));
    if batches.is_empty() {
        return Err(Error::Input(format!(
            "截至 {as_of}，服务年度 {service_year} 尚无已结束的季度 (as of {as_of}, no quarter of service year {service_year} has ended)"
        )));
    }
    tracing::info!(batches = %batches.join(","), "--batch auto resolved");
    Ok(batches)
}

/// Settles one batch and commits it: its steps in order.
pub fn run(args: &RunArgs) -> Result<RunReport> {
    let started = Instant::now();
    let progress = Progress::start(args.quiet);
    progress.phase("读取输入 reading inputs");
    let job = load_job(&args.job, &batch_request(args)?)?;
    let inputs = Inputs::read(&job, started)?;
    let ledger = Ledger::open(&job.ledger)?;
    let committed = ledger.committed()?;
    let repaired = repair_last_publication(&ledger, &committed, &job);
    if let Some(done) = committed.iter().find(|b| b.manifest.batch_id == job.batch.id) {
        // A dry run of a committed batch has nothing to try: the committed
        // files are not copied into a folder marked 试算.
        let restore_into = (!args.dry_run).then_some(job.output.as_path());
        return already_committed(&ledger, done, &inputs.policy_entry, &inputs.entries, restore_into);
    }
    let ledger_format = format_for_year(&committed)?;
    refuse_out_of_order(&committed, &job)?;
    refuse_earlier_cutoff(&committed, &job)?;
    let signoff = match (&job.signoff, args.dry_run) {
        (Some(spec), false) => Some(signed::Signoff::load(&ledger, &committed, &job, spec)?),
        (None, false) => {
            refuse_unsigned(&committed, &job)?;
            None
        }
        (_, true) => None,
    };
    let batch = NewBatch {
        ledger: &ledger,
        committed: &committed,
        job: &job,
        ledger_format,
        args,
        progress: &progress,
        signoff: signoff.as_ref(),
    };
    let (rendered, manifest) = batch.settle(inputs)?;
    let Rendered { computed, staging, publication, plan, .. } = rendered;
    if let Some(proposal) = plan.proposal {
        return signed::propose(&job, computed, (&publication, plan.output), proposal);
    }
    let manifest_bytes = manifest_bytes(&manifest)?;
    let committed_dir = batch.commit(staging, &manifest, &manifest_bytes, &publication)?;
    let publish_warning = publish(&publication, &manifest_bytes, committed_dir.is_some(), &job)?;
    tracing::info!(
        batch = job.batch.id.as_str(),
        phase = "done",
        duration_ms = started.elapsed().as_millis() as u64,
        "outputs written"
    );
    let mut printed = report::printed_summary(&computed.summary);
    if manifest.signoff.is_some() {
        printed += &format!("签批 signed off by: {}\n", crate::signoff::signed_by(&manifest));
    }
    Ok(RunReport::Settled {
        printed: if args.dry_run {
            format!("【试算 DRY RUN：未提交账本，不得用于付款 not committed, not for payment】\n{printed}")
        } else {
            printed
        },
        output: job.output.clone(),
        committed: committed_dir,
        manifest_sha256: sha256_hex(&manifest_bytes),
        publish_warning,
        repaired,
        summary: computed.summary,
        batch: Box::new(computed.outcome),
    })
}

fn batch_request(args: &RunArgs) -> Result<BatchRequest> {
    Ok(BatchRequest {
        dry_run: args.dry_run,
        id: args.batch.clone(),
        cutoff: date_option("--cutoff", args.cutoff.as_ref())?,
        as_of: date_option("--as-of", args.as_of.as_ref())?,
    })
}

/// What a run reads before it touches the store: the policy, the inputs,
/// and how the manifest will list them.
struct Inputs {
    policy: Policy,
    policy_entry: FileEntry,
    job_entry: FileEntry,
    tables: BatchTables,
    optional: OptionalInputs,
    entries: Vec<FileEntry>,
}

impl Inputs {
    fn read(job: &JobSpec, started: Instant) -> Result<Inputs> {
        let (policy, policy_sha256) = load_policy(&job.policy)?;
        if policy.service_year() != job.service_year {
            return Err(Error::Input(format!(
                "{}: 政策年度 {} 与作业年度 {} 不符 (policy service_year {} differs from the job's {})",
                job.policy.display(),
                policy.service_year(),
                job.service_year,
                policy.service_year(),
                job.service_year
            )));
        }
        let policy_entry = file_entry("policy", &job.policy, policy_sha256);
        let job_entry = file_entry("job", &job.job_path, job.job_sha256.clone());
        let (tables, optional) = read_inputs(job)?;
        let optional_tables = || {
            let corrections = optional.corrections.iter().map(|t| (Source::Corrections, t));
            corrections.chain(optional.refunds.iter().map(|t| (Source::Refunds, t)))
        };
        tracing::info!(
            batch = job.batch.id.as_str(),
            phase = "read",
            rows = tables.iter().chain(optional_tables()).map(|(_, t)| t.len()).sum::<usize>(),
            duration_ms = started.elapsed().as_millis() as u64,
            "inputs read"
        );
        let entries: Vec<FileEntry> = tables
            .iter()
            .chain(optional_tables())
            .map(|(source, table)| FileEntry {
                name: source.as_str().to_string(),
                path: Some(table.path.display().to_string()),
                sha256: table.sha256.clone(),
                rows: Some(table.len() as u64),
            })
            .collect();
        Ok(Inputs { policy, policy_entry, job_entry, tables, optional, entries })
    }

    /// The files archived into the store: the inputs, the policy, the job
    /// (and the signer list of a job with sign-off).
    fn archive(&self, job: &JobSpec, signoff: Option<&signed::Signoff>) -> Vec<(PathBuf, String)> {
        let tables = self.tables.iter().map(|(_, t)| t).chain(&self.optional.corrections).chain(&self.optional.refunds);
        let mut archive: Vec<(PathBuf, String)> = tables.map(|t| (t.path.clone(), t.sha256.clone())).collect();
        archive.push((job.policy.clone(), self.policy_entry.sha256.clone()));
        archive.push((job.job_path.clone(), self.job_entry.sha256.clone()));
        archive.extend(signoff.map(|s| (s.adopted.path.clone(), s.adopted.list.sha256.clone())));
        archive
    }
}

/// A batch not committed yet, and what settling it needs.
struct NewBatch<'a> {
    ledger: &'a Ledger,
    committed: &'a [CommittedBatch],
    job: &'a JobSpec,
    ledger_format: u32,
    args: &'a RunArgs,
    progress: &'a Progress,
    /// A job with sign-off (not a dry run): its signer list and signatures.
    signoff: Option<&'a signed::Signoff>,
}

/// What a new batch's manifest lists of what it read.
#[derive(Clone)]
struct Listed {
    job: FileEntry,
    policy: FileEntry,
    inputs: Vec<FileEntry>,
}

impl NewBatch<'_> {
    fn sequence(&self) -> u64 {
        self.committed.last().map_or(1, |b| b.manifest.sequence + 1)
    }

    /// Settles and renders the batch while its inputs are archived on a
    /// thread of their own (the copy mostly waits for the disk, and the
    /// allocation pass leaves a core free); returns it with its manifest.
    fn settle(&self, inputs: Inputs) -> Result<(Rendered, Manifest)> {
        let (job, ledger) = (self.job, self.ledger);
        let carry_in = crate::stored::carry::carry_in(ledger, self.committed, job.service_year)?;
        let spec = BatchSpec {
            batch_id: &job.batch.id,
            service_year: job.service_year,
            cutoff: job.batch.cutoff,
            ledger_format: self.ledger_format,
            prev_manifest_sha256: self.committed.last().map(|b| b.manifest_sha256.as_str()),
            sequence: self.sequence(),
            tool_version: TOOL_VERSION,
            office: job.office.as_deref(),
        };
        let archive = inputs.archive(job, self.signoff);
        let Inputs { policy, policy_entry, job_entry, tables, optional, entries } = inputs;
        let listed = Listed { job: job_entry, policy: policy_entry, inputs: entries };
        let (rendered, archived) = std::thread::scope(|scope| {
            let archiving = (!self.args.dry_run).then(|| scope.spawn(|| ledger.archive_all(&archive)));
            let settled = (tables, optional);
            let rendered = settle_and_render(&policy, settled, &spec, &carry_in, (self, &listed));
            let archived = archiving.map_or(Ok(()), |handle| {
                handle.join().unwrap_or_else(|_| Err(Error::Internal("archiving the inputs failed".into())))
            });
            (rendered, archived)
        });
        let rendered = rendered?;
        archived.inspect_err(|_| rendered.publication.discard())?;
        tracing::info!(
            batch = job.batch.id.as_str(),
            phase = "render",
            bytes = rendered.files.iter().map(|f| f.len).sum::<u64>(),
            duration_ms = rendered.started.elapsed().as_millis() as u64,
            "outputs rendered"
        );
        let mut manifest = self.manifest(listed, rendered.files.iter().map(FileEntry::from).collect());
        manifest.signoff = rendered.plan.signed.clone();
        Ok((rendered, manifest))
    }

    /// The batch's manifest, listing these outputs.
    fn manifest(&self, listed: Listed, outputs: Vec<FileEntry>) -> Manifest {
        let job = self.job;
        Manifest {
            tool_version: TOOL_VERSION.to_string(),
            ledger_format: self.ledger_format,
            sequence: self.sequence(),
            batch_id: job.batch.id.clone(),
            service_year: job.service_year,
            cutoff: job.batch.cutoff.to_string(),
            dry_run: self.args.dry_run,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            job: listed.job,
            policy: listed.policy,
            inputs: listed.inputs,
            outputs,
            prev_manifest_sha256: self.committed.last().map(|b| b.manifest_sha256.clone()),
            signoff: None,
        }
    }

    /// Commits the staged batch (a dry run has none); returns its folder.
    fn commit(
        &self,
        staging: Option<Staging>,
        manifest: &Manifest,
        manifest_bytes: &[u8],
        publication: &Publication,
    ) -> Result<Option<PathBuf>> {
        let Some(staging) = staging else { return Ok(None) };
        let phase_started = Instant::now();
        self.progress.phase("提交账本 committing");
        let dir = self.ledger.commit(staging, manifest, manifest_bytes).inspect_err(|_| publication.discard())?;
        tracing::info!(
            batch = manifest.batch_id.as_str(),
            phase = "commit",
            duration_ms = phase_started.elapsed().as_millis() as u64,
            "committed"
        );
        Ok(Some(dir))
    }
}

fn manifest_bytes(manifest: &Manifest) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(manifest).map_err(|e| Error::Internal(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Publishes the outputs. Once HEAD names the batch it is committed,
/// whatever happens to the output folder: a failure to publish it is a
/// warning with the way to restore it (the same command again puts the
/// committed files back). Before that, it is the run's error.
fn publish(publication: &Publication, manifest_bytes: &[u8], committed: bool, job: &JobSpec) -> Result<Option<String>> {
    let published = publication.write(MANIFEST, manifest_bytes).and_then(|()| publication.publish());
    let Err(e) = published else { return Ok(None) };
    publication.discard();
    if !committed {
        return Err(e);
    }
    let batch_id = job.batch.id.as_str();
    let warning = format!(
        "警告：批次 {batch_id} 已提交账本，但输出目录 {} 未能写入；重新运行同一命令即可从账本恢复 \
         (warning: batch {batch_id} is committed, but its output folder could not be written: {e}; \
         run `voucher-settle run {} --batch {batch_id}` again to restore it from the ledger)",
        job.output.display(),
        job.job_path.display()
    );
    tracing::warn!(batch = batch_id, phase = "publish", "{warning}");
    Ok(Some(warning))
}

/// A settled batch with its outputs rendered, not yet committed.
struct Rendered {
    computed: Computed,
    plan: Plan,
    staging: Option<Staging>,
    publication: Publication,
    files: Vec<OutputFile>,
    /// When rendering started.
    started: Instant,
}

/// Settles the batch and renders its outputs into the output folder and,
/// unless it is a dry run, the ledger's staging folder.
fn settle_and_render(
    policy: &Policy,
    (tables, optional): (BatchTables, OptionalInputs),
    spec: &BatchSpec,
    carry_in: &CarryIn,
    (batch, listed): (&NewBatch, &Listed),
) -> Result<Rendered> {
    let phase_started = Instant::now();
    batch.progress.phase("校验、分配 checking, allocating");
    let mut computed = compute(policy, tables, optional, spec, carry_in)?;
    computed.dry_run = batch.args.dry_run;
    for alert in &computed.summary.alerts {
        tracing::warn!(
            batch = spec.batch_id,
            alert = alert.as_str(),
            "大多数行未通过同一检查 most rows fail one check"
        );
    }
    tracing::info!(
        batch = spec.batch_id,
        phase = "settle",
        settled = computed.outcome.settlements.len(),
        exceptions = computed.outcome.exceptions.len(),
        duration_ms = phase_started.elapsed().as_millis() as u64,
        "batch settled"
    );
    let plan = match batch.signoff {
        None => Plan { output: batch.job.output.clone(), commit: !batch.args.dry_run, signed: None, proposal: None },
        Some(signoff) => signoff.plan(&mut computed, |outputs| batch.manifest(listed.clone(), outputs))?,
    };
    let staging = if plan.commit { Some(batch.ledger.begin(batch.sequence(), spec.batch_id)?) } else { None };
    let names: Vec<&str> =
        OUTPUT_FOLDER_NAMES.into_iter().chain(plan.proposal.iter().flat_map(|p| p.file_names())).collect();
    let publication = Publication::begin(&plan.output, &names)?;
    let mut destination = Destination {
        folders: vec![Folder { dir: publication.dir().to_path_buf(), durable: false }],
        compare_with: None,
    };
    if let Some(staging) = &staging {
        destination.folders.push(Folder { dir: staging.dir().to_path_buf(), durable: true });
    }
    let started = Instant::now();
    batch.progress.phase("生成报表 rendering");
    destination.prepare().inspect_err(|_| publication.discard())?;
    let files = render(&computed, &destination).inspect_err(|_| publication.discard())?;
    Ok(Rendered { computed, plan, staging, publication, files, started })
}

/// Where a settled batch goes: committed into the store and published in
/// the job's output folder, or (a dry run, a proposal awaiting sign-off)
/// only written where committed batches are not.
pub(crate) struct Plan {
    output: PathBuf,
    commit: bool,
    /// The sign-off the manifest records (a job with sign-off, approved).
    signed: Option<crate::ledger::SignedOff>,
    /// A proposal awaiting sign-off: what to write beside its reports.
    proposal: Option<signed::Proposal>,
}

fn file_entry(name: &str, path: &Path, sha256: String) -> FileEntry {
    FileEntry { name: name.into(), path: Some(path.display().to_string()), sha256, rows: None }
}

/// Every name this tool writes into an output folder (a batch of any
/// format, and its manifest).
const OUTPUT_FOLDER_NAMES: [&str; OUTPUT_NAMES.len() + 1] = {
    let mut names = [MANIFEST; OUTPUT_NAMES.len() + 1];
    let mut i = 0;
    while i < OUTPUT_NAMES.len() {
        names[i] = OUTPUT_NAMES[i];
        i += 1;
    }
    names
};

/// Reads the five inputs in parallel, and the corrections if the job names
/// them; any unreadable file stops the run.
fn read_inputs(job: &JobSpec) -> Result<(BatchTables, OptionalInputs)> {
    let read = |source: Source| read_table(job.input(source), input_columns(source), job.options(source));
    let optional = || -> Result<OptionalInputs> {
        let read = |entry: &Option<(PathBuf, InputOptions)>, source: Source| {
            entry.as_ref().map(|(path, options)| read_table(path, input_columns(source), options)).transpose()
        };
        Ok(OptionalInputs {
            corrections: read(&job.corrections, Source::Corrections)?,
            refunds: read(&job.refunds, Source::Refunds)?,
        })
    };
    let (tables, optional) = rayon::join(
        || -> Vec<Option<Result<Table>>> { Source::ALL.par_iter().map(|&source| Some(read(source))).collect() },
        optional,
    );
    let mut tables = tables;
    let tables = PerSource::try_from_fn(|source| tables[source as usize].take().expect("each source read once"))?;
    Ok((tables, optional?))
}

/// Identical inputs: nothing to do but put back into the output folder any
/// committed file missing there or not as committed (a run that died after
/// its commit may have left it incomplete; someone may have removed one).
/// Different inputs: refused.
fn already_committed(
    ledger: &Ledger,
    done: &CommittedBatch,
    policy: &FileEntry,
    inputs: &[FileEntry],
    restore_into: Option<&Path>,
) -> Result<RunReport> {
    if !done.manifest.same_inputs(&policy.sha256, inputs) {
        return Err(Error::Input(format!(
            "批次 {} 已提交，且输入或政策与提交时不同，拒绝重算；已提交的结算不会改变：如需更正，请在下一批次的更正文件中冲正或追回 \
             (batch {} is already committed with different inputs or policy; refused — a committed batch never changes: \
             correct it through the next batch's corrections file, or restore the inputs it was committed with to re-run it): {}",
            done.manifest.batch_id,
            done.manifest.batch_id,
            done.dir.display()
        )));
    }
    let restored = match restore_into {
        Some(output) => restore_published(ledger, done, output, Check::Content)?,
        None => Vec::new(),
    };
    let summary =
        StoredBatch::new(ledger, done).bytes(files::SUMMARY).ok().and_then(|b| serde_json::from_slice(&b).ok());
    Ok(RunReport::AlreadyCommitted {
        batch_id: done.manifest.batch_id.clone(),
        manifest_sha256: done.manifest_sha256.clone(),
        dir: done.dir.clone(),
        output: restore_into.map_or_else(|| done.dir.clone(), Path::to_path_buf),
        restored,
        summary,
    })
}

/// The ledger format the batch is written in: this tool's, at any batch of
/// any year (rules 9.6) — the batches before it are read in their own
/// formats. A store whose last batch a newer tool wrote is left alone.
fn format_for_year(committed: &[CommittedBatch]) -> Result<u32> {
    match committed.last() {
        Some(last) if !Format(last.manifest.ledger_format).known() => Err(Error::Input(format!(
            "账本的批次 {} 为账本格式 {}，本工具只认识至格式 {LEDGER_FORMAT}，请使用更新的版本 \
             (the store's batch {} is in ledger format {}; this tool knows formats up to {LEDGER_FORMAT}: use a newer \
             voucher-settle)",
            last.manifest.batch_id, last.manifest.ledger_format, last.manifest.batch_id, last.manifest.ledger_format
        ))),
        _ => Ok(LEDGER_FORMAT),
    }
}

/// Batch order (rules 7): a quarter needs the quarters before it committed,
/// a follow-up needs the year's four quarters and the follow-ups before it;
/// ids that differ only by letter case cannot both be in a store; a free
/// batch may not be cut off later than the first quarter or follow-up of
/// its year not yet committed.
fn refuse_out_of_order(committed: &[CommittedBatch], job: &JobSpec) -> Result<()> {
    let id = job.batch.id.as_str();
    if let Some(other) = committed.iter().find(|b| differ_only_by_case(&b.manifest.batch_id, id)) {
        return Err(Error::Input(format!(
            "账本已有批次 {}，不能再提交仅大小写不同的 {id} (the store holds batch {}; {id} differs from it only by letter case)",
            other.manifest.batch_id, other.manifest.batch_id
        )));
    }
    let is_committed = |id: &str| committed.iter().any(|b| b.manifest.batch_id == id);
    let batch = BatchId::parse(id, job.service_year).map_err(Error::Input)?;
    if let Some(missing) = batch.first_missing_predecessor(is_committed) {
        return Err(Error::Input(format!(
            "批次 {id} 之前须先结算 {missing}；如该季度没有完成的合同，用只有表头的导出文件结算 \
             (batch {missing} must be committed before {id}; a quarter without completed contracts is settled from a header-only export)"
        )));
    }
    if batch.kind() == BatchKind::Free {
        let (next, cutoff) = first_uncommitted(job.service_year, is_committed);
        if job.batch.cutoff > cutoff {
            return Err(Error::Input(format!(
                "批次 {id} 的截止日期 {} 晚于尚未结算的 {next} 的截止日期 {cutoff} (free batch {id} may not be cut off after {next}, not yet committed, whose cutoff is {cutoff})",
                job.batch.cutoff
            )));
        }
    }
    Ok(())
}

/// Once a batch of the store was committed with sign-off, every later one
/// needs it too: a job file without `[signoff]` cannot commit around it.
fn refuse_unsigned(committed: &[CommittedBatch], job: &JobSpec) -> Result<()> {
    let Some(signed) = committed.iter().rev().find(|b| b.manifest.signoff.is_some()) else { return Ok(()) };
    Err(Error::Input(format!(
        "{}: 账本自批次 {} 起须经签批，作业文件缺少 [signoff] (the store's batch {} was committed with sign-off; \
         every later batch needs it: add [signoff] to the job file)",
        job.job_path.display(),
        signed.manifest.batch_id,
        signed.manifest.batch_id
    )))
}

fn refuse_earlier_cutoff(committed: &[CommittedBatch], job: &JobSpec) -> Result<()> {
    let last = committed.iter().rev().find(|b| b.manifest.service_year == job.service_year);
    let Some(last) = last else { return Ok(()) };
    let last_cutoff = parse_date(&last.manifest.cutoff).ok_or_else(|| {
        Error::Input(format!("{}: manifest cutoff {:?} is not a date", last.dir.display(), last.manifest.cutoff))
    })?;
    if job.batch.cutoff < last_cutoff {
        return Err(Error::Input(format!(
            "截止日期 {} 早于已提交批次 {} 的截止日期 {} (cutoff is earlier than committed batch {}'s)",
            job.batch.cutoff, last.manifest.batch_id, last.manifest.cutoff, last.manifest.batch_id
        )));
    }
    Ok(())
}

/// How closely a published file is compared with the committed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Present, a plain file, of the committed length: what a publication
    /// stopped half-way leaves wrong, at the cost of a `stat` per file.
    Presence,
    /// Byte for byte (by checksum): a re-run of the committed batch.
    Content,
}

/// Puts back into `output` every committed file of `batch` (and its
/// manifest) that is missing there or fails `check`, each read from the
/// ledger against its manifest checksum and renamed into place; nothing
/// else in the folder is touched. Returns the names put back.
fn restore_published(ledger: &Ledger, batch: &CommittedBatch, output: &Path, check: Check) -> Result<Vec<String>> {
    let listed = batch.manifest.outputs.iter().map(|o| (o.name.as_str(), o.sha256.as_str()));
    let files: Vec<(&str, &str)> = listed.chain([(MANIFEST, batch.manifest_sha256.as_str())]).collect();
    let unfinished = output.join(crate::output::PARTIAL).exists();
    let wanted: Vec<&str> = files
        .iter()
        .filter(|(name, sha256)| !published_intact(&batch.dir.join(name), &output.join(name), sha256, check))
        .map(|(name, _)| *name)
        .collect();
    if wanted.is_empty() && !unfinished {
        return Ok(Vec::new());
    }
    let publication = Publication::begin(output, &OUTPUT_FOLDER_NAMES)?;
    for name in &wanted {
        let bytes = StoredBatch::new(ledger, batch)
            .bytes(name)
            .map_err(|e| Error::Input(format!("{e}; 未恢复任何文件 (nothing restored)")))?;
        publication.write(name, &bytes).inspect_err(|_| publication.discard())?;
    }
    publication.publish().inspect_err(|_| publication.discard())?;
    Ok(wanted.into_iter().map(str::to_string).collect())
}

/// Whether the published file at `published` is the committed one at
/// `stored`, as closely as `check` asks.
fn published_intact(stored: &Path, published: &Path, sha256: &str, check: Check) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(published) else { return false };
    if !meta.is_file() {
        return false;
    }
    match check {
        Check::Presence => std::fs::metadata(stored).is_ok_and(|s| s.len() == meta.len()),
        Check::Content => crate::checksum::sha256_file(published).is_ok_and(|actual| actual == sha256),
    }
}

/// Every run first completes the publication of the last committed batch
/// of its service year when its output folder is missing or incomplete (a
/// run stopped between its commit and its publication, or files removed):
/// the folder a person signs from is always there for the latest batch.
/// An older batch's folder is restored only when that batch is run again.
/// A failure here is a warning: the batch asked for still runs.
fn repair_last_publication(ledger: &Ledger, committed: &[CommittedBatch], job: &JobSpec) -> Option<String> {
    let last = committed.last().filter(|b| b.manifest.service_year == job.service_year)?;
    let id = last.manifest.batch_id.as_str();
    if id == job.batch.id {
        return None;
    }
    let restored = job
        .committed_output(id)
        .and_then(|output| restore_published(ledger, last, &output, Check::Presence).map(|names| (output, names)));
    let note = match restored {
        Ok((_, names)) if names.is_empty() => return None,
        Ok((output, names)) => format!(
            "已提交批次 {id} 的输出目录 {} 不完整，已从账本补齐 {} \
             (the output folder of committed batch {id} was incomplete — a run stopped before publishing it, or \
             files were removed; restored from the ledger: {})",
            output.display(),
            names.join("、"),
            names.join(", ")
        ),
        Err(e) => format!(
            "警告：已提交批次 {id} 的输出目录未能补齐 (warning: the output folder of committed batch {id} could \
             not be completed: {e}; run `voucher-settle run {} --batch {id}` to restore it)",
            job.job_path.display()
        ),
    };
    tracing::warn!(batch = id, phase = "publish", "{note}");
    Some(note)
}
