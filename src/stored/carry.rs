//! What the committed batches of a store hand to the next batch (rules
//! 9.3, 10.1), read through [`StoredBatch`]: the year's settlements and
//! reversals, where every contract ever settled stands, and the balances
//! owed back with the receipts already applied. Every value a later batch
//! reads must be there: a missing one is a damaged store, never zero.

use crate::engine::{CarryIn, LedgerSettlement, OwedCarried};
use crate::ledger::{CommittedBatch, Ledger};
use crate::rules::corrections::{Action, Standing};
use crate::rules::owed::carried_after;
use crate::schema::files;
use crate::schema::output::name;
use crate::schema::table::StoredTable;
use crate::{Error, Result};

use super::StoredBatch;

/// A committed reversal or clawback: the entry it took back (its amount
/// in `approved_amount`, no fingerprint) and its action's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerReversal {
    pub entry: LedgerSettlement,
    pub action: String,
}

/// The columns of an entry a later batch reads.
const ENTRY: [&str; 5] = [name::CONTRACT_ID, name::ENTERPRISE_ID, name::PROVIDER_ID, name::PRODUCT_ID, name::CATEGORY];

/// What the batches given hand to the next batch of `service_year`.
pub fn carry_in(ledger: &Ledger, committed: &[CommittedBatch], service_year: i32) -> Result<CarryIn> {
    let mut carry_in = CarryIn::default();
    for (index, batch) in committed.iter().enumerate() {
        let stored = StoredBatch::new(ledger, batch);
        let (year, at) = (batch.manifest.service_year, index as u32);
        let same_year = year == service_year;
        carry_in.batch_ids.push(batch.manifest.batch_id.clone());
        carry_in.year_batches += u32::from(same_year);
        add_owed(&mut carry_in.owed, &stored)?;
        // A batch's corrections apply before its contracts (rules 9.3).
        for r in stored.reversal_entries()? {
            let damaged =
                || stored.damaged(files::REVERSALS_PARQUET, Error::Internal(format!("action {:?}", r.action)));
            let action = Action::parse(&r.action).filter(|a| a.takes_back()).ok_or_else(damaged)?;
            let standing = Standing::TakenBack { action, service_year: year, batch: at };
            carry_in.history.insert(r.entry.contract_id.clone(), standing);
            if same_year {
                carry_in.year_reversals.push(LedgerSettlement { batch: at, ..r.entry });
            }
        }
        for s in stored.settlement_entries()? {
            let standing = Standing::Settled { fingerprint: s.fingerprint.clone(), service_year: year, batch: at };
            carry_in.history.insert(s.contract_id.clone(), standing);
            if same_year {
                carry_in.year_settlements.push(LedgerSettlement { batch: at, ..s });
            }
        }
    }
    Ok(carry_in)
}

/// The balances owed back after `batches` (a store's first batches, in
/// commit order) and the receipts they applied (rules 10.1).
pub fn owed_after(ledger: &Ledger, batches: &[CommittedBatch]) -> Result<OwedCarried> {
    let mut owed = OwedCarried::default();
    for batch in batches {
        add_owed(&mut owed, &StoredBatch::new(ledger, batch))?;
    }
    Ok(owed)
}

/// Adds one committed batch, read in its own format, to what the batches
/// before it owe and applied: a batch that recorded the balance gives its
/// `owed_after`; an earlier one adds what its net left owing to the
/// balance before it.
pub fn add_owed(owed: &mut OwedCarried, stored: &StoredBatch) -> Result<()> {
    for p in stored.payouts()? {
        let id = p.provider_id.to_ascii_uppercase();
        let after = match p.owed {
            Some(o) => o.owed_after,
            None => carried_after(owed.balances.get(&id).copied().unwrap_or_default(), p.net_batch),
        };
        owed.record(id, after, stored.id());
    }
    let refunds = stored.refunds()?;
    for row in refunds.rows() {
        owed.references.insert(refunds.text(row, name::REFERENCE).to_string(), stored.id().to_string());
    }
    Ok(())
}

impl StoredBatch<'_> {
    /// The settled contracts, as a later batch reads them.
    pub fn settlement_entries(&self) -> Result<Vec<LedgerSettlement>> {
        let only = [&ENTRY[..], &[name::APPROVED_AMOUNT, name::FINGERPRINT]].concat();
        let mut table = self.columns(files::SETTLEMENTS_PARQUET, &only)?;
        let read = |table: &mut StoredTable| {
            let fingerprints = table.take_texts(name::FINGERPRINT)?;
            entries(table, name::APPROVED_AMOUNT, fingerprints)
        };
        read(&mut table).map_err(|e| self.damaged(files::SETTLEMENTS_PARQUET, e))
    }

    /// The reversals and clawbacks applied, as a later batch reads them;
    /// none before the batch's format had corrections.
    pub fn reversal_entries(&self) -> Result<Vec<LedgerReversal>> {
        if !self.format().has_corrections() {
            return Ok(Vec::new());
        }
        let mut table = self.reversals(&[&ENTRY[..], &[name::AMOUNT, name::ACTION]].concat())?;
        let read = |table: &mut StoredTable| -> Result<Vec<LedgerReversal>> {
            let actions = table.take_texts(name::ACTION)?;
            let entries = entries(table, name::AMOUNT, vec![String::new(); table.height()])?;
            Ok(entries.into_iter().zip(actions).map(|(entry, action)| LedgerReversal { entry, action }).collect())
        };
        read(&mut table).map_err(|e| self.damaged(files::REVERSALS_PARQUET, e))
    }
}

/// The entries of a table, `amount` naming its money column.
fn entries(table: &mut StoredTable, amount: &str, fingerprints: Vec<String>) -> Result<Vec<LedgerSettlement>> {
    let approved = table.amounts(amount)?;
    let [contract_id, enterprise_id, provider_id, product_id, category] = ENTRY.map(|column| table.take_texts(column));
    let ids = contract_id?.into_iter().zip(enterprise_id?).zip(provider_id?).zip(product_id?).zip(category?);
    Ok(ids
        .zip(approved.into_iter().zip(fingerprints))
        .map(
            |(
                ((((contract_id, enterprise_id), provider_id), product_id), category),
                (approved_amount, fingerprint),
            )| {
                LedgerSettlement {
                    contract_id,
                    enterprise_id,
                    provider_id,
                    product_id,
                    category,
                    approved_amount,
                    fingerprint,
                    batch: 0,
                }
            },
        )
        .collect())
}
