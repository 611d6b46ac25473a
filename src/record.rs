//! One data record of an input table, borrowed from the table: the leaf
//! type the row checks read, whatever the file's format.

/// One data record, borrowed from its table.
#[derive(Debug, Clone, Copy)]
pub struct Record<'t> {
    pub source_row: u64,
    text: &'t str,
    ends: &'t [u32],
    /// Why the record cannot be read; its fields are then all empty.
    pub malformed: Option<&'t str>,
}

impl<'t> Record<'t> {
    /// A record whose `ends` are its fields' end offsets in `text`.
    pub fn new(source_row: u64, text: &'t str, ends: &'t [u32], malformed: Option<&'t str>) -> Record<'t> {
        Record { source_row, text, ends, malformed }
    }

    /// Trimmed text of canonical column `index`.
    pub fn get(&self, index: usize) -> &'t str {
        self.raw(index).map_or("", str::trim)
    }

    /// Untrimmed text of canonical column `index`; none for a malformed record.
    pub fn raw(&self, index: usize) -> Option<&'t str> {
        if self.malformed.is_some() || index >= self.ends.len() {
            return None;
        }
        let start = if index == 0 { 0 } else { self.ends[index - 1] as usize };
        Some(&self.text[start..self.ends[index] as usize])
    }

    /// Number of canonical columns.
    pub fn width(&self) -> usize {
        self.ends.len()
    }

    /// The record's first `columns` canonical columns only.
    pub fn first(&self, columns: usize) -> Record<'t> {
        Record { ends: &self.ends[..columns.min(self.ends.len())], ..*self }
    }

    /// Whether two records hold the same trimmed text in every column.
    pub fn same_text(&self, other: &Record) -> bool {
        self.width() == other.width() && (0..self.width()).all(|i| self.get(i) == other.get(i))
    }
}
