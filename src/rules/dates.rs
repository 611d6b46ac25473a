//! Dates as rules 2.6 writes them: `YYYY-MM-DD`, `YYYY/M/D`, `YYYY年M月D日`,
//! or a date-time whose date part is taken as written.

use chrono::NaiveDate;

/// Parses a trimmed date field; `None` if the form or the calendar date is wrong.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    if let Some(rest) = text.strip_suffix('日') {
        let (year, rest) = rest.split_once('年')?;
        let (month, day) = rest.split_once('月')?;
        return ymd(year, month, day, 1..=2);
    }
    if text.contains('/') {
        let mut parts = text.split('/');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        return ymd(year, month, day, 1..=2);
    }
    // `YYYY-MM-DD`, possibly followed by a time.
    let date_part = text.get(..10)?;
    let time_part = &text[10..];
    if !time_part.is_empty() && !is_time_suffix(time_part) {
        return None;
    }
    let mut parts = date_part.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    ymd(year, month, day, 2..=2)
}

fn ymd(year: &str, month: &str, day: &str, width: std::ops::RangeInclusive<usize>) -> Option<NaiveDate> {
    let digits =
        |s: &str, w: &std::ops::RangeInclusive<usize>| w.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(year, &(4..=4)) || !digits(month, &width) || !digits(day, &width) {
        return None;
    }
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
}

/// `[T ]HH:MM[:SS[.f…]][Z|±HH[:]MM]` — the shape only; the time is not checked.
fn is_time_suffix(text: &str) -> bool {
    let bytes = text.as_bytes();
    let two_digits = |at: usize| bytes.get(at..at + 2).is_some_and(|p| p.iter().all(u8::is_ascii_digit));
    if !matches!(bytes.first(), Some(b'T' | b' ')) || !two_digits(1) || bytes.get(3) != Some(&b':') || !two_digits(4) {
        return false;
    }
    let mut at = 6;
    if bytes.get(at) == Some(&b':') {
        if !two_digits(at + 1) {
            return false;
        }
        at += 3;
        if bytes.get(at) == Some(&b'.') {
            let start = at + 1;
            at = start;
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if at == start {
                return false;
            }
        }
    }
    match bytes.get(at) {
        None => true,
        Some(b'Z') => at + 1 == bytes.len(),
        Some(b'+' | b'-') => {
            let zone = &bytes[at + 1..];
            let digits = |p: &[u8]| p.iter().all(u8::is_ascii_digit);
            match zone.len() {
                4 => digits(zone),
                5 => zone[2] == b':' && digits(&zone[..2]) && digits(&zone[3..]),
                _ => false,
            }
        }
        Some(_) => false,
    }
}

/// A date as `YYYY-MM-DD`, written without allocating for years 0–9999
/// (other years as chrono writes them).
pub enum IsoDate {
    Short([u8; 10]),
    Long(String),
}

impl IsoDate {
    pub fn as_str(&self) -> &str {
        match self {
            IsoDate::Short(bytes) => std::str::from_utf8(bytes).expect("ASCII digits"),
            IsoDate::Long(text) => text,
        }
    }
}

pub fn iso(date: NaiveDate) -> IsoDate {
    use chrono::Datelike;
    let year = date.year();
    if !(0..=9999).contains(&year) {
        return IsoDate::Long(date.to_string());
    }
    let digit = |n: u32| b'0' + n as u8;
    let (year, month, day) = (year as u32, date.month(), date.day());
    IsoDate::Short([
        digit(year / 1000),
        digit(year / 100 % 10),
        digit(year / 10 % 10),
        digit(year % 10),
        b'-',
        digit(month / 10),
        digit(month % 10),
        b'-',
        digit(day / 10),
        digit(day % 10),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_match_chrono() {
        for (y, m, d) in [(2025, 1, 5), (999, 12, 31), (9999, 2, 28), (0, 1, 1), (10000, 1, 1), (-1, 6, 30)] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(iso(date).as_str(), date.to_string());
        }
    }

    #[test]
    fn date_forms_of_spec_2_6() {
        let day = NaiveDate::from_ymd_opt(2025, 3, 5);
        let cases = [
            ("2025-03-05", day),
            ("2025/3/5", day),
            ("2025/03/05", day),
            ("2025年3月5日", day),
            ("2025年03月05日", day),
            ("2025-03-05 10:30", day),
            ("2025-03-05T10:30:00", day),
            ("2025-03-05 10:30:00.123Z", day),
            ("2025-03-05T23:59:59+08:00", day),
            ("2025-03-05T23:59:59+0800", day),
            ("2025-03-05 99:99", day),
            ("2025-3-5", None),
            ("2025.3.5", None),
            ("20250305", None),
            ("03/05/2025", None),
            ("2025-02-30", None),
            ("2025-03-05 10", None),
            ("2025-03-05T10:30+8", None),
            ("２０２５-03-05", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_date(text), want, "{text}");
        }
        assert_eq!(parse_date("2024-02-29"), NaiveDate::from_ymd_opt(2024, 2, 29));
    }
}
