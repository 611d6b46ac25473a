//! The four registries (rules 2.2–2.5) and their checks (rules 4.1, the
//! paragraphs after the row checks): what makes a registry row usable. A
//! row with a bad USCC or a malformed or missing required field is
//! `R_FIELD_INVALID` and left out; rows sharing a key follow the duplicate
//! rule (`duplicates.rs`) with `R_DUPLICATE_ROW` / `R_DUPLICATE_CONFLICT`;
//! a designation the policy does not know is `R_UNKNOWN_DESIGNATION`.

use chrono::NaiveDate;
use rustc_hash::FxHashMap;

use crate::Id;
use crate::record::Record;
use crate::rules::category::Category;
use crate::rules::codes::{Code, Detail, ExceptionRow, Source};
use crate::rules::dates::parse_date;
use crate::rules::money::parse_money;
use crate::rules::risk::Contact;
use crate::rules::uscc::normalize_uscc;
use crate::schema::input::{self, ColumnSpec, field, too_long};

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
    /// The optional contact columns, for the risk flags only.
    pub contact: Option<Box<Contact>>,
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
    /// The optional contact columns, for the risk flags only.
    pub contact: Option<Box<Contact>>,
}

#[derive(Debug, Clone)]
pub struct Product {
    /// Dense position among the usable products (ids in byte order).
    pub index: u32,
    pub id: String,
    pub provider_id: String,
    pub category: Category,
    /// The catalogue's guide price (指导价), where given.
    pub list_price: Option<rust_decimal::Decimal>,
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
pub struct Invalid {
    pub field: &'static str,
    pub value: String,
}

/// A registry row parsed, or the field that made it unusable.
pub type Parsed<T> = std::result::Result<T, Invalid>;

/// Every field within the length limit: a longer one makes the row unusable.
fn within_limit(record: &Record, columns: &[ColumnSpec]) -> Parsed<()> {
    match columns.iter().enumerate().find(|(index, _)| too_long(record.get(*index))) {
        Some((index, column)) => invalid(record, index, column.name),
        None => Ok(()),
    }
}

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

pub fn parse_enterprise(r: &Record) -> Parsed<Enterprise> {
    within_limit(r, &input::ENTERPRISES[..input::ENTERPRISES_CHECKED])?;
    let id = uscc(r, 0, field::ENTERPRISE_ID)?;
    let manufacturing = industry_is_manufacturing(required(r, 2, field::INDUSTRY_CODE)?)
        .map_or_else(|| invalid(r, 2, field::INDUSTRY_CODE), Ok)?;
    use SizeClass::*;
    let size_class = one_of(
        r,
        3,
        field::SIZE_CLASS,
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
        field::ABOVE_SCALE,
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
        return invalid(r, 5, field::ABOVE_SCALE_SINCE);
    };
    Ok(Enterprise {
        index: 0,
        id,
        name: r.get(1).to_string(),
        manufacturing,
        size_class,
        above_scale,
        above_scale_since,
        contact: contact(r, input::ENTERPRISES_CHECKED),
    })
}

/// The contact columns from `first` on, if the registry has any filled in
/// (read for the risk flags only; never a reason to refuse a row).
fn contact(r: &Record, first: usize) -> Option<Box<Contact>> {
    let get = |i: usize| r.get(first + i);
    let contact = Contact::new(get(0), get(1), get(2), get(3));
    (!contact.is_empty()).then(|| Box::new(contact))
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

pub fn parse_designation(r: &Record) -> Parsed<(String, Designation)> {
    within_limit(r, &input::DESIGNATIONS)?;
    let enterprise_id = uscc(r, 0, field::ENTERPRISE_ID)?;
    let code = required(r, 1, field::DESIGNATION)?.to_ascii_lowercase();
    let valid_from = date(r, 2, field::VALID_FROM)?;
    let valid_to = end_date(r, 3, field::VALID_TO, valid_from)?;
    Ok((enterprise_id, Designation { code, valid_from, valid_to }))
}

pub fn parse_provider(r: &Record) -> Parsed<Provider> {
    within_limit(r, &input::PROVIDERS[..input::PROVIDERS_CHECKED])?;
    use ProviderStatus::*;
    let id = uscc(r, 0, field::PROVIDER_ID)?;
    let status = one_of(
        r,
        2,
        field::STATUS,
        &[
            ("active", Active),
            ("suspended", Suspended),
            ("revoked", Revoked),
            ("正常", Active),
            ("暂停", Suspended),
            ("取消", Revoked),
        ],
    )?;
    let signed_from = date(r, 3, field::SIGNED_FROM)?;
    let signed_to = end_date(r, 4, field::SIGNED_TO, signed_from)?;
    let contact = contact(r, input::PROVIDERS_CHECKED);
    Ok(Provider { index: 0, id, name: r.get(1).to_string(), status, signed_from, signed_to, contact })
}

pub fn parse_product(r: &Record) -> Parsed<Product> {
    within_limit(r, &input::PRODUCTS)?;
    let id = required(r, 0, field::PRODUCT_ID)?.to_string();
    let provider_id = uscc(r, 1, field::PROVIDER_ID)?;
    let category =
        Category::parse(required(r, 2, field::CATEGORY)?).map_or_else(|| invalid(r, 2, field::CATEGORY), Ok)?;
    let list_price = match r.get(4) {
        "" => None,
        text => Some(parse_money(text).map_or_else(|| invalid(r, 4, field::LIST_PRICE), Ok)?),
    };
    Ok(Product { index: 0, id, provider_id, category, list_price })
}

/// The exception of a registry record that could not be read at all.
pub fn malformed_record(source: Source, record: &Record) -> ExceptionRow {
    ExceptionRow {
        detail: Detail::Text(record.malformed.unwrap_or_default().to_string()),
        ..registry_exception(source, record.source_row, Code::R_FIELD_INVALID, "", String::new())
    }
}

/// The exception of an unusable registry row.
pub fn unusable(source: Source, record: &Record, invalid: Invalid) -> ExceptionRow {
    registry_exception(source, record.source_row, Code::R_FIELD_INVALID, invalid.field, invalid.value)
}

/// The exception of a designation the policy does not know.
pub fn unknown_designation(record: &Record) -> ExceptionRow {
    registry_exception(
        Source::Designations,
        record.source_row,
        Code::R_UNKNOWN_DESIGNATION,
        field::DESIGNATION,
        record.get(1).to_string(),
    )
}

/// The exception of a registry row left out or flagged by the duplicate
/// rule: identical rows are `R_DUPLICATE_ROW`, differing ones `R_DUPLICATE_CONFLICT`.
pub fn duplicate_key(source: Source, record: &Record, identical: bool, key: &str) -> ExceptionRow {
    let code = if identical { Code::R_DUPLICATE_ROW } else { Code::R_DUPLICATE_CONFLICT };
    registry_exception(source, record.source_row, code, "", key.to_string())
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
