//! The policy file (rules 8): one per service year, edited by finance staff
//! when the annual notice changes a number. Parsing is the only way to get
//! a `Policy`, so every rate, cap and quota the rules use comes from a file
//! that was checked, with the clause it cites.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::rules::category::Category;
use crate::rules::money::Rounding;
use crate::rules::risk::RiskSettings;

/// What the per-item cap counts (rules 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapScope {
    EnterpriseProductYear,
    Contract,
    EnterpriseCategoryYear,
}

impl CapScope {
    pub fn as_str(self) -> &'static str {
        match self {
            CapScope::EnterpriseProductYear => "enterprise_product_year",
            CapScope::Contract => "contract",
            CapScope::EnterpriseCategoryYear => "enterprise_category_year",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CategoryRule {
    pub rate: Decimal,
    pub cap_yuan: Decimal,
    pub clause: String,
}

/// A quota tier (rules 5).
#[derive(Debug, Clone)]
pub struct Tier {
    number: u32,
    quota_yuan: Decimal,
    /// Designation codes, lower-cased.
    designations: Vec<String>,
    /// Entering the above-scale roster within this many years before the
    /// service year qualifies (tier 2: 2 by default).
    new_above_scale_years: Option<i32>,
    clause: String,
}

impl Tier {
    /// The tier's number as the policy names it (1 = the lowest).
    pub fn number(&self) -> u32 {
        self.number
    }
    pub fn quota_yuan(&self) -> Decimal {
        self.quota_yuan
    }
    /// The designation codes that qualify for this tier, lower-cased.
    pub fn designations(&self) -> &[String] {
        &self.designations
    }
    pub fn new_above_scale_years(&self) -> Option<i32> {
        self.new_above_scale_years
    }
    pub fn clause(&self) -> &str {
        &self.clause
    }
}

/// A tier's place in the policy's list of tiers (0 = tier 1), distinct
/// from the tier's number, which the policy may skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TierPosition(u8);

#[derive(Debug, Clone)]
pub struct Policy {
    name: String,
    service_year: i32,
    reference: String,
    rounding: Rounding,
    cap_scope: CapScope,
    deposit_ratio_min: Decimal,
    deposit_ratio_min_clause: String,
    provider_cap_yuan: Decimal,
    provider_cap_clause: String,
    categories: BTreeMap<Category, CategoryRule>,
    /// Ascending by number; tier 1 always exists.
    tiers: Vec<Tier>,
    /// `[corrections] offset_owed` (rules 10.3): balances owed from earlier
    /// batches are withheld from a provider's later payouts.
    offset_owed: bool,
    offset_owed_clause: Option<String>,
    /// `[risk]`: the thresholds of the risk flags and the sample.
    risk: RiskSettings,
}

impl Policy {
    pub fn risk(&self) -> &RiskSettings {
        &self.risk
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn service_year(&self) -> i32 {
        self.service_year
    }
    /// The scheme's reference, cited where a value has no clause of its own.
    pub fn reference(&self) -> &str {
        &self.reference
    }
    pub fn rounding(&self) -> Rounding {
        self.rounding
    }
    pub fn cap_scope(&self) -> CapScope {
        self.cap_scope
    }
    pub fn deposit_ratio_min(&self) -> Decimal {
        self.deposit_ratio_min
    }
    pub fn deposit_ratio_min_clause(&self) -> &str {
        &self.deposit_ratio_min_clause
    }
    pub fn provider_cap_yuan(&self) -> Decimal {
        self.provider_cap_yuan
    }
    pub fn provider_cap_clause(&self) -> &str {
        &self.provider_cap_clause
    }
    /// The rule of a category the policy covers; `None` for one it does not.
    pub fn covers(&self, category: Category) -> Option<&CategoryRule> {
        self.categories.get(&category)
    }
    /// The rule of a covered category. Callers have checked coverage (a
    /// contract of an uncovered category never reaches allocation).
    pub fn category(&self, category: Category) -> &CategoryRule {
        self.categories.get(&category).expect("a covered category")
    }
    /// The covered categories with their rules, in the order of rules 3.
    pub fn categories(&self) -> impl Iterator<Item = (Category, &CategoryRule)> {
        self.categories.iter().map(|(c, r)| (*c, r))
    }
    /// The tiers, ascending by number.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }
    /// The tiers with their positions, ascending.
    pub fn tier_positions(&self) -> impl DoubleEndedIterator<Item = (TierPosition, &Tier)> {
        self.tiers.iter().enumerate().map(|(at, tier)| (TierPosition(at as u8), tier))
    }
    pub fn tier(&self, position: TierPosition) -> &Tier {
        &self.tiers[usize::from(position.0)]
    }
    /// Whether a balance owed from earlier batches is withheld from a
    /// provider's positive net (rules 10.3).
    pub fn offset_owed(&self) -> bool {
        self.offset_owed
    }
    /// The clause `explain` cites for offsets, if the policy names one.
    pub fn offset_owed_clause(&self) -> Option<&str> {
        self.offset_owed_clause.as_deref()
    }
    pub fn knows_designation(&self, code: &str) -> bool {
        self.tiers.iter().any(|t| t.designations.iter().any(|d| d == code))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    scheme: RawScheme,
    #[serde(default)]
    categories: BTreeMap<String, RawCategory>,
    tiers: BTreeMap<String, RawTier>,
    #[serde(default)]
    corrections: Option<RawCorrections>,
    /// `[risk]`: the thresholds of the risk flags and the sample.
    #[serde(default)]
    risk: Option<RawRisk>,
}

/// `[risk]`: every key optional, defaults in `RiskSettings::default`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRisk {
    related_max_holders: Option<u32>,
    fast_completion_days: Option<u32>,
    fast_completion_amount: Option<String>,
    same_day_bulk: Option<u32>,
    concentration_contracts: Option<u32>,
    concentration_share: Option<String>,
    quota_share: Option<String>,
    cap_race_share: Option<String>,
    sample_rate: Option<String>,
    sample_min: Option<u32>,
}

/// The `[risk]` settings over their defaults.
fn risk_settings(raw: Option<RawRisk>) -> std::result::Result<RiskSettings, String> {
    let d = RiskSettings::default();
    let Some(r) = raw else { return Ok(d) };
    let share = |key: &str, text: Option<String>, default: Decimal| {
        text.map_or(Ok(default), |t| ratio(&format!("risk.{key}"), &t))
    };
    Ok(RiskSettings {
        related_max_holders: r.related_max_holders.unwrap_or(d.related_max_holders),
        fast_completion_days: r.fast_completion_days.map_or(d.fast_completion_days, i64::from),
        fast_completion_amount: r
            .fast_completion_amount
            .map_or(Ok(d.fast_completion_amount), |t| amount("risk.fast_completion_amount", &t))?,
        same_day_bulk: r.same_day_bulk.unwrap_or(d.same_day_bulk),
        concentration_contracts: r.concentration_contracts.unwrap_or(d.concentration_contracts),
        concentration_share: share("concentration_share", r.concentration_share, d.concentration_share)?,
        quota_share: share("quota_share", r.quota_share, d.quota_share)?,
        cap_race_share: share("cap_race_share", r.cap_race_share, d.cap_race_share)?,
        sample_rate: share("sample_rate", r.sample_rate, d.sample_rate)?,
        sample_min: r.sample_min.unwrap_or(d.sample_min),
    })
}

/// `[corrections]` (rules 10.3): how balances owed back are recovered.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCorrections {
    #[serde(default)]
    offset_owed: bool,
    offset_owed_ref: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheme {
    name: String,
    service_year: i32,
    reference: String,
    #[serde(default)]
    rounding: Option<String>,
    #[serde(default)]
    cap_scope: Option<String>,
    deposit_ratio_min: String,
    #[serde(default)]
    deposit_ratio_min_ref: Option<String>,
    provider_annual_cap: String,
    #[serde(default)]
    provider_annual_cap_ref: Option<String>,
    /// The designation codes the tiers may name, when a year's notice
    /// introduces codes the scheme's list (rules 5) does not have.
    #[serde(default)]
    designations: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    rate: Option<String>,
    cap: Option<String>,
    #[serde(rename = "ref")]
    clause: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    quota: String,
    #[serde(default)]
    designations: Vec<String>,
    new_above_scale_years: Option<i32>,
    #[serde(rename = "ref")]
    clause: Option<String>,
}

/// The designation codes of the scheme (rules 5), which the tiers of a
/// policy may name unless the policy declares its own list.
pub const SCHEME_DESIGNATIONS: [&str; 12] = [
    "gx_digital_workshop",
    "gx_ii_integration",
    "dt_maturity_3plus",
    "gx_zjtx_board",
    "innovative_sme",
    "gx_single_champion",
    "gx_specialized_sme",
    "gx_smart_factory",
    "gx_innovation_demo",
    "gx_quality_benchmark",
    "national_single_champion",
    "national_little_giant",
];

/// The known code nearest to `code` (fewest single-character edits).
fn nearest<'k>(code: &str, known: &[&'k str]) -> Option<&'k str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
                diagonal = above;
            }
        }
        row[b.len()]
    };
    known.iter().copied().min_by_key(|k| distance(code, k))
}

/// Parses and checks a policy; the error names the key at fault.
pub fn parse_policy(text: &str) -> std::result::Result<Policy, String> {
    let raw: RawPolicy = toml::from_str(text).map_err(|e| e.to_string())?;
    let scheme = raw.scheme;
    let reference = scheme.reference.clone();
    let clause_or_reference = |c: Option<String>| c.unwrap_or_else(|| reference.clone());
    let rounding = match scheme.rounding.as_deref() {
        None => Rounding::HalfUp,
        Some(text) => {
            Rounding::parse(text).ok_or_else(|| format!("scheme.rounding = {text:?}: must be half_up or down"))?
        }
    };
    let cap_scope = cap_scope(scheme.cap_scope.as_deref())?;
    let declared: Option<Vec<String>> =
        scheme.designations.as_ref().map(|codes| codes.iter().map(|d| d.trim().to_ascii_lowercase()).collect());
    let known: Vec<&str> = match &declared {
        Some(codes) => codes.iter().map(String::as_str).collect(),
        None => SCHEME_DESIGNATIONS.to_vec(),
    };
    let deposit_ratio_min = ratio("scheme.deposit_ratio_min", &scheme.deposit_ratio_min)?;
    let provider_cap_yuan = amount("scheme.provider_annual_cap", &scheme.provider_annual_cap)?;
    let categories = categories(raw.categories, &clause_or_reference)?;
    let tiers = tiers(raw.tiers, &known, &clause_or_reference)?;
    Ok(Policy {
        name: scheme.name,
        service_year: scheme.service_year,
        reference: reference.clone(),
        rounding,
        cap_scope,
        deposit_ratio_min,
        deposit_ratio_min_clause: clause_or_reference(scheme.deposit_ratio_min_ref),
        provider_cap_yuan,
        provider_cap_clause: clause_or_reference(scheme.provider_annual_cap_ref),
        categories,
        tiers,
        offset_owed: raw.corrections.as_ref().is_some_and(|c| c.offset_owed),
        offset_owed_clause: raw.corrections.and_then(|c| c.offset_owed_ref),
        risk: risk_settings(raw.risk)?,
    })
}

fn cap_scope(text: Option<&str>) -> std::result::Result<CapScope, String> {
    match text.map(str::trim) {
        None | Some("enterprise_product_year") => Ok(CapScope::EnterpriseProductYear),
        Some("contract") => Ok(CapScope::Contract),
        Some("enterprise_category_year") => Ok(CapScope::EnterpriseCategoryYear),
        Some(other) => Err(format!(
            "scheme.cap_scope = {other:?}: must be enterprise_product_year, contract or enterprise_category_year"
        )),
    }
}

/// The `[categories.*]` tables: each a known category with its rate, cap and clause.
fn categories(
    raw: BTreeMap<String, RawCategory>,
    clause_or_reference: &dyn Fn(Option<String>) -> String,
) -> std::result::Result<BTreeMap<Category, CategoryRule>, String> {
    let mut categories = BTreeMap::new();
    for (key, rule) in raw {
        let category = Category::ALL.into_iter().find(|c| c.code() == key).ok_or_else(|| {
            let known: Vec<&str> = Category::ALL.iter().map(|c| c.code()).collect();
            format!("categories.{key}: unknown category; the categories are {}", known.join(", "))
        })?;
        let rate_text = rule.rate.ok_or_else(|| format!("categories.{key}.rate is missing"))?;
        let cap_text = rule.cap.ok_or_else(|| format!("categories.{key}.cap is missing"))?;
        let parsed = CategoryRule {
            rate: ratio(&format!("categories.{key}.rate"), &rate_text)?,
            cap_yuan: amount(&format!("categories.{key}.cap"), &cap_text)?,
            clause: clause_or_reference(rule.clause),
        };
        categories.insert(category, parsed);
    }
    Ok(categories)
}

/// The `[tiers.N]` tables, ascending: each numbered from 1, its quota, its
/// designations known to the policy, tier 1 always present.
fn tiers(
    raw: BTreeMap<String, RawTier>,
    known: &[&str],
    clause_or_reference: &dyn Fn(Option<String>) -> String,
) -> std::result::Result<Vec<Tier>, String> {
    let mut tiers = Vec::new();
    for (key, tier) in raw {
        let number: u32 = key
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("tiers.{key}: a tier is named by its number, 1 or more"))?;
        let new_above_scale_years = match (number, tier.new_above_scale_years) {
            (_, Some(n)) if n < 0 => {
                return Err(format!("tiers.{key}.new_above_scale_years = {n}: must not be negative"));
            }
            (2, None) => Some(2),
            (_, n) => n,
        };
        for code in &tier.designations {
            let code = code.trim().to_ascii_lowercase();
            if !known.contains(&code.as_str()) {
                let hint = nearest(&code, known).map_or_else(String::new, |n| format!("; did you mean {n:?}?"));
                return Err(format!(
                    "tiers.{key}.designations: unknown designation {code:?}{hint} (a new code is declared in scheme.designations)"
                ));
            }
        }
        tiers.push(Tier {
            number,
            quota_yuan: amount(&format!("tiers.{key}.quota"), &tier.quota)?,
            designations: tier.designations.iter().map(|d| d.trim().to_ascii_lowercase()).collect(),
            new_above_scale_years,
            clause: clause_or_reference(tier.clause),
        });
    }
    tiers.sort_by_key(|t| t.number);
    if tiers.len() > usize::from(u8::MAX) {
        return Err(format!("{} tiers: at most {}", tiers.len(), u8::MAX));
    }
    if tiers.first().map(|t| t.number) != Some(1) {
        return Err("tiers.1 is missing: every eligible enterprise has at least tier 1".into());
    }
    Ok(tiers)
}

fn decimal(key: &str, text: &str) -> std::result::Result<Decimal, String> {
    Decimal::from_str_exact(text.trim()).map_err(|_| format!("{key} = {text:?}: not a decimal number"))
}

/// A rate or ratio in [0, 1].
fn ratio(key: &str, text: &str) -> std::result::Result<Decimal, String> {
    let value = decimal(key, text)?;
    if value < Decimal::ZERO || value > Decimal::ONE {
        return Err(format!("{key} = {text:?}: must be between 0 and 1"));
    }
    Ok(value)
}

/// A non-negative amount in yuan with at most two decimals.
fn amount(key: &str, text: &str) -> std::result::Result<Decimal, String> {
    let value = decimal(key, text)?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(format!("{key} = {text:?}: must not be negative"));
    }
    if value.normalize().scale() > 2 {
        return Err(format!("{key} = {text:?}: at most two decimals"));
    }
    // The range of money in every input and output (rules 2.6): sums of
    // such amounts still fit the outputs' Decimal(18,2).
    let digits = crate::rules::money::MAX_INTEGER_DIGITS as u32;
    if value.trunc() >= Decimal::from(10u64.pow(digits)) {
        return Err(format!(
            "{key} = {text:?}: 超出金额范围 (beyond the range of money: at most {digits} digits before the point)"
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[scheme]
name = "t"
service_year = 2025
reference = "办法"
deposit_ratio_min = "0.20"
provider_annual_cap = "5000000"

[categories.diagnostic]
rate = "0.80"
cap = "10000"
ref = "第十二条"

[tiers.1]
quota = "50000"

[tiers.2]
quota = "100000"
designations = ["Innovative_SME"]
"#;

    #[test]
    fn minimal_policy_with_defaults() {
        let p = parse_policy(MINIMAL).unwrap();
        assert_eq!(p.rounding, Rounding::HalfUp);
        assert_eq!(p.cap_scope, CapScope::EnterpriseProductYear);
        assert_eq!(p.tiers[1].new_above_scale_years, Some(2));
        assert_eq!(p.tiers[0].new_above_scale_years, None);
        assert_eq!(p.tier_positions().map(|(_, t)| t.number()).collect::<Vec<_>>(), [1, 2]);
        assert!(p.knows_designation("innovative_sme"));
        assert_eq!(p.categories[&Category::Diagnostic].clause, "第十二条");
        assert_eq!(p.provider_cap_clause, "办法", "falls back to the reference");
    }

    #[test]
    fn a_policy_may_declare_the_designations_it_knows() {
        let declared = MINIMAL.replace(
            "provider_annual_cap = \"5000000\"",
            "provider_annual_cap = \"5000000\"\ndesignations = [\"innovative_sme\", \"gx_new_2026\"]",
        );
        let p =
            parse_policy(&declared.replace(r#"["Innovative_SME"]"#, r#"["innovative_sme", "gx_new_2026"]"#)).unwrap();
        assert!(p.knows_designation("gx_new_2026"));
        let err = parse_policy(&declared.replace(r#"["Innovative_SME"]"#, r#"["gx_smart_factory"]"#)).unwrap_err();
        assert!(err.contains("unknown designation \"gx_smart_factory\""), "{err}");
    }

    #[test]
    fn refuses_bad_values_naming_the_key() {
        let cases = [
            (r#"rate = "0.80""#, r#"rate = "1.5""#, "categories.diagnostic.rate"),
            (r#"cap = "10000""#, r#"cap = "-1""#, "categories.diagnostic.cap"),
            (
                r#"cap = "10000""#,
                r#"cap = "10000"
bogus = "1""#,
                "bogus",
            ),
            (r#"rate = "0.80""#, "", "categories.diagnostic.rate is missing"),
            (r#"rate = "0.80""#, "rate = 0.8", "invalid type"),
            (
                r#"designations = ["Innovative_SME"]"#,
                r#"designations = ["innovative_sme", "gx_smart_factroy"]"#,
                "tiers.2.designations: unknown designation \"gx_smart_factroy\"; did you mean \"gx_smart_factory\"?",
            ),
            (r#"quota = "50000""#, r#"quota = "50000.001""#, "tiers.1.quota"),
            ("[tiers.1]\nquota = \"50000\"", "", "tiers.1 is missing"),
        ];
        for (from, to, want) in cases {
            let err = parse_policy(&MINIMAL.replacen(from, to, 1)).unwrap_err();
            assert!(err.contains(want), "{to}: {err}");
        }
    }
}
