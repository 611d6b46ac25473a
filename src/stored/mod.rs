//! A committed batch read back — the one reader of the ledger's tables.
//! Every command that reads a committed batch (the carry-in of `run`,
//! `verify`'s replay, `explain`, `year`, `statements`, `signoff`) reads it
//! through a [`StoredBatch`]: each file checked against the checksum its
//! manifest lists (the manifest against the hash chain), each table typed
//! by the schema's kinds and read by the schema's column names, each in
//! the batch's own ledger format. What a format lacks (no reversals before
//! format 3, no payouts.parquet before 4) is known here and nowhere else.
//!
//! `carry` turns the stored tables into what the next batch carries in;
//! `described` turns a stored row into what people read of it.

pub mod carry;
pub mod described;

use rust_decimal::Decimal;

use crate::frame::{read_stored, read_stored_slices};
use crate::ledger::{CommittedBatch, Format, Ledger};
use crate::rules::owed::Owed;
use crate::rules::policy::{Policy, parse_policy};
use crate::schema::files;
use crate::schema::output::{PAYOUTS, USAGE, name};
use crate::schema::table::{StoredTable, Values};
use crate::{Error, Result};

/// One committed batch of a store, to be read.
#[derive(Clone, Copy)]
pub struct StoredBatch<'l> {
    ledger: &'l Ledger,
    pub batch: &'l CommittedBatch,
}

impl<'l> StoredBatch<'l> {
    pub fn new(ledger: &'l Ledger, batch: &'l CommittedBatch) -> StoredBatch<'l> {
        StoredBatch { ledger, batch }
    }

    pub fn ledger(&self) -> &'l Ledger {
        self.ledger
    }

    pub fn format(&self) -> Format {
        Format(self.batch.manifest.ledger_format)
    }

    pub fn id(&self) -> &str {
        &self.batch.manifest.batch_id
    }

    /// A file's bytes, checked against the checksum its manifest lists (a
    /// mismatch or a file not listed is a damaged store, exit 2).
    pub fn bytes(&self, file: &str) -> Result<Vec<u8>> {
        self.ledger.stored_output(self.batch, file)
    }

    /// A stored Parquet table, typed, whole.
    pub fn table(&self, file: &str) -> Result<StoredTable> {
        self.columns(file, &[])
    }

    /// Some columns of a stored Parquet table (all when `only` is empty).
    pub fn columns(&self, file: &str, only: &[&str]) -> Result<StoredTable> {
        read_stored(&self.bytes(file)?, only).map_err(|e| self.damaged(file, e))
    }

    /// A stored Parquet table, `rows` rows at a time.
    pub fn slices(&self, file: &str, rows: usize, each: impl FnMut(StoredTable)) -> Result<()> {
        read_stored_slices(&self.bytes(file)?, rows, each).map_err(|e| self.damaged(file, e))
    }

    /// The reversals and clawbacks the batch applied; none before its
    /// format had corrections.
    pub fn reversals(&self, only: &[&str]) -> Result<StoredTable> {
        if self.format().has_corrections() {
            self.columns(files::REVERSALS_PARQUET, only)
        } else {
            StoredTable::new(Vec::new())
        }
    }

    /// The refunds the batch applied; none before its format carried
    /// balances owed back.
    pub fn refunds(&self) -> Result<StoredTable> {
        if self.format().owed_balances() { self.table(files::REFUNDS_PARQUET) } else { StoredTable::new(Vec::new()) }
    }

    /// The risk flags; none before its format had audit flags.
    pub fn risk(&self) -> Result<StoredTable> {
        if self.format().audit_flags() { self.table(files::RISK_PARQUET) } else { StoredTable::new(Vec::new()) }
    }

    /// The payout list: the Parquet table from format 4 on, the CSV file
    /// before, read in the payout list's kinds.
    pub fn payout_table(&self) -> Result<StoredTable> {
        if self.format().reads_and_prints() {
            self.table(files::PAYOUTS_PARQUET)
        } else {
            self.csv(files::PAYOUTS_CSV, &PAYOUTS)
        }
    }

    /// Each enterprise's use of its quota, from enterprise_usage.csv (every
    /// format writes it).
    pub fn usage(&self) -> Result<StoredTable> {
        self.csv(files::USAGE_CSV, &USAGE)
    }

    /// The policy the batch was settled under, from the store's archive.
    pub fn policy(&self) -> Result<Policy> {
        let bytes = self
            .ledger
            .read_object(&self.batch.manifest.policy.sha256)
            .map_err(|e| Error::Input(format!("archived policy of batch {}: {e}", self.id())))?;
        parse_policy(&String::from_utf8_lossy(&bytes))
            .map_err(|e| Error::Input(format!("archived policy of batch {}: {e}", self.id())))
    }

    /// A stored CSV file, typed by the kinds of `columns` (a column the
    /// schema does not know is text); each text cell without the one
    /// leading `'` that guards it.
    fn csv(&self, file: &str, columns: &[crate::schema::output::Column]) -> Result<StoredTable> {
        let bytes = self.bytes(file)?;
        csv_table(&bytes, columns).map_err(|e| self.damaged(file, e))
    }

    fn damaged(&self, file: &str, e: Error) -> Error {
        crate::ledger::corrupt(format!("{}: {e}", self.batch.dir.join(file).display()))
    }

    /// The payout list, one typed row per provider, whatever its format:
    /// a format without reversal columns has net = approved; one before the
    /// balances owed back has none.
    pub fn payouts(&self) -> Result<Vec<StoredPayout>> {
        let table = self.payout_table()?;
        let net = if self.format().has_corrections() { name::NET_AMOUNT_BATCH } else { name::APPROVED_AMOUNT_BATCH };
        let owed = |row| -> Result<Owed> {
            Ok(Owed {
                owed_before: table.amount(row, name::OWED_BEFORE)?,
                owed_new: table.amount(row, name::OWED_NEW)?,
                refunded_batch: table.amount(row, name::REFUNDED_BATCH)?,
                offset_batch: table.amount(row, name::OFFSET_BATCH)?,
                owed_after: table.amount(row, name::OWED_AFTER)?,
                paid_batch: table.amount(row, name::PAID_BATCH)?,
            })
        };
        let payout = |row| -> Result<StoredPayout> {
            Ok(StoredPayout {
                provider_id: table.text(row, name::PROVIDER_ID).to_string(),
                provider_name: table.text(row, name::PROVIDER_NAME).to_string(),
                approved_batch: table.amount(row, name::APPROVED_AMOUNT_BATCH)?,
                net_batch: table.amount(row, net)?,
                approved_year: table.amount(row, name::APPROVED_AMOUNT_YEAR)?,
                cap_remaining: table.amount(row, name::CAP_REMAINING)?,
                owed: self.format().owed_balances().then(|| owed(row)).transpose()?,
            })
        };
        let file = if self.format().reads_and_prints() { files::PAYOUTS_PARQUET } else { files::PAYOUTS_CSV };
        table.rows().map(payout).collect::<Result<_>>().map_err(|e| self.damaged(file, e))
    }

    /// Every settlement of the batch as the year sums them up.
    pub fn settled(&self) -> Result<Vec<StoredSettlement>> {
        let only =
            [name::ENTERPRISE_ID, name::PROVIDER_ID, name::CATEGORY, name::VOUCHER_AMOUNT, name::APPROVED_AMOUNT];
        let mut table = self.columns(files::SETTLEMENTS_PARQUET, &[&only[..], &[name::CODE]].concat())?;
        let read = |table: &mut StoredTable| -> Result<Vec<StoredSettlement>> {
            let (claimed, approved) = (table.amounts(name::VOUCHER_AMOUNT)?, table.amounts(name::APPROVED_AMOUNT)?);
            let codes: Vec<String> = table.rows().map(|row| table.text(row, name::CODE).to_string()).collect();
            let (enterprise_id, provider_id) =
                (table.take_texts(name::ENTERPRISE_ID)?, table.take_texts(name::PROVIDER_ID)?);
            let category = table.take_texts(name::CATEGORY)?;
            let rows = enterprise_id.into_iter().zip(provider_id).zip(category).zip(claimed.into_iter().zip(approved));
            Ok(rows
                .zip(codes)
                .map(|((((enterprise_id, provider_id), category), (claimed, approved)), code)| StoredSettlement {
                    enterprise_id,
                    provider_id,
                    category,
                    claimed,
                    approved,
                    code,
                })
                .collect())
        };
        read(&mut table).map_err(|e| self.damaged(files::SETTLEMENTS_PARQUET, e))
    }
}

/// One row of a committed batch's payout list, typed.
#[derive(Debug, Clone)]
pub struct StoredPayout {
    pub provider_id: String,
    pub provider_name: String,
    pub approved_batch: Decimal,
    pub net_batch: Decimal,
    pub approved_year: Decimal,
    pub cap_remaining: Decimal,
    pub owed: Option<Owed>,
}

/// A committed settlement as the year's statement reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSettlement {
    pub enterprise_id: String,
    pub provider_id: String,
    pub category: String,
    /// The voucher amount claimed.
    pub claimed: Decimal,
    pub approved: Decimal,
    /// The settlement's code (`W_ITEM_CAP` …), empty for one paid in full.
    pub code: String,
}

/// A stored CSV file as a typed table: each column in the kind `columns`
/// gives its name (text otherwise), an empty cell as no value, a guarded
/// text cell without its leading `'`.
fn csv_table(bytes: &[u8], columns: &[crate::schema::output::Column]) -> Result<StoredTable> {
    use crate::schema::output::Kind;
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::Reader::from_reader(text);
    let header: Vec<String> =
        reader.headers().map_err(|e| Error::Internal(e.to_string()))?.iter().map(str::to_string).collect();
    let kind = |name: &str| columns.iter().find(|c| c.name == name).map_or(Kind::Text, |c| c.kind);
    let mut values: Vec<Values> = header
        .iter()
        .map(|h| match kind(h) {
            Kind::Money => Values::Money(Vec::new()),
            Kind::Count => Values::Count(Vec::new()),
            _ => Values::Text(Vec::new()),
        })
        .collect();
    for record in reader.records() {
        let record = record.map_err(|e| Error::Internal(e.to_string()))?;
        for (cell, column) in record.iter().zip(values.iter_mut()) {
            csv_cell(cell, column)?;
        }
    }
    StoredTable::new(header.into_iter().zip(values).collect())
}

fn csv_cell(cell: &str, column: &mut Values) -> Result<()> {
    let bad = || Error::Internal(format!("{cell:?} is not a number"));
    match column {
        Values::Money(v) if cell.is_empty() => v.push(None),
        Values::Money(v) => v.push(Some(Decimal::from_str_exact(cell).map_err(|_| bad())?)),
        Values::Count(v) if cell.is_empty() => v.push(None),
        Values::Count(v) => v.push(Some(cell.parse().map_err(|_| bad())?)),
        Values::Text(v) => v.push(Some(cell.strip_prefix('\'').unwrap_or(cell).to_string())),
    }
    Ok(())
}
