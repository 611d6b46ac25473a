//! The job file (SPEC 7) -> a validated `JobSpec` with paths resolved and
//! `{batch}` filled in.

use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::codes::Source;
use crate::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    job: RawJobSection,
    inputs: RawInputs,
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
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
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
        Ok(Batch {
            id: id.to_string(),
            cutoff,
        })
    }
}

/// The last day of quarter `YYYY-Qn`.
pub fn quarter_end(id: &str) -> Option<NaiveDate> {
    let (year, quarter) = id.split_once("-Q").or_else(|| id.split_once("-q"))?;
    if year.len() != 4 || quarter.len() != 1 {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let quarter: u32 = quarter.parse().ok().filter(|q| (1..=4).contains(q))?;
    let (month, day) = [(3, 31), (6, 30), (9, 30), (12, 31)][quarter as usize - 1];
    NaiveDate::from_ymd_opt(year, month, day)
}

#[derive(Debug, Clone)]
pub struct JobSpec {
    pub job_path: PathBuf,
    pub service_year: i32,
    pub policy: PathBuf,
    pub ledger: PathBuf,
    pub output: PathBuf,
    pub batch: Batch,
    /// The five inputs, in `Source::ALL` order.
    pub inputs: Vec<(Source, PathBuf)>,
}

impl JobSpec {
    pub fn input(&self, source: Source) -> &Path {
        &self
            .inputs
            .iter()
            .find(|(s, _)| *s == source)
            .expect("all five inputs")
            .1
    }
}

/// Loads a job file; checks that the policy and every input exist.
pub fn load_job(path: &Path, batch: Batch) -> Result<JobSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(path, e))?;
    let raw: RawJob = toml::from_str(&text).map_err(|e| {
        Error::Input(format!(
            "{}: 作业文件无效 (invalid job file): {e}",
            path.display()
        ))
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &str| tidy(&base.join(p.replace("{batch}", &batch.id)));
    let r = raw.inputs;
    let inputs = vec![
        (Source::Contracts, resolve(&r.contracts)),
        (Source::Enterprises, resolve(&r.enterprises)),
        (Source::Designations, resolve(&r.designations)),
        (Source::Providers, resolve(&r.providers)),
        (Source::Products, resolve(&r.products)),
    ];
    let job = JobSpec {
        job_path: path.to_path_buf(),
        service_year: raw.job.service_year,
        policy: resolve(&raw.job.policy),
        ledger: resolve(&raw.job.ledger),
        output: resolve(&raw.job.output),
        batch,
        inputs,
    };
    let mut required = vec![("job.policy", job.policy.clone())];
    required.extend(job.inputs.iter().map(|(s, p)| (input_key(*s), p.clone())));
    for (key, file) in required {
        if !file.is_file() {
            return Err(Error::Input(format!(
                "{}: {key} 指向的文件不存在 (file named by {key} does not exist): {}",
                path.display(),
                file.display()
            )));
        }
    }
    let year_start = NaiveDate::from_ymd_opt(job.service_year, 1, 1).ok_or_else(|| {
        Error::Input(format!("{}: job.service_year out of range", path.display()))
    })?;
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
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_ids_imply_their_last_day() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            Batch::resolve("2025-Q1", None).unwrap().cutoff,
            day(2025, 3, 31)
        );
        assert_eq!(
            Batch::resolve("2025-Q2", None).unwrap().cutoff,
            day(2025, 6, 30)
        );
        assert_eq!(
            Batch::resolve("2024-Q4", None).unwrap().cutoff,
            day(2024, 12, 31)
        );
        assert_eq!(
            Batch::resolve("2025-Q1", Some(day(2025, 2, 15)))
                .unwrap()
                .cutoff,
            day(2025, 2, 15)
        );
        assert!(Batch::resolve("2025-Q5", None).is_err());
        assert!(Batch::resolve("special", None).is_err());
        assert!(Batch::resolve("../x", Some(day(2025, 1, 1))).is_err());
        assert_eq!(
            Batch::resolve("special", Some(day(2025, 5, 1))).unwrap().id,
            "special"
        );
    }

    #[test]
    fn paths_are_tidied() {
        assert_eq!(
            tidy(Path::new("jobs/../ledger/./x")),
            PathBuf::from("ledger/x")
        );
        assert_eq!(tidy(Path::new("../a/b/../c")), PathBuf::from("../a/c"));
        assert_eq!(tidy(Path::new("/srv/jobs/../x")), PathBuf::from("/srv/x"));
        assert_eq!(tidy(Path::new("jobs/..")), PathBuf::from("."));
    }
}
