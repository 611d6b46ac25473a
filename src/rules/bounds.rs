//! The four bounds that can cut a claim (rules 4.2): the rate limit, what
//! is left of the item cap, of the enterprise's annual quota and of the
//! provider's annual cap — each with the adjustment code that says it cut
//! a settlement, the code of a claim it left nothing for, its names in
//! Chinese and English, the policy clause that sets it and the running
//! total it is kept in — so that `explain`, the statements, the year's
//! statistics and the codes' messages name a bound the same way.

use crate::rules::category::Category;
use crate::rules::codes::Code;
use crate::rules::policy::Policy;
use crate::schema::output::name;

/// The running total a bound is kept in, as `explain` shows it: its key,
/// its Chinese name and the settlement row's columns before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunningTotal {
    pub key: &'static str,
    pub name_zh: &'static str,
    pub before: &'static str,
    pub after: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Rate,
    Item,
    Quota,
    Provider,
}

impl Bound {
    pub const ALL: [Bound; 4] = [Bound::Rate, Bound::Item, Bound::Quota, Bound::Provider];

    /// The adjustment code of a settlement this bound cut.
    pub fn code(self) -> Code {
        match self {
            Bound::Rate => Code::W_OVER_RATE,
            Bound::Item => Code::W_ITEM_CAP,
            Bound::Quota => Code::W_ENTERPRISE_QUOTA,
            Bound::Provider => Code::W_PROVIDER_CAP,
        }
    }

    /// The refusal code of a contract this bound left nothing for (a rate
    /// limit of zero, or a room used up).
    pub fn exhausted(self) -> Code {
        match self {
            Bound::Rate => Code::E_RATE_ZERO,
            Bound::Item => Code::E_ITEM_CAP_EXHAUSTED,
            Bound::Quota => Code::E_QUOTA_EXHAUSTED,
            Bound::Provider => Code::E_PROVIDER_CAP_EXHAUSTED,
        }
    }

    /// The bound a settlement's code says cut it, if any.
    pub fn of_code(code: &str) -> Option<Bound> {
        Bound::ALL.into_iter().find(|b| b.code().as_str() == code)
    }

    /// Its name in `explain --json`.
    pub fn key(self) -> &'static str {
        match self {
            Bound::Rate => crate::schema::output::name::RATE_LIMIT,
            Bound::Item => "item_room",
            Bound::Quota => "quota_room",
            Bound::Provider => "provider_room",
        }
    }

    /// Its name where one settlement is explained.
    pub fn name_zh(self) -> &'static str {
        match self {
            Bound::Rate => "比例限额",
            Bound::Item => "项目年度上限余额",
            Bound::Quota => "企业年度配额余额",
            Bound::Provider => "服务商年度上限余额",
        }
    }

    /// Its name in English, as the codes' messages use it.
    pub fn label_en(self) -> &'static str {
        match self {
            Bound::Rate => "rate limit",
            Bound::Item => "item cap",
            Bound::Quota => "enterprise annual quota",
            Bound::Provider => "provider annual cap",
        }
    }

    /// The policy clause that sets it: the category's for the rate and the
    /// item cap, the tier's for the quota, the provider cap's.
    pub fn clause(self, policy: &Policy, category: Option<Category>, tier: u32) -> String {
        let of_category = || category.and_then(|c| policy.covers(c)).map_or_else(String::new, |r| r.clause.clone());
        match self {
            Bound::Rate | Bound::Item => of_category(),
            Bound::Quota => {
                policy.tiers().iter().find(|t| t.number() == tier).map_or_else(String::new, |t| t.clause().to_string())
            }
            Bound::Provider => policy.provider_cap_clause().to_string(),
        }
    }

    /// The running total it is kept in; the rate limit has none.
    pub fn running_total(self) -> Option<RunningTotal> {
        let total = |key, name_zh, before, after| Some(RunningTotal { key, name_zh, before, after });
        match self {
            Bound::Rate => None,
            Bound::Item => total("item", "项目累计", name::ITEM_USED_BEFORE, name::ITEM_USED_AFTER),
            Bound::Quota => total("enterprise", "企业累计", name::ENTERPRISE_USED_BEFORE, name::ENTERPRISE_USED_AFTER),
            Bound::Provider => total("provider", "服务商累计", name::PROVIDER_USED_BEFORE, name::PROVIDER_USED_AFTER),
        }
    }

    /// Its short name where settlements are counted by the bound that cut them.
    pub fn short_zh(self) -> &'static str {
        match self {
            Bound::Rate => "补贴比例",
            Bound::Item => "项目上限",
            Bound::Quota => "企业配额",
            Bound::Provider => "服务商上限",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bound_is_found_by_its_code() {
        for bound in Bound::ALL {
            assert_eq!(Bound::of_code(bound.code().as_str()), Some(bound));
        }
        assert_eq!(Bound::of_code("E_NO_CLAIM"), None);
    }

    /// The messages of a bound's two codes name it as the bound does.
    #[test]
    fn each_bound_s_codes_name_it() {
        for bound in Bound::ALL {
            for code in [bound.code(), bound.exhausted()] {
                let (zh, en) = (code.text_zh(), code.text_en());
                assert!(en.contains(bound.label_en()), "{code:?}: {en}");
                assert!(zh.contains(&bound.short_zh()[..6]), "{code:?}: {zh}");
            }
        }
    }
}
