//! The row checks of one contract (rules 4.1), in their order; the first
//! failure is the row's one error code. Steps 0–2 (a malformed record, an
//! empty contract_id, duplicate ids) look at the rows of the file together
//! and are run by `engine::validate` with [`record_problem`] and the
//! duplicate rule; steps 3–9 look at one row: [`check_row`] runs them, one
//! function per step. A row that passes every step is an [`Eligible`]
//! contract for allocation.

use rustc_hash::FxHashMap;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use crate::Id;
use crate::record::Record;
use crate::rules::category::Category;
use crate::rules::codes::{Code, Detail, ExceptionRow, Source};
use crate::rules::corrections::{Action, History, Standing};
use crate::rules::dates::{iso, parse_date};
use crate::rules::money::{format_money, parse_money, push_money};
use crate::rules::policy::Policy;
use crate::rules::registry::{Enterprise, Product, Provider, ProviderStatus, Registries, SizeClass};
use crate::rules::uscc::normalize_uscc;
use crate::schema::input::{CONTRACTS, contract as col, field, too_long};
use sha2::{Digest, Sha256};

pub use crate::rules::ids::{IdRule, MAX_CONTRACT_ID_CHARS};

/// A contract row whose twelve fields parsed (rules 4.1 step 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub source_row: u64,
    pub contract_id: Id,
    pub enterprise_id: Id,
    pub provider_id: Id,
    pub product_id: Id,
    pub category_given: Option<Category>,
    pub service_price: Decimal,
    pub voucher_amount: Decimal,
    pub contract_amount: Decimal,
    pub deposit_paid: Decimal,
    pub balance_paid: Decimal,
    pub signed_on: NaiveDate,
    pub completed_on: Option<NaiveDate>,
}

impl Contract {
    /// SHA-256 of the normalized content (ids upper-cased, amounts as
    /// decimals, dates as dates, an absent category stays absent), the
    /// identity `E_ALREADY_SETTLED` / `E_SETTLED_CHANGED` compare.
    pub fn fingerprint(&self) -> Fingerprint {
        // The fields, separated by 0x1F, gathered first and hashed in one
        // call: many small updates cost more than the hashing itself.
        let mut text = String::with_capacity(256);
        for id in [&self.contract_id, &self.enterprise_id, &self.provider_id, &self.product_id] {
            text.push_str(id);
            text.push('\u{1f}');
        }
        text.push_str(self.category_given.map_or("", |c| c.code()));
        for value in
            [self.service_price, self.voucher_amount, self.contract_amount, self.deposit_paid, self.balance_paid]
        {
            text.push('\u{1f}');
            push_money(&mut text, value);
        }
        text.push('\u{1f}');
        text.push_str(iso(self.signed_on).as_str());
        text.push('\u{1f}');
        if let Some(completed_on) = self.completed_on {
            text.push_str(iso(completed_on).as_str());
        }
        Fingerprint(Sha256::digest(text.as_bytes()).into())
    }
}

/// A contract's fingerprint: the SHA-256 of its normalized content, kept as
/// 32 bytes and written as `sha256:<hex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// `sha256:` and 64 lowercase hex digits, without allocating.
    pub fn text(&self) -> FingerprintText {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 71];
        out[..7].copy_from_slice(b"sha256:");
        for (i, byte) in self.0.iter().enumerate() {
            out[7 + 2 * i] = HEX[usize::from(byte >> 4)];
            out[8 + 2 * i] = HEX[usize::from(byte & 0xf)];
        }
        FingerprintText(out)
    }
}

/// The text of a [`Fingerprint`].
pub struct FingerprintText([u8; 71]);

impl FingerprintText {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII by construction")
    }
}

impl AsRef<str> for FingerprintText {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// What allocation and the settlement row use of a contract; the amounts
/// only the row checks need (contract, deposit, balance) stay behind, and
/// the enterprise, provider and product ids are their registries' (found by
/// equality, so the same text), reached by index. That keeps each eligible
/// contract of a large batch 128 bytes smaller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractCore {
    pub source_row: u64,
    pub contract_id: Id,
    pub service_price: Decimal,
    pub voucher_amount: Decimal,
    pub signed_on: NaiveDate,
}

impl From<Contract> for ContractCore {
    fn from(c: Contract) -> ContractCore {
        ContractCore {
            source_row: c.source_row,
            contract_id: c.contract_id,
            service_price: c.service_price,
            voucher_amount: c.voucher_amount,
            signed_on: c.signed_on,
        }
    }
}

/// A contract that passed every row check and goes to allocation.
#[derive(Debug, Clone)]
pub struct Eligible {
    pub contract: ContractCore,
    /// Registry positions of the contract's enterprise, provider and product.
    pub enterprise_index: u32,
    pub provider_index: u32,
    pub product_index: u32,
    /// The catalogue product's category, which the policy covers.
    pub category: Category,
    pub completed_on: NaiveDate,
    pub fingerprint: Fingerprint,
}

/// What the row checks need besides the row.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub registries: &'a Registries,
    pub service_year: i32,
    pub cutoff: NaiveDate,
    /// Where every contract settled in a committed batch stands.
    pub history: &'a History,
    /// The contracts this batch's corrections reverse or claw back (rules 9.3).
    pub taken_back_now: &'a FxHashMap<Id, Action>,
    /// What a contract id may hold.
    pub ids: IdRule,
}

/// Steps 0 and 1, which need no parsing: a record whose field count
/// differs from the header's is `E_ROW_MALFORMED`, an empty contract_id
/// `E_FIELD_MISSING`. `None`: the row goes on to the duplicate rule.
pub fn record_problem(record: &Record) -> Option<ExceptionRow> {
    if let Some(why) = record.malformed {
        Some(ExceptionRow { detail: Detail::Text(why.to_string()), ..exception(record, Code::E_ROW_MALFORMED, "") })
    } else if record.get(col::CONTRACT_ID).is_empty() {
        Some(exception(record, Code::E_FIELD_MISSING, field::CONTRACT_ID))
    } else {
        None
    }
}

/// Step 2's exception for a row left out by the duplicate rule.
pub fn duplicate(record: &Record, identical: bool) -> ExceptionRow {
    let code = if identical { Code::E_DUPLICATE_ROW } else { Code::E_DUPLICATE_CONFLICT };
    exception(record, code, field::CONTRACT_ID)
}

fn exception(record: &Record, code: Code, field: &'static str) -> ExceptionRow {
    ExceptionRow::of_record(Source::Contracts, &CONTRACTS, col::CONTRACT_ID, record, code, field)
}

type Checked<T> = std::result::Result<T, ExceptionRow>;

/// Step 3: every field in the order of table 2.1 of the rules.
pub fn parse_contract(record: &Record, ids: IdRule) -> Checked<Contract> {
    let fail = |code, field| Err(exception(record, code, field));
    // A field longer than the limit is malformed, whatever it is.
    let name = |index: usize| CONTRACTS[index].name;
    let text = |index: usize| -> Checked<&str> {
        match record.get(index) {
            t if too_long(t) => Err(exception(record, Code::E_FIELD_INVALID, name(index))),
            t => Ok(t),
        }
    };
    let required = |index: usize| -> Checked<&str> {
        match text(index)? {
            "" => Err(exception(record, Code::E_FIELD_MISSING, name(index))),
            t => Ok(t),
        }
    };
    let uscc = |index| -> Checked<Id> {
        normalize_uscc(required(index)?).ok_or_else(|| exception(record, Code::E_BAD_USCC, name(index)))
    };
    let money = |index| -> Checked<Decimal> {
        parse_money(required(index)?).ok_or_else(|| exception(record, Code::E_FIELD_INVALID, name(index)))
    };
    let date = |index| -> Checked<NaiveDate> {
        parse_date(required(index)?).ok_or_else(|| exception(record, Code::E_FIELD_INVALID, name(index)))
    };

    let contract_id = text(col::CONTRACT_ID)?;
    if !ids.accepts(contract_id) {
        return fail(Code::E_FIELD_INVALID, field::CONTRACT_ID);
    }
    let enterprise_id = uscc(col::ENTERPRISE_ID)?;
    let provider_id = uscc(col::PROVIDER_ID)?;
    let product_id = Id::from(required(col::PRODUCT_ID)?);
    let category_given = match text(col::CATEGORY)? {
        "" => None,
        given => Some(Category::parse(given).ok_or_else(|| exception(record, Code::E_FIELD_INVALID, field::CATEGORY))?),
    };
    let service_price = money(col::SERVICE_PRICE)?;
    if service_price.is_zero() {
        return fail(Code::E_FIELD_INVALID, field::SERVICE_PRICE);
    }
    let voucher_amount = money(col::VOUCHER_AMOUNT)?;
    let contract_amount = money(col::CONTRACT_AMOUNT)?;
    let deposit_paid = money(col::DEPOSIT_PAID)?;
    let balance_paid = money(col::BALANCE_PAID)?;
    let signed_on = date(col::SIGNED_ON)?;
    let completed_on = match text(col::COMPLETED_ON)? {
        "" => None,
        _ => Some(date(col::COMPLETED_ON)?),
    };
    Ok(Contract {
        source_row: record.source_row,
        contract_id: Id::from(contract_id),
        enterprise_id,
        provider_id,
        product_id,
        category_given,
        service_price,
        voucher_amount,
        contract_amount,
        deposit_paid,
        balance_paid,
        signed_on,
        completed_on,
    })
}

/// Why a row failed a step: the code and the field it names.
pub struct Failure {
    pub code: Code,
    pub field: &'static str,
    pub detail: Detail,
}

fn failed<T>(code: Code, field: &'static str) -> Result<T, Failure> {
    Err(Failure { code, field, detail: Detail::None })
}

/// Steps 3–9 for one row that survived steps 0–2: the eligible contract
/// and its `W_OVERPAID` warning, if any, or the row's one error.
pub fn check_row(record: &Record, ctx: &Context) -> Checked<(Eligible, Option<ExceptionRow>)> {
    let contract = parse_contract(record, ctx.ids)?;
    let to_row = |f: Failure| ExceptionRow { detail: f.detail, ..exception(record, f.code, f.field) };
    let fingerprint = contract.fingerprint();
    step4_not_settled_before(&contract, fingerprint, ctx).map_err(to_row)?;
    let completed_on = step5_dates(&contract, ctx).map_err(to_row)?;
    let enterprise = step6_enterprise(&contract, ctx.registries).map_err(to_row)?;
    let provider = step7_provider(&contract, ctx.registries).map_err(to_row)?;
    let product = step8_product(&contract, ctx.registries, ctx.policy).map_err(to_row)?;
    let overpaid = step9_amounts(&contract, ctx.policy).map_err(to_row)?;
    let warning =
        overpaid.map(|detail| ExceptionRow { detail, ..exception(record, Code::W_OVERPAID, field::BALANCE_PAID) });
    let eligible = Eligible {
        enterprise_index: enterprise.index,
        provider_index: provider.index,
        product_index: product.index,
        category: product.category,
        completed_on,
        fingerprint,
        contract: contract.into(),
    };
    Ok((eligible, warning))
}

/// Step 4: a contract settled in a committed batch (any service year) is
/// `E_ALREADY_SETTLED` with the same normalized content, `E_SETTLED_CHANGED`
/// with other content. A settlement reversed (before or by this batch's
/// corrections) does not count; a clawed-back contract is `E_CLAWED_BACK`
/// (rules 9.3).
pub fn step4_not_settled_before(contract: &Contract, fingerprint: Fingerprint, ctx: &Context) -> Result<(), Failure> {
    let id = contract.contract_id.as_str();
    // Only a contract of the store can have been taken back by this batch.
    let Some(standing) = ctx.history.get(id) else { return Ok(()) };
    let action = match (ctx.taken_back_now.get(id), standing) {
        (Some(now), _) => Some(*now),
        (None, Standing::TakenBack { action, .. }) => Some(*action),
        (None, Standing::Settled { .. }) => None,
    };
    match (action, standing) {
        (Some(Action::Clawback), _) => failed(Code::E_CLAWED_BACK, field::CONTRACT_ID),
        (Some(_), _) => Ok(()),
        (None, Standing::Settled { fingerprint: settled, .. }) if settled.as_str() == fingerprint.text().as_str() => {
            failed(Code::E_ALREADY_SETTLED, field::CONTRACT_ID)
        }
        (None, _) => failed(Code::E_SETTLED_CHANGED, field::CONTRACT_ID),
    }
}

/// Step 5: signed in the service year, completed, not before it was
/// signed, and by the cutoff. Gives the completion date.
pub fn step5_dates(contract: &Contract, ctx: &Context) -> Result<NaiveDate, Failure> {
    if contract.signed_on.year() != ctx.service_year {
        return failed(Code::E_OTHER_SERVICE_YEAR, field::SIGNED_ON);
    }
    let Some(completed_on) = contract.completed_on else {
        return failed(Code::E_NOT_COMPLETED, field::COMPLETED_ON);
    };
    if completed_on < contract.signed_on {
        return failed(Code::E_DATE_ORDER, field::COMPLETED_ON);
    }
    if completed_on > ctx.cutoff {
        return failed(Code::E_AFTER_CUTOFF, field::COMPLETED_ON);
    }
    Ok(completed_on)
}

/// Step 6: the enterprise is in the registry, in manufacturing, above
/// scale and not large.
pub fn step6_enterprise<'r>(contract: &Contract, registries: &'r Registries) -> Result<&'r Enterprise, Failure> {
    let Some(enterprise) = registries.enterprises.get(contract.enterprise_id.as_str()) else {
        return failed(Code::E_UNKNOWN_ENTERPRISE, field::ENTERPRISE_ID);
    };
    if !enterprise.manufacturing {
        return failed(Code::E_NOT_MANUFACTURING, field::ENTERPRISE_ID);
    }
    if !enterprise.above_scale {
        return failed(Code::E_NOT_ABOVE_SCALE, field::ENTERPRISE_ID);
    }
    if enterprise.size_class == SizeClass::Large {
        return failed(Code::E_LARGE_ENTERPRISE, field::ENTERPRISE_ID);
    }
    Ok(enterprise)
}

/// Step 7: the provider is signed, is not the enterprise itself, is
/// neither revoked nor suspended, and was signed on the contract's date.
pub fn step7_provider<'r>(contract: &Contract, registries: &'r Registries) -> Result<&'r Provider, Failure> {
    let Some(provider) = registries.providers.get(contract.provider_id.as_str()) else {
        return failed(Code::E_UNKNOWN_PROVIDER, field::PROVIDER_ID);
    };
    if contract.provider_id == contract.enterprise_id {
        return failed(Code::E_SELF_DEALING, field::PROVIDER_ID);
    }
    match provider.status {
        ProviderStatus::Revoked => return failed(Code::E_PROVIDER_REVOKED, field::PROVIDER_ID),
        ProviderStatus::Suspended => return failed(Code::E_PROVIDER_SUSPENDED, field::PROVIDER_ID),
        ProviderStatus::Active => {}
    }
    let signed_in_period =
        provider.signed_from <= contract.signed_on && provider.signed_to.is_none_or(|to| contract.signed_on <= to);
    if !signed_in_period {
        return failed(Code::E_PROVIDER_NOT_SIGNED, field::SIGNED_ON);
    }
    Ok(provider)
}

/// Step 8: the product is in the catalogue, is the provider's, has the
/// category the contract gives (if it gives one), and the policy covers it.
pub fn step8_product<'r>(
    contract: &Contract,
    registries: &'r Registries,
    policy: &Policy,
) -> Result<&'r Product, Failure> {
    let Some(product) = registries.products.get(contract.product_id.as_str()) else {
        return failed(Code::E_UNKNOWN_PRODUCT, field::PRODUCT_ID);
    };
    if product.provider_id != contract.provider_id {
        return failed(Code::E_PRODUCT_PROVIDER_MISMATCH, field::PRODUCT_ID);
    }
    if contract.category_given.is_some_and(|given| given != product.category) {
        return failed(Code::E_CATEGORY_MISMATCH, field::CATEGORY);
    }
    if policy.covers(product.category).is_none() {
        return failed(Code::E_CATEGORY_NOT_COVERED, field::CATEGORY);
    }
    Ok(product)
}

/// Step 9: the amounts, compared exactly: something claimed, no more than
/// the price, the contract amount the price less the voucher, a deposit of
/// at least the policy's share of the contract amount, and the contract
/// paid in full. Paid more passes, with the detail of a `W_OVERPAID` warning.
pub fn step9_amounts(contract: &Contract, policy: &Policy) -> Result<Option<Detail>, Failure> {
    if contract.voucher_amount.is_zero() {
        return failed(Code::E_NO_CLAIM, field::VOUCHER_AMOUNT);
    }
    if contract.voucher_amount > contract.service_price {
        return failed(Code::E_AMOUNT_MISMATCH, field::VOUCHER_AMOUNT);
    }
    if contract.contract_amount != contract.service_price - contract.voucher_amount {
        return failed(Code::E_AMOUNT_MISMATCH, field::CONTRACT_AMOUNT);
    }
    let deposit_min = policy.deposit_ratio_min() * contract.contract_amount;
    if contract.deposit_paid < deposit_min {
        let detail = Detail::Text(format!(
            "{} < {} × {}",
            format_money(contract.deposit_paid),
            policy.deposit_ratio_min(),
            format_money(contract.contract_amount)
        ));
        return Err(Failure { code: Code::E_DEPOSIT_SHORT, field: field::DEPOSIT_PAID, detail });
    }
    let paid = contract.deposit_paid + contract.balance_paid;
    if paid < contract.contract_amount {
        return failed(Code::E_BALANCE_UNPAID, field::BALANCE_PAID);
    }
    Ok((paid > contract.contract_amount).then(|| {
        Detail::Text(format!(
            "已付 paid {} > 合同金额 contract {}",
            format_money(paid),
            format_money(contract.contract_amount)
        ))
    }))
}
