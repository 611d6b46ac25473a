//! Batch ids and batch order (rules 7).
//!
//! A quarter batch is `Y-Qn` exactly (Y the job's service year, n = 1–4,
//! upper-case Q); its cutoff is the quarter's last day. A follow-up batch is
//! `Y-FU-yyyyQn` (yyyy after Y): Y's contracts completed by the last day of
//! quarter n of year yyyy, its cutoff. An id shaped like either
//! (`^[0-9]{4}-[Qq]`, `^[0-9]{4}-[Ff][Uu]-`) that is not a valid one of them,
//! in any letter case, is refused. Only ids of neither shape are free ids:
//! `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`, with an explicit cutoff.
//!
//! Order: `Y-Qn` needs `Y-Q1` … `Y-Q(n−1)` committed; a follow-up needs
//! `Y-Q4` and the follow-ups of every earlier quarter after Y. Ids that
//! differ only by letter case cannot both exist in one store.

use chrono::NaiveDate;

/// What a batch id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// Quarter `quarter` of the service year.
    Quarter { quarter: u32 },
    /// Quarter `quarter` of a later `year`: the service year's contracts
    /// completed by then.
    FollowUp { year: i32, quarter: u32 },
    /// Any other id; its cutoff is given.
    Free,
}

/// A batch id checked against the rules of the job's service year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchId {
    text: String,
    service_year: i32,
    kind: BatchKind,
}

/// The last day of quarter `quarter` (1–4) of `year`.
pub fn quarter_end(year: i32, quarter: u32) -> Option<NaiveDate> {
    let (month, day) = *[(3, 31), (6, 30), (9, 30), (12, 31)].get(quarter.checked_sub(1)? as usize)?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// `YYYY` of exactly four ASCII digits.
fn year_of(text: &str) -> Option<i32> {
    (text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

/// `n` of a single digit 1–4.
fn quarter_of(text: &str) -> Option<u32> {
    (text.len() == 1).then(|| text.parse().ok()).flatten().filter(|q| (1..=4).contains(q))
}

impl BatchId {
    /// Checks `text` (trimmed) as a batch id of `service_year`; the error
    /// says what a valid id looks like.
    pub fn parse(text: &str, service_year: i32) -> Result<BatchId, String> {
        let text = text.trim();
        let bytes = text.as_bytes();
        let year_prefix = bytes.len() > 5 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-';
        let id = |kind| BatchId { text: text.to_string(), service_year, kind };
        if year_prefix && bytes[5].eq_ignore_ascii_case(&b'q') {
            let valid = text[..4] == service_year.to_string() && bytes[5] == b'Q';
            return match (valid, quarter_of(&text[6..])) {
                (true, Some(quarter)) => Ok(id(BatchKind::Quarter { quarter })),
                _ => Err(format!(
                    "a quarter batch of service year {service_year} is {service_year}-Q1 … {service_year}-Q4"
                )),
            };
        }
        if year_prefix && text.len() >= 8 && text[5..8].eq_ignore_ascii_case("FU-") {
            let follow_up = text
                .strip_prefix(&format!("{service_year}-FU-"))
                .and_then(|rest| rest.split_once('Q'))
                .and_then(|(year, quarter)| Some((year_of(year)?, quarter_of(quarter)?)))
                .filter(|(year, _)| *year > service_year);
            return match follow_up {
                Some((year, quarter)) => Ok(id(BatchKind::FollowUp { year, quarter })),
                None => Err(format!(
                    "a follow-up batch of service year {service_year} is {service_year}-FU-yyyyQn, yyyy after {service_year}, n = 1–4 (e.g. {service_year}-FU-{}Q1)",
                    service_year + 1
                )),
            };
        }
        let free = !text.is_empty()
            && text.len() <= 64
            && bytes[0].is_ascii_alphanumeric()
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b));
        if free {
            Ok(id(BatchKind::Free))
        } else {
            Err("a batch id is YYYY-Qn, YYYY-FU-yyyyQn, or letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn kind(&self) -> BatchKind {
        self.kind
    }

    /// The cutoff a quarter or follow-up id implies; none for a free id.
    pub fn implied_cutoff(&self) -> Option<NaiveDate> {
        match self.kind {
            BatchKind::Quarter { quarter } => quarter_end(self.service_year, quarter),
            BatchKind::FollowUp { year, quarter } => quarter_end(year, quarter),
            BatchKind::Free => None,
        }
    }

    /// The place of a quarter or follow-up batch in its service year's
    /// sequence, as (year, quarter); none for a free id.
    fn place(&self) -> Option<(i32, u32)> {
        match self.kind {
            BatchKind::Quarter { quarter } => Some((self.service_year, quarter)),
            BatchKind::FollowUp { year, quarter } => Some((year, quarter)),
            BatchKind::Free => None,
        }
    }

    /// The first batch this one needs committed that `is_committed` does
    /// not know, in order; none when all are (or for a free id).
    pub fn first_missing_predecessor(&self, is_committed: impl Fn(&str) -> bool) -> Option<String> {
        let (year, quarter) = self.place()?;
        sequence(self.service_year).take_while(|place| *place < (year, quarter)).find_map(|(y, q)| {
            let id = id_of(self.service_year, y, q);
            (!is_committed(&id)).then_some(id)
        })
    }
}

/// The quarter and follow-up batches of a service year, in order, as
/// (year, quarter): Y's four quarters, then every quarter after Y.
fn sequence(service_year: i32) -> impl Iterator<Item = (i32, u32)> {
    (service_year..).flat_map(|year| (1..=4).map(move |quarter| (year, quarter)))
}

/// The id of the batch at place (year, quarter) of `service_year`'s sequence.
fn id_of(service_year: i32, year: i32, quarter: u32) -> String {
    if year == service_year { format!("{year}-Q{quarter}") } else { format!("{service_year}-FU-{year}Q{quarter}") }
}

/// `--batch auto`: the quarter and follow-up batches of `service_year`
/// whose quarter has ended as of `as_of` and that are not committed, in
/// order — a missed quarter comes first. When every ended quarter is
/// committed, the last one (a re-run of it is a no-op); none before the
/// service year's first quarter has ended.
pub fn pending(service_year: i32, as_of: NaiveDate, is_committed: impl Fn(&str) -> bool) -> Vec<String> {
    let ended: Vec<(i32, u32)> = sequence(service_year)
        .take_while(|(year, quarter)| quarter_end(*year, *quarter).is_some_and(|end| end < as_of))
        .collect();
    let pending: Vec<String> =
        ended.iter().map(|(y, q)| id_of(service_year, *y, *q)).filter(|id| !is_committed(id)).collect();
    match ended.last() {
        Some((y, q)) if pending.is_empty() => vec![id_of(service_year, *y, *q)],
        _ => pending,
    }
}

/// The first quarter or follow-up batch of `service_year` not committed,
/// with its cutoff: a free batch may not be cut off after it.
pub fn first_uncommitted(service_year: i32, is_committed: impl Fn(&str) -> bool) -> (String, NaiveDate) {
    sequence(service_year)
        .map(|(year, quarter)| (id_of(service_year, year, quarter), quarter_end(year, quarter)))
        .find_map(|(id, end)| Some((id, end?)).filter(|(id, _)| !is_committed(id)))
        .expect("a store holds finitely many batches")
}

/// Whether two batch ids differ only by letter case (one store cannot hold both).
pub fn differ_only_by_case(a: &str, b: &str) -> bool {
    a != b && a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn ids_are_strict() {
        let kind = |text: &str| BatchId::parse(text, 2025).map(|id| id.kind());
        assert_eq!(kind("2025-Q1"), Ok(BatchKind::Quarter { quarter: 1 }));
        assert_eq!(kind(" 2025-Q4 "), Ok(BatchKind::Quarter { quarter: 4 }));
        assert_eq!(kind("2025-FU-2026Q1"), Ok(BatchKind::FollowUp { year: 2026, quarter: 1 }));
        assert_eq!(kind("adjust-2025.1"), Ok(BatchKind::Free));
        for refused in [
            "2025-Q5",
            "2025-q1",
            "2024-Q1",
            "2025-Q0",
            "2025-Q12",
            "2025-FU-2025Q4",
            "2025-fu-2026Q1",
            "2025-FU-2026q1",
            "2024-FU-2026Q1",
            "2025-FU-26Q1",
            "2025-FU-2026Q5",
            "",
            "-x",
            ".hidden",
            "a/b",
            "批次",
        ] {
            assert!(BatchId::parse(refused, 2025).is_err(), "{refused:?} refused");
        }
        assert!(BatchId::parse(&"x".repeat(65), 2025).is_err());
        assert_eq!(BatchId::parse("2025-Q2", 2025).unwrap().implied_cutoff(), Some(day(2025, 6, 30)));
        assert_eq!(BatchId::parse("2025-FU-2026Q2", 2025).unwrap().implied_cutoff(), Some(day(2026, 6, 30)));
        assert_eq!(BatchId::parse("extra", 2025).unwrap().implied_cutoff(), None);
    }

    #[test]
    fn order_names_the_first_missing_batch() {
        let committed = ["2025-Q1", "2025-Q2"];
        let missing =
            |text: &str| BatchId::parse(text, 2025).unwrap().first_missing_predecessor(|id| committed.contains(&id));
        assert_eq!(missing("2025-Q1"), None);
        assert_eq!(missing("2025-Q3"), None);
        assert_eq!(missing("2025-Q4"), Some("2025-Q3".into()));
        assert_eq!(missing("2025-FU-2026Q1"), Some("2025-Q3".into()));
        assert_eq!(missing("extra"), None);
        let all_of_2025 = ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"];
        let follow_up = BatchId::parse("2025-FU-2026Q3", 2025).unwrap();
        assert_eq!(follow_up.first_missing_predecessor(|id| all_of_2025.contains(&id)), Some("2025-FU-2026Q1".into()));
    }

    #[test]
    fn auto_catches_up_in_order() {
        let none = |_: &str| false;
        assert!(pending(2025, day(2025, 3, 31), none).is_empty(), "Q1 has not ended");
        assert_eq!(pending(2025, day(2025, 4, 1), none), ["2025-Q1"]);
        assert_eq!(pending(2025, day(2025, 10, 5), none), ["2025-Q1", "2025-Q2", "2025-Q3"]);
        let q1 = |id: &str| id == "2025-Q1";
        assert_eq!(pending(2025, day(2025, 10, 5), q1), ["2025-Q2", "2025-Q3"]);
        assert_eq!(pending(2025, day(2025, 4, 5), q1), ["2025-Q1"], "all ended quarters committed: the last again");
        let year_done = |id: &str| id.starts_with("2025-Q");
        assert_eq!(pending(2025, day(2026, 7, 2), year_done), ["2025-FU-2026Q1", "2025-FU-2026Q2"]);
        assert_eq!(first_uncommitted(2025, q1), ("2025-Q2".to_string(), day(2025, 6, 30)));
        assert_eq!(first_uncommitted(2025, year_done), ("2025-FU-2026Q1".to_string(), day(2026, 3, 31)));
        assert!(differ_only_by_case("2025-q1", "2025-Q1"));
        assert!(!differ_only_by_case("2025-Q1", "2025-Q1"));
    }
}
