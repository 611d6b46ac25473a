//! CSV in UTF-8, with or without BOM. Row-level problems become malformed
//! records, never errors; only a file without a usable header is an error.

use std::path::Path;

use super::{ColumnSpec, MAX_RECORDS, Record, map_header};
use crate::{Error, Result};

pub fn read_csv(path: &Path, bytes: &[u8], columns: &[ColumnSpec]) -> Result<Vec<Record>> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let mut record = csv::ByteRecord::new();
    let mut header: Option<(Vec<String>, Vec<Option<usize>>)> = None;
    let mut records = Vec::new();
    let mut source_row = 0u64;
    loop {
        let more = reader.read_byte_record(&mut record).map_err(|e| {
            Error::Input(format!(
                "{}: CSV 无法解析 (cannot parse CSV): {e}",
                path.display()
            ))
        })?;
        if !more {
            break;
        }
        if record.iter().all(is_blank) {
            continue;
        }
        let Some((names, mapping)) = &header else {
            let names: Vec<String> = record
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            let mapping = map_header(path, &names, columns)?;
            header = Some((names, mapping));
            continue;
        };
        source_row += 1;
        if records.len() >= MAX_RECORDS {
            return Err(Error::Input(format!(
                "{}: 超过 {MAX_RECORDS} 行上限 (more than {MAX_RECORDS} records)",
                path.display()
            )));
        }
        records.push(to_record(
            source_row,
            &record,
            names.len(),
            mapping,
            columns,
        ));
    }
    if header.is_none() {
        return Err(Error::Input(format!(
            "{}: 文件为空，没有表头 (empty file: no header row)",
            path.display()
        )));
    }
    Ok(records)
}

fn is_blank(field: &[u8]) -> bool {
    match std::str::from_utf8(field) {
        Ok(text) => text.trim().is_empty(),
        Err(_) => false,
    }
}

fn to_record(
    source_row: u64,
    record: &csv::ByteRecord,
    header_len: usize,
    mapping: &[Option<usize>],
    columns: &[ColumnSpec],
) -> Record {
    let malformed = |why: String| Record {
        source_row,
        fields: Vec::new(),
        malformed: Some(why),
    };
    if record.len() != header_len {
        return malformed(format!(
            "{} 个字段，表头有 {} 个 ({} fields, the header has {})",
            record.len(),
            header_len,
            record.len(),
            header_len
        ));
    }
    let mut fields = Vec::with_capacity(mapping.len());
    for (canonical, file_index) in mapping.iter().enumerate() {
        let Some(file_index) = file_index else {
            fields.push(String::new());
            continue;
        };
        match std::str::from_utf8(&record[*file_index]) {
            Ok(text) => fields.push(text.to_string()),
            Err(_) => {
                return malformed(format!(
                    "{} 不是有效的 UTF-8 ({} is not valid UTF-8)",
                    columns[canonical].name, columns[canonical].name
                ));
            }
        }
    }
    Record {
        source_row,
        fields,
        malformed: None,
    }
}
