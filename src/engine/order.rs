//! The eligible contracts put in allocation order (rules 4.2: ascending
//! completed_on, then contract_id as UTF-8 bytes), fast.

use rayon::prelude::*;

use crate::engine::memory::{PREFETCH_DISTANCE, prefetch};
use crate::rules::contract::Eligible;

/// Where an eligible contract sits among validation's chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct At {
    part: u32,
    index: u32,
}

/// The eligible contracts in allocation order: ascending (completed_on,
/// contract_id as UTF-8 bytes), gathered into one vector so that every later
/// pass reads them front to back. Only (date, inline id, position) keys are
/// sorted, not the contracts themselves.
pub fn in_allocation_order(parts: Vec<Vec<Eligible>>) -> Vec<Eligible> {
    // Sized up front: collected from a flat_map the vector would grow by
    // doubling, copying itself into ever larger fresh blocks.
    let mut keys: Vec<(chrono::NaiveDate, crate::Id, At)> = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    keys.extend(parts.iter().enumerate().flat_map(|(part, contracts)| {
        contracts.iter().enumerate().map(move |(index, e)| {
            (e.completed_on, e.contract.contract_id.clone(), At { part: part as u32, index: index as u32 })
        })
    }));
    // contract_ids are unique here (duplicates were removed), so the order is
    // total and an unstable sort gives the same result every time.
    keys.par_sort_unstable_by(|a, b| (a.0, a.1.as_bytes()).cmp(&(b.0, b.1.as_bytes())));
    let order: Vec<At> = keys.into_iter().map(|(_, _, at)| at).collect();
    let contract = |at: &At| &parts[at.part as usize][at.index as usize];
    (0..order.len())
        .into_par_iter()
        .map(|ordinal| {
            // The contracts sit in validation's chunks in input order: the
            // ones a few places ahead are asked for while this one is copied.
            prefetch(order.get(ordinal + PREFETCH_DISTANCE).map(contract));
            contract(&order[ordinal]).clone()
        })
        .collect()
}
