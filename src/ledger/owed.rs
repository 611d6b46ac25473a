//! A committed batch's payout list read back typed, in the batch's own
//! ledger format ([`stored_payouts`]: the carry-in, `year` and
//! `statements` all read it so), and from it the balance owed back per
//! provider after the committed batches of a store and the receipt numbers
//! they applied (rules 10.1, 10.2 step 3): a batch that recorded the
//! balance gives its `owed_after`; an earlier one adds what its net left
//! owing to the balance before it.

use rust_decimal::Decimal;

use super::{CommittedBatch, Format, Ledger, corrupt};
use crate::Result;
use crate::engine::OwedCarried;
use crate::frame::{TextTable, parquet_rows};
use crate::rules::owed::{Owed, carried_after};
use crate::schema::output::name;

pub const PAYOUTS_PARQUET: &str = "payouts.parquet";
pub const PAYOUTS_CSV: &str = "payouts.csv";
pub const REFUNDS_PARQUET: &str = "refunds.parquet";

/// One row of a committed batch's payout list, typed, whatever its format:
/// a format without reversal columns has net = approved; one before the
/// balances owed back has none.
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

/// A committed batch's payout list, read in its own format and checked
/// against its manifest (anything missing or not an amount: a damaged store).
pub fn stored_payouts(ledger: &Ledger, batch: &CommittedBatch) -> Result<Vec<StoredPayout>> {
    let format = Format(batch.manifest.ledger_format);
    let table = payout_table(ledger, batch, format)?;
    let text = |row: &[String], column: &str| {
        let cell = table.cell(row, column);
        cell.strip_prefix('\'').unwrap_or(cell).to_string()
    };
    let money = |row: &[String], column: &str| -> Result<Decimal> {
        let cell = table.cell(row, column);
        Decimal::from_str_exact(cell)
            .map_err(|_| corrupt(format!("batch {}: payouts {column} = {cell:?}", batch.manifest.batch_id)))
    };
    let owed = |row: &[String]| -> Result<Owed> {
        Ok(Owed {
            owed_before: money(row, name::OWED_BEFORE)?,
            owed_new: money(row, name::OWED_NEW)?,
            refunded_batch: money(row, name::REFUNDED_BATCH)?,
            offset_batch: money(row, name::OFFSET_BATCH)?,
            owed_after: money(row, name::OWED_AFTER)?,
            paid_batch: money(row, name::PAID_BATCH)?,
        })
    };
    let net = if format.has_corrections() { name::NET_AMOUNT_BATCH } else { name::APPROVED_AMOUNT_BATCH };
    table
        .rows
        .iter()
        .map(|row| {
            Ok(StoredPayout {
                provider_id: text(row, name::PROVIDER_ID),
                provider_name: text(row, name::PROVIDER_NAME),
                approved_batch: money(row, name::APPROVED_AMOUNT_BATCH)?,
                net_batch: money(row, net)?,
                approved_year: money(row, name::APPROVED_AMOUNT_YEAR)?,
                cap_remaining: money(row, name::CAP_REMAINING)?,
                owed: format.owed_balances().then(|| owed(row)).transpose()?,
            })
        })
        .collect()
}

/// Adds one committed batch, read in its own format, to what the batches
/// before it owe and applied.
pub fn add_batch(owed: &mut OwedCarried, ledger: &Ledger, batch: &CommittedBatch) -> Result<()> {
    for p in stored_payouts(ledger, batch)? {
        let id = p.provider_id.to_ascii_uppercase();
        let after = match p.owed {
            Some(o) => o.owed_after,
            None => carried_after(owed.balances.get(&id).copied().unwrap_or_default(), p.net_batch),
        };
        owed.record(id, after, &batch.manifest.batch_id);
    }
    if Format(batch.manifest.ledger_format).owed_balances() {
        let refunds = parquet_rows(&ledger.stored_output(batch, REFUNDS_PARQUET)?)?;
        for row in &refunds.rows {
            let reference = refunds.cell(row, name::REFERENCE).to_string();
            owed.references.insert(reference, batch.manifest.batch_id.clone());
        }
    }
    Ok(())
}

/// A batch's payout list: the Parquet table from format 4 on, the CSV
/// file before.
fn payout_table(ledger: &Ledger, batch: &CommittedBatch, format: Format) -> Result<TextTable> {
    if format.reads_and_prints() {
        return parquet_rows(&ledger.stored_output(batch, PAYOUTS_PARQUET)?);
    }
    let bytes = ledger.stored_output(batch, PAYOUTS_CSV)?;
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut reader = csv::Reader::from_reader(text);
    let what = |e: csv::Error| corrupt(format!("{}: {e}", batch.dir.join(PAYOUTS_CSV).display()));
    let header = reader.headers().map_err(what)?.iter().map(str::to_string).collect();
    let rows = reader
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_string).collect()).map_err(what))
        .collect::<Result<_>>()?;
    Ok(TextTable { header, rows })
}
