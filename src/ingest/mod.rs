//! Readers: an input file -> a `Table` of raw text records in canonical
//! column order. Formats and encodings slot in here; everything after sees
//! only `Table`. Row numbering (SPEC 2): records whose fields are all empty
//! after trimming are skipped and not numbered; `source_row` 1 is the first
//! data record after the header.

pub mod columns;
mod csv_reader;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use columns::ColumnSpec;

use crate::{Error, Result};

/// At most this many data records per input file (a limit on everything).
pub const MAX_RECORDS: usize = 50_000_000;

/// One data record: the canonical columns' raw text, or why it is malformed.
#[derive(Debug, Clone)]
pub struct Record {
    pub source_row: u64,
    /// Raw (untrimmed) text per canonical column; "" where the file lacks an
    /// optional column. Empty when the record is malformed.
    pub fields: Vec<String>,
    pub malformed: Option<String>,
}

impl Record {
    /// Trimmed text of canonical column `index`.
    pub fn get(&self, index: usize) -> &str {
        self.fields.get(index).map_or("", |f| f.trim())
    }
}

#[derive(Debug)]
pub struct Table {
    pub path: PathBuf,
    pub sha256: String,
    pub records: Vec<Record>,
}

/// Reads a whole input file and hashes it.
pub fn read_table(path: &Path, columns: &[ColumnSpec]) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::unreadable(path, e))?;
    parse_table(path, &bytes, columns)
}

/// Parses the bytes of an input file; `path` names it in messages.
pub fn parse_table(path: &Path, bytes: &[u8], columns: &[ColumnSpec]) -> Result<Table> {
    let records = csv_reader::read_csv(path, bytes, columns)?;
    Ok(Table {
        path: path.to_path_buf(),
        sha256: sha256_hex(bytes),
        records,
    })
}

/// `sha256:<hex>`, the checksum form used everywhere in the manifest.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Maps the header cells of a file to canonical columns. Returns, per
/// canonical column, the file column index it comes from.
pub fn map_header(
    path: &Path,
    header: &[String],
    columns: &[ColumnSpec],
) -> Result<Vec<Option<usize>>> {
    let mut mapping = vec![None; columns.len()];
    for (file_index, cell) in header.iter().enumerate() {
        let name = cell.trim().trim_start_matches('\u{feff}').trim();
        let Some(canonical) = columns.iter().position(|c| c.matches(name)) else {
            continue;
        };
        if let Some(first) = mapping[canonical] {
            return Err(Error::Input(format!(
                "{}: 列 {} 出现两次（第 {} 列和第 {} 列）(column {} appears twice, columns {} and {})",
                path.display(),
                columns[canonical].name,
                first + 1,
                file_index + 1,
                columns[canonical].name,
                first + 1,
                file_index + 1
            )));
        }
        mapping[canonical] = Some(file_index);
    }
    let missing: Vec<&ColumnSpec> = columns
        .iter()
        .zip(&mapping)
        .filter(|(c, m)| c.required && m.is_none())
        .map(|(c, _)| c)
        .collect();
    if !missing.is_empty() {
        let zh: Vec<&str> = missing
            .iter()
            .map(|c| c.aliases.first().copied().unwrap_or(c.name))
            .collect();
        let en: Vec<&str> = missing.iter().map(|c| c.name).collect();
        return Err(Error::Input(format!(
            "{}: 缺少必填列 {} (missing required column {})",
            path.display(),
            zh.join("、"),
            en.join(", ")
        )));
    }
    Ok(mapping)
}
