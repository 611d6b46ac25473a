//! The job file (rules 7) -> a validated `JobSpec` with paths resolved and
//! `{batch}` filled in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::ingest::{Encoding, InputOptions};
use crate::paths::{Protected, refuse_writes_into};
use crate::rules::batches::{BatchId, BatchKind};
use crate::rules::codes::{PerSource, Source};
use crate::rules::policy::{Policy, parse_policy};
use crate::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    job: RawJobSection,
    inputs: RawInputs,
    /// Per input: `auto` (default), `utf-8`, `gbk` or `gb18030`.
    #[serde(default)]
    encoding: PerInput<String>,
    /// Per input: the XLSX sheet to read (default: the first).
    #[serde(default)]
    sheets: PerInput<String>,
    /// Per input: file header -> canonical column.
    #[serde(default)]
    columns: PerInput<BTreeMap<String, String>>,
    /// Sign-off before a commit: the roles and the signer list.
    signoff: Option<RawSignoff>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignoff {
    roles: Vec<String>,
    signers: String,
}

/// A job's `[signoff]`: every role must approve, each by a different
/// signer of the list, before a batch is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignoffSpec {
    pub roles: Vec<String>,
    /// The signer list (`signers.toml`), relative to the job file.
    pub signers: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PerInput<T> {
    contracts: Option<T>,
    enterprises: Option<T>,
    designations: Option<T>,
    providers: Option<T>,
    products: Option<T>,
    corrections: Option<T>,
    refunds: Option<T>,
}

impl<T> Default for PerInput<T> {
    fn default() -> Self {
        PerInput {
            contracts: None,
            enterprises: None,
            designations: None,
            providers: None,
            products: None,
            corrections: None,
            refunds: None,
        }
    }
}

impl<T> PerInput<T> {
    fn get(&self, source: Source) -> Option<&T> {
        match source {
            Source::Contracts => self.contracts.as_ref(),
            Source::Enterprises => self.enterprises.as_ref(),
            Source::Designations => self.designations.as_ref(),
            Source::Providers => self.providers.as_ref(),
            Source::Products => self.products.as_ref(),
            Source::Corrections => self.corrections.as_ref(),
            Source::Refunds => self.refunds.as_ref(),
        }
    }
}

/// How to read each input, from the optional `[encoding]`, `[sheets]` and
/// `[columns.<input>]` sections.
fn input_options(raw: &RawJob) -> std::result::Result<PerSource<InputOptions>, String> {
    PerSource::try_from_fn(|source| options_of(raw, source))
}

/// How to read one input.
fn options_of(raw: &RawJob, source: Source) -> std::result::Result<InputOptions, String> {
    let name = source.as_str();
    let encoding = match raw.encoding.get(source) {
        None => Encoding::Auto,
        Some(text) => Encoding::parse(text)
            .ok_or_else(|| format!("encoding.{name} = {text:?}: use auto, utf-8, gbk or gb18030"))?,
    };
    let columns = raw
        .columns
        .get(source)
        .map(|m| m.iter().map(|(header, canonical)| (header.clone(), canonical.trim().to_string())).collect())
        .unwrap_or_default();
    Ok(InputOptions { encoding, sheet: raw.sheets.get(source).cloned(), columns })
}

/// How a job file says to read each input: the five, and the optional ones.
pub struct JobInputOptions {
    /// The issuing office the job names (`[job] office`).
    pub office: Option<String>,
    pub inputs: PerSource<InputOptions>,
    pub corrections: InputOptions,
    pub refunds: InputOptions,
}

/// The input options of a job file's text (for `verify`, from the archive).
pub fn input_options_of(text: &str) -> std::result::Result<JobInputOptions, String> {
    let raw: RawJob = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(JobInputOptions {
        office: raw.job.office.clone(),
        inputs: input_options(&raw)?,
        corrections: options_of(&raw, Source::Corrections)?,
        refunds: options_of(&raw, Source::Refunds)?,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJobSection {
    service_year: i32,
    policy: String,
    ledger: String,
    output: String,
    /// The issuing office (编制单位) the lists to sign name.
    office: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInputs {
    contracts: String,
    enterprises: String,
    designations: String,
    providers: String,
    products: String,
    /// The batch's corrections (rules 9.1); none: the batch has none.
    corrections: Option<String>,
    /// The refunds received (rules 10.2); none: the batch has none.
    refunds: Option<String>,
}

/// A batch: its id and the cutoff date its contracts must be completed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: String,
    pub cutoff: NaiveDate,
    pub kind: BatchKind,
}

impl Batch {
    /// A quarter or follow-up id implies its quarter's last day as cutoff and
    /// takes no other; a free id needs `--cutoff` (rules 7). A refused id is
    /// exit 2 saying what a valid one looks like.
    pub fn resolve(id: &str, cutoff: Option<NaiveDate>, service_year: i32) -> Result<Batch> {
        let batch = BatchId::parse(id, service_year)
            .map_err(|why| Error::Input(format!("批次编号无效 (invalid batch id) {:?}: {why}", id.trim())))?;
        let text = batch.as_str();
        let cutoff = match (batch.implied_cutoff(), cutoff) {
            (Some(implied), Some(given)) if implied != given => {
                return Err(Error::Input(format!(
                    "批次 {text} 的截止日期为 {implied}，不能另指定 {given} (batch {text} is cut off on {implied}; --cutoff {given} refused)"
                )));
            }
            (Some(implied), _) => implied,
            (None, Some(given)) => given,
            (None, None) => {
                let hint = near_quarter(text)
                    .map_or_else(String::new, |q| format!("；是否要结算 {q}？(did you mean --batch {q}?) "));
                return Err(Error::Input(format!(
                    "批次 {text} 需要截止日期{hint}(batch {text} is neither YYYY-Qn nor YYYY-FU-yyyyQn; give --cutoff YYYY-MM-DD)"
                )));
            }
        };
        Ok(Batch { id: text.to_string(), cutoff, kind: batch.kind() })
    }
}

/// The quarter id a free batch id was probably meant to be (`2025Q1`,
/// `2025_Q1`, `2025.q1` -> `2025-Q1`), for the refusal to suggest.
fn near_quarter(id: &str) -> Option<String> {
    let (year, rest) = (id.get(..4)?, id.get(4..)?);
    let rest = rest.trim_start_matches(['-', '_', '.', ' ']);
    let quarter = rest.strip_prefix(['Q', 'q'])?;
    let valid = year.bytes().all(|b| b.is_ascii_digit()) && matches!(quarter, "1" | "2" | "3" | "4");
    (valid && id.len() <= 8).then(|| format!("{year}-Q{quarter}"))
}

/// Today in China Standard Time (UTC+8, no daylight saving).
pub fn today_in_china() -> NaiveDate {
    let china = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    chrono::Utc::now().with_timezone(&china).date_naive()
}

#[derive(Debug, Clone)]
pub struct JobSpec {
    pub job_path: PathBuf,
    pub service_year: i32,
    pub policy: PathBuf,
    pub ledger: PathBuf,
    pub output: PathBuf,
    pub batch: Batch,
    /// The five inputs.
    pub inputs: PerSource<PathBuf>,
    /// How to read each input.
    pub options: PerSource<InputOptions>,
    /// The corrections file, if the job names one, and how to read it.
    pub corrections: Option<(PathBuf, InputOptions)>,
    /// The refunds file, if the job names one, and how to read it.
    pub refunds: Option<(PathBuf, InputOptions)>,
    /// Checksum of the job file's bytes as they were parsed.
    pub job_sha256: String,
    /// The issuing office (编制单位) the lists to sign name, if the job says.
    pub office: Option<String>,
    /// Sign-off before a commit, if the job asks for it.
    pub signoff: Option<SignoffSpec>,
    /// The job's `output`, `{batch}` not filled in.
    output_template: String,
}

impl JobSpec {
    pub fn input(&self, source: Source) -> &Path {
        self.inputs.get(source)
    }

    pub fn options(&self, source: Source) -> &InputOptions {
        self.options.get(source)
    }

    /// The optional inputs the job names (corrections, refunds), each with
    /// its path and how to read it.
    pub fn optional_inputs(&self) -> impl Iterator<Item = (Source, &PathBuf, &InputOptions)> {
        let corrections = self.corrections.iter().map(|(p, o)| (Source::Corrections, p, o));
        corrections.chain(self.refunds.iter().map(|(p, o)| (Source::Refunds, p, o)))
    }

    /// Where a batch awaiting sign-off writes its proposal: `待审批/<batch>`
    /// at the output path's `{batch}` level, beside the dry runs' `试算` —
    /// checked, through symbolic links, as the output folder is.
    pub fn proposal_output(&self) -> Result<PathBuf> {
        let base = self.job_path.parent().unwrap_or(Path::new("."));
        let output = output_folder(&self.output_template, base, &self.batch.id, Some(PROPOSALS));
        refuse_writes_into(
            &format!("{}: job.output ({PROPOSALS})", self.job_path.display()),
            &output,
            &kept_clear(self),
        )?;
        Ok(output)
    }

    /// The output folder of another committed batch of this job (to repair
    /// its publication), checked as this batch's was.
    pub fn committed_output(&self, batch_id: &str) -> Result<PathBuf> {
        let base = self.job_path.parent().unwrap_or(Path::new("."));
        let output = output_folder(&self.output_template, base, batch_id, None);
        refuse_writes_into(&format!("{}: job.output", self.job_path.display()), &output, &kept_clear(self))?;
        Ok(output)
    }
}

/// The batch a run was asked for: an id or `auto`, an optional cutoff, and
/// the date `auto` resolves against.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// A dry run's reports go to `试算/<batch>` at the output's `{batch}` level.
    pub dry_run: bool,
    pub id: String,
    pub cutoff: Option<NaiveDate>,
    pub as_of: Option<NaiveDate>,
}

/// The service year and ledger store a job file names, for `--batch auto`
/// to find the batches not yet committed before the batch is chosen.
pub fn service_year_and_ledger(path: &Path) -> Result<(i32, PathBuf)> {
    let (raw, base) = raw_job(path)?;
    Ok((raw.job.service_year, tidy(&base.join(&raw.job.ledger))))
}

/// A job file parsed, its ledger path checked, and the folder its paths
/// are relative to.
fn raw_job(path: &Path) -> Result<(RawJob, &Path)> {
    crate::paths::refuse_irregular(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(path, e))?;
    let raw: RawJob = toml::from_str(&text)
        .map_err(|e| Error::Input(format!("{}: 作业文件无效 (invalid job file): {e}", path.display())))?;
    refuse_batch_in_ledger_path(path, &raw.job.ledger)?;
    Ok((raw, path.parent().unwrap_or(Path::new("."))))
}

/// The ledger store and the `[signoff]` a job file names, for `signoff
/// --signers`, which concerns no batch.
pub fn ledger_and_signoff(path: &Path) -> Result<(PathBuf, Option<SignoffSpec>)> {
    let (raw, base) = raw_job(path)?;
    let invalid = |e: String| Error::Input(format!("{}: 作业文件无效 (invalid job file): {e}", path.display()));
    let signoff = signoff_spec(raw.signoff, base).map_err(invalid)?;
    Ok((tidy(&base.join(&raw.job.ledger)), signoff))
}

/// The output folder: the job's `output` with `{batch}` replaced by the
/// batch id — by `试算/<batch>` for a dry run (rules 7), so that a dry run's
/// reports never stand where a committed batch's do and a glob over the
/// `{batch}` level (`out/*/settlements.parquet`) never reaches them; a job
/// whose output names no `{batch}` gets `试算/` before its folder's name.
fn output_folder(output: &str, base: &Path, batch_id: &str, aside: Option<&str>) -> PathBuf {
    let Some(aside) = aside else {
        return tidy(&base.join(output.replace("{batch}", batch_id)));
    };
    if output.contains("{batch}") {
        return tidy(&base.join(output.replace("{batch}", &format!("{aside}/{batch_id}"))));
    }
    let folder = tidy(&base.join(output));
    let name = folder.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    folder.with_file_name(aside).join(name)
}

/// The folder, at the output path's `{batch}` level, that holds dry runs.
pub const DRY_RUNS: &str = "试算";

/// The folder, beside [`DRY_RUNS`], that holds proposals awaiting sign-off.
pub const PROPOSALS: &str = "待审批";

/// The output folder may not be, hold or lie inside the ledger store (a
/// run would write among committed files), nor be the folder of the job,
/// the policy or an input (the tool's files would stand among them), nor a
/// file-system root or a home folder; the ledger store may not be such a
/// folder either (its HEAD and folders would stand among them) — all
/// compared as resolved through symbolic links ([`crate::paths`]).
fn refuse_output_folder(job: &JobSpec) -> Result<()> {
    let protected = kept_clear(job);
    refuse_writes_into(&format!("{}: job.output", job.job_path.display()), &job.output, &protected)?;
    let beside: Vec<Protected> = protected.into_iter().filter(|p| p.exact).collect();
    refuse_writes_into(&format!("{}: job.ledger", job.job_path.display()), &job.ledger, &beside)
}

/// The places a job's output folder keeps clear of: the ledger store (and
/// all in it), the folders of the job, the policy and every input, and
/// those files themselves.
fn kept_clear(job: &JobSpec) -> Vec<Protected> {
    let mut protected = vec![
        Protected { what: "账本 the ledger store", path: job.ledger.clone(), exact: false },
        Protected {
            what: "作业文件所在目录 the job file's folder", path: folder_of(&job.job_path), exact: true
        },
        Protected { what: "政策文件所在目录 the policy's folder", path: folder_of(&job.policy), exact: true },
        Protected { what: "作业文件 the job file", path: job.job_path.clone(), exact: true },
        Protected { what: "政策文件 the policy file", path: job.policy.clone(), exact: true },
    ];
    let inputs = job.inputs.iter().map(|(_, p)| p).chain(job.optional_inputs().map(|(_, p, _)| p));
    for file in inputs {
        protected
            .push(Protected { what: "输入文件所在目录 an input's folder", path: folder_of(file), exact: true });
        protected.push(Protected { what: "输入文件 an input file", path: file.clone(), exact: true });
    }
    protected
}

fn folder_of(path: &Path) -> PathBuf {
    path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// One store holds every batch of a job: a ledger path naming `{batch}`
/// would start each batch from an empty store, and pay again what earlier
/// batches paid.
fn refuse_batch_in_ledger_path(path: &Path, ledger: &str) -> Result<()> {
    if ledger.contains("{batch}") {
        return Err(Error::Input(format!(
            "{}: job.ledger 不能含 {{batch}} (job.ledger {ledger:?} may not contain {{batch}}: every batch of a job shares one store)",
            path.display()
        )));
    }
    Ok(())
}

/// Loads a job file; resolves the batch; checks that the policy and every
/// input exist.
pub fn load_job(path: &Path, request: &BatchRequest) -> Result<JobSpec> {
    crate::paths::refuse_irregular(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(path, e))?;
    let raw: RawJob = toml::from_str(&text)
        .map_err(|e| Error::Input(format!("{}: 作业文件无效 (invalid job file): {e}", path.display())))?;
    if request.id.trim().eq_ignore_ascii_case("auto") {
        return Err(Error::Internal("--batch auto is resolved before the job is loaded".into()));
    }
    refuse_batch_in_ledger_path(path, &raw.job.ledger)?;
    let batch = Batch::resolve(&request.id, request.cutoff, raw.job.service_year)?;
    let invalid = |e: String| Error::Input(format!("{}: 作业文件无效 (invalid job file): {e}", path.display()));
    let options = input_options(&raw).map_err(invalid)?;
    let corrections_options = options_of(&raw, Source::Corrections).map_err(invalid)?;
    let refunds_options = options_of(&raw, Source::Refunds).map_err(invalid)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &str| tidy(&base.join(p.replace("{batch}", &batch.id)));
    let r = raw.inputs;
    let inputs = PerSource {
        contracts: resolve(&r.contracts),
        enterprises: resolve(&r.enterprises),
        designations: resolve(&r.designations),
        providers: resolve(&r.providers),
        products: resolve(&r.products),
    };
    let corrections = r.corrections.as_deref().map(|p| (resolve(p), corrections_options));
    let refunds = r.refunds.as_deref().map(|p| (resolve(p), refunds_options));
    let signoff = signoff_spec(raw.signoff, base).map_err(invalid)?;
    let job = JobSpec {
        job_path: path.to_path_buf(),
        service_year: raw.job.service_year,
        policy: resolve(&raw.job.policy),
        ledger: resolve(&raw.job.ledger),
        output: output_folder(&raw.job.output, base, &batch.id, request.dry_run.then_some(DRY_RUNS)),
        batch,
        inputs,
        options,
        corrections,
        refunds,
        job_sha256: crate::checksum::sha256_hex(text.as_bytes()),
        office: raw.job.office.clone(),
        signoff,
        output_template: raw.job.output.clone(),
    };
    refuse_output_folder(&job)?;
    let mut required = vec![("job.policy", job.policy.clone())];
    required.extend(job.inputs.iter().map(|(s, p)| (input_key(s), p.clone())));
    required.extend(job.optional_inputs().map(|(source, p, _)| (input_key(source), p.clone())));
    required.extend(job.signoff.iter().map(|s| ("signoff.signers", s.signers.clone())));
    for (key, file) in required {
        if !file.exists() {
            return Err(Error::Input(format!(
                "{}: {key} 指向的文件不存在 (file named by {key} does not exist): {}",
                path.display(),
                file.display()
            )));
        }
        crate::paths::refuse_irregular(&file)?;
    }
    let year_start = NaiveDate::from_ymd_opt(job.service_year, 1, 1)
        .ok_or_else(|| Error::Input(format!("{}: job.service_year out of range", path.display())))?;
    if job.batch.cutoff < year_start {
        return Err(Error::Input(format!(
            "截止日期 {} 早于服务年度 {} (cutoff is before service year {} begins)",
            job.batch.cutoff,
            job.service_year,
            year_start.year()
        )));
    }
    Ok(job)
}

/// The job's `[signoff]`: at least one role, none twice, none empty.
fn signoff_spec(raw: Option<RawSignoff>, base: &Path) -> std::result::Result<Option<SignoffSpec>, String> {
    let Some(raw) = raw else { return Ok(None) };
    let roles: Vec<String> = raw.roles.iter().map(|r| r.trim().to_string()).collect();
    if roles.is_empty() || roles.iter().any(|r| r.is_empty() || !r.chars().all(char::is_alphanumeric)) {
        return Err(
            "signoff.roles: 至少一个角色，每个由文字或数字组成 (name at least one role, each of letters or digits)"
                .into(),
        );
    }
    if let Some(twice) = roles.iter().enumerate().find(|(i, r)| roles[..*i].contains(r)) {
        return Err(format!("signoff.roles: 角色 {} 重复 (role {:?} named twice)", twice.1, twice.1));
    }
    Ok(Some(SignoffSpec { roles, signers: tidy(&base.join(raw.signers)) }))
}

/// Removes `.` and `name/..` pairs lexically, so that messages and the
/// manifest show `ledger/x` rather than `jobs/../ledger/x`.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() { PathBuf::from(".") } else { out.iter().collect() }
}

fn input_key(source: Source) -> &'static str {
    match source {
        Source::Contracts => "inputs.contracts",
        Source::Enterprises => "inputs.enterprises",
        Source::Designations => "inputs.designations",
        Source::Providers => "inputs.providers",
        Source::Products => "inputs.products",
        Source::Corrections => "inputs.corrections",
        Source::Refunds => "inputs.refunds",
    }
}

/// Loads and checks a policy file; any problem is exit code 2 naming the
/// key. Also returns the checksum of the very bytes that were parsed, so
/// that the manifest and the archive name the policy that was applied.
pub fn load_policy(path: &Path) -> Result<(Policy, String)> {
    crate::paths::refuse_irregular(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(path, e))?;
    let policy = parse_policy(&text)
        .map_err(|msg| Error::Input(format!("{}: 政策文件无效 (invalid policy): {msg}", path.display())))?;
    Ok((policy, crate::checksum::sha256_hex(text.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_ids_imply_their_last_day_and_take_no_other() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(Batch::resolve("2025-Q1", None, 2025).unwrap().cutoff, day(2025, 3, 31));
        assert_eq!(Batch::resolve("2025-Q2", None, 2025).unwrap().cutoff, day(2025, 6, 30));
        assert_eq!(Batch::resolve("2025-Q2", Some(day(2025, 6, 30)), 2025).unwrap().cutoff, day(2025, 6, 30));
        assert!(Batch::resolve("2025-Q1", Some(day(2025, 2, 15)), 2025).is_err(), "a quarter's cutoff is its last day");
        assert!(Batch::resolve("2024-Q4", None, 2025).is_err(), "another service year's quarter");
        assert!(Batch::resolve("2025-Q5", Some(day(2025, 12, 31)), 2025).is_err());
        assert!(Batch::resolve("2025-q1", None, 2025).is_err());
        assert!(Batch::resolve("special", None, 2025).is_err(), "a free id needs --cutoff");
        assert!(Batch::resolve("../x", Some(day(2025, 1, 1)), 2025).is_err());
        assert_eq!(Batch::resolve("special", Some(day(2025, 5, 1)), 2025).unwrap().id, "special");
        assert_eq!(Batch::resolve("2025-FU-2026Q2", None, 2025).unwrap().cutoff, day(2026, 6, 30));
    }

    #[test]
    fn a_quarter_id_spelled_otherwise_is_suggested() {
        assert_eq!(near_quarter("2025Q1").as_deref(), Some("2025-Q1"));
        assert_eq!(near_quarter("2025_q3").as_deref(), Some("2025-Q3"));
        assert_eq!(near_quarter("special"), None);
        assert_eq!(near_quarter("2025Q5"), None);
        let refused = Batch::resolve("2025Q2", None, 2025).unwrap_err().to_string();
        assert!(refused.contains("did you mean --batch 2025-Q2?"), "{refused}");
    }

    #[test]
    fn paths_are_tidied() {
        assert_eq!(tidy(Path::new("jobs/../ledger/./x")), PathBuf::from("ledger/x"));
        assert_eq!(tidy(Path::new("../a/b/../c")), PathBuf::from("../a/c"));
        assert_eq!(tidy(Path::new("/srv/jobs/../x")), PathBuf::from("/srv/x"));
        assert_eq!(tidy(Path::new("jobs/..")), PathBuf::from("."));
    }
}
