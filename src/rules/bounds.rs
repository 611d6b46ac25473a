//! The four bounds that can cut a claim (rules 4.2): the rate limit, what
//! is left of the item cap, of the enterprise's annual quota and of the
//! provider's annual cap — each with the adjustment code that says it cut
//! a settlement and its names, so that `explain`, the statements and the
//! year's statistics name a bound the same way.

use crate::rules::codes::Code;

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
}
