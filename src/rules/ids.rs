//! What an id may hold (rules 2.1, 4.1 step 10, 9.2 step 1): a contract id
//! is 1–64 characters, none of them a control or format character, so that
//! an invisible character never makes a settled contract look new.

/// Longest contract_id accepted, in Unicode scalar values.
pub const MAX_CONTRACT_ID_CHARS: usize = 64;

/// What a contract id may hold (rules 2.1, 4.1 step 10, 9.2 step 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdRule {
    /// 1–64 characters of any kind (the rule as batches written before it
    /// was tightened applied it; they replay with it).
    Length,
    /// 1–64 characters, none of them a control or format character
    /// (Unicode categories Cc and Cf): an invisible character must never
    /// make a settled contract look new.
    Visible,
}

impl IdRule {
    /// Whether a contract's `contract_id` (trimmed, not empty) is well
    /// formed under this rule (rules 2.1).
    pub fn accepts(self, id: &str) -> bool {
        id.chars().count() <= MAX_CONTRACT_ID_CHARS && self.characters_allowed(id)
    }

    /// Whether every character of `id` is one this rule allows (a
    /// correction's contract_id, rules 9.2 step 1: no length limit there).
    pub fn characters_allowed(self, id: &str) -> bool {
        // Printable ASCII, what nearly every id is, holds neither kind.
        let printable_ascii = || id.bytes().all(|b| (0x20..0x7F).contains(&b));
        self == IdRule::Length || printable_ascii() || !id.chars().any(|c| c.is_control() || is_format_character(c))
    }
}

/// Unicode general category Cf (format characters, Unicode 15.1): zero-width
/// spaces and joiners, direction marks and embeddings, the byte order mark,
/// the Mongolian vowel separator, soft hyphen, tags and the like.
pub fn is_format_character(c: char) -> bool {
    const CF: [(u32, u32); 21] = [
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    ];
    let c = c as u32;
    CF.iter().any(|&(low, high)| (low..=high).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zero-width space, Mongolian vowel separator, byte order mark, a
    /// direction mark and a control character are refused under the
    /// visible rule and accepted under the rule older batches replay with;
    /// ordinary text (Chinese, punctuation) passes both.
    #[test]
    fn invisible_characters_make_an_id_malformed() {
        for id in ["HT-001\u{200B}", "HT\u{180E}001", "\u{FEFF}HT-001", "HT\u{200E}001", "HT\u{0007}001", "HT\u{E0041}"]
        {
            assert!(!IdRule::Visible.accepts(id), "{id:?}");
            assert!(!IdRule::Visible.characters_allowed(id), "{id:?}");
            assert!(IdRule::Length.accepts(id), "{id:?}");
        }
        for id in ["HT-2025-001", "合同（一）/2025", "a b"] {
            assert!(IdRule::Visible.accepts(id), "{id:?}");
        }
        let long = "x".repeat(MAX_CONTRACT_ID_CHARS + 1);
        assert!(!IdRule::Visible.accepts(&long) && IdRule::Visible.characters_allowed(&long));
    }
}
