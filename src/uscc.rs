//! 统一社会信用代码 (USCC, GB 32100-2015) check as SPEC 2.6 defines it.

const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// Trims and upper-cases a code and returns it if its check character is right.
pub fn normalize_uscc(text: &str) -> Option<String> {
    let code = text.trim().to_ascii_uppercase();
    let bytes = code.as_bytes();
    if bytes.len() != 18 {
        return None;
    }
    let mut weighted_sum = 0;
    for (byte, weight) in bytes[..17].iter().zip(WEIGHTS) {
        let value = ALPHABET.iter().position(|a| a == byte)? as u32;
        weighted_sum += value * weight;
    }
    let check_index = (31 - weighted_sum % 31) % 31;
    (bytes[17] == ALPHABET[check_index as usize]).then_some(code)
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
