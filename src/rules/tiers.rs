//! Annual quota tiers (rules 5): an enterprise's quota for the year is that
//! of the highest tier it qualifies for; every eligible enterprise has at
//! least tier 1. A designation counts when it is valid on some day of
//! [Y-01-01, cutoff], so a quota never shrinks from one batch of a year to
//! the next.

use chrono::NaiveDate;

use crate::rules::policy::{Policy, Tier, TierPosition};
use crate::rules::registry::{Designation, Enterprise};

/// A designation counts when it is valid on some day of [Y-01-01, C].
pub fn designation_counts(designation: &Designation, year_start: NaiveDate, cutoff: NaiveDate) -> bool {
    designation.valid_from <= cutoff && designation.valid_to.is_none_or(|to| to >= year_start)
}

/// The highest tier the enterprise qualifies for in service year `year` with
/// batch cutoff `cutoff`; tier 1 qualifies always.
pub fn tier_for(
    policy: &Policy,
    enterprise: &Enterprise,
    designations: &[Designation],
    year: i32,
    cutoff: NaiveDate,
) -> TierPosition {
    let year_start = NaiveDate::from_ymd_opt(year, 1, 1).expect("service year validated at load");
    let qualifies = |tier: &Tier| {
        let by_designation = designations
            .iter()
            .any(|d| tier.designations().contains(&d.code) && designation_counts(d, year_start, cutoff));
        let by_new_entry = match (tier.new_above_scale_years(), enterprise.above_scale_since) {
            (Some(n), Some(since)) => year - n <= since && since < year,
            _ => false,
        };
        tier.number() == 1 || by_designation || by_new_entry
    };
    let (position, _) = policy.tier_positions().rev().find(|(_, t)| qualifies(t)).expect("tier 1 always qualifies");
    position
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::registry::SizeClass;

    const POLICY: &str = r#"
[scheme]
name = "t"
service_year = 2025
reference = "r"
deposit_ratio_min = "0.20"
provider_annual_cap = "5000000"
[tiers.1]
quota = "50000"
[tiers.2]
quota = "100000"
designations = ["innovative_sme"]
[tiers.3]
quota = "200000"
designations = ["gx_specialized_sme"]
[tiers.4]
quota = "300000"
designations = ["national_little_giant"]
"#;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn enterprise(since: Option<i32>) -> Enterprise {
        Enterprise {
            index: 0,
            id: "E".into(),
            name: String::new(),
            manufacturing: true,
            size_class: SizeClass::Small,
            above_scale: true,
            above_scale_since: since,
            contact: None,
        }
    }

    fn held(code: &str, from: NaiveDate, to: Option<NaiveDate>) -> Designation {
        Designation { code: code.into(), valid_from: from, valid_to: to }
    }

    #[test]
    fn tier_table() {
        let policy = crate::rules::policy::parse_policy(POLICY).unwrap();
        let q1 = day(2025, 3, 31);
        let tier = |since, designations: &[Designation], cutoff| {
            policy.tier(tier_for(&policy, &enterprise(since), designations, 2025, cutoff)).number()
        };
        assert_eq!(tier(Some(2010), &[], q1), 1);
        assert_eq!(tier(Some(2023), &[], q1), 2, "entered in Y-2");
        assert_eq!(tier(Some(2024), &[], q1), 2, "entered in Y-1");
        assert_eq!(tier(Some(2022), &[], q1), 1, "entered in Y-3");
        assert_eq!(tier(Some(2025), &[], q1), 1, "entered in Y itself");
        let giant_from_may = [held("national_little_giant", day(2025, 5, 1), None)];
        assert_eq!(tier(None, &giant_from_may, q1), 1, "not yet valid at cutoff");
        assert_eq!(tier(None, &giant_from_may, day(2025, 6, 30)), 4);
        let expired_last_year = [held("gx_specialized_sme", day(2020, 1, 1), Some(day(2024, 12, 31)))];
        assert_eq!(tier(None, &expired_last_year, q1), 1);
        let expired_in_january = [held("gx_specialized_sme", day(2020, 1, 1), Some(day(2025, 1, 1)))];
        assert_eq!(tier(None, &expired_in_january, day(2025, 12, 31)), 3, "valid on one day of the year");
        let several =
            [held("innovative_sme", day(2020, 1, 1), None), held("gx_specialized_sme", day(2020, 1, 1), None)];
        assert_eq!(tier(Some(2024), &several, q1), 3, "the highest tier wins");
    }
}
