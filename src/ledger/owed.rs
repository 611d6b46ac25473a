//! The balance owed back per provider after the committed batches of a
//! store, and the receipt numbers they applied (rules 10.1, 10.2 step 3),
//! each batch read in its own ledger format: a batch that recorded the
//! balance gives its `owed_after`; an earlier one adds what its net left
//! owing to the balance before it.

use rust_decimal::Decimal;

use super::{CommittedBatch, Format, Ledger, corrupt};
use crate::Result;
use crate::engine::OwedCarried;
use crate::frame::{TextTable, parquet_rows};
use crate::rules::owed::carried_after;
use crate::schema::output::{PAYOUTS, REFUNDS, payout};

pub const PAYOUTS_PARQUET: &str = "payouts.parquet";
pub const PAYOUTS_CSV: &str = "payouts.csv";
pub const REFUNDS_PARQUET: &str = "refunds.parquet";

/// Adds one committed batch, read in its own format, to what the batches
/// before it owe and applied.
pub fn add_batch(owed: &mut OwedCarried, ledger: &Ledger, batch: &CommittedBatch) -> Result<()> {
    let format = Format(batch.manifest.ledger_format);
    let payouts = payout_table(ledger, batch, format)?;
    let money = |row: &[String], column: usize| -> Result<Decimal> {
        let text = payouts.cell(row, PAYOUTS[column].name);
        Decimal::from_str_exact(text).map_err(|_| {
            corrupt(format!("batch {}: payouts {} = {text:?}", batch.manifest.batch_id, PAYOUTS[column].name))
        })
    };
    for row in &payouts.rows {
        let id = payouts.cell(row, PAYOUTS[payout::PROVIDER_ID].name);
        let id = id.strip_prefix('\'').unwrap_or(id).to_ascii_uppercase();
        let after = if format.owed_balances() {
            money(row, payout::OWED_AFTER)?
        } else {
            let net = if format.has_corrections() { payout::NET_BATCH } else { payout::APPROVED_BATCH };
            carried_after(owed.balances.get(&id).copied().unwrap_or_default(), money(row, net)?)
        };
        owed.record(id, after, &batch.manifest.batch_id);
    }
    if format.owed_balances() {
        let refunds = parquet_rows(&ledger.stored_output(batch, REFUNDS_PARQUET)?)?;
        for row in &refunds.rows {
            let reference = refunds.cell(row, REFUNDS[5].name).to_string();
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
