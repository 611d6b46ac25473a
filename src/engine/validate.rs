//! The row checks of a contracts file run on every core: steps 0–2 over
//! the file (they compare rows), then `rules::contract::check_row` on
//! chunks of rows side by side, kept in input order.

use rayon::prelude::*;

use crate::engine::duplicates::duplicate_groups;
use crate::ingest::Table;
use crate::rules::codes::ExceptionRow;
use crate::rules::contract::{Context, Eligible, check_row, duplicate, record_problem};
use crate::rules::duplicates::kept_after;
use crate::schema::input::contract as col;

/// Records checked together by one thread.
const VALIDATE_CHUNK: usize = 1 << 14;

#[derive(Debug, Default)]
pub struct Validated {
    pub rows_in: u64,
    /// In chunks of the input, not yet in allocation order.
    pub eligible: Vec<Vec<Eligible>>,
    /// Error rows (one per rejected row) and `W_OVERPAID` warnings.
    pub exceptions: Vec<ExceptionRow>,
}

pub fn validate_contracts(table: &Table, ctx: &Context) -> Validated {
    let clock = std::time::Instant::now();
    let lap =
        |what: &str| tracing::debug!(step = what, elapsed_ms = clock.elapsed().as_millis() as u64, "validate step");
    let mut exceptions = Vec::new();
    // Records are passed on by index (4 bytes, not a 56-byte borrowed record):
    // at ten million rows the lists below would otherwise hold a gigabyte.
    let mut candidates: Vec<u32> = Vec::with_capacity(table.len());
    for (index, record) in table.records().enumerate() {
        match record_problem(&record) {
            Some(problem) => exceptions.push(problem),
            None => candidates.push(index as u32),
        }
    }
    lap("records");
    let kept = drop_duplicates(table, candidates, &mut exceptions);
    lap("duplicates");
    // Checked in parallel chunks, kept in input order; both lists are sorted
    // later (allocation order, report order).
    let parts: Vec<(Vec<Eligible>, Vec<ExceptionRow>)> = kept
        .par_chunks(VALIDATE_CHUNK)
        .map(|chunk| {
            let mut eligible = Vec::with_capacity(chunk.len());
            let mut problems = Vec::new();
            for &index in chunk {
                match check_row(&table.record(index as usize), ctx) {
                    Ok((contract, warning)) => {
                        eligible.push(contract);
                        problems.extend(warning);
                    }
                    Err(error) => problems.push(error),
                }
            }
            (eligible, problems)
        })
        .collect();
    lap("checks");
    let (eligible, problems): (Vec<Vec<Eligible>>, Vec<Vec<ExceptionRow>>) = parts.into_iter().unzip();
    exceptions.extend(problems.into_iter().flatten());
    Validated { rows_in: table.len() as u64, eligible, exceptions }
}

/// Step 2: rows grouped by trimmed contract_id. All equal field by field ->
/// the first is kept, the others `E_DUPLICATE_ROW`; otherwise every row of
/// the group is `E_DUPLICATE_CONFLICT`. `candidates` are record indices.
fn drop_duplicates(table: &Table, candidates: Vec<u32>, exceptions: &mut Vec<ExceptionRow>) -> Vec<u32> {
    let record = |i: usize| table.record(candidates[i] as usize);
    let groups = duplicate_groups(candidates.len(), |i| record(i).get(col::CONTRACT_ID), record);
    let keep = kept_after(&groups, candidates.len(), |i, identical| {
        exceptions.push(duplicate(&record(i), identical));
    });
    candidates.into_iter().zip(keep).filter_map(|(index, k)| k.then_some(index)).collect()
}
