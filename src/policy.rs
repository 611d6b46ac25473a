//! The per-service-year policy file (SPEC 8) -> a typed, validated `Policy`.
//! Every rate, cap and quota comes from here, with the clause it cites.

use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::category::Category;
use crate::money::Rounding;
use crate::{Error, Result};

/// What the per-item cap counts (SPEC 4.3).
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

#[derive(Debug, Clone)]
pub struct Tier {
    pub number: u32,
    pub quota_yuan: Decimal,
    /// Designation codes, lower-cased.
    pub designations: Vec<String>,
    /// Entering the above-scale roster within this many years before the
    /// service year qualifies (SPEC 5, tier 2 by default 2).
    pub new_above_scale_years: Option<i32>,
    pub clause: String,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub service_year: i32,
    pub reference: String,
    pub rounding: Rounding,
    pub cap_scope: CapScope,
    pub deposit_ratio_min: Decimal,
    pub deposit_ratio_min_clause: String,
    pub provider_cap_yuan: Decimal,
    pub provider_cap_clause: String,
    pub categories: BTreeMap<Category, CategoryRule>,
    /// Ascending by number; tier 1 always exists.
    pub tiers: Vec<Tier>,
}

impl Policy {
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

/// Loads and validates a policy file; any problem is exit code 2 naming the key.
/// Also returns the checksum of the very bytes that were parsed, so that the
/// manifest and the archive name the policy that was applied.
pub fn load_policy(path: &Path) -> Result<(Policy, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::unreadable(path, e))?;
    let policy = parse_policy(&text)
        .map_err(|msg| Error::Input(format!("{}: 政策文件无效 (invalid policy): {msg}", path.display())))?;
    Ok((policy, crate::ingest::sha256_hex(text.as_bytes())))
}

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
    let cap_scope = match scheme.cap_scope.as_deref().map(str::trim) {
        None | Some("enterprise_product_year") => CapScope::EnterpriseProductYear,
        Some("contract") => CapScope::Contract,
        Some("enterprise_category_year") => CapScope::EnterpriseCategoryYear,
        Some(other) => {
            return Err(format!(
                "scheme.cap_scope = {other:?}: must be enterprise_product_year, contract or enterprise_category_year"
            ));
        }
    };
    let deposit_ratio_min = ratio("scheme.deposit_ratio_min", &scheme.deposit_ratio_min)?;
    let provider_cap_yuan = amount("scheme.provider_annual_cap", &scheme.provider_annual_cap)?;

    let mut categories = BTreeMap::new();
    for (key, rule) in raw.categories {
        let category = Category::ALL
            .into_iter()
            .find(|c| c.code() == key)
            .ok_or_else(|| format!("categories.{key}: unknown category (SPEC 3 lists the codes)"))?;
        let rate_text = rule.rate.ok_or_else(|| format!("categories.{key}.rate is missing"))?;
        let cap_text = rule.cap.ok_or_else(|| format!("categories.{key}.cap is missing"))?;
        let parsed = CategoryRule {
            rate: ratio(&format!("categories.{key}.rate"), &rate_text)?,
            cap_yuan: amount(&format!("categories.{key}.cap"), &cap_text)?,
            clause: clause_or_reference(rule.clause),
        };
        categories.insert(category, parsed);
    }

    let mut tiers = Vec::new();
    for (key, tier) in raw.tiers {
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
        tiers.push(Tier {
            number,
            quota_yuan: amount(&format!("tiers.{key}.quota"), &tier.quota)?,
            designations: tier.designations.iter().map(|d| d.trim().to_ascii_lowercase()).collect(),
            new_above_scale_years,
            clause: clause_or_reference(tier.clause),
        });
    }
    tiers.sort_by_key(|t| t.number);
    if tiers.first().map(|t| t.number) != Some(1) {
        return Err("tiers.1 is missing: every eligible enterprise has at least tier 1".into());
    }
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
    })
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
        assert!(p.knows_designation("innovative_sme"));
        assert_eq!(p.categories[&Category::Diagnostic].clause, "第十二条");
        assert_eq!(p.provider_cap_clause, "办法", "falls back to the reference");
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
            (r#"quota = "50000""#, r#"quota = "50000.001""#, "tiers.1.quota"),
            ("[tiers.1]\nquota = \"50000\"", "", "tiers.1 is missing"),
        ];
        for (from, to, want) in cases {
            let err = parse_policy(&MINIMAL.replacen(from, to, 1)).unwrap_err();
            assert!(err.contains(want), "{to}: {err}");
        }
    }
}
