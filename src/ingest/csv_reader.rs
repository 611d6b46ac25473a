//! CSV in UTF-8 (with or without BOM) or GBK/GB18030, and UTF-16 with a BOM
//! (Excel's "Unicode text", tab- or comma-separated), which is turned into
//! UTF-8 CSV first. The whole file must be valid in its encoding — declared
//! by the job or detected — or the run stops (exit 2) naming the line, the
//! encoding and the one that fits: a wrong encoding never passes as rows
//! that fail their checks. The CSV structure is then parsed on the raw
//! bytes — GBK and GB18030 never use the bytes of `,`, `"` or line ends
//! inside a character — and each field decoded.

use std::borrow::Cow;
use std::path::Path;

use encoding_rs::GB18030;
use rayon::prelude::*;

use super::{InputOptions, Piece, RawRow, RecordBuilder, Rows, empty_file};
use crate::Result;

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
/// rest is UTF-8 with damaged records. Also says whether the whole file
/// was found valid in that encoding on the way, so that it is not checked
/// twice.
pub fn detect(bytes: &[u8]) -> (Encoding, bool) {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return (Encoding::Utf8, false);
    }
    if std::str::from_utf8(bytes).is_ok() {
        return (Encoding::Utf8, true);
    }
    let (mut well_formed, mut broken) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        well_formed += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        broken += usize::from(!chunk.invalid().is_empty());
    }
    let clean_gb18030 = GB18030.decode_without_bom_handling_and_without_replacement(bytes).is_some();
    if clean_gb18030 && well_formed < broken { (Encoding::Gb18030, true) } else { (Encoding::Utf8, false) }
}

fn decode(field: &[u8], encoding: Encoding) -> Option<Cow<'_, str>> {
    match encoding {
        Encoding::Gb18030 => GB18030.decode_without_bom_handling_and_without_replacement(field),
        _ => std::str::from_utf8(field).ok().map(Cow::Borrowed),
    }
}

pub fn read_csv(path: &Path, bytes: &[u8], columns: &[super::ColumnSpec], options: &InputOptions) -> Result<Rows> {
    if let Some(utf8) = from_utf16(path, bytes)? {
        let options = InputOptions { encoding: Encoding::Utf8, ..options.clone() };
        return read_csv_in_pieces(path, &utf8, columns, &options, PIECE_MIN);
    }
    read_csv_in_pieces(path, bytes, columns, options, PIECE_MIN)
}

/// A UTF-16 file (it starts with a byte-order mark) as UTF-8 CSV: decoded,
/// and if its header is tab-separated, written again with commas. None for
/// a file without a UTF-16 BOM.
fn from_utf16(path: &Path, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    let encoding = match bytes {
        [0xFF, 0xFE, ..] => encoding_rs::UTF_16LE,
        [0xFE, 0xFF, ..] => encoding_rs::UTF_16BE,
        _ => return Ok(None),
    };
    let Some(text) = encoding.decode_without_bom_handling_and_without_replacement(&bytes[2..]) else {
        return Err(crate::Error::Input(format!(
            "{}: 文件以 UTF-16 标记开头，但内容不是有效的 UTF-16 (starts with a UTF-16 byte-order mark but is not valid UTF-16)；请另存为 UTF-8 CSV (save it again as UTF-8 CSV)",
            path.display()
        )));
    };
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    if !header.contains('\t') || header.contains(',') {
        return Ok(Some(text.into_owned().into_bytes()));
    }
    let unreadable = |e: String| {
        crate::Error::Input(format!(
            "{}: 制表符分隔的 UTF-16 文本无法读取 (tab-separated UTF-16 text cannot be read): {e}",
            path.display()
        ))
    };
    let mut reader =
        csv::ReaderBuilder::new().delimiter(b'\t').has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(Vec::with_capacity(text.len()));
    for record in reader.byte_records() {
        writer
            .write_byte_record(&record.map_err(|e| unreadable(e.to_string()))?)
            .map_err(|e| unreadable(e.to_string()))?;
    }
    writer.into_inner().map(Some).map_err(|e| unreadable(e.to_string()))
}

/// The byte offset of the first sequence of `bytes` that is not valid in
/// `encoding`; none when the whole is valid.
fn first_invalid(bytes: &[u8], encoding: Encoding) -> Option<usize> {
    if encoding != Encoding::Gb18030 {
        return std::str::from_utf8(bytes).err().map(|e| e.valid_up_to());
    }
    let mut decoder = GB18030.new_decoder_without_bom_handling();
    let mut out = vec![0u8; 64 * 1024];
    let mut at = 0;
    loop {
        let (result, read, _) = decoder.decode_to_utf8_without_replacement(&bytes[at..], &mut out, true);
        match result {
            encoding_rs::DecoderResult::InputEmpty => return None,
            encoding_rs::DecoderResult::OutputFull => at += read,
            encoding_rs::DecoderResult::Malformed(bad, extra) => {
                return Some((at + read).saturating_sub(usize::from(bad) + usize::from(extra)));
            }
        }
    }
}

/// Stops the run when `body` is not valid in the encoding chosen for it,
/// naming the line, the encoding (declared by the job or detected) and the
/// one the whole file fits, if any.
fn refuse_undecodable(path: &Path, body: &[u8], encoding: Encoding, declared: bool) -> Result<()> {
    let Some(at) = first_invalid(body, encoding) else { return Ok(()) };
    let line = memchr::memchr_iter(b'\n', &body[..at]).count() + 1;
    let name = |e: Encoding| if e == Encoding::Gb18030 { "GBK/GB18030" } else { "UTF-8" };
    let how = if declared { "作业 [encoding] 声明 declared by the job" } else { "自动判断 detected" };
    let fits =
        [Encoding::Utf8, Encoding::Gb18030].into_iter().find(|e| *e != encoding && first_invalid(body, *e).is_none());
    let next = match fits {
        Some(e) => format!(
            "整个文件符合 {}：请在作业 [encoding] 中写明 (the whole file is valid {}: set it under [encoding] in the job)",
            name(e),
            name(e)
        ),
        None => {
            "没有符合的编码，文件可能已损坏：请重新导出 (no encoding fits; the file may be damaged: export it again)"
                .to_string()
        }
    };
    Err(crate::Error::Input(format!(
        "{}: 第 {line} 行不是有效的 {}（{how}）(line {line} is not valid {}); {next}",
        path.display(),
        name(encoding),
        name(encoding)
    )))
}

/// [`read_csv`] with pieces of at least `piece_min` bytes.
fn read_csv_in_pieces(
    path: &Path,
    bytes: &[u8],
    columns: &[super::ColumnSpec],
    options: &InputOptions,
    piece_min: usize,
) -> Result<Rows> {
    let (encoding, valid) = match options.encoding {
        Encoding::Auto => detect(bytes),
        chosen => (chosen, false),
    };
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if !valid {
        refuse_undecodable(path, body, encoding, options.encoding != Encoding::Auto)?;
    }
    // The header is the first record that is not blank.
    let mut header = None;
    let header_end = each_record(body, true, |row| {
        let blank = row.is_blank();
        if !blank {
            header =
                Some((0..row.len()).map(|i| decode(row.field(i), encoding).unwrap_or_default().into_owned()).collect());
        }
        Ok(if blank { Next::Continue } else { Next::Stop })
    })?;
    let Some(header): Option<Vec<String>> = header else {
        return Err(empty_file(path, "文件为空", "empty file"));
    };
    let data = &body[header_end.consumed..];
    let builder = |expected| RecordBuilder::new(path, &header, columns, options, expected);
    // Large files are parsed in pieces side by side, each cut just after a
    // line end. A cut is right only if the piece before it ends between
    // records (not inside a quoted field); if any does not, the file is
    // parsed again front to back, so the result never depends on the cuts.
    let pieces = pieces(data, piece_min);
    if pieces.len() > 1 {
        let parsed: Vec<Result<Option<Piece>>> = pieces
            .par_iter()
            .enumerate()
            .map(|(at, piece)| {
                let mut builder = builder(expected(piece))?;
                let end = push_records(&mut builder, piece, at + 1 == pieces.len(), encoding)?;
                Ok(end.between_records.then(|| builder.finish_piece()))
            })
            .collect();
        let parsed: Option<Vec<Piece>> = parsed.into_iter().collect::<Result<_>>()?;
        if let Some(parts) = parsed {
            return Rows::concat(parts).ok_or_else(|| super::too_many_records(path));
        }
    }
    let mut builder = builder(expected(data))?;
    push_records(&mut builder, data, true, encoding)?;
    Ok(builder.finish())
}

/// Every record of `input` into `builder` (see [`each_record`] for `at_eof`).
fn push_records(builder: &mut RecordBuilder, input: &[u8], at_eof: bool, encoding: Encoding) -> Result<End> {
    each_record(input, at_eof, |row| {
        builder.push(&CsvRowOf { row, encoding })?;
        Ok(Next::Continue)
    })
}

/// About how many records and bytes of text `data` holds: one record per
/// line is the usual case, and the text is at most the bytes.
fn expected(data: &[u8]) -> (usize, usize) {
    (memchr::memchr_iter(b'\n', data).count() + 1, data.len())
}

/// Below this many bytes a file is parsed in one piece.
const PIECE_MIN: usize = 8 << 20;

/// `data` cut into pieces of about equal size for the threads, each cut
/// just after a line end.
fn pieces(data: &[u8], piece_min: usize) -> Vec<&[u8]> {
    let count = (rayon::current_num_threads() * 4).min(data.len() / piece_min).max(1);
    let mut pieces = Vec::with_capacity(count);
    let mut start = 0;
    for k in 1..count {
        let aim = (data.len() * k / count).max(start);
        let Some(newline) = memchr::memchr(b'\n', &data[aim..]) else { break };
        pieces.push(&data[start..aim + newline + 1]);
        start = aim + newline + 1;
    }
    pieces.push(&data[start..]);
    pieces
}

enum Next {
    Continue,
    Stop,
}

/// Where [`each_record`] stopped.
struct End {
    /// Bytes of the input used.
    consumed: usize,
    /// The input ended between two records, not inside one.
    between_records: bool,
}

/// Calls `f` with each record of `input`, parsed as the `csv` crate's
/// default reader does (comma, double quotes, CR, LF or CRLF ends; blank
/// lines skipped). `at_eof` says the input is the end of the file, so a
/// last record without a line end counts.
fn each_record(input: &[u8], at_eof: bool, mut f: impl FnMut(Fields) -> Result<Next>) -> Result<End> {
    let mut reader = csv_core::ReaderBuilder::new().build();
    let (mut output, mut ends) = (vec![0u8; 4096], vec![0usize; 64]);
    let (mut out_len, mut ends_len, mut consumed) = (0, 0, 0);
    loop {
        let rest = &input[consumed..];
        if rest.is_empty() && !at_eof {
            return Ok(End { consumed, between_records: out_len == 0 && ends_len == 0 });
        }
        let (result, read, wrote, ended) = reader.read_record(rest, &mut output[out_len..], &mut ends[ends_len..]);
        consumed += read;
        out_len += wrote;
        ends_len += ended;
        match result {
            csv_core::ReadRecordResult::InputEmpty => {}
            csv_core::ReadRecordResult::OutputFull => output.resize(output.len() * 2, 0),
            csv_core::ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
            csv_core::ReadRecordResult::Record => {
                let next = f(Fields { bytes: &output[..out_len], ends: &ends[..ends_len] })?;
                (out_len, ends_len) = (0, 0);
                if let Next::Stop = next {
                    return Ok(End { consumed, between_records: true });
                }
            }
            csv_core::ReadRecordResult::End => return Ok(End { consumed, between_records: true }),
        }
    }
}

/// The fields of one CSV record, as raw bytes.
#[derive(Clone, Copy)]
struct Fields<'r> {
    bytes: &'r [u8],
    ends: &'r [usize],
}

impl<'r> Fields<'r> {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn field(&self, index: usize) -> &'r [u8] {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        &self.bytes[start..self.ends[index]]
    }

    fn is_blank(&self) -> bool {
        (0..self.len()).all(|i| is_blank(self.field(i)))
    }
}

/// A CSV record whose fields are decoded only when a canonical column needs them.
struct CsvRowOf<'r> {
    row: Fields<'r>,
    encoding: Encoding,
}

impl RawRow for CsvRowOf<'_> {
    fn len(&self) -> usize {
        self.row.len()
    }
    fn is_blank(&self) -> bool {
        self.row.is_blank()
    }
    fn text(&self, index: usize) -> std::result::Result<Cow<'_, str>, String> {
        decode(self.row.field(index), self.encoding).ok_or_else(|| {
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
        assert_eq!(detect(&gbk), (Encoding::Gb18030, true));
        assert_eq!(detect("合同编号\nC-1\n".as_bytes()), (Encoding::Utf8, true));
        let mut damaged = "合同编号,企业名称\nC-1,广西示例机械制造有限公司\n".as_bytes().to_vec();
        damaged.extend_from_slice(b"C-2,\xff\xfe\n");
        assert_eq!(detect(&damaged), (Encoding::Utf8, false));
        assert_eq!(Encoding::parse("GBK"), Some(Encoding::Gb18030));
        assert_eq!(Encoding::parse("utf_8"), Some(Encoding::Utf8));
        assert_eq!(Encoding::parse("latin1"), None);
    }

    /// Any text as a field: plain, quoted (with commas, quotes and line
    /// ends inside), or with a stray quote in the middle.
    fn field() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            "[a-z0-9 ]{0,6}",
            "[a-z,\n\r\"]{0,6}".prop_map(|t| format!("\"{}\"", t.replace('"', "\"\""))),
            "[a-z]{1,3}\"[a-z,]{0,3}",
            Just(String::new()),
        ]
    }

    proptest::proptest! {
        /// Whatever the cuts, the pieces give the records a front-to-back
        /// parse gives: same text, numbering and malformed records.
        #[test]
        fn pieces_read_as_one(
            rows in proptest::collection::vec(proptest::collection::vec(field(), 1..5), 0..60),
            ends in proptest::collection::vec(proptest::sample::select(vec!["\n", "\r\n", "\n\n", "\r"]), 60),
            piece_min in 1usize..64,
        ) {
            let columns = &crate::schema::input::PROVIDERS;
            let mut text = String::from("provider_id,name,status,signed_from,signed_to\n");
            for (row, end) in rows.iter().zip(&ends) {
                text.push_str(&row.join(","));
                text.push_str(end);
            }
            let path = Path::new("p.csv");
            let options = InputOptions::default();
            let whole = read_csv_in_pieces(path, text.as_bytes(), columns, &options, usize::MAX).unwrap();
            let pieces = read_csv_in_pieces(path, text.as_bytes(), columns, &options, piece_min).unwrap();
            let records = |rows: &Rows| rows.records().map(|r| format!("{r:?}")).collect::<Vec<String>>();
            proptest::prop_assert_eq!(records(&whole), records(&pieces));
        }
    }
}
