//! Finding the groups of records that share a key, for the duplicate rule
//! of `rules::duplicates`, fast: by sorting hashes side by side.

use std::hash::Hasher;

use rayon::prelude::*;

use crate::record::Record;
use crate::rules::duplicates::DuplicateGroup;

/// The groups of records whose keys occur more than once, in order of their
/// first record. `key` gives the key of record `index` (of `len`); `record`
/// looks one up by index.
///
/// Found by sorting (hash, index) pairs side by side rather than filling one
/// hash map front to back: only records whose hashes collide are compared.
pub fn duplicate_groups<'t, K: std::hash::Hash + Eq>(
    len: usize,
    key: impl Fn(usize) -> K + Sync,
    record: impl Fn(usize) -> Record<'t>,
) -> Vec<DuplicateGroup> {
    let hash = |index: usize| {
        let mut hasher = rustc_hash::FxHasher::default();
        key(index).hash(&mut hasher);
        hasher.finish()
    };
    let mut hashed: Vec<(u64, u32)> = (0..len).into_par_iter().map(|index| (hash(index), index as u32)).collect();
    hashed.par_sort_unstable();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for run in hashed.chunk_by(|a, b| a.0 == b.0).filter(|run| run.len() > 1) {
        // Records of equal hash, in input order; split by their actual keys.
        let mut left: Vec<usize> = run.iter().map(|&(_, index)| index as usize).collect();
        while left.len() > 1 {
            let first = key(left[0]);
            let (same, other): (Vec<usize>, Vec<usize>) = left.iter().partition(|&&index| key(index) == first);
            if same.len() > 1 {
                groups.push(same);
            }
            left = other;
        }
    }
    groups.sort_unstable();
    groups
        .into_iter()
        .map(|members| {
            let first = record(members[0]);
            let identical = members.iter().all(|&m| record(m).same_text(&first));
            DuplicateGroup { members, identical }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::ingest::{InputOptions, parse_table};
    use crate::schema::input as columns;

    /// A key whose hash says nothing, so every record's hash collides.
    #[derive(PartialEq, Eq)]
    struct Colliding<'a>(&'a str);

    impl std::hash::Hash for Colliding<'_> {
        fn hash<H: Hasher>(&self, _: &mut H) {}
    }

    /// Groups hold equal keys only, in input order, ordered by their first
    /// record, whether or not the hashes of different keys collide.
    #[test]
    fn duplicate_groups_split_colliding_hashes_by_key() {
        let csv = "provider_id,name,status,signed_from,signed_to\n\
                   B,x,,,\nA,x,,,\nB,x,,,\nC,x,,,\nA,y,,,\nB,x,,,\n";
        let table =
            parse_table(Path::new("p.csv"), csv.as_bytes(), &columns::PROVIDERS, &InputOptions::default()).unwrap();
        let check = |groups: Vec<DuplicateGroup>| {
            let found: Vec<(Vec<usize>, bool)> = groups.into_iter().map(|g| (g.members, g.identical)).collect();
            assert_eq!(found, vec![(vec![0, 2, 5], true), (vec![1, 4], false)]);
        };
        check(duplicate_groups(table.len(), |i| table.record(i).get(0), |i| table.record(i)));
        check(duplicate_groups(table.len(), |i| Colliding(table.record(i).get(0)), |i| table.record(i)));
    }
}
