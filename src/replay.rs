//! A committed batch replayed: re-run from its archived inputs, policy and
//! job file, every output compared with the stored file while it is
//! rendered; the batches before it must still hold the files their
//! manifests list. `verify` replays every batch; `year` and `statements`
//! replay the batches they read before trusting them.

use std::path::PathBuf;

use crate::batch::{BatchSpec, Computed, compute, input_columns, render, render_one};
use crate::checksum::{sha256_file, sha256_hex};
use crate::engine::OptionalInputs;
use crate::ingest::{InputOptions, Table, parse_table};
use crate::job::{JobInputOptions, input_options_of};
use crate::ledger::{CommittedBatch, FileEntry, Format, LEDGER_FORMAT, Ledger, MANIFEST, Manifest};
use crate::output::Destination;
use crate::rules::codes::{PerSource, Source};
use crate::rules::dates::parse_date;
use crate::rules::policy::parse_policy;
use crate::stored::carry::carry_in;
use crate::{Error, Result};

/// A difference found: exit 3.
pub fn differs(what: String) -> Error {
    Error::Mismatch(format!("验证不一致 (verify found a difference): {what}"))
}

/// Replays the batches at `selected` (ascending positions in the chain) and
/// returns the lines to print. The carry-in of a batch comes from the
/// stored batches before it: those not replayed must still hold the files
/// their manifests list. `year` and `statements` verify what they read so.
pub fn verify_selected(ledger: &Ledger, batches: &[CommittedBatch], selected: &[usize]) -> Result<String> {
    let last = selected.last().copied().unwrap_or(0);
    for (index, batch) in batches.iter().enumerate().take(last) {
        if !selected.contains(&index) {
            check_file_hashes(batch)?;
        }
    }
    let mut lines = String::new();
    for &index in selected {
        let batch = &batches[index];
        // The sign-off first: its signature also seeds the stored sample.
        let signoff = crate::signoff::verify_batch(ledger, batches, index)
            .map_err(|why| differs(format!("batch {}, 签批 sign-off: {why}", batch.manifest.batch_id)))?;
        replay(ledger, batches, index)?;
        lines += &format!(
            "  #{} {}  {}  一致 verified\n",
            batch.manifest.sequence, batch.manifest.batch_id, batch.manifest_sha256
        );
        signoff.iter().for_each(|line| lines += &format!("{line}\n"));
    }
    Ok(match selected.len() {
        0 => "账本中没有已提交的批次 (the store holds no committed batch; nothing to verify)".to_string(),
        1 => format!("{lines}1 个批次验证一致 (1 batch verified)"),
        n => format!("{lines}{n} 个批次验证一致 ({n} batches verified)"),
    })
}

/// Re-runs batch `index` from its archived inputs and compares every output.
fn replay(ledger: &Ledger, batches: &[CommittedBatch], index: usize) -> Result<()> {
    let batch = &batches[index];
    let m = &batch.manifest;
    if !Format(m.ledger_format).known() {
        return Err(Error::Input(format!(
            "批次 {} 为账本格式 {}，本工具只能重放至格式 {LEDGER_FORMAT} (batch {} is in ledger format {}; this tool replays formats up to {LEDGER_FORMAT})",
            m.batch_id, m.ledger_format, m.batch_id, m.ledger_format
        )));
    }
    let options = archived_options(ledger, m)?;
    let policy_text = String::from_utf8(archived_object(ledger, m, "policy", &m.policy.sha256)?)
        .map_err(|_| differs(format!("batch {}, archived policy is not UTF-8", m.batch_id)))?;
    let policy =
        parse_policy(&policy_text).map_err(|e| differs(format!("batch {}, archived policy: {e}", m.batch_id)))?;
    let tables = PerSource::try_from_fn(|source| -> Result<Table> {
        let entry = m.inputs.iter().find(|i| i.name == source.as_str()).ok_or_else(|| {
            differs(format!("batch {}, {MANIFEST}: input {} not listed", m.batch_id, source.as_str()))
        })?;
        archived_table(ledger, m, entry, source, options.inputs.get(source))
    })?;
    // The corrections and refunds, when the batch had them (rules 9.1,
    // 10.2), replayed from the archive.
    let optional_table = |source: Source, options: &InputOptions| {
        let entry = m.inputs.iter().find(|i| i.name == source.as_str());
        entry.map(|entry| archived_table(ledger, m, entry, source, options)).transpose()
    };
    let optional = OptionalInputs {
        corrections: optional_table(Source::Corrections, &options.corrections)?,
        refunds: optional_table(Source::Refunds, &options.refunds)?,
    };
    let cutoff =
        parse_date(&m.cutoff).ok_or_else(|| differs(format!("batch {}, cutoff {:?}", m.batch_id, m.cutoff)))?;
    let carry_in = carry_in(ledger, &batches[..index], m.service_year).map_err(|e| differs(e.to_string()))?;
    let spec = BatchSpec {
        batch_id: &m.batch_id,
        service_year: m.service_year,
        cutoff,
        ledger_format: m.ledger_format,
        prev_manifest_sha256: m.prev_manifest_sha256.as_deref(),
        sequence: m.sequence,
        tool_version: &m.tool_version,
        office: options.office.as_deref(),
    };
    let mut computed = compute(&policy, tables, optional, &spec, &carry_in)?;
    computed.signoff = m.signoff.as_ref().map(crate::signoff::stamp_of);
    // Compared with the stored files as they are rendered, so a replay needs
    // no more memory than the run did.
    let files = render(&computed, &Destination::compare_with(&batch.dir))?;

    let listed: Vec<&str> = m.outputs.iter().map(|o| o.name.as_str()).collect();
    let recomputed: Vec<&str> = files.iter().map(|f| f.name).collect();
    if listed != recomputed {
        return Err(differs(format!("batch {}, {MANIFEST}: outputs {listed:?}, expected {recomputed:?}", m.batch_id)));
    }
    for (file, entry) in files.iter().zip(&m.outputs) {
        if file.same_as_stored != Some(true) {
            return Err(where_it_differs(batch, &computed, file.name)?);
        }
        if entry.rows != file.rows {
            return Err(differs(format!(
                "batch {}, {MANIFEST}: {} listed with {:?} rows, it has {:?}",
                m.batch_id, file.name, entry.rows, file.rows
            )));
        }
        // The stored file equals the rendered one, whose checksum was taken
        // while rendering: no need to read the stored file again.
        check_checksum(&m.batch_id, entry, &file.sha256)?;
    }
    Ok(())
}

/// The difference of a stored file from the replay: rendered again, in
/// memory, to say where (the row and column of a table) it differs.
fn where_it_differs(batch: &CommittedBatch, computed: &Computed, name: &'static str) -> Result<Error> {
    let m = &batch.manifest;
    let stored = crate::direct_io::read_no_follow(&batch.dir.join(name))
        .map_err(|e| differs(format!("batch {}, {name}: {e}", m.batch_id)))?;
    let again = render_one(computed, name, &Destination::memory())?;
    let rendered = again.bytes.as_deref().unwrap_or_default();
    let checksums = format!("stored {}, recomputed {}", sha256_hex(&stored), again.sha256);
    let place = is_text(name)
        .then(|| first_difference(name, &stored, rendered))
        .flatten()
        .map_or_else(|| format!("file differs ({checksums})"), |place| format!("{place} ({checksums})"));
    Ok(differs(format!("batch {}, {name}, {place}", m.batch_id)))
}

fn archived_object(ledger: &Ledger, m: &Manifest, name: &str, sha256: &str) -> Result<Vec<u8>> {
    ledger.read_object(sha256).map_err(|e| differs(format!("batch {}, archived {name}: {e}", m.batch_id)))
}

/// How the batch's archived job file says to read its inputs (the five,
/// and the optional ones).
pub fn archived_options(ledger: &Ledger, m: &Manifest) -> Result<JobInputOptions> {
    let job_text = String::from_utf8(archived_object(ledger, m, "job", &m.job.sha256)?)
        .map_err(|_| differs(format!("batch {}, archived job is not UTF-8", m.batch_id)))?;
    input_options_of(&job_text).map_err(|e| differs(format!("batch {}, archived job: {e}", m.batch_id)))
}

/// One of the batch's archived inputs, read as the run read it.
pub fn archived_table(
    ledger: &Ledger,
    m: &Manifest,
    entry: &FileEntry,
    source: Source,
    options: &InputOptions,
) -> Result<Table> {
    let bytes = archived_object(ledger, m, source.as_str(), &entry.sha256)?;
    let label = PathBuf::from(entry.path.clone().unwrap_or_else(|| entry.name.clone()));
    parse_table(&label, &bytes, input_columns(source), options)
        .map_err(|e| differs(format!("batch {}, archived {}: {e}", m.batch_id, source.as_str())))
}

/// Checks that every output file of a batch still has the checksum its
/// manifest lists.
fn check_file_hashes(batch: &CommittedBatch) -> Result<()> {
    for entry in &batch.manifest.outputs {
        let path = batch.dir.join(&entry.name);
        let sha256 = sha256_file(&path)
            .map_err(|e| differs(format!("batch {}, {}: {e}", batch.manifest.batch_id, entry.name)))?;
        check_checksum(&batch.manifest.batch_id, entry, &sha256)?;
    }
    Ok(())
}

/// Whether an output whose content has checksum `sha256` is the file its
/// manifest entry lists.
fn check_checksum(batch_id: &str, entry: &FileEntry, sha256: &str) -> Result<()> {
    if sha256 != entry.sha256 {
        return Err(differs(format!(
            "batch {batch_id}, {}: checksum {sha256} differs from the manifest's {}",
            entry.name, entry.sha256
        )));
    }
    Ok(())
}

/// Whether an output is text, whose first differing row and column (or
/// line) a difference is named by; binary files (the workbook, Parquet)
/// are reported as differing files with both checksums.
fn is_text(name: &str) -> bool {
    [".csv", ".json", ".html"].iter().any(|ext| name.ends_with(ext))
}

/// Names the first differing row and column (CSV) or line (other text)
/// of two versions of a text output.
fn first_difference(name: &str, stored: &[u8], recomputed: &[u8]) -> Option<String> {
    let (stored, recomputed) = if name.ends_with(".csv") {
        (csv_rows(stored), csv_rows(recomputed))
    } else {
        let lines = |bytes: &[u8]| TextTable {
            header: vec!["line".into()],
            rows: String::from_utf8_lossy(bytes).lines().map(|l| vec![l.to_string()]).collect(),
        };
        (lines(stored), lines(recomputed))
    };
    if stored.header != recomputed.header {
        return Some(format!("header: stored {:?}, recomputed {:?}", stored.header, recomputed.header));
    }
    let rows = stored.rows.len().max(recomputed.rows.len());
    for row in 0..rows {
        let (s, r) = (stored.rows.get(row), recomputed.rows.get(row));
        let (Some(s), Some(r)) = (s, r) else {
            return Some(format!(
                "row {}: stored has {} rows, recomputed {}",
                row + 1,
                stored.rows.len(),
                recomputed.rows.len()
            ));
        };
        for (column, header) in stored.header.iter().enumerate() {
            let (sv, rv) = (s.get(column), r.get(column));
            if sv != rv {
                return Some(format!(
                    "row {}, column {header}: stored {:?}, recomputed {:?}",
                    row + 1,
                    sv.map_or("", String::as_str),
                    rv.map_or("", String::as_str)
                ));
            }
        }
    }
    None
}

/// A text file's rows of cells, with its header, to name where two differ.
struct TextTable {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn csv_rows(bytes: &[u8]) -> TextTable {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(body);
    let mut rows: Vec<Vec<String>> = reader
        .byte_records()
        .map(|r| match r {
            Ok(record) => record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect(),
            Err(e) => vec![format!("unreadable: {e}")],
        })
        .collect();
    let header = if rows.is_empty() { Vec::new() } else { rows.remove(0) };
    TextTable { header, rows }
}
