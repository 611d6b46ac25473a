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

/// Every input field by name, as the tables below and an exception's
/// `field` (rules 6) spell it.
pub mod field {
    pub const ABOVE_SCALE: &str = "above_scale";
    pub const ABOVE_SCALE_SINCE: &str = "above_scale_since";
    pub const ACTION: &str = "action";
    pub const ADDRESS: &str = "address";
    pub const AMOUNT: &str = "amount";
    pub const BALANCE_PAID: &str = "balance_paid";
    pub const BANK_ACCOUNT: &str = "bank_account";
    pub const CATEGORY: &str = "category";
    pub const COMPLETED_ON: &str = "completed_on";
    pub const CONTRACT_AMOUNT: &str = "contract_amount";
    pub const CONTRACT_ID: &str = "contract_id";
    pub const DECIDED_ON: &str = "decided_on";
    pub const DEPOSIT_PAID: &str = "deposit_paid";
    pub const DESIGNATION: &str = "designation";
    pub const ENTERPRISE_ID: &str = "enterprise_id";
    pub const INDUSTRY_CODE: &str = "industry_code";
    pub const LEGAL_PERSON: &str = "legal_person";
    pub const LIST_PRICE: &str = "list_price";
    pub const NAME: &str = "name";
    pub const PHONE: &str = "phone";
    pub const PRODUCT_ID: &str = "product_id";
    pub const PROVIDER_ID: &str = "provider_id";
    pub const REASON: &str = "reason";
    pub const RECEIVED_ON: &str = "received_on";
    pub const REFERENCE: &str = "reference";
    pub const SERVICE_PRICE: &str = "service_price";
    pub const SIGNED_FROM: &str = "signed_from";
    pub const SIGNED_ON: &str = "signed_on";
    pub const SIGNED_TO: &str = "signed_to";
    pub const SIZE_CLASS: &str = "size_class";
    pub const STATUS: &str = "status";
    pub const VALID_FROM: &str = "valid_from";
    pub const VALID_TO: &str = "valid_to";
    pub const VOUCHER_AMOUNT: &str = "voucher_amount";
}

const fn col(name: &'static str, aliases: &'static [&'static str], required: bool) -> ColumnSpec {
    ColumnSpec { name, aliases, required }
}

/// rules 2.1, in table order (the order fields are parsed in).
pub const CONTRACTS: [ColumnSpec; 12] = [
    col(field::CONTRACT_ID, &["合同编号"], true),
    col(field::ENTERPRISE_ID, &["企业统一社会信用代码", "企业信用代码"], true),
    col(field::PROVIDER_ID, &["服务商统一社会信用代码", "服务商信用代码"], true),
    col(field::PRODUCT_ID, &["服务产品编号", "产品编号"], true),
    col(field::CATEGORY, &["服务类别"], false),
    col(field::SERVICE_PRICE, &["服务产品原价", "原价"], true),
    col(field::VOUCHER_AMOUNT, &["服务券抵扣金额", "抵扣金额"], true),
    col(field::CONTRACT_AMOUNT, &["合同金额"], true),
    col(field::DEPOSIT_PAID, &["已付定金", "定金"], true),
    col(field::BALANCE_PAID, &["已付余款", "余款"], true),
    col(field::SIGNED_ON, &["签订日期", "合同签订日期"], true),
    col(field::COMPLETED_ON, &["完成确认日期", "服务完成确认日期"], false),
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
    col(field::ENTERPRISE_ID, &["企业统一社会信用代码"], true),
    col(field::NAME, &["企业名称"], false),
    col(field::INDUSTRY_CODE, &["行业代码"], true),
    col(field::SIZE_CLASS, &["企业规模"], true),
    col(field::ABOVE_SCALE, &["是否规上"], true),
    col(field::ABOVE_SCALE_SINCE, &["入规年份"], false),
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
    col(field::LEGAL_PERSON, &["法定代表人"], false),
    col(field::PHONE, &["联系电话"], false),
    col(field::ADDRESS, &["注册地址"], false),
    col(field::BANK_ACCOUNT, &["银行账号"], false),
];

pub const DESIGNATIONS: [ColumnSpec; 4] = [
    col(field::ENTERPRISE_ID, &["企业统一社会信用代码"], true),
    col(field::DESIGNATION, &["资质"], true),
    col(field::VALID_FROM, &["生效日期"], true),
    col(field::VALID_TO, &["失效日期"], false),
];

pub const PROVIDERS: [ColumnSpec; 9] = [
    col(field::PROVIDER_ID, &["服务商统一社会信用代码"], true),
    col(field::NAME, &["服务商名称"], false),
    col(field::STATUS, &["状态"], true),
    col(field::SIGNED_FROM, &["签约开始日期"], true),
    col(field::SIGNED_TO, &["签约结束日期"], false),
    CONTACT[0],
    CONTACT[1],
    CONTACT[2],
    CONTACT[3],
];

/// The columns of `PROVIDERS` the registry checks read and compare.
pub const PROVIDERS_CHECKED: usize = 5;

pub const PRODUCTS: [ColumnSpec; 5] = [
    col(field::PRODUCT_ID, &["服务产品编号"], true),
    col(field::PROVIDER_ID, &["服务商统一社会信用代码"], true),
    col(field::CATEGORY, &["服务类别"], true),
    col(field::NAME, &["产品名称"], false),
    col(field::LIST_PRICE, &["指导价"], false),
];

/// rules 9.1: the optional corrections of a batch.
pub const CORRECTIONS: [ColumnSpec; 5] = [
    col(field::CONTRACT_ID, &["合同编号"], true),
    col(field::ACTION, &["处理方式"], true),
    col(field::DECIDED_ON, &["决定日期"], true),
    col(field::REASON, &["原因", "事由"], true),
    col(field::REFERENCE, &["文号", "决定文号"], false),
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
    col(field::PROVIDER_ID, &["服务商统一社会信用代码", "服务商信用代码"], true),
    col(field::AMOUNT, &["退回金额", "金额"], true),
    col(field::RECEIVED_ON, &["到账日期"], true),
    col(field::REFERENCE, &["凭证号", "缴款书号"], true),
];

/// Indexes into `REFUNDS`.
pub mod refund {
    pub const PROVIDER_ID: usize = 0;
    pub const AMOUNT: usize = 1;
    pub const RECEIVED_ON: usize = 2;
    pub const REFERENCE: usize = 3;
}
