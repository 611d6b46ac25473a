//! The service categories of rules 3. Their rates and caps live in the policy.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Diagnostic,
    DigitalTransformation,
    TechInnovation,
    Financing,
    AdvancedTesting,
    MarketExpansion,
    OtherSupported,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Diagnostic,
        Category::DigitalTransformation,
        Category::TechInnovation,
        Category::Financing,
        Category::AdvancedTesting,
        Category::MarketExpansion,
        Category::OtherSupported,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Category::Diagnostic => "diagnostic",
            Category::DigitalTransformation => "digital_transformation",
            Category::TechInnovation => "tech_innovation",
            Category::Financing => "financing",
            Category::AdvancedTesting => "advanced_testing",
            Category::MarketExpansion => "market_expansion",
            Category::OtherSupported => "other_supported",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Category::Diagnostic => "诊断服务",
            Category::DigitalTransformation => "数字化转型服务",
            Category::TechInnovation => "技术创新服务",
            Category::Financing => "融资服务",
            Category::AdvancedTesting => "高阶检验检测验证服务",
            Category::MarketExpansion => "中高端市场开拓服务",
            Category::OtherSupported => "其他重点支持服务",
        }
    }

    /// A category code (any case) or its Chinese name; the caller trims.
    pub fn parse(text: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.code().eq_ignore_ascii_case(text) || c.name_zh() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_chinese_names() {
        assert_eq!(Category::parse("DIAGNOSTIC"), Some(Category::Diagnostic));
        assert_eq!(Category::parse("融资服务"), Some(Category::Financing));
        assert_eq!(Category::parse("咨询服务"), None);
        assert_eq!(Category::parse(""), None);
    }
}
