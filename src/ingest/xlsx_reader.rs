//! Workbooks (XLSX, and XLS through the same reader): the first sheet or the
//! one the job names. Cells become text as rules 2.6 says: a number is the
//! shortest decimal text that round-trips it, a date cell is its date.

use std::io::Cursor;
use std::path::Path;

use calamine::{Data, Reader, open_workbook_auto_from_rs};

use super::{ColumnSpec, InputOptions, RecordBuilder, Rows, empty_file};
use crate::{Error, Result};

pub fn read_workbook(path: &Path, bytes: &[u8], columns: &[ColumnSpec], options: &InputOptions) -> Result<Rows> {
    let not_a_workbook = |e: &dyn std::fmt::Display| {
        Error::Input(format!("{}: 不是可读取的 Excel 工作簿 (not a readable workbook): {e}", path.display()))
    };
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
    let range = workbook.worksheet_range(&sheet).map_err(|e| not_a_workbook(&e))?;
    let mut rows = range.rows().map(|row| row.iter().map(cell_text).collect::<Vec<String>>());
    let header = loop {
        match rows.next() {
            Some(row) if row.iter().all(|c| c.trim().is_empty()) => continue,
            Some(mut row) => {
                let width = row.iter().rposition(|c| !c.trim().is_empty()).map_or(0, |i| i + 1);
                row.truncate(width);
                break row;
            }
            None => return Err(empty_file(path, &format!("工作表 {sheet} 为空"), &format!("sheet {sheet} is empty"))),
        }
    };
    let mut builder = RecordBuilder::new(path, &header, columns, options, (0, 0))?;
    for mut row in rows {
        // Cells beyond the header count only when they hold something.
        let width = row.iter().rposition(|c| !c.trim().is_empty()).map_or(0, |i| i + 1).max(header.len());
        row.truncate(width);
        builder.push(&row)?;
    }
    Ok(builder.finish())
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
