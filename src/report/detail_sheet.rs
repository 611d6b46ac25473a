//! The detail sheets of a workbook from ledger format 4 on (结算明细,
//! 异常清单, 配额使用), laid out to be read and printed without fixing:
//! Chinese headings over the English column names (the names auditors map
//! to the CSV and Parquet files), dates as date cells, each column as wide
//! as its widest value (a CJK character counted double; text wider than
//! [`TEXT_WIDTH_MAX`] wraps within that width), a filter on the
//! header, the header frozen on screen and repeated on every printed page
//! (A4 landscape, one page wide, 第 x 页 共 y 页). A sheet that shows only
//! part of the batch says so in its first row. Rows are written in order,
//! so the sheets are written in rust_xlsxwriter's constant-memory mode.

use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatBorder, Workbook, Worksheet, XlsxError};

use crate::rules::money::format_money;
use crate::schema::output::{Cell, Column};

type XlsxResult<T> = std::result::Result<T, XlsxError>;

/// The widest a text column grows; a longer text wraps within it.
pub const TEXT_WIDTH_MAX: usize = 60;

/// The most table rows a readable detail sheet prints: beyond them the
/// print area stops (all rows stay on screen, in the filter and in the
/// CSV and Parquet files), so that printing a workbook never runs to
/// thousands of pages by accident; the sheet says so in its first rows.
pub const PRINT_ROWS_MAX: usize = 1_000;

/// Print footer of every detail sheet.
const PAGE_FOOTER: &str = "&C&9第 &P 页 共 &N 页";

pub struct DetailFormats {
    /// Ledger format 5 on: black text, red only for negative amounts, rows
    /// as high as their wrapped text.
    readable: bool,
    note: Format,
    heading: Format,
    name: Format,
    money: Format,
    date: Format,
    wrapped: Format,
}

impl DetailFormats {
    /// As ledger formats 4 wrote them (replayed byte for byte).
    pub fn new() -> DetailFormats {
        let fill = "#DDEBF7";
        DetailFormats {
            readable: false,
            note: Format::new().set_bold().set_font_color("#C00000"),
            heading: Format::new().set_bold().set_border(FormatBorder::Thin).set_background_color(fill),
            name: Format::new()
                .set_italic()
                .set_font_size(9)
                .set_font_color("#595959")
                .set_border(FormatBorder::Thin)
                .set_background_color(fill),
            money: Format::new().set_num_format("#,##0.00"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            wrapped: Format::new().set_text_wrap().set_align(rust_xlsxwriter::FormatAlign::Top),
        }
    }

    pub fn is_readable(&self) -> bool {
        self.readable
    }

    /// Ledger format 5 on, the year and the statements: notes in black
    /// (a finance reader takes red for 红字, a negative amount), negative
    /// amounts in red, and each row as high as its wrapped text.
    pub fn readable() -> DetailFormats {
        DetailFormats {
            readable: true,
            note: Format::new().set_bold(),
            money: Format::new().set_num_format("#,##0.00;[Red]-#,##0.00"),
            ..DetailFormats::new()
        }
    }
}

/// A calendar date as a spreadsheet date.
pub fn excel_date(date: NaiveDate) -> XlsxResult<ExcelDateTime> {
    ExcelDateTime::from_ymd(date.year() as u16, date.month() as u8, date.day() as u8)
}

/// A new workbook that gives the same bytes for the same content: its
/// creation date fixed (the cutoff it reports on), fastest deflate (its
/// detail sheets are capped, and at level 6 compression took longer than
/// writing the rest).
pub fn new_workbook(title: String, created: NaiveDate) -> XlsxResult<Workbook> {
    let mut workbook = Workbook::new();
    workbook.set_zip_compression_level(1);
    workbook.set_properties(&DocProperties::new().set_title(title).set_creation_datetime(&excel_date(created)?));
    Ok(workbook)
}

/// The characters a text takes on screen: CJK and full-width characters
/// count double.
pub fn display_width(text: &str) -> usize {
    text.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD)
}

/// The characters an amount takes as `#,##0.00`.
fn money_width(text: &str) -> usize {
    let digits = text.trim_start_matches('-').split('.').next().map_or(0, str::len);
    text.len() + digits.saturating_sub(1) / 3
}

/// A detail sheet being written, row after row.
pub struct DetailSheet<'s> {
    sheet: &'s mut Worksheet,
    f: &'s DetailFormats,
    /// The row the next cell goes to, and its column.
    row: u32,
    column: u16,
    widths: Vec<usize>,
    /// The row of the column names (the filter's row); the first data row
    /// follows it.
    names_row: Option<u32>,
    /// The table's last row, when lines follow it ([`DetailSheet::end_table`]).
    table_end: Option<u32>,
    /// The lines the current row's widest wrapped text takes.
    lines: usize,
    /// Columns hidden from screen and print (they stay in the sheet, for
    /// the filter and for anyone who shows them again).
    hidden: Vec<u16>,
    failed: Option<XlsxError>,
}

impl<'s> DetailSheet<'s> {
    /// Names the sheet; if it shows `shown` of the batch's `total` rows,
    /// its first row says so and where the rest is.
    pub fn start(
        sheet: &'s mut Worksheet,
        name: &str,
        f: &'s DetailFormats,
        (shown, total): (usize, usize),
        files: &str,
    ) -> XlsxResult<DetailSheet<'s>> {
        sheet.set_name(name)?;
        let mut detail = DetailSheet {
            sheet,
            f,
            row: 0,
            column: 0,
            widths: Vec::new(),
            names_row: None,
            table_end: None,
            lines: 1,
            hidden: Vec::new(),
            failed: None,
        };
        if shown < total {
            let note = format!(
                "本表仅列 {shown} 行，本批共 {total} 行；完整数据见 {files} \
                 (this sheet shows {shown} of the batch's {total} rows; all of them are in {files})"
            );
            detail.sheet.write_string_with_format(0, 0, note, &f.note)?;
            detail.row = 2;
        }
        if f.readable && shown > PRINT_ROWS_MAX {
            let note = format!(
                "打印时仅打印前 {PRINT_ROWS_MAX} 行（屏幕上与筛选中为全部 {shown} 行）\
                 (printing stops after {PRINT_ROWS_MAX} rows; all {shown} are on screen and in the filter)"
            );
            let at = detail.row.saturating_sub(1);
            detail.sheet.write_string_with_format(at, 0, note, &f.note)?;
            detail.row = at + 2;
        }
        Ok(detail)
    }

    /// A line of text above the table (its width is not counted).
    pub fn line(&mut self, text: &str) -> XlsxResult<()> {
        self.sheet.write_string_with_format(self.row, 0, text, &self.f.note)?;
        self.row += 1;
        Ok(())
    }

    /// Skips a row.
    pub fn blank(&mut self) {
        self.row += 1;
    }

    /// A row of headings (bold, filled), counted in the widths.
    pub fn headings(&mut self, texts: &[&str]) -> XlsxResult<()> {
        for (column, text) in texts.iter().enumerate() {
            self.sheet.write_string_with_format(self.row, column as u16, *text, &self.f.heading)?;
            self.see(column, display_width(text));
        }
        self.row += 1;
        Ok(())
    }

    /// The table's two header rows: the Chinese headings, then the column
    /// names as the CSV and Parquet files have them. The table starts here.
    pub fn table_header(&mut self, columns: &[Column]) -> XlsxResult<()> {
        let pairs: Vec<(&str, &str)> = columns.iter().map(|c| (c.heading_zh, c.name)).collect();
        self.table_header_of(&pairs)
    }

    /// [`DetailSheet::table_header`] from (Chinese heading, column name) pairs.
    pub fn table_header_of(&mut self, columns: &[(&str, &str)]) -> XlsxResult<()> {
        let headings: Vec<&str> = columns.iter().map(|(heading, _)| *heading).collect();
        self.headings(&headings)?;
        for (column, (_, name)) in columns.iter().enumerate() {
            self.sheet.write_string_with_format(self.row, column as u16, *name, &self.f.name)?;
            self.see(column, display_width(name));
        }
        self.names_row = Some(self.row);
        self.row += 1;
        Ok(())
    }

    fn see(&mut self, column: usize, width: usize) {
        if self.widths.len() <= column {
            self.widths.resize(column + 1, 0);
        }
        self.widths[column] = self.widths[column].max(width);
    }

    /// The next cell of the current row, as its kind says.
    pub fn cell(&mut self, cell: Cell) {
        let (row, column, f) = (self.row, self.column, self.f);
        let (written, width) = match cell {
            Cell::Text(text) | Cell::InputText(text) => {
                let text = super::workbook::fit_cell(text);
                let width = display_width(&text);
                let written = if width > TEXT_WIDTH_MAX {
                    self.lines = self.lines.max(width.div_ceil(TEXT_WIDTH_MAX));
                    self.sheet.write_string_with_format(row, column, text.as_ref(), &f.wrapped)
                } else {
                    self.sheet.write_string(row, column, text.as_ref())
                };
                (written.map(|_| ()), width.min(TEXT_WIDTH_MAX))
            }
            Cell::Money(amount) => {
                let text = format_money(amount);
                let written = self.sheet.write_number_with_format(row, column, text.parse().unwrap_or(0.0), &f.money);
                (written.map(|_| ()), money_width(&text))
            }
            Cell::Date(date) => {
                let written = excel_date(date)
                    .and_then(|d| self.sheet.write_date_with_format(row, column, &d, &f.date).map(|_| ()));
                (written, 10)
            }
            Cell::Count(value) => (self.sheet.write_number(row, column, value as f64).map(|_| ()), digits(value)),
            Cell::Empty => (Ok(()), 0),
        };
        if let Err(e) = written {
            self.failed.get_or_insert(e);
        }
        self.see(column as usize, width);
        self.column += 1;
    }

    /// A text cell that is not part of the table's kinds (the counts block).
    pub fn text(&mut self, text: &str) {
        self.cell(Cell::Text(text));
    }

    /// The table ends here: what follows (totals, notes) is outside its filter.
    pub fn end_table(&mut self) {
        self.table_end = Some(self.row.saturating_sub(1));
    }

    pub fn end_row(&mut self) {
        if self.f.readable && self.lines > 1 {
            // 15 points a line, as Excel, WPS and LibreOffice print 11-point text.
            if let Err(e) = self.sheet.set_row_height(self.row, 15.0 * self.lines as f64) {
                self.failed.get_or_insert(e);
            }
        }
        self.lines = 1;
        self.row += 1;
        self.column = 0;
    }

    /// Hides `columns` (0-based) from screen and print: the printed sheet
    /// shows only what a reader needs; the rest stays for filtering.
    pub fn hide(&mut self, columns: impl IntoIterator<Item = usize>) {
        self.hidden.extend(columns.into_iter().map(|c| c as u16));
    }

    /// Widths, frozen header, filter and print setup; the first error met.
    pub fn finish(self, columns: usize) -> XlsxResult<()> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let sheet = self.sheet;
        for (column, width) in self.widths.iter().enumerate() {
            sheet.set_column_width(column as u16, (*width + 2) as f64)?;
        }
        for &column in &self.hidden {
            sheet.set_column_hidden(column)?;
        }
        if let Some(names_row) = self.names_row {
            sheet.set_freeze_panes(names_row + 1, 0)?;
            let last_row = self.table_end.unwrap_or(self.row.saturating_sub(1)).max(names_row);
            sheet.autofilter(names_row, 0, last_row, columns.saturating_sub(1) as u16)?;
            sheet.set_repeat_rows(names_row - 1, names_row)?;
            if self.f.readable && (last_row - names_row) as usize > PRINT_ROWS_MAX {
                let last_printed = names_row + PRINT_ROWS_MAX as u32;
                sheet.set_print_area(0, 0, last_printed, columns.saturating_sub(1) as u16)?;
            }
        }
        sheet.set_paper_size(9); // A4
        sheet.set_landscape();
        sheet.set_print_fit_to_pages(1, 0);
        sheet.set_footer(PAGE_FOOTER);
        Ok(())
    }
}

fn digits(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_count_cjk_double_and_money_with_separators() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("广西示例"), 8);
        assert_eq!(display_width("（有限）"), 8);
        assert_eq!(money_width("100000.00"), 10);
        assert_eq!(money_width("-1234567.89"), 13);
        assert_eq!(money_width("0.00"), 4);
        assert_eq!(digits(0), 1);
        assert_eq!(digits(100_000), 6);
    }
}
