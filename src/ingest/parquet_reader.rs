//! Parquet inputs, with string or typed columns; polars reads them in `frame`.

use std::path::Path;

use super::{ColumnSpec, InputOptions, RecordBuilder, Rows};
use crate::{Result, frame};

pub fn read_parquet(path: &Path, bytes: &[u8], columns: &[ColumnSpec], options: &InputOptions) -> Result<Rows> {
    let (header, rows) = frame::parquet_input_rows(path, bytes)?;
    let mut builder = RecordBuilder::new(path, &header, columns, options, (rows.len(), 0))?;
    for row in rows {
        builder.push(&row)?;
    }
    Ok(builder.finish())
}
