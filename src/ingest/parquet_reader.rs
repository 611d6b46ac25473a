//! Parquet inputs, with string or typed columns; polars reads them in `frame`.

use std::borrow::Cow;
use std::path::Path;

use super::{ColumnSpec, InputOptions, RawRow, RecordBuilder, Rows};
use crate::frame::InputColumns;
use crate::{Result, frame};

pub fn read_parquet(path: &Path, bytes: &[u8], columns: &[ColumnSpec], options: &InputOptions) -> Result<Rows> {
    let input = frame::parquet_input_columns(path, bytes)?;
    let mut builder = RecordBuilder::new(path, &input.header, columns, options, (input.height(), 0))?;
    for row in 0..input.height() {
        builder.push(&ParquetRow { input: &input, row })?;
    }
    Ok(builder.finish())
}

/// One row of a Parquet input, read from its columns in place.
struct ParquetRow<'a> {
    input: &'a InputColumns,
    row: usize,
}

impl RawRow for ParquetRow<'_> {
    fn len(&self) -> usize {
        self.input.width()
    }
    fn is_blank(&self) -> bool {
        (0..self.input.width()).all(|column| self.input.cell(self.row, column).trim().is_empty())
    }
    fn text(&self, index: usize) -> std::result::Result<Cow<'_, str>, String> {
        Ok(Cow::Borrowed(self.input.cell(self.row, index)))
    }
}
