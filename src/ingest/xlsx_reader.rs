//! Workbooks (XLSX, and XLS through the same reader): the first sheet or the
//! one the job names. Cells become text as rules 2.6 says: a number is the
//! shortest decimal text that round-trips it, a date cell is its date.

use std::io::Cursor;
use std::path::Path;

use std::collections::BTreeMap;

use calamine::{Data, DataRef, Reader, Sheets, open_workbook_auto_from_rs};

use super::{ColumnSpec, InputOptions, RawRow, RecordBuilder, Rows, empty_file};
use crate::schema::input::cut_field;
use crate::{Error, Result};

pub fn read_workbook(path: &Path, bytes: &[u8], columns: &[ColumnSpec], options: &InputOptions) -> Result<Rows> {
    let not_a_workbook = |e: &dyn std::fmt::Display| {
        Error::Input(format!("{}: 不是可读取的 Excel 工作簿 (not a readable workbook): {e}", path.display()))
    };
    refuse_oversized(path, bytes)?;
    let mut workbook = open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| not_a_workbook(&e))?;
    let names = workbook.sheet_names();
    let sheet = match &options.sheet {
        Some(wanted) => names.iter().find(|n| *n == wanted).cloned().ok_or_else(|| {
            Error::Input(format!(
                "{}: 没有工作表 {wanted} (no sheet named {wanted}; sheets: {})",
                path.display(),
                names.join(", ")
            ))
        })?,
        None => names.first().cloned().ok_or_else(|| empty_file(path, "工作簿为空", "empty workbook"))?,
    };
    // XLSX and XLSB sheets are read cell by cell: a sheet's cells are held
    // sparsely and within limits, so a tiny file naming a far-away cell
    // (XFD1048576) cannot make the reader lay out a grid of billions of
    // cells. XLS (at most 65,536 × 256 cells) and ODS are read whole, then
    // kept the same way; an ODS file's declared grid is measured before
    // it is read ([`ods_grid_cells`]).
    let mut cells = SparseSheet::new(path, bytes.len());
    match &mut workbook {
        Sheets::Xlsx(book) => {
            let mut reader = book.worksheet_cells_reader(&sheet).map_err(|e| not_a_workbook(&e))?;
            while let Some(cell) = reader.next_cell().map_err(|e| not_a_workbook(&e))? {
                cells.add(cell.get_position(), cell_ref_text(cell.get_value()))?;
            }
        }
        Sheets::Xlsb(book) => {
            let mut reader = book.worksheet_cells_reader(&sheet).map_err(|e| not_a_workbook(&e))?;
            while let Some(cell) = reader.next_cell().map_err(|e| not_a_workbook(&e))? {
                cells.add(cell.get_position(), cell_ref_text(cell.get_value()))?;
            }
        }
        other => {
            let range = other.worksheet_range(&sheet).map_err(|e| not_a_workbook(&e))?;
            let (top, left) = range.start().unwrap_or((0, 0));
            for (row, column, value) in range.used_cells() {
                cells.add((top + row as u32, left + column as u32), cut_field(&cell_text(value)).to_string())?;
            }
        }
    }
    drop(workbook);
    let mut rows = cells.into_rows();
    let header = loop {
        match rows.next() {
            Some(row) if row.is_blank() => continue,
            Some(row) => break row.header(),
            None => return Err(empty_file(path, &format!("工作表 {sheet} 为空"), &format!("sheet {sheet} is empty"))),
        }
    };
    let mut builder = RecordBuilder::new(path, &header, columns, options, (0, 0))?;
    for mut row in rows {
        // Cells beyond the header count only when they hold something.
        row.width = row.width.max(header.len());
        builder.push(&row)?;
    }
    Ok(builder.finish())
}

/// A zipped workbook is measured before calamine lays it out: what its
/// parts expand to, and for ODS the cells its repeat counts declare.
fn refuse_oversized(path: &Path, bytes: &[u8]) -> Result<()> {
    if expanded_beyond(bytes, text_budget(bytes.len())) {
        return Err(Error::Input(format!(
            "{}: 工作簿解压后的内容超过上限（文件大小的 64 倍加 256 MiB） (the workbook expands to more than 64 times its \
             size plus 256 MiB of XML, or declares more strings than that could hold; refused before reading it)",
            path.display()
        )));
    }
    if ods_grid_cells(bytes).is_some_and(|cells| cells > grid_budget(bytes.len())) {
        return Err(Error::Input(format!(
            "{}: ODS 工作表声明的范围超过上限 (the ODS sheets declare more cells than a file of this size can hold in a real export)",
            path.display()
        )));
    }
    Ok(())
}

/// Text a workbook may expand to: far more than real exports do (their
/// shared strings make the text at most a few times the file), far less
/// than a crafted file could ask for.
fn text_budget(file_bytes: usize) -> usize {
    file_bytes.saturating_mul(64).saturating_add(256 << 20)
}

/// Cells calamine may lay out for an ODS file: the same budget, at the 32
/// bytes a cell takes.
fn grid_budget(file_bytes: usize) -> u64 {
    text_budget(file_bytes) as u64 / 32
}

/// The cells calamine lays out reading an ODS file (it reads every sheet
/// when it opens the file): for each sheet, its rows up to the last with
/// something in it, repeats counted, times its widest such row. Streamed
/// from `content.xml` without keeping it. `None`: not an ODS file (or not a
/// readable one, which calamine then reports).
fn ods_grid_cells(bytes: &[u8]) -> Option<u64> {
    use quick_xml::events::Event;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    let content = archive.by_name("content.xml").ok()?;
    let mut reader = quick_xml::Reader::from_reader(std::io::BufReader::new(content));
    let repeats = |e: &quick_xml::events::BytesStart, name: &str| -> u64 {
        let attr = e.try_get_attribute(name).ok().flatten();
        attr.and_then(|a| a.value.trim().parse().ok()).unwrap_or(1).max(1)
    };
    // Per sheet: rows so far, rows up to the last used, widest used row;
    // per row: its repeat count, columns so far, columns up to the last used.
    let (mut rows, mut used_rows, mut width) = (0u64, 0u64, 0u64);
    let (mut row_repeat, mut columns, mut used_columns) = (1u64, 0u64, 0u64);
    let mut in_cell = false;
    let mut total = 0u64;
    // A table inside a cell (ODS allows nesting) is measured on its own and
    // added; the table around it goes on where it was.
    let mut outer: Vec<(u64, u64, u64, u64, u64, u64)> = Vec::new();
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).ok()?;
        match &event {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "table:table" if matches!(event, Event::Start(_)) => {
                    outer.push((rows, used_rows, width, row_repeat, columns, used_columns));
                    (rows, used_rows, width) = (0, 0, 0);
                    in_cell = false;
                }
                "table:table-row" => {
                    (row_repeat, columns, used_columns) = (repeats(e, "table:number-rows-repeated"), 0, 0);
                    if matches!(event, Event::Empty(_)) {
                        rows = rows.saturating_add(row_repeat);
                    }
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    columns = columns.saturating_add(repeats(e, "table:number-columns-repeated"));
                    let valued = e.try_get_attribute("office:value-type").ok().flatten().is_some();
                    if valued {
                        used_columns = columns;
                    }
                    in_cell = matches!(event, Event::Start(_));
                }
                _ if in_cell => used_columns = columns,
                _ => {}
            },
            Event::End(e) => match e.name().as_ref() {
                "table:table-cell" | "table:covered-table-cell" => in_cell = false,
                "table:table-row" => {
                    rows = rows.saturating_add(row_repeat);
                    if used_columns > 0 {
                        used_rows = rows;
                        width = width.max(used_columns);
                    }
                }
                "table:table" => {
                    total = total.saturating_add(used_rows.min(1 << 20).saturating_mul(width.min(1 << 14)));
                    let (r, u, w, repeat, c, used) = outer.pop().unwrap_or_default();
                    (rows, used_rows, width, row_repeat, columns, used_columns) = (r, u, w, repeat, c, used);
                    // The table filled the cell around it.
                    in_cell = !outer.is_empty();
                    used_columns = if in_cell { columns } else { used_columns };
                }
                _ => {}
            },
            Event::Eof => return Some(total),
            _ => {}
        }
        buf.clear();
    }
}

/// Whether a zipped workbook (XLSX, XLSB, ODS) expands to more than
/// `budget` bytes, counted by streaming every part without keeping it, or
/// declares more shared strings (`uniqueCount`, which calamine reserves
/// room for up front) than `budget` bytes could hold. Not a zip: `false`
/// (calamine reads it, or says what is wrong).
fn expanded_beyond(bytes: &[u8], budget: usize) -> bool {
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(bytes)) else { return false };
    let mut left = budget as u64;
    for index in 0..archive.len() {
        let Ok(mut part) = archive.by_index(index) else { return false };
        let name = part.name().map(|n| n.into_owned()).unwrap_or_default();
        let mut counted = std::io::Read::take(&mut part, left + 1);
        if name.ends_with("sharedStrings.xml")
            && declared_strings(&mut counted).is_some_and(|strings| strings.saturating_mul(32) > budget as u64)
        {
            return true;
        }
        // A part that cannot be inflated is calamine's to report.
        let _ = std::io::copy(&mut counted, &mut std::io::sink());
        let read = (left + 1).saturating_sub(counted.limit());
        if read > left {
            return true;
        }
        left -= read;
    }
    false
}

/// The `uniqueCount` the shared strings' `<sst>` element declares, read
/// from the start of the part (what is read is counted by the caller).
fn declared_strings(part: &mut impl std::io::Read) -> Option<u64> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(std::io::BufReader::new(part));
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sst" => {
                let count = e.try_get_attribute("uniqueCount").ok().flatten()?;
                return count.value.trim().parse().ok();
            }
            Event::Eof => return None,
            _ => buf.clear(),
        }
    }
}

/// Columns kept per row: a sheet's cells further right count only as
/// "something beyond the header" (which makes a data row malformed).
pub const MAX_SHEET_COLUMNS: u32 = 1024;

/// The cells of a sheet with something in them, by row, each row's cells in
/// column order; at most [`MAX_SHEET_COLUMNS`] kept per row, each cut to the
/// field length limit, and all of them together within a budget of text
/// proportional to the file's size.
struct SparseSheet<'p> {
    path: &'p Path,
    rows: BTreeMap<u32, SparseRow>,
    /// The leftmost column holding something: columns count from there.
    left: u32,
    text_bytes: usize,
    text_budget: usize,
}

/// One row of a sheet: its kept cells (column, text) and its width — one
/// past its rightmost non-blank cell, kept or not (0: a blank row).
#[derive(Debug, Default)]
struct SparseRow {
    cells: Vec<(u32, String)>,
    width: usize,
}

impl<'p> SparseSheet<'p> {
    fn new(path: &'p Path, file_bytes: usize) -> SparseSheet<'p> {
        SparseSheet { path, rows: BTreeMap::new(), left: u32::MAX, text_bytes: 0, text_budget: text_budget(file_bytes) }
    }

    /// A cell's text. White space alone is kept as written (the reports show
    /// raw values) but does not widen its row: a row of white space only is
    /// blank, as rules 2 says.
    fn add(&mut self, (row, column): (u32, u32), text: String) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.left = self.left.min(column);
        let entry = self.rows.entry(row).or_default();
        if !text.trim().is_empty() {
            entry.width = entry.width.max(column as usize + 1);
        }
        if column < MAX_SHEET_COLUMNS {
            self.text_bytes += text.len() + 32;
            if self.text_bytes > self.text_budget {
                return Err(Error::Input(format!(
                    "{}: 工作簿展开后超过上限 (the workbook expands to more than {} MiB of cell text, beyond what a file of this size can hold in a real export)",
                    self.path.display(),
                    self.text_budget >> 20
                )));
            }
            entry.cells.push((column, text));
        }
        Ok(())
    }

    /// The rows in order, columns counted from the leftmost one used.
    fn into_rows(self) -> impl Iterator<Item = SparseRow> {
        let left = if self.left == u32::MAX { 0 } else { self.left };
        self.rows.into_values().map(move |mut row| {
            row.cells.sort_by_key(|(column, _)| *column);
            for (column, _) in &mut row.cells {
                *column -= left;
            }
            row.width = row.width.saturating_sub(left as usize);
            row
        })
    }
}

impl SparseRow {
    fn header(&self) -> Vec<String> {
        let mut header = vec![String::new(); self.width.min(MAX_SHEET_COLUMNS as usize)];
        for (column, text) in &self.cells {
            if let Some(cell) = header.get_mut(*column as usize) {
                cell.clone_from(text);
            }
        }
        header
    }
}

impl RawRow for SparseRow {
    fn len(&self) -> usize {
        self.width
    }
    /// A row exists only once something non-blank is in it, kept or not.
    fn is_blank(&self) -> bool {
        self.width == 0
    }
    fn text(&self, index: usize) -> std::result::Result<std::borrow::Cow<'_, str>, String> {
        let found = self.cells.binary_search_by_key(&(index as u32), |(column, _)| *column);
        Ok(std::borrow::Cow::Borrowed(found.map_or("", |at| self.cells[at].1.as_str())))
    }
}

/// The text of a cell read cell by cell, as [`cell_text`] reads it; a
/// string is cut to the field length limit before it is copied.
fn cell_ref_text(cell: &DataRef) -> String {
    match cell {
        DataRef::SharedString(text) => cut_field(text).to_string(),
        DataRef::String(text) | DataRef::DateTimeIso(text) | DataRef::DurationIso(text) => cut_field(text).to_string(),
        DataRef::Empty => String::new(),
        DataRef::Int(value) => cell_text(&Data::Int(*value)),
        DataRef::Float(value) => cell_text(&Data::Float(*value)),
        DataRef::Bool(value) => cell_text(&Data::Bool(*value)),
        DataRef::DateTime(value) => cell_text(&Data::DateTime(*value)),
        DataRef::Error(error) => cell_text(&Data::Error(error.clone())),
    }
}

/// The text of a cell, as rules 2.6 reads XLSX cells.
pub fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => text.clone(),
        Data::Int(value) => value.to_string(),
        Data::Float(value) => shortest_text(*value),
        Data::Bool(value) => value.to_string(),
        Data::DateTime(value) if value.is_datetime() => {
            let (year, month, day, ..) = value.to_ymd_hms_milli();
            format!("{year:04}-{month:02}-{day:02}")
        }
        Data::DateTime(value) => shortest_text(value.as_f64()),
        Data::Error(error) => format!("{error}"),
    }
}

/// The shortest decimal text that reads back as the same `f64` (Rust's
/// `Display` for floats): 12345.67 -> "12345.67", 2019.0 -> "2019".
pub fn shortest_text(value: f64) -> String {
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_their_shortest_text() {
        assert_eq!(shortest_text(12345.67), "12345.67");
        assert_eq!(shortest_text(2019.0), "2019");
        assert_eq!(shortest_text(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(shortest_text(1e-7), "0.0000001");
        assert_eq!(cell_text(&Data::Bool(true)), "true");
        assert_eq!(cell_text(&Data::Int(-3)), "-3");
    }
}
