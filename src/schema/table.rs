//! A committed table read back, typed: each column in the kind the schema
//! gives it (money as `Decimal`, counts as integers, text and dates as
//! text), looked up by the schema's column names. `stored` builds one from
//! a batch's Parquet or CSV file, checked against its manifest; every
//! command that reads the ledger reads its tables as these.

use rust_decimal::Decimal;

use crate::{Error, Result};

/// One column's values; `None` where the stored table has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Values {
    Text(Vec<Option<String>>),
    Money(Vec<Option<Decimal>>),
    Count(Vec<Option<u64>>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Text(v) => v.len(),
            Values::Money(v) => v.len(),
            Values::Count(v) => v.len(),
        }
    }
}

/// A stored table: its columns by name, each typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTable {
    height: usize,
    columns: Vec<(String, Values)>,
}

impl StoredTable {
    /// A table of these columns, all of one height.
    pub fn new(columns: Vec<(String, Values)>) -> Result<StoredTable> {
        let height = columns.first().map_or(0, |(_, v)| v.len());
        match columns.iter().find(|(_, v)| v.len() != height) {
            Some((name, _)) => Err(Error::Internal(format!("stored table: column {name} is not {height} rows long"))),
            None => Ok(StoredTable { height, columns }),
        }
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// The row numbers, from 0.
    pub fn rows(&self) -> std::ops::Range<usize> {
        0..self.height
    }

    /// The column names, in the table's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(name, _)| name.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.values(name).is_some()
    }

    fn values(&self, name: &str) -> Option<&Values> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// A text cell; "" where it has no value, or the table no such text column.
    pub fn text(&self, row: usize, name: &str) -> &str {
        match self.values(name) {
            Some(Values::Text(v)) => v.get(row).and_then(Option::as_deref).unwrap_or(""),
            _ => "",
        }
    }

    /// A money cell, if it has a value.
    pub fn money(&self, row: usize, name: &str) -> Option<Decimal> {
        match self.values(name) {
            Some(Values::Money(v)) => v.get(row).copied().flatten(),
            _ => None,
        }
    }

    /// A count cell, if it has a value.
    pub fn count(&self, row: usize, name: &str) -> Option<u64> {
        match self.values(name) {
            Some(Values::Count(v)) => v.get(row).copied().flatten(),
            _ => None,
        }
    }

    /// Any cell as the CSV file shows it: money with two decimals, a count
    /// in digits, "" for no value.
    pub fn shown(&self, row: usize, name: &str) -> String {
        match self.values(name) {
            Some(Values::Text(_)) => self.text(row, name).to_string(),
            Some(Values::Money(_)) => self.money(row, name).map_or_else(String::new, two_decimals),
            Some(Values::Count(_)) => self.count(row, name).map_or_else(String::new, |n| n.to_string()),
            None => String::new(),
        }
    }

    /// A money cell that must have a value.
    pub fn amount(&self, row: usize, name: &str) -> Result<Decimal> {
        self.money(row, name).ok_or_else(|| missing(name, row))
    }

    /// A text column whose every row must have a value, moved out of the
    /// table (a later batch never reads an absent value as empty).
    pub fn take_texts(&mut self, name: &str) -> Result<Vec<String>> {
        let taken = self.columns.iter_mut().find(|(n, _)| n == name).map(|(_, v)| v);
        let Some(Values::Text(values)) = taken else { return Err(no_column(name, "text")) };
        std::mem::take(values).into_iter().enumerate().map(|(row, v)| v.ok_or_else(|| missing(name, row))).collect()
    }

    /// A money column whose every row must have a value.
    pub fn amounts(&self, name: &str) -> Result<Vec<Decimal>> {
        let Some(Values::Money(values)) = self.values(name) else { return Err(no_column(name, "money")) };
        values.iter().enumerate().map(|(row, v)| v.ok_or_else(|| missing(name, row))).collect()
    }
}

/// An amount with exactly two decimals, as the CSV files write it.
fn two_decimals(mut amount: Decimal) -> String {
    amount.rescale(2);
    amount.to_string()
}

fn missing(name: &str, row: usize) -> Error {
    Error::Internal(format!("column {name}, row {}: no value", row + 1))
}

fn no_column(name: &str, kind: &str) -> Error {
    Error::Internal(format!("no {kind} column {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> StoredTable {
        StoredTable::new(vec![
            ("id".into(), Values::Text(vec![Some("a".into()), None])),
            ("amount".into(), Values::Money(vec![Some(Decimal::new(-640005, 2)), None])),
            ("n".into(), Values::Count(vec![Some(3), None])),
        ])
        .unwrap()
    }

    /// Cells read by kind; a cell without a value is empty where shown and
    /// an error where it must be there.
    #[test]
    fn cells_are_read_in_their_kinds() {
        let mut t = table();
        assert_eq!((t.height(), t.text(0, "id"), t.text(1, "id"), t.text(0, "none")), (2, "a", "", ""));
        assert_eq!(t.shown(0, "amount"), "-6400.05");
        assert_eq!(
            (t.shown(1, "amount"), t.shown(0, "n"), t.shown(1, "n")),
            (String::new(), "3".into(), String::new())
        );
        assert_eq!(t.amount(0, "amount").unwrap(), Decimal::new(-640005, 2));
        assert!(t.amount(1, "amount").is_err());
        assert!(t.amounts("amount").is_err());
        assert!(t.amounts("id").is_err());
        assert!(t.take_texts("id").is_err());
        assert!(
            StoredTable::new(vec![("a".into(), Values::Count(vec![Some(1)])), ("b".into(), Values::Count(vec![]))])
                .is_err()
        );
    }
}
