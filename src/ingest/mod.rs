//! Readers: an input file -> a `Table` of raw text records in canonical
//! column order. CSV (UTF-8 or GBK/GB18030), XLSX and Parquet all end in the
//! same `RecordBuilder`, so row numbering and malformed records mean the same
//! thing whatever the format (SPEC 2): records whose fields are all empty
//! after trimming are skipped and not numbered; `source_row` 1 is the first
//! data record after the header.

pub mod columns;
mod csv_reader;
mod parquet_reader;
mod xlsx_reader;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use columns::ColumnSpec;
pub use csv_reader::Encoding;

use crate::{Error, Result};

/// At most this many data records per input file (a limit on everything).
pub const MAX_RECORDS: usize = 50_000_000;

/// One data record: the canonical columns' raw text, or why it is malformed.
#[derive(Debug, Clone)]
pub struct Record {
    pub source_row: u64,
    /// Raw (untrimmed) text per canonical column, in one buffer; "" where the
    /// file lacks an optional column. Empty when the record is malformed.
    pub fields: csv::StringRecord,
    pub malformed: Option<String>,
}

impl Record {
    /// Trimmed text of canonical column `index`.
    pub fn get(&self, index: usize) -> &str {
        self.fields.get(index).map_or("", str::trim)
    }
}

#[derive(Debug)]
pub struct Table {
    pub path: PathBuf,
    pub sha256: String,
    pub records: Vec<Record>,
}

/// How the job says to read one input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputOptions {
    pub encoding: Encoding,
    /// XLSX: the sheet to read; the first one when absent.
    pub sheet: Option<String>,
    /// Extra header names: (header as in the file, canonical column).
    pub columns: Vec<(String, String)>,
}

/// Reads a whole input file and hashes it.
pub fn read_table(path: &Path, columns: &[ColumnSpec], options: &InputOptions) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::unreadable(path, e))?;
    parse_table(path, &bytes, columns, options)
}

/// Parses the bytes of an input file; `path` names it in messages. The
/// format is told by the content, not the name: Parquet starts with `PAR1`,
/// a workbook with a zip or OLE signature, anything else is CSV.
pub fn parse_table(path: &Path, bytes: &[u8], columns: &[ColumnSpec], options: &InputOptions) -> Result<Table> {
    let records = if bytes.starts_with(b"PAR1") {
        parquet_reader::read_parquet(path, bytes, columns, options)?
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        xlsx_reader::read_workbook(path, bytes, columns, options)?
    } else {
        csv_reader::read_csv(path, bytes, columns, options)?
    };
    Ok(Table { path: path.to_path_buf(), sha256: sha256_hex(bytes), records })
}

/// `sha256:<hex>`, the checksum form used everywhere in the manifest.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Headers match after removing white space, case-insensitively.
fn header_key(name: &str) -> String {
    name.chars().filter(|c| !c.is_whitespace() && *c != '\u{feff}').flat_map(char::to_lowercase).collect()
}

/// A data row as a reader found it: every column of the row, in file order.
pub(crate) trait RawRow {
    fn len(&self) -> usize;
    /// Whether every field is empty after trimming.
    fn is_blank(&self) -> bool;
    /// The text of column `index`, or why it cannot be read.
    fn text(&self, index: usize) -> std::result::Result<std::borrow::Cow<'_, str>, String>;
}

impl RawRow for Vec<String> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn is_blank(&self) -> bool {
        self.iter().all(|f| f.trim().is_empty())
    }
    fn text(&self, index: usize) -> std::result::Result<std::borrow::Cow<'_, str>, String> {
        Ok(std::borrow::Cow::Borrowed(self[index].as_str()))
    }
}

/// Numbers rows, skips blank ones, checks widths and projects each row onto
/// the canonical columns.
pub(crate) struct RecordBuilder<'a> {
    path: &'a Path,
    header_len: usize,
    mapping: Vec<Option<usize>>,
    records: Vec<Record>,
}

impl<'a> RecordBuilder<'a> {
    pub fn new(path: &'a Path, header: &[String], columns: &[ColumnSpec], options: &InputOptions) -> Result<Self> {
        let mapping = map_header(path, header, columns, options)?;
        Ok(RecordBuilder { path, header_len: header.len(), mapping, records: Vec::new() })
    }

    pub fn push(&mut self, row: &impl RawRow) -> Result<()> {
        if row.is_blank() {
            return Ok(());
        }
        let source_row = self.next_row()?;
        let record = if row.len() != self.header_len {
            malformed(
                source_row,
                format!(
                    "{} 个字段，表头有 {} 个 ({} fields, the header has {})",
                    row.len(),
                    self.header_len,
                    row.len(),
                    self.header_len
                ),
            )
        } else {
            match self.project(row) {
                Ok(fields) => Record { source_row, fields, malformed: None },
                Err(why) => malformed(source_row, why),
            }
        };
        self.records.push(record);
        Ok(())
    }

    /// The row's canonical columns in one buffer; only those are decoded.
    fn project(&self, row: &impl RawRow) -> std::result::Result<csv::StringRecord, String> {
        let mut fields = csv::StringRecord::with_capacity(64, self.mapping.len());
        for column in &self.mapping {
            match column {
                None => fields.push_field(""),
                Some(index) => fields.push_field(&row.text(*index)?),
            }
        }
        Ok(fields)
    }

    fn next_row(&self) -> Result<u64> {
        if self.records.len() >= MAX_RECORDS {
            return Err(Error::Input(format!(
                "{}: 超过 {MAX_RECORDS} 行上限 (more than {MAX_RECORDS} records)",
                self.path.display()
            )));
        }
        Ok(self.records.len() as u64 + 1)
    }

    pub fn finish(self) -> Vec<Record> {
        self.records
    }
}

/// Maps the header cells of a file to canonical columns. Returns, per
/// canonical column, the file column index it comes from.
fn map_header(
    path: &Path,
    header: &[String],
    columns: &[ColumnSpec],
    options: &InputOptions,
) -> Result<Vec<Option<usize>>> {
    for (_, canonical) in &options.columns {
        if !columns.iter().any(|c| c.name == canonical) {
            return Err(Error::Input(format!(
                "{}: 列映射指向未知列 {canonical} (column mapping names unknown column {canonical})",
                path.display()
            )));
        }
    }
    let mut mapping = vec![None; columns.len()];
    for (file_index, cell) in header.iter().enumerate() {
        let key = header_key(cell);
        let mapped = options.columns.iter().find(|(name, _)| header_key(name) == key).map(|(_, c)| c.as_str());
        let canonical = match mapped {
            Some(name) => columns.iter().position(|c| c.name == name),
            None => columns.iter().position(|c| c.matches(&key)),
        };
        let Some(canonical) = canonical else { continue };
        if let Some(first) = mapping[canonical] {
            let name = columns[canonical].name;
            return Err(Error::Input(format!(
                "{}: 列 {name} 出现两次（第 {} 列和第 {} 列）(column {name} appears twice, columns {} and {})",
                path.display(),
                first + 1,
                file_index + 1,
                first + 1,
                file_index + 1
            )));
        }
        mapping[canonical] = Some(file_index);
    }
    let missing: Vec<&ColumnSpec> =
        columns.iter().zip(&mapping).filter(|(c, m)| c.required && m.is_none()).map(|(c, _)| c).collect();
    if !missing.is_empty() {
        let zh: Vec<&str> = missing.iter().map(|c| c.aliases.first().copied().unwrap_or(c.name)).collect();
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

fn malformed(source_row: u64, why: String) -> Record {
    Record { source_row, fields: csv::StringRecord::new(), malformed: Some(why) }
}

/// The error for a file with no header row.
pub(crate) fn empty_file(path: &Path, what_zh: &str, what_en: &str) -> Error {
    Error::Input(format!("{}: {what_zh}，没有表头 ({what_en}: no header row)", path.display()))
}
