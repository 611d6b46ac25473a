//! Money: exact decimals from text to ledger, with every rounding explicit.

use rust_decimal::{Decimal, RoundingStrategy};

/// Amounts above this are refused as malformed, so that no sum of a batch can
/// overflow a `Decimal` (10^15 yuan x 10^8 rows stays far below 7.9 x 10^28).
pub const MAX_INTEGER_DIGITS: usize = 15;

/// Parses a money field as rules 2.6 defines it: optional `¥`/`￥`, ASCII
/// digits, optional thousands separators in groups of three, at most two
/// decimals. The caller trims. Returns `None` for anything else. Exact: the
/// digits become the decimal's integer mantissa, never a float.
pub fn parse_money(text: &str) -> Option<Decimal> {
    let body = text.strip_prefix('¥').or_else(|| text.strip_prefix('￥')).unwrap_or(text);
    let (integer_part, fraction_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let mut mantissa = integer_value(integer_part)?;
    let mut scale = 0;
    if let Some(fraction) = fraction_part {
        if !(1..=2).contains(&fraction.len()) {
            return None;
        }
        for digit in fraction.bytes() {
            if !digit.is_ascii_digit() {
                return None;
            }
            mantissa = mantissa * 10 + i64::from(digit - b'0');
            scale += 1;
        }
    }
    Some(Decimal::new(mantissa, scale))
}

/// The integer part's value, if it is plain digits or correctly grouped
/// thousands (`1,234,567`) of at most `MAX_INTEGER_DIGITS` digits.
fn integer_value(integer_part: &str) -> Option<i64> {
    let bytes = integer_part.as_bytes();
    let grouped = bytes.contains(&b',');
    let mut value: i64 = 0;
    let mut digits = 0;
    for (index, group) in integer_part.split(',').enumerate() {
        let size_ok = match (grouped, index) {
            (false, _) => !group.is_empty(),
            (true, 0) => (1..=3).contains(&group.len()),
            (true, _) => group.len() == 3,
        };
        if !size_ok {
            return None;
        }
        for digit in group.bytes() {
            if !digit.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(digit - b'0');
            digits += 1;
            if digits > MAX_INTEGER_DIGITS {
                return None;
            }
        }
    }
    Some(value)
}

/// Formats an amount with exactly two decimals, as every money column is written.
pub fn format_money(amount: Decimal) -> String {
    let mut text = String::with_capacity(20);
    push_money(&mut text, amount);
    text
}

/// Appends an amount with exactly two decimals. Amounts here never carry more
/// than two decimals, so rescaling only adds zeros.
pub fn push_money(out: &mut String, amount: Decimal) {
    write_money(out, amount);
}

/// An amount with exactly two decimals as an inline id-sized text (no
/// allocation: every amount within the 15 integer digits allowed fits).
pub fn money_id(amount: Decimal) -> crate::Id {
    let mut text = crate::Id::default();
    write_money(&mut text, amount);
    text
}

/// "00" to "99", for the fen of an amount.
const TWO_DIGITS: &str = "00010203040506070809101112131415161718192021222324252627282930313233343536373839\
40414243444546474849505152535455565758596061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";
const _: () = assert!(TWO_DIGITS.len() == 200);

fn write_money(out: &mut impl std::fmt::Write, amount: Decimal) {
    // Writing into a String or CompactString cannot fail.
    let mut put = |text: &str| out.write_str(text).expect("in-memory text");
    let mut fen_amount = amount;
    fen_amount.rescale(2);
    let Ok(fen) = i64::try_from(fen_amount.mantissa()) else {
        put(&fen_amount.to_string());
        return;
    };
    if fen < 0 {
        put("-");
    }
    let fen = fen.unsigned_abs();
    put(itoa::Buffer::new().format(fen / 100));
    let fraction = (fen % 100) as usize;
    put(".");
    put(&TWO_DIGITS[2 * fraction..2 * fraction + 2]);
}

/// The policy's rounding to 0.01 (rules 8: `half_up` or `down`).
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
    pub fn to_fen(self, amount: Decimal) -> Decimal {
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
            ("123456789012345", Some("123456789012345")),
            ("999,999,999,999,999.99", Some("999999999999999.99")),
            ("¥", None),
            ("1,,234", None),
            ("1,234,", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_money(text), want.map(d), "{text}");
        }
    }

    #[test]
    fn rounding_modes_on_a_half_fen() {
        assert_eq!(Rounding::HalfUp.to_fen(d("4000.405")), d("4000.41"));
        assert_eq!(Rounding::Down.to_fen(d("4000.405")), d("4000.40"));
        assert_eq!(Rounding::HalfUp.to_fen(d("4000.404")), d("4000.40"));
        assert_eq!(format_money(d("30000")), "30000.00");
        assert_eq!(format_money(d("0.5")), "0.50");
        assert_eq!(format_money(d("-0.05")), "-0.05");
        assert_eq!(format_money(d("-12.3")), "-12.30");
        assert_eq!(format_money(d("0")), "0.00");
        assert_eq!(format_money(d("123456789012345678901.25")), "123456789012345678901.25");
    }
}
