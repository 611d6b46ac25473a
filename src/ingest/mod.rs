//! Readers: an input file -> a `Table` of raw text records in canonical
//! column order. CSV (UTF-8 or GBK/GB18030), XLSX and Parquet all end in the
//! same `RecordBuilder`, so row numbering and malformed records mean the same
//! thing whatever the format (rules 2): records whose fields are all empty
//! after trimming are skipped and not numbered; `source_row` 1 is the first
//! data record after the header.

mod contain;
mod csv_reader;
mod parquet_reader;
mod xlsx_reader;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::checksum::sha256_hex;
use crate::record::Record;

pub use crate::schema::input::ColumnSpec;
pub use csv_reader::Encoding;

use crate::{Error, Result};

/// At most this many data records per input file (a limit on everything).
pub const MAX_RECORDS: usize = 50_000_000;

/// The data records of one file: the canonical columns' raw (untrimmed)
/// text of every record in a few large buffers (one per piece the file was
/// parsed in), so a million records are a handful of allocations, not three
/// million. "" where the file lacks an optional column.
#[derive(Debug, Default)]
pub struct Rows {
    pieces: Vec<Piece>,
    /// Per piece: the index of its first record.
    firsts: Vec<usize>,
}

/// The records of one consecutive piece of a file.
#[derive(Debug, Default)]
pub(crate) struct Piece {
    width: usize,
    text: String,
    /// Per record: where its text starts in `text`.
    starts: Vec<usize>,
    /// Per record, `width` field ends relative to its start (zeros for a
    /// malformed record).
    ends: Vec<u32>,
    /// Malformed records: (index in the piece, why), ascending.
    malformed: Vec<(usize, String)>,
}

impl Rows {
    /// The records of consecutive pieces of one file, numbered on from one
    /// piece to the next; none if there are more than [`MAX_RECORDS`].
    pub(crate) fn concat(pieces: Vec<Piece>) -> Option<Rows> {
        let mut firsts = Vec::with_capacity(pieces.len());
        let mut records = 0;
        for piece in &pieces {
            firsts.push(records);
            records += piece.starts.len();
        }
        (records <= MAX_RECORDS).then_some(Rows { pieces, firsts })
    }

    fn len(&self) -> usize {
        self.pieces.iter().map(|p| p.starts.len()).sum()
    }

    /// Record `index` (0-based; its source_row is `index + 1`).
    fn record(&self, index: usize) -> Record<'_> {
        let at = self.firsts.partition_point(|&first| first <= index) - 1;
        self.pieces[at].record(index - self.firsts[at], index as u64 + 1)
    }

    /// Every record, in file order.
    fn records(&self) -> impl ExactSizeIterator<Item = Record<'_>> + '_ {
        (0..self.len()).map(|index| self.record(index))
    }
}

impl Piece {
    fn record(&self, index: usize, source_row: u64) -> Record<'_> {
        let start = self.starts[index];
        let end = self.starts.get(index + 1).copied().unwrap_or(self.text.len());
        let malformed =
            self.malformed.binary_search_by_key(&index, |(i, _)| *i).ok().map(|at| self.malformed[at].1.as_str());
        Record::new(
            source_row,
            &self.text[start..end],
            &self.ends[index * self.width..(index + 1) * self.width],
            malformed,
        )
    }
}

#[derive(Debug)]
pub struct Table {
    pub path: PathBuf,
    pub sha256: String,
    rows: Rows,
    len: usize,
}

impl Table {
    /// Number of data records.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Record `index` (0-based; its source_row is `index + 1`).
    pub fn record(&self, index: usize) -> Record<'_> {
        self.rows.record(index)
    }

    pub fn records(&self) -> impl ExactSizeIterator<Item = Record<'_>> + '_ {
        self.rows.records()
    }
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
    let bytes = read_whole(path).map_err(|e| Error::unreadable(path, e))?;
    parse_table(path, &bytes, columns, options)
}

/// Parts of a large file read side by side.
const READ_PART: usize = 8 << 20;

/// Reads a whole file. A large one is read in parts side by side, each
/// into its own part of one buffer: on the virtual machines this runs on,
/// first touching fresh memory costs more than copying the bytes, and a
/// single reader would take every page fault of a gigabyte file alone.
fn read_whole(path: &Path) -> std::io::Result<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::io::Read;
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(path)?;
        let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
        if len > READ_PART {
            let mut bytes = vec![0u8; len];
            bytes
                .par_chunks_mut(READ_PART)
                .enumerate()
                .try_for_each(|(k, part)| file.read_exact_at(part, (k * READ_PART) as u64))?;
            // Whatever was appended since the length was taken.
            let mut rest = &file;
            std::io::Seek::seek(&mut rest, std::io::SeekFrom::Start(len as u64))?;
            rest.read_to_end(&mut bytes)?;
            return Ok(bytes);
        }
    }
    std::fs::read(path)
}

/// Parses the bytes of an input file; `path` names it in messages. The
/// format is told by the content, not the name: Parquet starts with `PAR1`,
/// a workbook with a zip or OLE signature, anything else is CSV.
pub fn parse_table(path: &Path, bytes: &[u8], columns: &[ColumnSpec], options: &InputOptions) -> Result<Table> {
    // The checksum is computed while the file is parsed.
    let (sha256, rows) = rayon::join(
        || sha256_hex(bytes),
        || {
            if bytes.starts_with(b"PAR1") {
                contained(path, || parquet_reader::read_parquet(path, bytes, columns, options))
            } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
                contained(path, || xlsx_reader::read_workbook(path, bytes, columns, options))
            } else {
                csv_reader::read_csv(path, bytes, columns, options)
            }
        },
    );
    let rows = rows?;
    Ok(Table { path: path.to_path_buf(), sha256, len: rows.len(), rows })
}

/// Runs a third-party parser; a panic in it is a damaged file (exit 2
/// naming it), not a crash.
fn contained(path: &Path, read: impl FnOnce() -> Result<Rows>) -> Result<Rows> {
    contain::quietly(read).unwrap_or_else(|why| {
        Err(Error::Input(format!("{}: 文件已损坏，无法读取 (a damaged file, cannot be read: {why})", path.display())))
    })
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
    rows: Piece,
}

impl<'a> RecordBuilder<'a> {
    /// `expected` sizes the buffers: about how many records and bytes of text are coming.
    pub fn new(
        path: &'a Path,
        header: &[String],
        columns: &[ColumnSpec],
        options: &InputOptions,
        expected: (usize, usize),
    ) -> Result<Self> {
        let mapping = map_header(path, header, columns, options)?;
        let (records, text) = expected;
        let rows = Piece {
            width: mapping.len(),
            text: String::with_capacity(text),
            starts: Vec::with_capacity(records),
            ends: Vec::with_capacity(records * mapping.len()),
            malformed: Vec::new(),
        };
        Ok(RecordBuilder { path, header_len: header.len(), mapping, rows })
    }

    pub fn push(&mut self, row: &impl RawRow) -> Result<()> {
        if row.is_blank() {
            return Ok(());
        }
        let index = self.rows.starts.len();
        if index >= MAX_RECORDS {
            return Err(too_many_records(self.path));
        }
        self.rows.starts.push(self.rows.text.len());
        if row.len() != self.header_len {
            let why = format!(
                "{} 个字段，表头有 {} 个 ({} fields, the header has {})",
                row.len(),
                self.header_len,
                row.len(),
                self.header_len
            );
            self.malformed(index, why);
            return Ok(());
        }
        if let Err(why) = self.project(row) {
            self.malformed(index, why);
        }
        Ok(())
    }

    /// Appends the row's canonical columns; only those are decoded.
    fn project(&mut self, row: &impl RawRow) -> std::result::Result<(), String> {
        let start = self.rows.text.len();
        for column in &self.mapping {
            if let Some(index) = column {
                self.rows.text.push_str(crate::schema::input::cut_field(&row.text(*index)?));
            }
            let end = u32::try_from(self.rows.text.len() - start)
                .map_err(|_| "记录超过 4 GiB (record longer than 4 GiB)".to_string())?;
            self.rows.ends.push(end);
        }
        Ok(())
    }

    /// Records `index` as malformed: no text, all fields empty.
    fn malformed(&mut self, index: usize, why: String) {
        let rows = &mut self.rows;
        rows.text.truncate(rows.starts[index]);
        rows.ends.truncate(index * rows.width);
        rows.ends.resize((index + 1) * rows.width, 0);
        rows.malformed.push((index, why));
    }

    pub fn finish(self) -> Rows {
        Rows { pieces: vec![self.rows], firsts: vec![0] }
    }

    /// The records so far as one piece of a file parsed in pieces.
    pub fn finish_piece(self) -> Piece {
        self.rows
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

pub(crate) fn too_many_records(path: &Path) -> Error {
    Error::Input(format!("{}: 超过 {MAX_RECORDS} 行上限 (more than {MAX_RECORDS} records)", path.display()))
}

/// The error for a file with no header row.
pub(crate) fn empty_file(path: &Path, what_zh: &str, what_en: &str) -> Error {
    Error::Input(format!("{}: {what_zh}，没有表头 ({what_en}: no header row)", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file larger than one part reads back whole and in order.
    #[test]
    fn a_large_file_read_in_parts_is_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large.csv");
        let bytes: Vec<u8> = (0..2 * READ_PART + 12_345).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_whole(&path).unwrap() == bytes);
    }
}
