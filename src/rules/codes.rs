//! Exception codes (rules 4.1, 4.2 and the registry checks): stable English
//! identifiers, each with its severity, its message in Chinese and English,
//! and the check that decides it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[allow(non_camel_case_types)]
pub enum Code {
    E_ROW_MALFORMED,
    E_FIELD_MISSING,
    E_DUPLICATE_ROW,
    E_DUPLICATE_CONFLICT,
    E_BAD_USCC,
    E_FIELD_INVALID,
    E_ALREADY_SETTLED,
    E_SETTLED_CHANGED,
    E_CLAWED_BACK,
    E_OTHER_SERVICE_YEAR,
    E_NOT_COMPLETED,
    E_DATE_ORDER,
    E_AFTER_CUTOFF,
    E_UNKNOWN_ENTERPRISE,
    E_NOT_MANUFACTURING,
    E_NOT_ABOVE_SCALE,
    E_LARGE_ENTERPRISE,
    E_UNKNOWN_PROVIDER,
    E_SELF_DEALING,
    E_PROVIDER_REVOKED,
    E_PROVIDER_SUSPENDED,
    E_PROVIDER_NOT_SIGNED,
    E_UNKNOWN_PRODUCT,
    E_PRODUCT_PROVIDER_MISMATCH,
    E_CATEGORY_MISMATCH,
    E_CATEGORY_NOT_COVERED,
    E_NO_CLAIM,
    E_AMOUNT_MISMATCH,
    E_DEPOSIT_SHORT,
    E_BALANCE_UNPAID,
    E_RATE_ZERO,
    E_ITEM_CAP_EXHAUSTED,
    E_QUOTA_EXHAUSTED,
    E_PROVIDER_CAP_EXHAUSTED,
    E_ON_HOLD,
    W_OVERPAID,
    W_OVER_RATE,
    W_ITEM_CAP,
    W_ENTERPRISE_QUOTA,
    W_PROVIDER_CAP,
    R_FIELD_INVALID,
    R_DUPLICATE_ROW,
    R_DUPLICATE_CONFLICT,
    R_UNKNOWN_DESIGNATION,
    C_ROW_MALFORMED,
    C_FIELD_MISSING,
    C_FIELD_INVALID,
    C_DUPLICATE,
    C_DUPLICATE_ROW,
    C_AFTER_CUTOFF,
    C_NOT_SETTLED,
    C_OTHER_SERVICE_YEAR,
    C_ALREADY_REVERSED,
    W_HOLD_UNUSED,
    P_ROW_MALFORMED,
    P_FIELD_MISSING,
    P_FIELD_INVALID,
    P_DUPLICATE_ROW,
    P_DUPLICATE_CONFLICT,
    P_ALREADY_APPLIED,
    P_AFTER_CUTOFF,
    P_NOT_OWED,
    P_EXCEEDS_OWED,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Adjustment,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Adjustment => "adjustment",
            Severity::Warning => "warning",
        }
    }
}

/// The check that decides a code: a step of the row checks, allocation,
/// or the checks of the registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Step 0: the record's shape.
    RecordShape,
    /// Step 1 and 3: fields present and well formed.
    FieldFormats,
    /// Step 2: duplicate contract ids.
    Duplicates,
    /// Step 4: settled in a committed batch.
    SettledBefore,
    /// Step 5: dates.
    Dates,
    /// Step 6: the enterprise.
    Enterprise,
    /// Step 7: the provider.
    Provider,
    /// Step 8: the product.
    Product,
    /// Step 9: the amounts.
    Amounts,
    /// Allocation, first come first served.
    Allocation,
    /// The checks of the registry rows.
    Registry,
    /// A hold of this batch's corrections, applied after step 9.
    Held,
    /// The checks of the correction rows (rules 9.2).
    Corrections,
    /// The checks of the refund rows (rules 10.2).
    Refunds,
}

impl Check {
    /// The check named for people, Chinese then English.
    pub fn label(self) -> &'static str {
        match self {
            Check::RecordShape => "第0步 记录格式 / step 0: record shape",
            Check::FieldFormats => "第3步 字段格式 / step 3: field formats",
            Check::Duplicates => "第2步 重复合同编号 / step 2: duplicate contract_id",
            Check::SettledBefore => "第4步 以往已兑付 / step 4: settled before",
            Check::Dates => "第5步 日期 / step 5: dates",
            Check::Enterprise => "第6步 企业资格 / step 6: enterprise",
            Check::Provider => "第7步 服务商 / step 7: provider",
            Check::Product => "第8步 服务产品 / step 8: product",
            Check::Amounts => "第9步 金额 / step 9: amounts",
            Check::Allocation => "分配（先到先得） / allocation, first come first served",
            Check::Registry => "名录校验 / registry checks",
            Check::Held => "暂缓（第9步之后） / hold, after step 9",
            Check::Corrections => "更正记录校验 / checks of the correction rows",
            Check::Refunds => "退回款记录校验 / checks of the refund rows",
        }
    }
}

impl Code {
    /// Every code, in the order of the checks.
    pub const ALL: [Code; 63] = [
        Code::E_ROW_MALFORMED,
        Code::E_FIELD_MISSING,
        Code::E_DUPLICATE_ROW,
        Code::E_DUPLICATE_CONFLICT,
        Code::E_BAD_USCC,
        Code::E_FIELD_INVALID,
        Code::E_ALREADY_SETTLED,
        Code::E_SETTLED_CHANGED,
        Code::E_CLAWED_BACK,
        Code::E_OTHER_SERVICE_YEAR,
        Code::E_NOT_COMPLETED,
        Code::E_DATE_ORDER,
        Code::E_AFTER_CUTOFF,
        Code::E_UNKNOWN_ENTERPRISE,
        Code::E_NOT_MANUFACTURING,
        Code::E_NOT_ABOVE_SCALE,
        Code::E_LARGE_ENTERPRISE,
        Code::E_UNKNOWN_PROVIDER,
        Code::E_SELF_DEALING,
        Code::E_PROVIDER_REVOKED,
        Code::E_PROVIDER_SUSPENDED,
        Code::E_PROVIDER_NOT_SIGNED,
        Code::E_UNKNOWN_PRODUCT,
        Code::E_PRODUCT_PROVIDER_MISMATCH,
        Code::E_CATEGORY_MISMATCH,
        Code::E_CATEGORY_NOT_COVERED,
        Code::E_NO_CLAIM,
        Code::E_AMOUNT_MISMATCH,
        Code::E_DEPOSIT_SHORT,
        Code::E_BALANCE_UNPAID,
        Code::E_RATE_ZERO,
        Code::E_ITEM_CAP_EXHAUSTED,
        Code::E_QUOTA_EXHAUSTED,
        Code::E_PROVIDER_CAP_EXHAUSTED,
        Code::E_ON_HOLD,
        Code::W_OVERPAID,
        Code::W_OVER_RATE,
        Code::W_ITEM_CAP,
        Code::W_ENTERPRISE_QUOTA,
        Code::W_PROVIDER_CAP,
        Code::R_FIELD_INVALID,
        Code::R_DUPLICATE_ROW,
        Code::R_DUPLICATE_CONFLICT,
        Code::R_UNKNOWN_DESIGNATION,
        Code::C_ROW_MALFORMED,
        Code::C_FIELD_MISSING,
        Code::C_FIELD_INVALID,
        Code::C_DUPLICATE,
        Code::C_DUPLICATE_ROW,
        Code::C_AFTER_CUTOFF,
        Code::C_NOT_SETTLED,
        Code::C_OTHER_SERVICE_YEAR,
        Code::C_ALREADY_REVERSED,
        Code::W_HOLD_UNUSED,
        Code::P_ROW_MALFORMED,
        Code::P_FIELD_MISSING,
        Code::P_FIELD_INVALID,
        Code::P_DUPLICATE_ROW,
        Code::P_DUPLICATE_CONFLICT,
        Code::P_ALREADY_APPLIED,
        Code::P_AFTER_CUTOFF,
        Code::P_NOT_OWED,
        Code::P_EXCEEDS_OWED,
    ];

    /// The code named by `text` (exactly as written in the outputs).
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The check that decides this code.
    pub fn check(self) -> Check {
        use Code::*;
        match self {
            E_ROW_MALFORMED => Check::RecordShape,
            E_FIELD_MISSING | E_BAD_USCC | E_FIELD_INVALID => Check::FieldFormats,
            E_DUPLICATE_ROW | E_DUPLICATE_CONFLICT => Check::Duplicates,
            E_ALREADY_SETTLED | E_SETTLED_CHANGED | E_CLAWED_BACK => Check::SettledBefore,
            E_OTHER_SERVICE_YEAR | E_NOT_COMPLETED | E_DATE_ORDER | E_AFTER_CUTOFF => Check::Dates,
            E_UNKNOWN_ENTERPRISE | E_NOT_MANUFACTURING | E_NOT_ABOVE_SCALE | E_LARGE_ENTERPRISE => Check::Enterprise,
            E_UNKNOWN_PROVIDER | E_SELF_DEALING | E_PROVIDER_REVOKED | E_PROVIDER_SUSPENDED | E_PROVIDER_NOT_SIGNED => {
                Check::Provider
            }
            E_UNKNOWN_PRODUCT | E_PRODUCT_PROVIDER_MISMATCH | E_CATEGORY_MISMATCH | E_CATEGORY_NOT_COVERED => {
                Check::Product
            }
            E_NO_CLAIM | E_AMOUNT_MISMATCH | E_DEPOSIT_SHORT | E_BALANCE_UNPAID | W_OVERPAID => Check::Amounts,
            E_RATE_ZERO
            | E_ITEM_CAP_EXHAUSTED
            | E_QUOTA_EXHAUSTED
            | E_PROVIDER_CAP_EXHAUSTED
            | W_OVER_RATE
            | W_ITEM_CAP
            | W_ENTERPRISE_QUOTA
            | W_PROVIDER_CAP => Check::Allocation,
            R_FIELD_INVALID | R_DUPLICATE_ROW | R_DUPLICATE_CONFLICT | R_UNKNOWN_DESIGNATION => Check::Registry,
            E_ON_HOLD => Check::Held,
            C_ROW_MALFORMED | C_FIELD_MISSING | C_FIELD_INVALID | C_DUPLICATE | C_DUPLICATE_ROW | C_AFTER_CUTOFF
            | C_NOT_SETTLED | C_OTHER_SERVICE_YEAR | C_ALREADY_REVERSED | W_HOLD_UNUSED => Check::Corrections,
            P_ROW_MALFORMED | P_FIELD_MISSING | P_FIELD_INVALID | P_DUPLICATE_ROW | P_DUPLICATE_CONFLICT
            | P_ALREADY_APPLIED | P_AFTER_CUTOFF | P_NOT_OWED | P_EXCEEDS_OWED => Check::Refunds,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.describe().0
    }

    /// What the code means, in Chinese (the first half of its message).
    pub fn text_zh(self) -> &'static str {
        self.describe().1
    }

    /// What the code means, in English (the second half of its message).
    pub fn text_en(self) -> &'static str {
        self.describe().2
    }

    /// The severity of an exception row carrying this code.
    pub fn severity(self) -> Severity {
        match self {
            Code::W_OVER_RATE | Code::W_ITEM_CAP | Code::W_ENTERPRISE_QUOTA | Code::W_PROVIDER_CAP => {
                Severity::Adjustment
            }
            Code::W_OVERPAID
            | Code::R_DUPLICATE_ROW
            | Code::R_UNKNOWN_DESIGNATION
            | Code::C_DUPLICATE_ROW
            | Code::W_HOLD_UNUSED
            | Code::P_DUPLICATE_ROW => Severity::Warning,
            _ => Severity::Error,
        }
    }

    fn describe(self) -> (&'static str, &'static str, &'static str) {
        use Code::*;
        match self {
            E_ROW_MALFORMED => (
                "E_ROW_MALFORMED",
                "记录格式错误（字段数与表头不符或编码无效）",
                "malformed record (field count differs from the header, or invalid encoding)",
            ),
            E_FIELD_MISSING => ("E_FIELD_MISSING", "必填字段为空", "required field is empty"),
            E_DUPLICATE_ROW => ("E_DUPLICATE_ROW", "重复记录，已保留第一条", "duplicate row; the first one is kept"),
            E_DUPLICATE_CONFLICT => (
                "E_DUPLICATE_CONFLICT",
                "同一合同编号存在内容不同的多条记录",
                "several rows with this contract_id differ",
            ),
            E_BAD_USCC => ("E_BAD_USCC", "统一社会信用代码无效", "invalid unified social credit code"),
            E_FIELD_INVALID => ("E_FIELD_INVALID", "字段格式无效", "field is malformed"),
            E_ALREADY_SETTLED => {
                ("E_ALREADY_SETTLED", "该合同已在以往批次兑付", "contract already settled in a committed batch")
            }
            E_SETTLED_CHANGED => (
                "E_SETTLED_CHANGED",
                "该合同已兑付，但内容与兑付时不同",
                "contract already settled, with different content",
            ),
            E_CLAWED_BACK => (
                "E_CLAWED_BACK",
                "该合同的补贴已追回，不得再次兑付",
                "the contract's subsidy was clawed back; it cannot be settled again",
            ),
            E_OTHER_SERVICE_YEAR => {
                ("E_OTHER_SERVICE_YEAR", "签订日期不属于本服务年度", "signed_on is not in this service year")
            }
            E_NOT_COMPLETED => ("E_NOT_COMPLETED", "服务尚未确认完成", "service completion not confirmed"),
            E_DATE_ORDER => ("E_DATE_ORDER", "完成确认日期早于签订日期", "completed_on is before signed_on"),
            E_AFTER_CUTOFF => {
                ("E_AFTER_CUTOFF", "完成确认日期晚于本批次截止日", "completed_on is after the batch cutoff")
            }
            E_UNKNOWN_ENTERPRISE => ("E_UNKNOWN_ENTERPRISE", "企业不在名录中", "enterprise not in the registry"),
            E_NOT_MANUFACTURING => ("E_NOT_MANUFACTURING", "企业不属于制造业", "enterprise is not in manufacturing"),
            E_NOT_ABOVE_SCALE => ("E_NOT_ABOVE_SCALE", "企业不是规上企业", "enterprise is not above scale"),
            E_LARGE_ENTERPRISE => {
                ("E_LARGE_ENTERPRISE", "大型企业不属于支持范围", "large enterprises are not eligible")
            }
            E_UNKNOWN_PROVIDER => {
                ("E_UNKNOWN_PROVIDER", "服务商不在签约名单中", "provider not in the signed-provider list")
            }
            E_SELF_DEALING => {
                ("E_SELF_DEALING", "服务商与企业为同一主体", "provider and enterprise are the same entity")
            }
            E_PROVIDER_REVOKED => ("E_PROVIDER_REVOKED", "服务商签约已取消", "provider's signing is revoked"),
            E_PROVIDER_SUSPENDED => ("E_PROVIDER_SUSPENDED", "服务商已暂停", "provider is suspended"),
            E_PROVIDER_NOT_SIGNED => (
                "E_PROVIDER_NOT_SIGNED",
                "签订日期不在服务商签约期内",
                "signed_on is outside the provider's signing period",
            ),
            E_UNKNOWN_PRODUCT => ("E_UNKNOWN_PRODUCT", "服务产品不在目录中", "product not in the catalogue"),
            E_PRODUCT_PROVIDER_MISMATCH => {
                ("E_PRODUCT_PROVIDER_MISMATCH", "服务产品不属于该服务商", "product belongs to another provider")
            }
            E_CATEGORY_MISMATCH => {
                ("E_CATEGORY_MISMATCH", "服务类别与产品目录不符", "category differs from the catalogue")
            }
            E_CATEGORY_NOT_COVERED => (
                "E_CATEGORY_NOT_COVERED",
                "该服务类别不在本年度政策支持范围",
                "category not covered by this year's policy",
            ),
            E_NO_CLAIM => ("E_NO_CLAIM", "服务券抵扣金额为零", "voucher amount is zero"),
            E_AMOUNT_MISMATCH => (
                "E_AMOUNT_MISMATCH",
                "金额不符：合同金额应等于原价减抵扣金额",
                "amounts disagree: contract_amount must equal service_price - voucher_amount",
            ),
            E_DEPOSIT_SHORT => (
                "E_DEPOSIT_SHORT",
                "定金低于合同金额的最低比例",
                "deposit below the minimum share of the contract amount",
            ),
            E_BALANCE_UNPAID => ("E_BALANCE_UNPAID", "合同款未付清", "contract amount not fully paid"),
            E_RATE_ZERO => ("E_RATE_ZERO", "补贴比例限额为零", "rate limit is zero"),
            E_ITEM_CAP_EXHAUSTED => ("E_ITEM_CAP_EXHAUSTED", "单个服务项目年度上限已用完", "item cap already used up"),
            E_QUOTA_EXHAUSTED => ("E_QUOTA_EXHAUSTED", "企业年度配额已用完", "enterprise annual quota used up"),
            E_PROVIDER_CAP_EXHAUSTED => {
                ("E_PROVIDER_CAP_EXHAUSTED", "服务商年度结算上限已用完", "provider annual cap used up")
            }
            E_ON_HOLD => (
                "E_ON_HOLD",
                "本批次暂缓兑付（见更正记录，值为其行号）",
                "held by this batch's corrections (the value is the correction's row)",
            ),
            W_OVERPAID => ("W_OVERPAID", "已付金额超过合同金额", "paid more than the contract amount"),
            W_OVER_RATE => (
                "W_OVER_RATE",
                "抵扣金额超过补贴比例，按比例限额兑付",
                "voucher above the subsidy rate; reduced to the rate limit",
            ),
            W_ITEM_CAP => ("W_ITEM_CAP", "受单个服务项目年度上限限制，部分兑付", "reduced by the item cap"),
            W_ENTERPRISE_QUOTA => {
                ("W_ENTERPRISE_QUOTA", "受企业年度配额限制，部分兑付", "reduced by the enterprise annual quota")
            }
            W_PROVIDER_CAP => {
                ("W_PROVIDER_CAP", "受服务商年度结算上限限制，部分兑付", "reduced by the provider annual cap")
            }
            R_FIELD_INVALID => ("R_FIELD_INVALID", "名录记录无效，已剔除", "unusable registry row, left out"),
            R_DUPLICATE_ROW => {
                ("R_DUPLICATE_ROW", "名录重复记录，已保留第一条", "duplicate registry row; the first one is kept")
            }
            R_DUPLICATE_CONFLICT => (
                "R_DUPLICATE_CONFLICT",
                "名录中同一编号存在内容不同的多条记录，全部剔除",
                "registry rows sharing a key differ; all left out",
            ),
            R_UNKNOWN_DESIGNATION => {
                ("R_UNKNOWN_DESIGNATION", "政策未列明的资质，已忽略", "designation not known to the policy; ignored")
            }
            C_ROW_MALFORMED => (
                "C_ROW_MALFORMED",
                "更正记录格式错误（字段数与表头不符或编码无效），未执行",
                "malformed correction record (field count differs from the header, or invalid encoding); not applied",
            ),
            C_FIELD_MISSING => {
                ("C_FIELD_MISSING", "更正记录必填字段为空，未执行", "required field is empty; not applied")
            }
            C_FIELD_INVALID => ("C_FIELD_INVALID", "更正记录字段无效，未执行", "field is malformed; not applied"),
            C_DUPLICATE => (
                "C_DUPLICATE",
                "同一合同有内容不同的多条更正记录，均未执行",
                "several correction rows for this contract differ; none applied",
            ),
            C_DUPLICATE_ROW => (
                "C_DUPLICATE_ROW",
                "重复的更正记录，已执行第一条",
                "duplicate correction row; the first one is applied",
            ),
            C_AFTER_CUTOFF => {
                ("C_AFTER_CUTOFF", "决定日期晚于本批次截止日，未执行", "decided after the batch cutoff; not applied")
            }
            C_NOT_SETTLED => (
                "C_NOT_SETTLED",
                "该合同从未兑付，无法冲正或追回",
                "the contract was never settled; nothing to reverse or claw back",
            ),
            C_OTHER_SERVICE_YEAR => (
                "C_OTHER_SERVICE_YEAR",
                "该合同的兑付属于其他服务年度，未执行",
                "the contract's settlement belongs to another service year; not applied",
            ),
            C_ALREADY_REVERSED => (
                "C_ALREADY_REVERSED",
                "该合同的兑付已被冲正或追回，未执行",
                "the contract's settlement was already reversed or clawed back; not applied",
            ),
            W_HOLD_UNUSED => (
                "W_HOLD_UNUSED",
                "暂缓未使用：本批次没有可兑付的该合同",
                "hold not used: no contract row of this batch was held",
            ),
            P_ROW_MALFORMED => (
                "P_ROW_MALFORMED",
                "退回款记录格式错误（字段数与表头不符或编码无效），未入账",
                "malformed refund record (field count differs from the header, or invalid encoding); not applied",
            ),
            P_FIELD_MISSING => {
                ("P_FIELD_MISSING", "退回款记录必填字段为空，未入账", "required field is empty; not applied")
            }
            P_FIELD_INVALID => (
                "P_FIELD_INVALID",
                "退回款记录字段无效（金额须大于0），未入账",
                "field is malformed (the amount must be above 0); not applied",
            ),
            P_DUPLICATE_ROW => {
                ("P_DUPLICATE_ROW", "重复的退回款记录，已入账第一条", "duplicate refund row; the first one is applied")
            }
            P_DUPLICATE_CONFLICT => (
                "P_DUPLICATE_CONFLICT",
                "同一凭证号有内容不同的多条退回款记录，均未入账",
                "several refund rows with this reference differ; none applied",
            ),
            P_ALREADY_APPLIED => (
                "P_ALREADY_APPLIED",
                "该凭证号已在以往批次入账（值为入账批次），未入账",
                "this reference was applied by a committed batch (the value is that batch); not applied",
            ),
            P_AFTER_CUTOFF => {
                ("P_AFTER_CUTOFF", "到账日期晚于本批次截止日，未入账", "received after the batch cutoff; not applied")
            }
            P_NOT_OWED => (
                "P_NOT_OWED",
                "该服务商无应退回余额，款项待核对（退还或另行入账）",
                "the provider owes nothing; the money is to be checked (returned or booked elsewhere)",
            ),
            P_EXCEEDS_OWED => (
                "P_EXCEEDS_OWED",
                "退回金额超过应退回余额（值为余额），整笔未入账，款项待核对",
                "the amount exceeds the balance owed (the value is the balance); not applied, to be checked",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_back_from_its_text() {
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
        }
        assert_eq!(Code::parse("E_NONE"), None);
        assert_eq!(Code::E_DEPOSIT_SHORT.check(), Check::Amounts);
        assert_eq!(Code::W_ITEM_CAP.check(), Check::Allocation);
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The input a row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Contracts,
    Enterprises,
    Designations,
    Providers,
    Products,
    /// The optional corrections of a batch (rules 9).
    Corrections,
    /// The optional refunds of a batch (rules 10.2).
    Refunds,
}

impl Source {
    /// The five inputs every batch has (corrections are optional).
    pub const ALL: [Source; 5] =
        [Source::Contracts, Source::Enterprises, Source::Designations, Source::Providers, Source::Products];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Contracts => "contracts",
            Source::Enterprises => "enterprises",
            Source::Designations => "designations",
            Source::Providers => "providers",
            Source::Products => "products",
            Source::Corrections => "corrections",
            Source::Refunds => "refunds",
        }
    }
}

/// One row of the exception report (rules 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRow {
    pub source: Source,
    pub source_row: u64,
    pub contract_id: crate::Id,
    pub code: Code,
    pub field: &'static str,
    pub value: crate::Id,
    /// Detail appended to the code's message, e.g. the bounds that applied.
    pub detail: Detail,
}

/// What an exception's message says beyond its code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Detail {
    #[default]
    None,
    Text(String),
    /// The bounds of an allocation: claimed, rate limit, item room, quota
    /// room, provider room, approved. Kept as numbers; the text is written
    /// only when the report is rendered.
    Bounds(Box<[rust_decimal::Decimal; 6]>),
}

impl ExceptionRow {
    /// An exception on `record` of an input with these canonical `columns`
    /// (its contract id in column `contract_id`): `value` is the raw text of
    /// `field`, if the record has that column.
    pub fn of_record(
        source: Source,
        columns: &[crate::schema::input::ColumnSpec],
        contract_id: usize,
        record: &crate::record::Record,
        code: Code,
        field: &'static str,
    ) -> ExceptionRow {
        let value = columns
            .iter()
            .position(|c| c.name == field)
            .and_then(|i| record.raw(i))
            .map(crate::Id::from)
            .unwrap_or_default();
        ExceptionRow {
            source,
            source_row: record.source_row,
            contract_id: crate::Id::from(record.get(contract_id)),
            code,
            field,
            value,
            detail: Detail::None,
        }
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    pub fn message(&self) -> String {
        let mut out = String::with_capacity(320);
        self.push_message(&mut out);
        out
    }

    /// Appends the message, Chinese then English, with the detail.
    pub fn push_message(&self, out: &mut String) {
        let (_, zh, en) = self.code.describe();
        out.push_str(zh);
        out.push_str(" / ");
        out.push_str(en);
        match &self.detail {
            Detail::None => {}
            Detail::Text(text) => {
                out.push('（');
                out.push_str(text);
                out.push('）');
            }
            Detail::Bounds(bounds) => {
                const LABELS: [&str; 6] = [
                    "申报 claimed ",
                    "，比例限额 rate limit ",
                    "，项目余额 item room ",
                    "，配额余额 quota room ",
                    "，服务商余额 provider room ",
                    "，核定 approved ",
                ];
                out.push('（');
                for (label, amount) in LABELS.iter().zip(bounds.iter()) {
                    out.push_str(label);
                    crate::rules::money::push_money(out, *amount);
                }
                out.push('）');
            }
        }
    }

    /// The order rows are written in: contracts first, then each registry;
    /// within a source by row, and within a row in the order the checks ran.
    pub fn sort_key(&self) -> (Source, u64, u8) {
        let stage = match self.severity() {
            Severity::Warning if self.code == Code::W_OVERPAID => 0,
            Severity::Error | Severity::Warning => 1,
            Severity::Adjustment => 1,
        };
        (self.source, self.source_row, stage)
    }
}

/// One value per input source: the five inputs of a batch (their tables,
/// paths or reading options), each named, none missing.
#[derive(Debug, Clone, Default)]
pub struct PerSource<T> {
    pub contracts: T,
    pub enterprises: T,
    pub designations: T,
    pub providers: T,
    pub products: T,
}

impl<T> PerSource<T> {
    /// Builds one value per source, in `Source::ALL` order; the first error stops it.
    pub fn try_from_fn<E>(mut value: impl FnMut(Source) -> std::result::Result<T, E>) -> std::result::Result<Self, E> {
        Ok(PerSource {
            contracts: value(Source::Contracts)?,
            enterprises: value(Source::Enterprises)?,
            designations: value(Source::Designations)?,
            providers: value(Source::Providers)?,
            products: value(Source::Products)?,
        })
    }

    pub fn get(&self, source: Source) -> &T {
        match source {
            Source::Contracts => &self.contracts,
            Source::Enterprises => &self.enterprises,
            Source::Designations => &self.designations,
            Source::Providers => &self.providers,
            Source::Products => &self.products,
            Source::Corrections | Source::Refunds => {
                unreachable!("corrections and refunds are not among the five inputs every batch has")
            }
        }
    }

    /// Each source with its value, in `Source::ALL` order.
    pub fn iter(&self) -> impl Iterator<Item = (Source, &T)> {
        Source::ALL.into_iter().map(|source| (source, self.get(source)))
    }
}
