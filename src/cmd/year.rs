//! `voucher-settle year LEDGER --year Y --out DIR`: the annual settlement
//! statement (年度结算) of a service year, read from the ledger. The year's
//! batches are first verified as `verify` does (replayed from their
//! archived inputs); the totals are recomputed from the stored settlements
//! and reversals and checked against each batch's files
//! (`report::year::Year::build`); only then are `year-Y.xlsx`,
//! `year-Y.html` and the tables as Parquet written. It only reads the
//! ledger, and the same store gives the same bytes.

use std::path::PathBuf;

use crate::ledger::{CommittedBatch, Ledger};
use crate::output::write_file;
use crate::replay::verify_selected;
use crate::report::Summary;
use crate::report::year::{BatchFacts, Year};
use crate::rules::codes::Source;
use crate::schema::files;
use crate::schema::output::name;
use crate::stored::StoredBatch;
use crate::stored::carry::owed_after;
use crate::{Error, Result};

/// 年度结算：汇总一个服务年度的全部批次 The annual settlement statement of a service year, from the ledger.
#[derive(Debug, clap::Args)]
pub struct YearArgs {
    /// 账本目录（作业文件的 `ledger`） The ledger store folder (the job's `ledger`).
    pub ledger: PathBuf,
    /// 服务年度 The service year.
    #[arg(long)]
    pub year: i32,
    /// 写入的目录 The folder to write the statement into (created if needed).
    #[arg(long)]
    pub out: PathBuf,
}

/// Returns the line to print: the files written.
pub fn run(args: &YearArgs) -> Result<String> {
    let store = crate::paths::Protected { what: "账本 the ledger store", path: args.ledger.clone(), exact: false };
    crate::paths::refuse_writes_into("--out", &args.out, &[store])?;
    let ledger = Ledger::open_read(&args.ledger)?;
    let committed = ledger.committed()?;
    let in_year: Vec<usize> =
        (0..committed.len()).filter(|&i| committed[i].manifest.service_year == args.year).collect();
    let batches: Vec<&CommittedBatch> = in_year.iter().map(|&i| &committed[i]).collect();
    if batches.is_empty() {
        return Err(Error::Input(format!(
            "{}: 没有服务年度 {} 的已提交批次 (no committed batch of service year {})",
            args.ledger.display(),
            args.year,
            args.year
        )));
    }
    verify_selected(&ledger, &committed, &in_year)?;
    let facts = batches.iter().map(|b| batch_facts(&ledger, b)).collect::<Result<Vec<_>>>()?;
    let last = in_year.last().map_or(0, |&i| i + 1);
    let owed_at_end = owed_after(&ledger, &committed[..last])?.balances;
    let year = Year::build(args.year, &facts, &owed_at_end)?;
    let mut files = vec![
        (format!("year-{}.xlsx", args.year), year.workbook()?),
        (format!("year-{}.html", args.year), year.html().into_bytes()),
    ];
    files.extend(year.parquet_files()?);
    std::fs::create_dir_all(&args.out).map_err(|e| Error::write(&args.out, e))?;
    for (name, bytes) in &files {
        write_file(&args.out.join(name), bytes)?;
    }
    Ok(format!(
        "服务年度 {} 的 {} 个批次已汇总，写入 {} (service year {}: {} batch{} summed up into {}): {}",
        args.year,
        batches.len(),
        args.out.display(),
        args.year,
        batches.len(),
        if batches.len() == 1 { "" } else { "es" },
        args.out.display(),
        files.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", ")
    ))
}

/// What the year reads of one batch, each file checked against its manifest.
fn batch_facts(ledger: &Ledger, batch: &CommittedBatch) -> Result<BatchFacts> {
    let stored = StoredBatch::new(ledger, batch);
    let summary: Summary = serde_json::from_slice(&stored.bytes(files::SUMMARY)?)
        .map_err(|e| Error::Internal(format!("{}: {}: {e}", batch.dir.display(), files::SUMMARY)))?;
    let risk = stored.risk()?;
    let flags =
        risk.rows().map(|r| (risk.text(r, name::PROVIDER_ID).to_string(), risk.text(r, name::FLAG).to_string()));
    Ok(BatchFacts {
        batch_id: batch.manifest.batch_id.clone(),
        cutoff: batch.manifest.cutoff.clone(),
        summary,
        settlements: stored.settled()?,
        reversals: stored.reversal_entries()?,
        payouts: stored.payouts()?,
        usage: stored.usage()?,
        registry_version: Source::ALL[1..]
            .iter()
            .map(|s| batch.manifest.inputs.iter().find(|i| i.name == s.as_str()).map_or("", |i| i.sha256.as_str()))
            .collect::<Vec<_>>()
            .join(","),
        signed_by: crate::signoff::signed_by(&batch.manifest),
        flags: flags.filter(|(provider, _)| !provider.is_empty()).collect(),
    })
}
