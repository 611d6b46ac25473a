//! Duplicate keys (rules 4.1 step 2, and the same rule for registry
//! keys): among records sharing a key that should be unique, if all are
//! identical the first is kept and the others are flagged as duplicate
//! rows; otherwise every one of them is flagged as a conflict.

/// Records sharing a key that should be unique (contract_id, a registry
/// id): their indices in input order, and whether they are all identical.
#[derive(Debug)]
pub struct DuplicateGroup {
    pub members: Vec<usize>,
    pub identical: bool,
}

impl DuplicateGroup {
    /// The records left out (rules 4.1 step 2 and its registry twin): all
    /// but the first of identical records, every one of differing records.
    pub fn flagged(&self) -> &[usize] {
        if self.identical { &self.members[1..] } else { &self.members }
    }
}

/// Which of `len` records stay once the duplicate `groups` are left out;
/// `flag` is told of each record left out and whether its group was identical.
pub fn kept_after(groups: &[DuplicateGroup], len: usize, mut flag: impl FnMut(usize, bool)) -> Vec<bool> {
    let mut keep = vec![true; len];
    for group in groups {
        for &member in group.flagged() {
            keep[member] = false;
            flag(member, group.identical);
        }
    }
    keep
}
