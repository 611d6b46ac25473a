//! The job file (rules 7) -> a validated `JobSpec` with paths resolved and
//! `{batch}` filled in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::ingest::{Encoding, InputOptions};
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PerInput<T> {
    contracts: Option<T>,
    enterprises: Option<T>,
    designations: Option<T>,
    providers: Option<T>,
    products: Option<T>,
}

impl<T> Default for PerInput<T> {
    fn default() -> Self {
        PerInput { contracts: None, enterprises: None, designations: None, providers: None, products: None }
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
        }
    }
}

/// How to read each input, from the optional `[encoding]`, `[sheets]` and
/// `[columns.<input>]` sections.
fn input_options(raw: &RawJob) -> std::result::Result<PerSource<InputOptions>, String> {
    PerSource::try_from_fn(|source| {
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
    })
}

/// The input options of a job file's text (for `verify`, from the archive).
pub fn input_options_of(text: &str) -> std::result::Result<PerSource<InputOptions>, String> {
    let raw: RawJob = toml::from_str(text).map_err(|e| e.to_string())?;
    input_options(&raw)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJobSection {
    service_year: i32,
    policy: String,
    ledger: String,
    output: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInputs {
    contracts: String,
    enterprises: String,
    designations: String,
    providers: String,
    products: String,
}

/// A batch: its id and the cutoff date its contracts must be completed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: String,
    pub cutoff: NaiveDate,
}

impl Batch {
    /// `YYYY-Qn` implies the quarter's last day; any other id needs `--cutoff`,
    /// and an explicit cutoff always wins.
    pub fn resolve(id: &str, cutoff: Option<NaiveDate>) -> Result<Batch> {
        let id = id.trim();
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && !id.starts_with('.');
        if !id_ok {
            return Err(Error::Input(format!(
                "批次编号无效 (invalid batch id) {id:?}: use letters, digits, '-', '_' or '.', e.g. 2025-Q1"
            )));
        }
        let cutoff = match cutoff.or_else(|| quarter_end(id)) {
            Some(c) => c,
            None => {
                return Err(Error::Input(format!(
                    "批次 {id} 需要截止日期 (batch {id} is not YYYY-Qn; give --cutoff YYYY-MM-DD)"
                )));
            }
        };
        Ok(Batch { id: id.to_string(), cutoff })
    }
}

/// The last day of quarter `YYYY-Qn`, or of the quarter a follow-up batch
/// `YYYY-FU-yyyyQn` names.
pub fn quarter_end(id: &str) -> Option<NaiveDate> {
    if let Some((service_year, quarter)) = id.split_once("-FU-") {
        let _: i32 = service_year.parse().ok().filter(|_| service_year.len() == 4)?;
        let (year, q) = quarter.split_once('Q')?;
        return last_day_of_quarter(year, q);
    }
    let (year, quarter) = id.split_once("-Q").or_else(|| id.split_once("-q"))?;
    last_day_of_quarter(year, quarter)
}

fn last_day_of_quarter(year: &str, quarter: &str) -> Option<NaiveDate> {
    if year.len() != 4 || quarter.len() != 1 {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let quarter: u32 = quarter.parse().ok().filter(|q| (1..=4).contains(q))?;
    let (month, day) = [(3, 31), (6, 30), (9, 30), (12, 31)][quarter as usize - 1];
    NaiveDate::from_ymd_opt(year, month, day)
}

/// `--batch auto`: the batch of `service_year` for the last quarter that has
/// ended as of `as_of`. A quarter of the service year itself is `YYYY-Qn`; a
/// quarter of a later year is the follow-up batch `YYYY-FU-yyyyQn`, which
/// settles the service year's contracts completed up to that quarter's end.
/// Before the service year's first quarter has ended there is nothing to settle.
pub fn auto_batch(service_year: i32, as_of: NaiveDate) -> Result<String> {
    let quarter_now = (as_of.month0() / 3) as i32;
    let (year, quarter) = if quarter_now == 0 { (as_of.year() - 1, 4) } else { (as_of.year(), quarter_now) };
    match year.cmp(&service_year) {
        std::cmp::Ordering::Equal => Ok(format!("{year}-Q{quarter}")),
        std::cmp::Ordering::Greater => Ok(format!("{service_year}-FU-{year}Q{quarter}")),
        std::cmp::Ordering::Less => Err(Error::Input(format!(
            "截至 {as_of}，服务年度 {service_year} 尚无已结束的季度 (as of {as_of}, no quarter of service year {service_year} has ended)"
        ))),
    }
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
    /// Checksum of the job file's bytes as they were parsed.
    pub job_sha256: String,
}

impl JobSpec {
    pub fn input(&self, source: Source) -> &Path {
        self.inputs.get(source)
    }

    pub fn options(&self, source: Source) -> &InputOptions {
        self.options.get(source)
    }
}

/// The batch a run was asked for: an id or `auto`, an optional cutoff, and
/// the date `auto` resolves against.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub id: String,
    pub cutoff: Option<NaiveDate>,
    pub as_of: Option<NaiveDate>,
}

/// Loads a job file; resolves the batch; checks that the policy and every
/// input exist.
pub fn load_job(path: &Path, request: &BatchRequest) -> Result<JobSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(path, e))?;
    let raw: RawJob = toml::from_str(&text)
        .map_err(|e| Error::Input(format!("{}: 作业文件无效 (invalid job file): {e}", path.display())))?;
    let batch_id = if request.id.trim().eq_ignore_ascii_case("auto") {
        let batch_id = auto_batch(raw.job.service_year, request.as_of.unwrap_or_else(today_in_china))?;
        tracing::info!(batch = %batch_id, "--batch auto resolved");
        batch_id
    } else {
        request.id.clone()
    };
    let batch = Batch::resolve(&batch_id, request.cutoff)?;
    let options = input_options(&raw)
        .map_err(|e| Error::Input(format!("{}: 作业文件无效 (invalid job file): {e}", path.display())))?;
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
    let job = JobSpec {
        job_path: path.to_path_buf(),
        service_year: raw.job.service_year,
        policy: resolve(&raw.job.policy),
        ledger: resolve(&raw.job.ledger),
        output: resolve(&raw.job.output),
        batch,
        inputs,
        options,
        job_sha256: crate::checksum::sha256_hex(text.as_bytes()),
    };
    let mut required = vec![("job.policy", job.policy.clone())];
    required.extend(job.inputs.iter().map(|(s, p)| (input_key(s), p.clone())));
    for (key, file) in required {
        if !file.is_file() {
            return Err(Error::Input(format!(
                "{}: {key} 指向的文件不存在 (file named by {key} does not exist): {}",
                path.display(),
                file.display()
            )));
        }
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
    }
}

/// Loads and checks a policy file; any problem is exit code 2 naming the
/// key. Also returns the checksum of the very bytes that were parsed, so
/// that the manifest and the archive name the policy that was applied.
pub fn load_policy(path: &Path) -> Result<(Policy, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(path, e))?;
    let policy = parse_policy(&text)
        .map_err(|msg| Error::Input(format!("{}: 政策文件无效 (invalid policy): {msg}", path.display())))?;
    Ok((policy, crate::checksum::sha256_hex(text.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_ids_imply_their_last_day() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(Batch::resolve("2025-Q1", None).unwrap().cutoff, day(2025, 3, 31));
        assert_eq!(Batch::resolve("2025-Q2", None).unwrap().cutoff, day(2025, 6, 30));
        assert_eq!(Batch::resolve("2024-Q4", None).unwrap().cutoff, day(2024, 12, 31));
        assert_eq!(Batch::resolve("2025-Q1", Some(day(2025, 2, 15))).unwrap().cutoff, day(2025, 2, 15));
        assert!(Batch::resolve("2025-Q5", None).is_err());
        assert!(Batch::resolve("special", None).is_err());
        assert!(Batch::resolve("../x", Some(day(2025, 1, 1))).is_err());
        assert_eq!(Batch::resolve("special", Some(day(2025, 5, 1))).unwrap().id, "special");
    }

    #[test]
    fn auto_batch_resolution_table() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let cases = [
            (day(2025, 4, 3), "2025-Q1"),
            (day(2025, 4, 1), "2025-Q1"),
            (day(2025, 6, 30), "2025-Q1"),
            (day(2025, 7, 1), "2025-Q2"),
            (day(2025, 9, 30), "2025-Q2"),
            (day(2025, 10, 1), "2025-Q3"),
            (day(2025, 12, 31), "2025-Q3"),
            (day(2026, 1, 1), "2025-Q4"),
            (day(2026, 1, 5), "2025-Q4"),
            (day(2026, 3, 31), "2025-Q4"),
            (day(2026, 4, 1), "2025-FU-2026Q1"),
            (day(2026, 7, 2), "2025-FU-2026Q2"),
            (day(2027, 1, 4), "2025-FU-2026Q4"),
        ];
        for (as_of, want) in cases {
            assert_eq!(auto_batch(2025, as_of).unwrap(), want, "{as_of}");
        }
        assert!(auto_batch(2025, day(2025, 3, 31)).is_err(), "Q1 has not ended");
        assert!(auto_batch(2025, day(2024, 12, 31)).is_err());
        assert_eq!(quarter_end("2025-FU-2026Q1"), Some(day(2026, 3, 31)));
        assert_eq!(Batch::resolve("2025-FU-2026Q2", None).unwrap().cutoff, day(2026, 6, 30));
        assert_eq!(quarter_end("2025-FU-2026Q5"), None);
    }

    #[test]
    fn paths_are_tidied() {
        assert_eq!(tidy(Path::new("jobs/../ledger/./x")), PathBuf::from("ledger/x"));
        assert_eq!(tidy(Path::new("../a/b/../c")), PathBuf::from("../a/c"));
        assert_eq!(tidy(Path::new("/srv/jobs/../x")), PathBuf::from("/srv/x"));
        assert_eq!(tidy(Path::new("jobs/..")), PathBuf::from("."));
    }
}
