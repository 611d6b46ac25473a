//! 大写金额: an amount in Chinese capital numerals, as written on payment
//! documents (《支付结算办法》附件: 元 then 整 when there are no 角/分; 零 for a
//! run of zeros inside the number; 角 and 分 as they are).

use rust_decimal::Decimal;

const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
const PLACES: [&str; 4] = ["", "拾", "佰", "仟"];
const GROUPS: [&str; 5] = ["", "万", "亿", "万亿", "亿亿"];

/// The amount in capital numerals, to the fen (0.01 yuan); a negative
/// amount is prefixed with 负.
pub fn to_capital(amount: Decimal) -> String {
    let mut fen = amount;
    fen.rescale(2);
    let mantissa = fen.mantissa();
    let mut out = String::new();
    if mantissa < 0 {
        out.push('负');
    }
    let total_fen = mantissa.unsigned_abs();
    let (yuan, jiao, fen) = (total_fen / 100, (total_fen / 10 % 10) as usize, (total_fen % 10) as usize);
    if yuan > 0 {
        push_integer(&mut out, yuan);
        out.push('元');
    }
    match (jiao, fen) {
        (0, 0) => {
            if yuan == 0 {
                out.push_str("零元");
            }
            out.push('整');
        }
        (0, f) => {
            if yuan > 0 {
                out.push('零');
            }
            out.push(DIGITS[f]);
            out.push('分');
        }
        (j, 0) => {
            out.push(DIGITS[j]);
            out.push('角');
        }
        (j, f) => {
            out.push(DIGITS[j]);
            out.push('角');
            out.push(DIGITS[f]);
            out.push('分');
        }
    }
    out
}

/// Writes a positive integer in groups of four digits (个, 万, 亿, …).
fn push_integer(out: &mut String, value: u128) {
    let mut groups = Vec::new();
    let mut rest = value;
    while rest > 0 {
        groups.push((rest % 10_000) as usize);
        rest /= 10_000;
    }
    let mut written = false;
    let mut zero_pending = false;
    for (index, &group) in groups.iter().enumerate().rev() {
        if group == 0 {
            zero_pending |= written;
            continue;
        }
        if written && (zero_pending || group < 1000) {
            out.push('零');
        }
        push_group(out, group);
        out.push_str(GROUPS.get(index).copied().unwrap_or("亿亿"));
        written = true;
        zero_pending = false;
    }
}

/// Writes 1..=9999 with its inner zeros as one 零.
fn push_group(out: &mut String, group: usize) {
    let digits = [group / 1000, group / 100 % 10, group / 10 % 10, group % 10];
    let mut started = false;
    let mut zero_pending = false;
    for (position, &digit) in digits.iter().enumerate() {
        if digit == 0 {
            zero_pending |= started;
            continue;
        }
        if zero_pending {
            out.push('零');
            zero_pending = false;
        }
        out.push(DIGITS[digit]);
        out.push_str(PLACES[3 - position]);
        started = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capital_amounts_table() {
        let cases = [
            ("0.00", "零元整"),
            ("0.05", "伍分"),
            ("0.50", "伍角"),
            ("0.55", "伍角伍分"),
            ("1.00", "壹元整"),
            ("1.05", "壹元零伍分"),
            ("1.50", "壹元伍角"),
            ("10.00", "壹拾元整"),
            ("15.00", "壹拾伍元整"),
            ("100.00", "壹佰元整"),
            ("101.00", "壹佰零壹元整"),
            ("110.00", "壹佰壹拾元整"),
            ("1001.00", "壹仟零壹元整"),
            ("10010.00", "壹万零壹拾元整"),
            ("100000.00", "壹拾万元整"),
            ("1000001.00", "壹佰万零壹元整"),
            ("5000000.00", "伍佰万元整"),
            ("1234567.89", "壹佰贰拾叁万肆仟伍佰陆拾柒元捌角玖分"),
            ("100000000.00", "壹亿元整"),
            ("100010000.00", "壹亿零壹万元整"),
            ("120000300.40", "壹亿贰仟万零叁佰元肆角"),
            ("74000.01", "柒万肆仟元零壹分"),
            ("-12.30", "负壹拾贰元叁角"),
        ];
        for (amount, want) in cases {
            assert_eq!(to_capital(amount.parse().unwrap()), want, "{amount}");
        }
    }
}
