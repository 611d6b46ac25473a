//! The four registries built side by side from their tables, each row
//! checked by `rules::registry`, each entry numbered by its place in id
//! order so that the allocation pass keeps its totals in plain vectors.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::Id;
use crate::engine::duplicates::duplicate_groups;
use crate::ingest::Table;
use crate::record::Record;
use crate::rules::codes::{ExceptionRow, Source};
use crate::rules::duplicates::kept_after;
use crate::rules::policy::Policy;
use crate::rules::registry::{
    Designation, Parsed, Registries, duplicate_key, malformed_record, parse_designation, parse_enterprise,
    parse_product, parse_provider, unknown_designation, unusable,
};

/// Parses every record (in parallel, kept in file order); unusable ones
/// become `R_FIELD_INVALID`.
fn usable_rows<'t, T: Send>(
    table: &'t Table,
    source: Source,
    parse: impl Fn(&Record) -> Parsed<T> + Sync,
    exceptions: &mut Vec<ExceptionRow>,
) -> Vec<(Record<'t>, T)> {
    let parsed: Vec<(Record, Option<Parsed<T>>)> = (0..table.len())
        .into_par_iter()
        .map(|index| {
            let record = table.record(index);
            let parsed = record.malformed.is_none().then(|| parse(&record));
            (record, parsed)
        })
        .collect();
    let mut rows = Vec::with_capacity(table.len());
    for (record, parsed) in parsed {
        let Some(parsed) = parsed else {
            exceptions.push(malformed_record(source, &record));
            continue;
        };
        match parsed {
            Ok(value) => rows.push((record, value)),
            Err(bad) => exceptions.push(unusable(source, &record, bad)),
        }
    }
    rows
}

/// Among usable rows sharing a key: all identical (trimmed text of every
/// column) -> the first is kept, the others `R_DUPLICATE_ROW`; otherwise all
/// are left out, each `R_DUPLICATE_CONFLICT`. The exceptions are sorted with
/// the others later.
fn unique_by_key<T: Sync>(
    rows: Vec<(Record, T)>,
    (source, compared): (Source, usize),
    key: impl Fn(&T) -> Id + Sync,
    exceptions: &mut Vec<ExceptionRow>,
) -> Vec<(Id, T)> {
    let groups = duplicate_groups(rows.len(), |i| key(&rows[i].1), |i| rows[i].0.first(compared));
    let keep = kept_after(&groups, rows.len(), |m, identical| {
        let (record, value) = &rows[m];
        exceptions.push(duplicate_key(source, record, identical, &key(value)));
    });
    let mut kept = Vec::with_capacity(rows.len());
    kept.extend(rows.into_iter().zip(keep).filter(|(_, kept)| *kept).map(|((_, value), _)| (key(&value), value)));
    kept
}

/// How many of a registry's columns its duplicate rule compares: all but
/// the contact columns read for the risk flags.
fn compared_columns(source: Source) -> usize {
    match source {
        Source::Enterprises => crate::schema::input::ENTERPRISES_CHECKED,
        Source::Providers => crate::schema::input::PROVIDERS_CHECKED,
        _ => usize::MAX,
    }
}

/// One registry keyed by id, each entry numbered, with its problem rows.
/// The dense index of an entry is its place in byte order of the ids, so
/// that the allocation pass can keep its running totals in plain vectors.
fn registry<T: Send + Sync>(
    table: &Table,
    source: Source,
    parse: impl Fn(&Record) -> Parsed<T> + Sync,
    id: impl Fn(&T) -> &str + Sync,
    set_index: impl Fn(&mut T, u32),
) -> (FxHashMap<Id, T>, Vec<ExceptionRow>) {
    let mut problems = Vec::new();
    let rows = usable_rows(table, source, parse, &mut problems);
    let mut kept = unique_by_key(rows, (source, compared_columns(source)), |entry| Id::from(id(entry)), &mut problems);
    // The ids are unique here, so the order is total.
    kept.par_sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    let mut entries = FxHashMap::with_capacity_and_hasher(kept.len(), Default::default());
    for (index, (id, mut entry)) in kept.into_iter().enumerate() {
        set_index(&mut entry, index as u32);
        entries.insert(id, entry);
    }
    (entries, problems)
}

/// Builds the registries from the four tables, reporting every problem row.
pub fn build(
    enterprises: &Table,
    designations: &Table,
    providers: &Table,
    products: &Table,
    policy: &Policy,
) -> (Registries, Vec<ExceptionRow>) {
    // The tables are independent: built side by side, their problems
    // listed in the same order as one after the other.
    let ((enterprises, enterprise_problems), ((providers, provider_problems), (products, product_problems))) =
        rayon::join(
            || registry(enterprises, Source::Enterprises, parse_enterprise, |e| &e.id, |e, i| e.index = i),
            || {
                rayon::join(
                    || registry(providers, Source::Providers, parse_provider, |p| &p.id, |p, i| p.index = i),
                    || registry(products, Source::Products, parse_product, |p| &p.id, |p, i| p.index = i),
                )
            },
        );
    let mut exceptions = enterprise_problems;
    exceptions.extend(provider_problems);
    exceptions.extend(product_problems);

    let mut by_enterprise: FxHashMap<Id, Vec<Designation>> = FxHashMap::default();
    for (record, (enterprise_id, designation)) in
        usable_rows(designations, Source::Designations, parse_designation, &mut exceptions)
    {
        if policy.knows_designation(&designation.code) {
            by_enterprise.entry(Id::from(enterprise_id)).or_default().push(designation);
        } else {
            exceptions.push(unknown_designation(&record));
        }
    }
    let registries = Registries { enterprises, designations: by_enterprise, providers, products };
    (registries, exceptions)
}
