//! The inputs' canonical columns and their aliases (rules 2), per input.

/// A canonical column: its name, aliases, and whether a file must have it.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
}

impl ColumnSpec {
    /// Whether a header, with white space removed and lower-cased, names this column.
    pub fn matches(&self, header_key: &str) -> bool {
        self.name == header_key || self.aliases.contains(&header_key)
    }
}

/// The longest field read, in Unicode scalar values: a longer one is cut
/// to one character more when it is read (so that no input can make a
/// field hold more memory than that) and is malformed (`E_FIELD_INVALID`,
/// `R_FIELD_INVALID`, `C_FIELD_INVALID`), its exception's value holding the
/// first `MAX_FIELD_CHARS + 1` characters.
pub const MAX_FIELD_CHARS: usize = 4096;

/// Whether a field's text is longer than [`MAX_FIELD_CHARS`].
pub fn too_long(text: &str) -> bool {
    text.len() > MAX_FIELD_CHARS && text.chars().count() > MAX_FIELD_CHARS
}

/// `text` cut to at most `MAX_FIELD_CHARS + 1` characters, at a character boundary.
pub fn cut_field(text: &str) -> &str {
    if text.len() <= MAX_FIELD_CHARS {
        return text;
    }
    match text.char_indices().nth(MAX_FIELD_CHARS + 1) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

const fn col(name: &'static str, aliases: &'static [&'static str], required: bool) -> ColumnSpec {
    ColumnSpec { name, aliases, required }
}

/// rules 2.1, in table order (the order fields are parsed in).
pub const CONTRACTS: [ColumnSpec; 12] = [
    col("contract_id", &["合同编号"], true),
    col("enterprise_id", &["企业统一社会信用代码", "企业信用代码"], true),
    col("provider_id", &["服务商统一社会信用代码", "服务商信用代码"], true),
    col("product_id", &["服务产品编号", "产品编号"], true),
    col("category", &["服务类别"], false),
    col("service_price", &["服务产品原价", "原价"], true),
    col("voucher_amount", &["服务券抵扣金额", "抵扣金额"], true),
    col("contract_amount", &["合同金额"], true),
    col("deposit_paid", &["已付定金", "定金"], true),
    col("balance_paid", &["已付余款", "余款"], true),
    col("signed_on", &["签订日期", "合同签订日期"], true),
    col("completed_on", &["完成确认日期", "服务完成确认日期"], false),
];

/// Indexes into `CONTRACTS`.
pub mod contract {
    pub const CONTRACT_ID: usize = 0;
    pub const ENTERPRISE_ID: usize = 1;
    pub const PROVIDER_ID: usize = 2;
    pub const PRODUCT_ID: usize = 3;
    pub const CATEGORY: usize = 4;
    pub const SERVICE_PRICE: usize = 5;
    pub const VOUCHER_AMOUNT: usize = 6;
    pub const CONTRACT_AMOUNT: usize = 7;
    pub const DEPOSIT_PAID: usize = 8;
    pub const BALANCE_PAID: usize = 9;
    pub const SIGNED_ON: usize = 10;
    pub const COMPLETED_ON: usize = 11;
}

pub const ENTERPRISES: [ColumnSpec; 10] = [
    col("enterprise_id", &["企业统一社会信用代码"], true),
    col("name", &["企业名称"], false),
    col("industry_code", &["行业代码"], true),
    col("size_class", &["企业规模"], true),
    col("above_scale", &["是否规上"], true),
    col("above_scale_since", &["入规年份"], false),
    CONTACT[0],
    CONTACT[1],
    CONTACT[2],
    CONTACT[3],
];

/// The columns of `ENTERPRISES` the registry checks read (rules 4.1) and
/// its duplicate rule compares; the contact columns after them are read
/// only by the risk flags.
pub const ENTERPRISES_CHECKED: usize = 6;

/// Optional contact columns of the enterprise and provider registries,
/// read for the risk flags only (outside every check, changing no money):
/// legal person, phone, address, bank account, in this order.
pub const CONTACT: [ColumnSpec; 4] = [
    col("legal_person", &["法定代表人"], false),
    col("phone", &["联系电话"], false),
    col("address", &["注册地址"], false),
    col("bank_account", &["银行账号"], false),
];

pub const DESIGNATIONS: [ColumnSpec; 4] = [
    col("enterprise_id", &["企业统一社会信用代码"], true),
    col("designation", &["资质"], true),
    col("valid_from", &["生效日期"], true),
    col("valid_to", &["失效日期"], false),
];

pub const PROVIDERS: [ColumnSpec; 9] = [
    col("provider_id", &["服务商统一社会信用代码"], true),
    col("name", &["服务商名称"], false),
    col("status", &["状态"], true),
    col("signed_from", &["签约开始日期"], true),
    col("signed_to", &["签约结束日期"], false),
    CONTACT[0],
    CONTACT[1],
    CONTACT[2],
    CONTACT[3],
];

/// The columns of `PROVIDERS` the registry checks read and compare.
pub const PROVIDERS_CHECKED: usize = 5;

pub const PRODUCTS: [ColumnSpec; 5] = [
    col("product_id", &["服务产品编号"], true),
    col("provider_id", &["服务商统一社会信用代码"], true),
    col("category", &["服务类别"], true),
    col("name", &["产品名称"], false),
    col("list_price", &["指导价"], false),
];

/// rules 9.1: the optional corrections of a batch.
pub const CORRECTIONS: [ColumnSpec; 5] = [
    col("contract_id", &["合同编号"], true),
    col("action", &["处理方式"], true),
    col("decided_on", &["决定日期"], true),
    col("reason", &["原因", "事由"], true),
    col("reference", &["文号", "决定文号"], false),
];

/// Indexes into `CORRECTIONS`.
pub mod correction {
    pub const CONTRACT_ID: usize = 0;
    pub const ACTION: usize = 1;
    pub const DECIDED_ON: usize = 2;
    pub const REASON: usize = 3;
    pub const REFERENCE: usize = 4;
}

/// rules 10.2: the optional refunds of a batch (money a provider paid back).
pub const REFUNDS: [ColumnSpec; 4] = [
    col("provider_id", &["服务商统一社会信用代码", "服务商信用代码"], true),
    col("amount", &["退回金额", "金额"], true),
    col("received_on", &["到账日期"], true),
    col("reference", &["凭证号", "缴款书号"], true),
];

/// Indexes into `REFUNDS`.
pub mod refund {
    pub const PROVIDER_ID: usize = 0;
    pub const AMOUNT: usize = 1;
    pub const RECEIVED_ON: usize = 2;
    pub const REFERENCE: usize = 3;
}
