//! Money: exact decimals from text to ledger, with every rounding explicit.

use rust_decimal::{Decimal, RoundingStrategy};

/// Amounts above this are refused as malformed, so that no sum of a batch can
/// overflow a `Decimal` (10^15 yuan x 10^8 rows stays far below 7.9 x 10^28).
const MAX_INTEGER_DIGITS: usize = 15;

/// Parses a money field as SPEC 2.6 defines it: optional `¥`/`￥`, ASCII
/// digits, optional thousands separators in groups of three, at most two
/// decimals. The caller trims. Returns `None` for anything else.
pub fn parse_money(text: &str) -> Option<Decimal> {
    let body = text.strip_prefix('¥').or_else(|| text.strip_prefix('￥')).unwrap_or(text);
    let (integer_part, fraction_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if let Some(fraction) = fraction_part {
        let ok = (1..=2).contains(&fraction.len()) && fraction.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return None;
        }
    }
    let digits = integer_digits(integer_part)?;
    if digits.len() > MAX_INTEGER_DIGITS {
        return None;
    }
    let exact = match fraction_part {
        Some(fraction) => format!("{digits}.{fraction}"),
        None => digits,
    };
    Decimal::from_str_exact(&exact).ok()
}

/// The integer part without separators, if it is plain digits or correctly
/// grouped thousands (`1,234,567`).
fn integer_digits(integer_part: &str) -> Option<String> {
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !integer_part.contains(',') {
        return all_digits(integer_part).then(|| integer_part.to_string());
    }
    let mut groups = integer_part.split(',');
    let head = groups.next()?;
    if !all_digits(head) || head.len() > 3 {
        return None;
    }
    let mut digits = head.to_string();
    for group in groups {
        if group.len() != 3 || !all_digits(group) {
            return None;
        }
        digits.push_str(group);
    }
    Some(digits)
}

/// Formats an amount with exactly two decimals, as every money column is written.
pub fn format_money(amount: Decimal) -> String {
    let mut cents = amount;
    cents.rescale(2);
    cents.to_string()
}

/// The policy's rounding to 0.01 (SPEC 8: `half_up` or `down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    HalfUp,
    Down,
}

impl Rounding {
    pub fn parse(text: &str) -> Option<Rounding> {
        match text.trim().to_ascii_lowercase().as_str() {
            "half_up" => Some(Rounding::HalfUp),
            "down" => Some(Rounding::Down),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Rounding::HalfUp => "half_up",
            Rounding::Down => "down",
        }
    }

    /// Rounds to whole fen (0.01 yuan) with this policy's strategy.
    pub fn to_cents(self, amount: Decimal) -> Decimal {
        let strategy = match self {
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::Down => RoundingStrategy::ToZero,
        };
        amount.round_dp_with_strategy(2, strategy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn money_forms_of_spec_2_6() {
        let cases = [
            ("12345.67", Some("12345.67")),
            ("¥12345.6", Some("12345.6")),
            ("￥1,234,567.89", Some("1234567.89")),
            ("0", Some("0")),
            ("1,234", Some("1234")),
            ("12,34.00", None),
            ("1234,567", None),
            (",123", None),
            ("1.234", None),
            ("1.", None),
            (".5", None),
            ("-1.00", None),
            ("9e9", None),
            ("abc", None),
            ("", None),
            ("１２３", None),
            ("1234567890123456", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_money(text), want.map(d), "{text}");
        }
    }

    #[test]
    fn rounding_modes_on_a_half_fen() {
        assert_eq!(Rounding::HalfUp.to_cents(d("4000.405")), d("4000.41"));
        assert_eq!(Rounding::Down.to_cents(d("4000.405")), d("4000.40"));
        assert_eq!(Rounding::HalfUp.to_cents(d("4000.404")), d("4000.40"));
        assert_eq!(format_money(d("30000")), "30000.00");
        assert_eq!(format_money(d("0.5")), "0.50");
    }
}
