//! CSV in UTF-8 (with or without BOM) or GBK/GB18030. The CSV structure is
//! parsed on the raw bytes — GBK and GB18030 never use the bytes of `,`,
//! `"` or line ends inside a character — and each field is then decoded, so
//! a bad byte spoils only its own record.

use std::borrow::Cow;
use std::path::Path;

use encoding_rs::GB18030;

use super::{InputOptions, RawRow, RecordBuilder, Rows, empty_file};
use crate::{Error, Result};

/// The text encoding of a CSV input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8, unless the bytes are not UTF-8 but are GB18030.
    #[default]
    Auto,
    Utf8,
    /// GB18030, a superset of GBK (what Excel on Chinese Windows writes).
    Gb18030,
}

impl Encoding {
    pub fn parse(text: &str) -> Option<Encoding> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Some(Encoding::Auto),
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            "gbk" | "gb2312" | "gb18030" | "cp936" => Some(Encoding::Gb18030),
            _ => None,
        }
    }
}

/// Decides the encoding of a file whose job says `auto`: a BOM or valid
/// UTF-8 is UTF-8. Otherwise, bytes that read cleanly as GB18030 and hold
/// fewer well-formed UTF-8 characters than broken sequences are GB18030; the
/// rest is UTF-8 with damaged records.
pub fn detect(bytes: &[u8]) -> Encoding {
    if bytes.starts_with(b"\xEF\xBB\xBF") || std::str::from_utf8(bytes).is_ok() {
        return Encoding::Utf8;
    }
    let (mut well_formed, mut broken) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        well_formed += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        broken += usize::from(!chunk.invalid().is_empty());
    }
    let clean_gb18030 = GB18030.decode_without_bom_handling_and_without_replacement(bytes).is_some();
    if clean_gb18030 && well_formed < broken { Encoding::Gb18030 } else { Encoding::Utf8 }
}

fn decode(field: &[u8], encoding: Encoding) -> Option<Cow<'_, str>> {
    match encoding {
        Encoding::Gb18030 => GB18030.decode_without_bom_handling_and_without_replacement(field),
        _ => std::str::from_utf8(field).ok().map(Cow::Borrowed),
    }
}

pub fn read_csv(path: &Path, bytes: &[u8], columns: &[super::ColumnSpec], options: &InputOptions) -> Result<Rows> {
    let encoding = match options.encoding {
        Encoding::Auto => detect(bytes),
        chosen => chosen,
    };
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(body);
    let mut record = csv::ByteRecord::new();
    let mut builder: Option<RecordBuilder> = None;
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| Error::Input(format!("{}: CSV 无法解析 (cannot parse CSV): {e}", path.display())))?;
        if !more {
            break;
        }
        if record.iter().all(is_blank) && builder.is_none() {
            continue;
        }
        let Some(builder) = builder.as_mut() else {
            let header: Vec<String> =
                record.iter().map(|f| decode(f, encoding).unwrap_or_default().into_owned()).collect();
            // One record per line is the usual case; the text is at most the body.
            let lines = memchr::memchr_iter(b'\n', body).count() + 1;
            builder = Some(RecordBuilder::new(path, &header, columns, options, (lines, body.len()))?);
            continue;
        };
        builder.push(&CsvRow { record: &record, encoding })?;
    }
    match builder {
        Some(builder) => Ok(builder.finish()),
        None => Err(empty_file(path, "文件为空", "empty file")),
    }
}

/// A CSV record whose fields are decoded only when a canonical column needs them.
struct CsvRow<'r> {
    record: &'r csv::ByteRecord,
    encoding: Encoding,
}

impl RawRow for CsvRow<'_> {
    fn len(&self) -> usize {
        self.record.len()
    }
    fn is_blank(&self) -> bool {
        self.record.iter().all(is_blank)
    }
    fn text(&self, index: usize) -> std::result::Result<Cow<'_, str>, String> {
        decode(&self.record[index], self.encoding).ok_or_else(|| {
            let name = if self.encoding == Encoding::Gb18030 { "GB18030" } else { "UTF-8" };
            format!("第 {} 个字段不是有效的 {name} (field {} is not valid {name})", index + 1, index + 1)
        })
    }
}

/// A field of white space only; undecodable bytes are never blank.
fn is_blank(field: &[u8]) -> bool {
    field.iter().all(u8::is_ascii_whitespace) || std::str::from_utf8(field).is_ok_and(|t| t.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_gbk_and_keeps_damaged_utf8() {
        let (gbk, _, _) = GB18030.encode("合同编号,企业名称\nC-1,广西示例机械制造有限公司\n");
        assert_eq!(detect(&gbk), Encoding::Gb18030);
        assert_eq!(detect("合同编号\nC-1\n".as_bytes()), Encoding::Utf8);
        let mut damaged = "合同编号,企业名称\nC-1,广西示例机械制造有限公司\n".as_bytes().to_vec();
        damaged.extend_from_slice(b"C-2,\xff\xfe\n");
        assert_eq!(detect(&damaged), Encoding::Utf8);
        assert_eq!(Encoding::parse("GBK"), Some(Encoding::Gb18030));
        assert_eq!(Encoding::parse("utf_8"), Some(Encoding::Utf8));
        assert_eq!(Encoding::parse("latin1"), None);
    }
}
