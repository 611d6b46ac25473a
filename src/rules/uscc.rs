//! 统一社会信用代码 (USCC, GB 32100-2015) check as rules 2.6 defines it.

use crate::Id;

const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// The characters a code is made of, in the order that gives their values.
pub const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The check character of a 17-character body, or `None` if a character is
/// not in the alphabet.
pub fn check_character(body: &[u8]) -> Option<u8> {
    if body.len() != 17 {
        return None;
    }
    let mut weighted_sum = 0;
    for (byte, weight) in body.iter().zip(WEIGHTS) {
        let value = ALPHABET.iter().position(|a| a == byte)? as u32;
        weighted_sum += value * weight;
    }
    Some(ALPHABET[((31 - weighted_sum % 31) % 31) as usize])
}

/// Trims and upper-cases a code and returns it if its check character is right.
pub fn normalize_uscc(text: &str) -> Option<Id> {
    let text = text.trim();
    if text.len() != 18 {
        return None;
    }
    let mut code = Id::from(text);
    code.make_ascii_uppercase();
    let bytes = code.as_bytes();
    (check_character(&bytes[..17])? == bytes[17]).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_character() {
        assert_eq!(normalize_uscc(" 91450400mh5ywkqxte ").as_deref(), Some("91450400MH5YWKQXTE"));
        assert_eq!(normalize_uscc("91450400MH5YWKQXTF"), None);
        assert_eq!(normalize_uscc("91450400MH5YWKQXT"), None);
        assert_eq!(normalize_uscc("9145040OMH5YWKQXTE"), None, "O is not in the alphabet");
        assert_eq!(normalize_uscc("９1450400MH5YWKQXTE"), None);
    }
}
