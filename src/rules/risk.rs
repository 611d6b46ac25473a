//! Risk flags (风险提示) and the spot-check sample (抽查清单): findings for
//! people to check, never a change of money. Each flag is a pure test at a
//! threshold of the policy's `[risk]` table (the audit office's settings),
//! and the sample is drawn by a method anyone can repeat from its seed.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::schema::output::Cell;

/// The flags, in the order the risk sheet lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    RelatedParty,
    FastCompletion,
    PriceAboveList,
    SameDayBulk,
    Concentration,
    CapRace,
}

impl Flag {
    pub const ALL: [Flag; 6] = [
        Flag::RelatedParty,
        Flag::FastCompletion,
        Flag::PriceAboveList,
        Flag::SameDayBulk,
        Flag::Concentration,
        Flag::CapRace,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Flag::RelatedParty => "F_RELATED_PARTY",
            Flag::FastCompletion => "F_FAST_COMPLETION",
            Flag::PriceAboveList => "F_PRICE_ABOVE_LIST",
            Flag::SameDayBulk => "F_SAME_DAY_BULK",
            Flag::Concentration => "F_CONCENTRATION",
            Flag::CapRace => "F_CAP_RACE",
        }
    }

    /// What the flag means, in Chinese, for the sheets and the page.
    pub fn meaning_zh(self) -> &'static str {
        match self {
            Flag::RelatedParty => "企业与服务商疑似关联（共用电话、地址或银行账号）",
            Flag::FastCompletion => "签订后很快即确认完成的大额合同",
            Flag::PriceAboveList => "服务价格高于目录指导价",
            Flag::SameDayBulk => "服务商同一天完成大量合同",
            Flag::Concentration => "服务商收入或企业用券集中于单一对象",
            Flag::CapRace => "服务商在年度首批即接近年度上限",
        }
    }

    /// Whether the flag concerns one contract (else a provider or an
    /// enterprise as a whole).
    pub fn of_contract(self) -> bool {
        matches!(self, Flag::RelatedParty | Flag::FastCompletion | Flag::PriceAboveList)
    }
}

/// The thresholds of the policy's `[risk]` table, with their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskSettings {
    /// A shared phone, address or account flags only if held by at most
    /// this many registry entries in all.
    pub related_max_holders: u32,
    pub fast_completion_days: i64,
    pub fast_completion_amount: Decimal,
    pub same_day_bulk: u32,
    pub concentration_contracts: u32,
    pub concentration_share: Decimal,
    pub quota_share: Decimal,
    pub cap_race_share: Decimal,
    pub sample_rate: Decimal,
    pub sample_min: u32,
}

impl Default for RiskSettings {
    fn default() -> Self {
        RiskSettings {
            related_max_holders: 3,
            fast_completion_days: 2,
            fast_completion_amount: Decimal::new(20_000, 0),
            same_day_bulk: 20,
            concentration_contracts: 10,
            concentration_share: Decimal::new(80, 2),
            quota_share: Decimal::new(90, 2),
            cap_race_share: Decimal::new(95, 2),
            sample_rate: Decimal::new(5, 2),
            sample_min: 10,
        }
    }
}

impl RiskSettings {
    /// Each setting as `key = value`, for the sheet that lists the flags.
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!("related_max_holders = {}", self.related_max_holders),
            format!("fast_completion_days = {}", self.fast_completion_days),
            format!("fast_completion_amount = {}", self.fast_completion_amount),
            format!("same_day_bulk = {}", self.same_day_bulk),
            format!("concentration_contracts = {}", self.concentration_contracts),
            format!("concentration_share = {}", self.concentration_share),
            format!("quota_share = {}", self.quota_share),
            format!("cap_race_share = {}", self.cap_race_share),
            format!("sample_rate = {}", self.sample_rate),
            format!("sample_min = {}", self.sample_min),
        ]
    }
}

/// A registry entry's contact details (optional registry columns), each
/// compared after removing white space and punctuation; empty matches
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub legal_person: String,
    pub phone: String,
    pub address: String,
    pub bank_account: String,
}

/// How a contact value is read from a contact.
pub type Field = fn(&Contact) -> &str;

/// The three values a related party may share (the legal person's name
/// counts only together with one of them).
pub const SHARED: [(&str, Field); 3] =
    [("phone", |c| &c.phone), ("address", |c| &c.address), ("bank_account", |c| &c.bank_account)];

impl Contact {
    pub fn new(legal_person: &str, phone: &str, address: &str, bank_account: &str) -> Contact {
        Contact {
            legal_person: normalize(legal_person),
            phone: normalize(phone),
            address: normalize(address),
            bank_account: normalize(bank_account),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.legal_person.is_empty() && self.phone.is_empty() && self.address.is_empty() && self.bank_account.is_empty()
    }
}

/// A value as compared: letters and digits only (white space and
/// punctuation removed), Latin letters upper-cased.
pub fn normalize(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

/// F_RELATED_PARTY: what an enterprise and a provider share, if it flags:
/// a phone, address or bank account held by at most `related_max_holders`
/// registry entries in all, or the legal person's name together with any
/// shared one of those. `holders(kind, value)` counts the entries.
pub fn related(
    enterprise: &Contact,
    provider: &Contact,
    holders: impl Fn(&str, &str) -> u32,
    s: &RiskSettings,
) -> Option<String> {
    let shared: Vec<(&str, &str)> = SHARED
        .iter()
        .map(|(kind, get)| (*kind, get(enterprise)))
        .zip(SHARED.iter().map(|(_, get)| get(provider)))
        .filter(|((_, e), p)| !e.is_empty() && e == p)
        .map(|((kind, e), _)| (kind, e))
        .collect();
    let same_person = !enterprise.legal_person.is_empty() && enterprise.legal_person == provider.legal_person;
    let rare: Vec<&str> =
        shared.iter().filter(|(kind, v)| holders(kind, v) <= s.related_max_holders).map(|(k, _)| *k).collect();
    match (rare.is_empty(), same_person && !shared.is_empty()) {
        (false, person) => Some(with_person(rare.join("+"), person)),
        (true, true) => Some(with_person(shared.iter().map(|(k, _)| *k).collect::<Vec<_>>().join("+"), true)),
        (true, false) => None,
    }
}

fn with_person(kinds: String, person: bool) -> String {
    if person { format!("legal_person+{kinds}") } else { kinds }
}

/// F_FAST_COMPLETION: completed at most `fast_completion_days` after
/// signing, for a contract amount of at least `fast_completion_amount`.
pub fn fast_completion(signed: NaiveDate, completed: NaiveDate, contract_amount: Decimal, s: &RiskSettings) -> bool {
    (completed - signed).num_days() <= s.fast_completion_days && contract_amount >= s.fast_completion_amount
}

/// F_PRICE_ABOVE_LIST: a service price above its product's guide price.
pub fn price_above_list(service_price: Decimal, list_price: Option<Decimal>) -> bool {
    list_price.is_some_and(|list| service_price > list)
}

/// F_SAME_DAY_BULK: a provider's contracts completed on one day.
pub fn same_day_bulk(contracts: u64, s: &RiskSettings) -> bool {
    contracts >= u64::from(s.same_day_bulk)
}

/// F_CONCENTRATION of a provider: at least `concentration_contracts`
/// contracts in the year so far, `top` of its `total` approved from one
/// enterprise at a share of at least `concentration_share`.
pub fn provider_concentrated(contracts: u64, top: Decimal, total: Decimal, s: &RiskSettings) -> bool {
    contracts >= u64::from(s.concentration_contracts) && total > Decimal::ZERO && top >= total * s.concentration_share
}

/// F_CONCENTRATION of an enterprise: at least `quota_share` of its quota
/// used with one provider.
pub fn enterprise_concentrated(with_one: Decimal, quota: Decimal, s: &RiskSettings) -> bool {
    quota > Decimal::ZERO && with_one >= quota * s.quota_share
}

/// F_CAP_RACE: in the first batch of its service year, a provider's year
/// total reaches `cap_race_share` of the annual cap.
pub fn cap_race(first_batch: bool, year_total: Decimal, cap: Decimal, s: &RiskSettings) -> bool {
    first_batch && cap > Decimal::ZERO && year_total >= cap * s.cap_race_share
}

/// How many of `others` settled contracts the random part of the sample
/// draws: `sample_rate` of them rounded up, at least `sample_min`, at most all.
pub fn sample_size(others: usize, s: &RiskSettings) -> usize {
    let rate = (Decimal::from(others as u64) * s.sample_rate).ceil();
    let rate: usize = rate.try_into().unwrap_or(others);
    rate.max(s.sample_min as usize).min(others)
}

/// The seed of a batch's sample: SHA-256 of the batch id, the SHA-256 of
/// its settlements.csv and the 审批 signature (empty without sign-off),
/// joined by line feeds.
pub fn sample_seed(batch_id: &str, settlements_sha256: &str, approver_signature: &str) -> String {
    let text = format!("{batch_id}\n{settlements_sha256}\n{approver_signature}");
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// The draw: of `n` candidates in settlement order, positions 0..n, take
/// `k` by a partial Fisher–Yates shuffle: for i = 0, 1, …, k−1, h_i is the
/// first 8 bytes (big-endian) of SHA-256 of the text `<seed hex>:<i>`,
/// j = i + h_i mod (n − i), and positions i and j are swapped; the first k
/// positions are the sample, in draw order.
pub fn draw(seed: &str, n: usize, k: usize) -> Vec<usize> {
    let mut positions: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let digest = Sha256::digest(format!("{seed}:{i}").as_bytes());
        let h = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        let j = i + (h % (n - i) as u64) as usize;
        positions.swap(i, j);
    }
    positions.truncate(k.min(n));
    positions
}

/// One finding, as risk.csv lists it: a contract's (with its enterprise
/// and provider), a provider's (contract empty; the enterprise its income
/// concentrates on, if that is the finding), or an enterprise's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskRow {
    pub flag: Flag,
    pub contract_id: String,
    pub enterprise_id: String,
    pub provider_id: String,
    pub value: String,
    pub message: String,
    /// Where the finding points in the batch (not written): for the
    /// sample, which rows are behind it.
    pub subject: Subject,
}

/// A finding's settlement row (a contract flag) and registry indexes of
/// its provider and enterprise, as the batch numbers them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subject {
    pub row: Option<u32>,
    pub provider: Option<u32>,
    pub enterprise: Option<u32>,
}

impl RiskRow {
    /// The row's cells in the columns' order (`schema::output::RISK`).
    pub fn for_each_cell(&self, batch_id: &str, mut cell: impl FnMut(Cell)) {
        cell(Cell::Text(batch_id));
        cell(Cell::Text(self.flag.code()));
        cell(Cell::Text(&self.contract_id));
        cell(Cell::Text(&self.enterprise_id));
        cell(Cell::Text(&self.provider_id));
        cell(Cell::Text(&self.value));
        cell(Cell::Text(&self.message));
    }

    /// The order risk.csv lists findings in.
    pub fn sort_key(&self) -> (Flag, &str, &str, &str, &str) {
        (self.flag, &self.contract_id, &self.provider_id, &self.enterprise_id, &self.value)
    }
}

/// One contract of the spot-check sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRow {
    pub sample_no: u64,
    /// The flag codes that put it in the sample, or `random`.
    pub basis: String,
    pub contract_id: String,
    pub enterprise_id: String,
    pub provider_id: String,
    pub approved_amount: Decimal,
    pub seq: u64,
}

impl SampleRow {
    /// The row's cells in the columns' order (`schema::output::SAMPLE`).
    pub fn for_each_cell(&self, batch_id: &str, mut cell: impl FnMut(Cell)) {
        cell(Cell::Text(batch_id));
        cell(Cell::Count(self.sample_no));
        cell(Cell::Text(&self.basis));
        cell(Cell::Text(&self.contract_id));
        cell(Cell::Text(&self.enterprise_id));
        cell(Cell::Text(&self.provider_id));
        cell(Cell::Money(self.approved_amount));
        cell(Cell::Count(self.seq));
    }
}

/// The basis of a contract drawn at random.
pub const RANDOM: &str = "random";

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> RiskSettings {
        RiskSettings::default()
    }

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn yuan(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn fast_completion_at_two_days_and_twenty_thousand() {
        let amount = yuan("20000.00");
        assert!(fast_completion(d("2025-03-01"), d("2025-03-03"), amount, &s()), "at both thresholds");
        assert!(!fast_completion(d("2025-03-01"), d("2025-03-04"), amount, &s()), "three days");
        assert!(!fast_completion(d("2025-03-01"), d("2025-03-03"), yuan("19999.99"), &s()), "just below the amount");
        assert!(fast_completion(d("2025-03-01"), d("2025-03-02"), yuan("20000.01"), &s()));
    }

    #[test]
    fn price_above_list_only_above_and_only_where_given() {
        assert!(!price_above_list(yuan("1000.00"), Some(yuan("1000.00"))));
        assert!(price_above_list(yuan("1000.01"), Some(yuan("1000.00"))));
        assert!(!price_above_list(yuan("999.99"), Some(yuan("1000.00"))));
        assert!(!price_above_list(yuan("1000000.00"), None));
    }

    #[test]
    fn same_day_bulk_at_twenty() {
        assert!(!same_day_bulk(19, &s()));
        assert!(same_day_bulk(20, &s()));
        assert!(same_day_bulk(21, &s()));
    }

    #[test]
    fn provider_concentration_at_ten_contracts_and_eighty_percent() {
        let total = yuan("100000.00");
        assert!(provider_concentrated(10, yuan("80000.00"), total, &s()));
        assert!(!provider_concentrated(9, yuan("80000.00"), total, &s()), "nine contracts");
        assert!(!provider_concentrated(10, yuan("79999.99"), total, &s()), "just below 80%");
        assert!(provider_concentrated(11, yuan("80000.01"), total, &s()));
    }

    #[test]
    fn enterprise_concentration_at_ninety_percent_of_its_quota() {
        let quota = yuan("50000.00");
        assert!(enterprise_concentrated(yuan("45000.00"), quota, &s()));
        assert!(!enterprise_concentrated(yuan("44999.99"), quota, &s()));
        assert!(enterprise_concentrated(yuan("45000.01"), quota, &s()));
    }

    #[test]
    fn cap_race_at_ninety_five_percent_in_the_first_batch_only() {
        let cap = yuan("5000000.00");
        assert!(cap_race(true, yuan("4750000.00"), cap, &s()));
        assert!(!cap_race(true, yuan("4749999.99"), cap, &s()));
        assert!(cap_race(true, yuan("4750000.01"), cap, &s()));
        assert!(!cap_race(false, cap, cap, &s()), "not the year's first batch");
    }

    #[test]
    fn related_party_by_a_rare_shared_value_or_the_same_person_with_one() {
        let e = Contact::new("张三", "0771-123 4567", "南宁市青秀区民族大道1号", "6222 0000 1111");
        let p = Contact::new("李四", "07711234567", "南宁市青秀区民族大道1号。", "");
        let few = |_: &str, _: &str| 3;
        let many = |_: &str, _: &str| 4;
        assert_eq!(related(&e, &p, few, &s()).as_deref(), Some("phone+address"));
        assert_eq!(related(&e, &p, many, &s()), None, "held by four entries: an agency's address");
        let same_person = Contact { legal_person: normalize("张三"), ..p.clone() };
        assert_eq!(related(&e, &same_person, many, &s()).as_deref(), Some("legal_person+phone+address"));
        let only_person = Contact::new("张三", "", "", "");
        assert_eq!(related(&e, &only_person, few, &s()), None, "a name alone flags nothing");
        assert_eq!(related(&Contact::default(), &Contact::default(), few, &s()), None, "empty matches nothing");
    }

    #[test]
    fn sample_size_and_draw_are_reproducible() {
        assert_eq!(sample_size(1000, &s()), 50);
        assert_eq!(sample_size(100, &s()), 10, "at least ten");
        assert_eq!(sample_size(7, &s()), 7, "or all");
        assert_eq!(sample_size(201, &s()), 11, "5% rounded up");
        let seed = sample_seed("2025-Q1", "sha256:00", "");
        assert_eq!(draw(&seed, 100, 10), draw(&seed, 100, 10));
        assert_ne!(draw(&seed, 100, 10), draw(&sample_seed("2025-Q1", "sha256:01", ""), 100, 10));
        let mut drawn = draw(&seed, 100, 100);
        drawn.sort();
        assert_eq!(drawn, (0..100).collect::<Vec<_>>(), "without replacement");
    }
}
