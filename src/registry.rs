//! The four registries (SPEC 2.2–2.5): typed rows keyed for look-up, and the
//! registry exceptions of SPEC 4.1 (unusable rows, duplicate keys, unknown
//! designations).

use chrono::NaiveDate;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::Id;
use crate::category::Category;
use crate::codes::{Code, Detail, ExceptionRow, Source};
use crate::dates::parse_date;
use crate::ingest::{Record, Table, duplicate_groups, kept_after};
use crate::money::parse_money;
use crate::policy::Policy;
use crate::uscc::normalize_uscc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeClass {
    Large,
    Medium,
    Small,
    Micro,
}

#[derive(Debug, Clone)]
pub struct Enterprise {
    /// Dense position among the usable enterprises (ids in byte order).
    pub index: u32,
    pub id: String,
    pub name: String,
    pub manufacturing: bool,
    pub size_class: SizeClass,
    pub above_scale: bool,
    pub above_scale_since: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct Designation {
    pub code: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderStatus {
    Active,
    Suspended,
    Revoked,
}

#[derive(Debug, Clone)]
pub struct Provider {
    /// Dense position among the usable providers (ids in byte order).
    pub index: u32,
    pub id: String,
    pub name: String,
    pub status: ProviderStatus,
    pub signed_from: NaiveDate,
    pub signed_to: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct Product {
    /// Dense position among the usable products (ids in byte order).
    pub index: u32,
    pub id: String,
    pub provider_id: String,
    pub category: Category,
}

/// The usable rows of the four registries.
#[derive(Debug, Default)]
pub struct Registries {
    // Keyed by inline ids: a lookup compares the key without following a
    // pointer, which matters with millions of entries.
    pub enterprises: FxHashMap<Id, Enterprise>,
    /// Usable designations known to the policy, per enterprise.
    pub designations: FxHashMap<Id, Vec<Designation>>,
    pub providers: FxHashMap<Id, Provider>,
    pub products: FxHashMap<Id, Product>,
}

/// A field that made a registry row unusable.
struct Invalid {
    field: &'static str,
    value: String,
}

type Parsed<T> = std::result::Result<T, Invalid>;

fn invalid<T>(record: &Record, index: usize, field: &'static str) -> Parsed<T> {
    Err(Invalid { field, value: record.get(index).to_string() })
}

fn required<'r>(record: &'r Record, index: usize, field: &'static str) -> Parsed<&'r str> {
    let text = record.get(index);
    if text.is_empty() { invalid(record, index, field) } else { Ok(text) }
}

fn uscc(record: &Record, index: usize, field: &'static str) -> Parsed<String> {
    normalize_uscc(record.get(index)).map_or_else(|| invalid(record, index, field), |id| Ok(id.into()))
}

fn date(record: &Record, index: usize, field: &'static str) -> Parsed<NaiveDate> {
    parse_date(required(record, index, field)?).map_or_else(|| invalid(record, index, field), Ok)
}

/// An optional end date: empty means open; before `start` makes the row unusable.
fn end_date(record: &Record, index: usize, field: &'static str, start: NaiveDate) -> Parsed<Option<NaiveDate>> {
    if record.get(index).is_empty() {
        return Ok(None);
    }
    match date(record, index, field)? {
        end if end < start => invalid(record, index, field),
        end => Ok(Some(end)),
    }
}

fn one_of<T: Copy>(record: &Record, index: usize, field: &'static str, words: &[(&str, T)]) -> Parsed<T> {
    let text = record.get(index);
    words
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(text))
        .map_or_else(|| invalid(record, index, field), |(_, value)| Ok(*value))
}

fn parse_enterprise(r: &Record) -> Parsed<Enterprise> {
    let id = uscc(r, 0, "enterprise_id")?;
    let manufacturing = industry_is_manufacturing(required(r, 2, "industry_code")?)
        .map_or_else(|| invalid(r, 2, "industry_code"), Ok)?;
    use SizeClass::*;
    let size_class = one_of(
        r,
        3,
        "size_class",
        &[
            ("large", Large),
            ("medium", Medium),
            ("small", Small),
            ("micro", Micro),
            ("大型", Large),
            ("中型", Medium),
            ("小型", Small),
            ("微型", Micro),
        ],
    )?;
    let above_scale = one_of(
        r,
        4,
        "above_scale",
        &[
            ("true", true),
            ("false", false),
            ("yes", true),
            ("no", false),
            ("1", true),
            ("0", false),
            ("是", true),
            ("否", false),
        ],
    )?;
    let since_text = r.get(5);
    let above_scale_since = if since_text.is_empty() {
        None
    } else if since_text.len() == 4 && since_text.bytes().all(|b| b.is_ascii_digit()) {
        since_text.parse().ok()
    } else {
        return invalid(r, 5, "above_scale_since");
    };
    Ok(Enterprise {
        index: 0,
        id,
        name: r.get(1).to_string(),
        manufacturing,
        size_class,
        above_scale,
        above_scale_since,
    })
}

/// GB/T 4754-2017: optional section letter, then 2–4 digits. Returns whether
/// the division (first two digits) is manufacturing (13–43), or `None` when
/// malformed, including a letter other than C on a manufacturing division.
pub fn industry_is_manufacturing(code: &str) -> Option<bool> {
    let (letter, digits) = match code.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => (Some(c.to_ascii_uppercase()), &code[1..]),
        _ => (None, code),
    };
    if !(2..=4).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let division: u32 = digits[..2].parse().ok()?;
    let manufacturing = (13..=43).contains(&division);
    if manufacturing && letter.is_some_and(|l| l != 'C') {
        return None;
    }
    Some(manufacturing)
}

fn parse_designation(r: &Record) -> Parsed<(String, Designation)> {
    let enterprise_id = uscc(r, 0, "enterprise_id")?;
    let code = required(r, 1, "designation")?.to_ascii_lowercase();
    let valid_from = date(r, 2, "valid_from")?;
    let valid_to = end_date(r, 3, "valid_to", valid_from)?;
    Ok((enterprise_id, Designation { code, valid_from, valid_to }))
}

fn parse_provider(r: &Record) -> Parsed<Provider> {
    use ProviderStatus::*;
    let id = uscc(r, 0, "provider_id")?;
    let status = one_of(
        r,
        2,
        "status",
        &[
            ("active", Active),
            ("suspended", Suspended),
            ("revoked", Revoked),
            ("正常", Active),
            ("暂停", Suspended),
            ("取消", Revoked),
        ],
    )?;
    let signed_from = date(r, 3, "signed_from")?;
    let signed_to = end_date(r, 4, "signed_to", signed_from)?;
    Ok(Provider { index: 0, id, name: r.get(1).to_string(), status, signed_from, signed_to })
}

fn parse_product(r: &Record) -> Parsed<Product> {
    let id = required(r, 0, "product_id")?.to_string();
    let provider_id = uscc(r, 1, "provider_id")?;
    let category = Category::parse(required(r, 2, "category")?).map_or_else(|| invalid(r, 2, "category"), Ok)?;
    if !r.get(4).is_empty() && parse_money(r.get(4)).is_none() {
        return invalid(r, 4, "list_price");
    }
    Ok(Product { index: 0, id, provider_id, category })
}

fn registry_exception(source: Source, source_row: u64, code: Code, field: &'static str, value: String) -> ExceptionRow {
    ExceptionRow {
        source,
        source_row,
        contract_id: Id::default(),
        code,
        field,
        value: value.into(),
        detail: Detail::None,
    }
}

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
            exceptions.push(ExceptionRow {
                detail: Detail::Text(record.malformed.unwrap_or_default().to_string()),
                ..registry_exception(source, record.source_row, Code::R_FIELD_INVALID, "", String::new())
            });
            continue;
        };
        match parsed {
            Ok(value) => rows.push((record, value)),
            Err(bad) => exceptions.push(registry_exception(
                source,
                record.source_row,
                Code::R_FIELD_INVALID,
                bad.field,
                bad.value,
            )),
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
    source: Source,
    key: impl Fn(&T) -> Id + Sync,
    exceptions: &mut Vec<ExceptionRow>,
) -> Vec<(Id, T)> {
    let groups = duplicate_groups(rows.len(), |i| key(&rows[i].1), |i| rows[i].0);
    let keep = kept_after(&groups, rows.len(), |m, identical| {
        let code = if identical { Code::R_DUPLICATE_ROW } else { Code::R_DUPLICATE_CONFLICT };
        let (record, value) = &rows[m];
        exceptions.push(registry_exception(source, record.source_row, code, "", key(value).to_string()));
    });
    let mut kept = Vec::with_capacity(rows.len());
    kept.extend(rows.into_iter().zip(keep).filter(|(_, kept)| *kept).map(|((_, value), _)| (key(&value), value)));
    kept
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
    let mut kept = unique_by_key(rows, source, |entry| Id::from(id(entry)), &mut problems);
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
pub fn build_registries(
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
            exceptions.push(registry_exception(
                Source::Designations,
                record.source_row,
                Code::R_UNKNOWN_DESIGNATION,
                "designation",
                record.get(1).to_string(),
            ));
        }
    }
    let registries = Registries { enterprises, designations: by_enterprise, providers, products };
    (registries, exceptions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn industry_codes() {
        assert_eq!(industry_is_manufacturing("C3311"), Some(true));
        assert_eq!(industry_is_manufacturing("c33"), Some(true));
        assert_eq!(industry_is_manufacturing("3311"), Some(true));
        assert_eq!(industry_is_manufacturing("13"), Some(true));
        assert_eq!(industry_is_manufacturing("43"), Some(true));
        assert_eq!(industry_is_manufacturing("12"), Some(false));
        assert_eq!(industry_is_manufacturing("F5123"), Some(false));
        assert_eq!(industry_is_manufacturing("C0511"), Some(false), "letters not checked off manufacturing");
        assert_eq!(industry_is_manufacturing("A3311"), None);
        assert_eq!(industry_is_manufacturing("C3"), None);
        assert_eq!(industry_is_manufacturing("C33111"), None);
        assert_eq!(industry_is_manufacturing("CC33"), None);
        assert_eq!(industry_is_manufacturing(""), None);
    }
}
