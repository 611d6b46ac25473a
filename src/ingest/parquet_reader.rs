//! Parquet inputs, with string or typed columns; polars reads them in `frame`.

use std::path::Path;

use super::{ColumnSpec, InputOptions, Record, RecordBuilder};
use crate::{Result, frame};

pub fn read_parquet(path: &Path, bytes: &[u8], columns: &[ColumnSpec], options: &InputOptions) -> Result<Vec<Record>> {
    let (header, rows) = frame::parquet_input_rows(path, bytes)?;
    let mut builder = RecordBuilder::new(path, &header, columns, options)?;
    for row in rows {
        builder.push(&row)?;
    }
    Ok(builder.finish())
}
