//! rules 4 rule by rule: one minimal case per code, and the boundaries.
//! Each scenario settles a small batch through the library and states, for
//! every contract row, its outcome: "SETTLED 10000.00",
//! "SETTLED_REDUCED W_ITEM_CAP 2000.00", or "E_CODE field"; warnings follow
//! as "+W_OVERPAID".

use std::path::Path;

use rust_decimal::Decimal;
use voucher_settle::batch::{Computed, render, render_one};
use voucher_settle::engine::LedgerSettlement;
use voucher_settle::engine::{BatchOutcome, BatchTables, CarryIn, settle_batch};
use voucher_settle::ingest::parse_table;
use voucher_settle::output::Destination;
use voucher_settle::rules::codes::{Code, Severity, Source};
use voucher_settle::rules::corrections::Standing;
use voucher_settle::rules::money::format_money;
use voucher_settle::rules::policy::parse_policy;
use voucher_settle::schema::input as columns;

use crate::workdir::{E1, E2, E3, E4, E5, P1, P2, P3, make_uscc};

fn e6() -> String {
    make_uscc("91450500MA5KEX006")
}
fn p4() -> String {
    make_uscc("91450500MA5PRW004")
}

fn policy_text(rounding: &str, cap_scope: &str, provider_cap: &str) -> String {
    format!(
        r#"
[scheme]
name = "test"
service_year = 2025
reference = "办法"
rounding = "{rounding}"
cap_scope = "{cap_scope}"
deposit_ratio_min = "0.20"
provider_annual_cap = "{provider_cap}"
[categories.diagnostic]
rate = "0.80"
cap = "10000"
[categories.digital_transformation]
rate = "0.50"
cap = "30000"
[categories.financing]
rate = "0.50"
cap = "30000"
[categories.market_expansion]
rate = "0.50"
cap = "30000"
[tiers.1]
quota = "50000"
[tiers.2]
quota = "100000"
designations = ["innovative_sme"]
new_above_scale_years = 2
[tiers.4]
quota = "300000"
designations = ["national_little_giant"]
"#
    )
}

fn registries() -> [String; 4] {
    let enterprises = format!(
        "enterprise_id,name,industry_code,size_class,above_scale,above_scale_since\n\
         {E1},甲,C3311,small,true,2010\n{E2},乙,C3971,medium,true,2024\n{E3},丙,C1391,micro,true,2010\n\
         {E4},丁,G5411,small,true,2010\n{E5},戊,C2221,large,true,2010\n{},己,C3311,small,false,\n",
        e6()
    );
    let designations =
        format!("enterprise_id,designation,valid_from,valid_to\n{E3},national_little_giant,2024-01-01,\n");
    let providers = format!(
        "provider_id,name,status,signed_from,signed_to\n{P1},一,active,2024-01-01,\n{P2},二,active,2025-03-01,2025-12-31\n\
         {P3},三,suspended,2024-01-01,\n{},四,revoked,2024-01-01,\n{E1},自营,active,2024-01-01,\n",
        p4()
    );
    let products = format!(
        "product_id,provider_id,category,name,list_price\nD1,{P1},diagnostic,,\nD2,{P1},diagnostic,,\n\
         T1,{P1},digital_transformation,,\nF1,{P1},financing,,\nX1,{P1},advanced_testing,,\n\
         M1,{P2},market_expansion,,\nS1,{E1},diagnostic,,\n"
    );
    [enterprises, designations, providers, products]
}

const HEADER: &str = "contract_id,enterprise_id,provider_id,product_id,category,service_price,voucher_amount,contract_amount,deposit_paid,balance_paid,signed_on,completed_on";

/// The base contract: diagnostic, claim exactly at the rate limit and at the item cap.
fn base() -> Vec<String> {
    ["K1", E1, P1, "D1", "", "12500.00", "10000.00", "2500.00", "500.00", "2000.00", "2025-02-01", "2025-03-01"]
        .map(String::from)
        .to_vec()
}

/// The base contract with some fields replaced, by column name.
fn row(changes: &[(&str, &str)]) -> String {
    let names: Vec<&str> = HEADER.split(',').collect();
    let mut fields = base();
    for (name, value) in changes {
        let index = names.iter().position(|n| n == name).unwrap_or_else(|| panic!("column {name}"));
        fields[index] = value.to_string();
    }
    fields.iter().map(|f| if f.contains(',') { format!("\"{f}\"") } else { f.clone() }).collect::<Vec<_>>().join(",")
}

fn settle_with(policy: &str, rows: &[String], carry_in: &CarryIn) -> BatchOutcome {
    try_settle_with(policy, rows, carry_in).unwrap()
}

fn try_settle_with(policy: &str, rows: &[String], carry_in: &CarryIn) -> voucher_settle::Result<BatchOutcome> {
    let policy = parse_policy(policy).unwrap();
    let table = |name: &str, text: &str, spec: &[columns::ColumnSpec]| {
        parse_table(Path::new(name), text.as_bytes(), spec, &Default::default()).unwrap()
    };
    let [enterprises, designations, providers, products] = registries();
    let contracts = format!("{HEADER}\n{}\n", rows.join("\n"));
    let batch = BatchTables {
        contracts: table("contracts.csv", &contracts, &columns::CONTRACTS),
        enterprises: table("enterprises.csv", &enterprises, &columns::ENTERPRISES),
        designations: table("designations.csv", &designations, &columns::DESIGNATIONS),
        providers: table("providers.csv", &providers, &columns::PROVIDERS),
        products: table("products.csv", &products, &columns::PRODUCTS),
    };
    let cutoff = chrono::NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
    settle_batch(
        batch,
        Default::default(),
        &policy,
        "T",
        2025,
        cutoff,
        carry_in,
        voucher_settle::ledger::Format::NEWEST.rules(),
    )
}

fn default_policy() -> String {
    policy_text("half_up", "enterprise_product_year", "5000000")
}

/// One line per contract row, as described at the top of this file.
fn describe(outcome: &BatchOutcome, rows: usize) -> Vec<String> {
    assert!(
        outcome.exceptions.iter().all(|e| e.source == Source::Contracts),
        "registries of the scenarios are clean: {:?}",
        outcome.exceptions.iter().filter(|e| e.source != Source::Contracts).collect::<Vec<_>>()
    );
    (1..=rows as u64)
        .map(|source_row| {
            let of_row: Vec<_> = outcome.exceptions.iter().filter(|e| e.source_row == source_row).collect();
            let mut text = match outcome.settlements.iter().find(|s| s.source_row == source_row) {
                Some(s) if s.code.is_empty() => {
                    format!("{} {}", s.outcome, format_money(s.approved_amount))
                }
                Some(s) => format!("{} {} {}", s.outcome, s.code, format_money(s.approved_amount)),
                None => {
                    let error = of_row.iter().find(|e| e.severity() == Severity::Error).expect("an error row");
                    format!("{} {}", error.code, error.field).trim_end().to_string()
                }
            };
            for warning in of_row.iter().filter(|e| e.severity() == Severity::Warning) {
                text += &format!(" +{}", warning.code);
            }
            text
        })
        .collect()
}

fn check(policy: &str, rows: &[String], want: &[&str]) {
    let outcome = settle_with(policy, rows, &CarryIn::default());
    assert_eq!(describe(&outcome, rows.len()), want, "rows: {rows:#?}");
}

#[test]
fn each_row_check_of_spec_4_1_in_order() {
    let other_enterprise = make_uscc("91459900MA5KEX099");
    let long_id = "K".repeat(65);
    let long_chinese_id = "合".repeat(64);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![row(&[])], "SETTLED 10000.00"),
        (vec![format!("K1,{E1},{P1}")], "E_ROW_MALFORMED"),
        (vec![format!("{},extra", row(&[]))], "E_ROW_MALFORMED"),
        (vec![row(&[("contract_id", "  ")])], "E_FIELD_MISSING contract_id"),
        (vec![row(&[("contract_id", &long_id)])], "E_FIELD_INVALID contract_id"),
        (vec![row(&[("contract_id", &long_chinese_id)])], "SETTLED 10000.00"),
        (vec![row(&[("enterprise_id", "")])], "E_FIELD_MISSING enterprise_id"),
        (vec![row(&[("enterprise_id", "91450100MA5KEX001D")])], "E_BAD_USCC enterprise_id"),
        (vec![row(&[("enterprise_id", "91450100MA5KEX001D"), ("service_price", "abc")])], "E_BAD_USCC enterprise_id"),
        (vec![row(&[("provider_id", "914501")])], "E_BAD_USCC provider_id"),
        (vec![row(&[("product_id", "")])], "E_FIELD_MISSING product_id"),
        (vec![row(&[("category", "咨询服务")])], "E_FIELD_INVALID category"),
        (vec![row(&[("service_price", "12,50.00")])], "E_FIELD_INVALID service_price"),
        (vec![row(&[("service_price", "0")])], "E_FIELD_INVALID service_price"),
        (vec![row(&[("service_price", "-12500")])], "E_FIELD_INVALID service_price"),
        (vec![row(&[("voucher_amount", "10000.001")])], "E_FIELD_INVALID voucher_amount"),
        (vec![row(&[("deposit_paid", "")])], "E_FIELD_MISSING deposit_paid"),
        (vec![row(&[("signed_on", "2025-02-30")])], "E_FIELD_INVALID signed_on"),
        (vec![row(&[("completed_on", "3/1/2025")])], "E_FIELD_INVALID completed_on"),
        (vec![row(&[("signed_on", "2024-12-31")])], "E_OTHER_SERVICE_YEAR signed_on"),
        (vec![row(&[("completed_on", "")])], "E_NOT_COMPLETED completed_on"),
        (vec![row(&[("completed_on", "2025-01-31")])], "E_DATE_ORDER completed_on"),
        (vec![row(&[("completed_on", "2025-04-01")])], "E_AFTER_CUTOFF completed_on"),
        (vec![row(&[("completed_on", "2025-03-31 23:59:59")])], "SETTLED 10000.00"),
        (vec![row(&[("enterprise_id", &other_enterprise)])], "E_UNKNOWN_ENTERPRISE enterprise_id"),
        (vec![row(&[("enterprise_id", E4)])], "E_NOT_MANUFACTURING enterprise_id"),
        (vec![row(&[("enterprise_id", &e6())])], "E_NOT_ABOVE_SCALE enterprise_id"),
        (vec![row(&[("enterprise_id", E5)])], "E_LARGE_ENTERPRISE enterprise_id"),
        (vec![row(&[("provider_id", &other_enterprise)])], "E_UNKNOWN_PROVIDER provider_id"),
        (vec![row(&[("provider_id", E1), ("product_id", "S1")])], "E_SELF_DEALING provider_id"),
        (vec![row(&[("provider_id", &p4())])], "E_PROVIDER_REVOKED provider_id"),
        (vec![row(&[("provider_id", P3)])], "E_PROVIDER_SUSPENDED provider_id"),
        (vec![row(&[("provider_id", P2), ("product_id", "M1")])], "E_PROVIDER_NOT_SIGNED signed_on"),
        (vec![row(&[("product_id", "Z9")])], "E_UNKNOWN_PRODUCT product_id"),
        (vec![row(&[("product_id", "M1")])], "E_PRODUCT_PROVIDER_MISMATCH product_id"),
        (vec![row(&[("category", "financing")])], "E_CATEGORY_MISMATCH category"),
        (vec![row(&[("category", "诊断服务")])], "SETTLED 10000.00"),
        (vec![row(&[("category", "DIAGNOSTIC")])], "SETTLED 10000.00"),
        (vec![row(&[("product_id", "X1")])], "E_CATEGORY_NOT_COVERED category"),
        (vec![row(&[("voucher_amount", "0"), ("contract_amount", "12500")])], "E_NO_CLAIM voucher_amount"),
        (vec![row(&[("voucher_amount", "12500.01")])], "E_AMOUNT_MISMATCH voucher_amount"),
        (vec![row(&[("contract_amount", "2500.01")])], "E_AMOUNT_MISMATCH contract_amount"),
        (vec![row(&[("deposit_paid", "499.99"), ("balance_paid", "2000.01")])], "E_DEPOSIT_SHORT deposit_paid"),
        (vec![row(&[("balance_paid", "1999.99")])], "E_BALANCE_UNPAID balance_paid"),
        (vec![row(&[("balance_paid", "2000.01")])], "SETTLED 10000.00 +W_OVERPAID"),
        (vec![row(&[("service_price", "¥12,500"), ("voucher_amount", "￥10,000.0")])], "SETTLED 10000.00"),
        (vec![row(&[("signed_on", "2025年2月1日"), ("completed_on", "2025/3/1")])], "SETTLED 10000.00"),
    ];
    for (rows, want) in cases {
        check(&default_policy(), &rows, &[want]);
    }
}

#[test]
fn duplicates_of_step_2() {
    let same = row(&[]);
    let same_padded = row(&[("contract_id", " K1 "), ("voucher_amount", " 10000.00")]);
    check(&default_policy(), &[same.clone(), same_padded], &["SETTLED 10000.00", "E_DUPLICATE_ROW contract_id"]);
    let other = row(&[("voucher_amount", "9000.00"), ("contract_amount", "3500.00"), ("balance_paid", "3000.00")]);
    check(
        &default_policy(),
        &[same.clone(), other, same],
        &["E_DUPLICATE_CONFLICT contract_id", "E_DUPLICATE_CONFLICT contract_id", "E_DUPLICATE_CONFLICT contract_id"],
    );
}

#[test]
fn rate_limit_rounding_half_up_and_down() {
    // 10000.01 x 0.50 = 5000.005: half_up gives 5000.01, down gives 5000.00.
    let half_fen = row(&[
        ("product_id", "F1"),
        ("service_price", "10000.01"),
        ("voucher_amount", "5000.01"),
        ("contract_amount", "5000.00"),
        ("deposit_paid", "1000.00"),
        ("balance_paid", "4000.00"),
    ]);
    check(&default_policy(), std::slice::from_ref(&half_fen), &["SETTLED 5000.01"]);
    let down = policy_text("down", "enterprise_product_year", "5000000");
    check(&down, &[half_fen], &["SETTLED_REDUCED W_OVER_RATE 5000.00"]);
    // 0.01 x 0.50 = 0.005: half_up gives 0.01; down gives a zero rate limit.
    let one_fen = row(&[
        ("product_id", "F1"),
        ("service_price", "0.01"),
        ("voucher_amount", "0.01"),
        ("contract_amount", "0"),
        ("deposit_paid", "0"),
        ("balance_paid", "0"),
    ]);
    check(&default_policy(), std::slice::from_ref(&one_fen), &["SETTLED 0.01"]);
    check(&down, &[one_fen], &["E_RATE_ZERO voucher_amount"]);
    let over_rate = row(&[
        ("service_price", "12000"),
        ("contract_amount", "2000"),
        ("deposit_paid", "400"),
        ("balance_paid", "1600"),
    ]);
    check(&default_policy(), &[over_rate], &["SETTLED_REDUCED W_OVER_RATE 9600.00"]);
}

/// A diagnostic contract on `product` claiming `voucher` (price = voucher / 0.8).
fn diagnostic(id: &str, enterprise: &str, product: &str, voucher: &str, completed_on: &str) -> String {
    let voucher_yuan: Decimal = voucher.parse().unwrap();
    let price_yuan = voucher_yuan / Decimal::new(8, 1);
    let price = format_money(price_yuan);
    let contract = format_money(price_yuan - voucher_yuan);
    row(&[
        ("contract_id", id),
        ("enterprise_id", enterprise),
        ("product_id", product),
        ("service_price", &price),
        ("voucher_amount", voucher),
        ("contract_amount", &contract),
        ("deposit_paid", &contract),
        ("balance_paid", "0"),
        ("completed_on", completed_on),
    ])
}

#[test]
fn item_cap_under_each_scope() {
    let first = diagnostic("K1", E1, "D1", "8000", "2025-03-01");
    let same_product = diagnostic("K2", E1, "D1", "4000", "2025-03-02");
    let other_product = diagnostic("K3", E1, "D2", "4000", "2025-03-03");
    let after_cap = diagnostic("K4", E1, "D1", "100", "2025-03-04");
    let rows = [first, same_product, other_product, after_cap];
    check(
        &default_policy(),
        &rows,
        &[
            "SETTLED 8000.00",
            "SETTLED_REDUCED W_ITEM_CAP 2000.00",
            "SETTLED 4000.00",
            "E_ITEM_CAP_EXHAUSTED voucher_amount",
        ],
    );
    check(
        &policy_text("half_up", "contract", "5000000"),
        &rows,
        &["SETTLED 8000.00", "SETTLED 4000.00", "SETTLED 4000.00", "SETTLED 100.00"],
    );
    check(
        &policy_text("half_up", "enterprise_category_year", "5000000"),
        &rows,
        &[
            "SETTLED 8000.00",
            "SETTLED_REDUCED W_ITEM_CAP 2000.00",
            "E_ITEM_CAP_EXHAUSTED voucher_amount",
            "E_ITEM_CAP_EXHAUSTED voucher_amount",
        ],
    );
}

#[test]
fn enterprise_quota_by_tier() {
    let contract = |id: &str, enterprise: &str, product: &str, voucher: &str, completed: &str| {
        let voucher_yuan: u64 = voucher.parse().unwrap();
        row(&[
            ("contract_id", id),
            ("enterprise_id", enterprise),
            ("product_id", product),
            ("service_price", &(voucher_yuan * 2).to_string()),
            ("voucher_amount", voucher),
            ("contract_amount", voucher),
            ("deposit_paid", voucher),
            ("balance_paid", "0"),
            ("completed_on", completed),
        ])
    };
    // Tier 1 (50,000): 30,000 + 10,000 + 10,000 is exactly the quota.
    let exact = [
        contract("A1", E1, "T1", "30000", "2025-03-01"),
        contract("A2", E1, "F1", "10000", "2025-03-02"),
        diagnostic("A3", E1, "D1", "10000", "2025-03-03"),
        diagnostic("A4", E1, "D2", "10", "2025-03-04"),
    ];
    check(
        &default_policy(),
        &exact,
        &["SETTLED 30000.00", "SETTLED 10000.00", "SETTLED 10000.00", "E_QUOTA_EXHAUSTED voucher_amount"],
    );
    let over = [
        contract("A1", E1, "T1", "30000", "2025-03-01"),
        contract("A2", E1, "F1", "15000", "2025-03-02"),
        diagnostic("A3", E1, "D1", "10000", "2025-03-03"),
    ];
    check(
        &default_policy(),
        &over,
        &["SETTLED 30000.00", "SETTLED 15000.00", "SETTLED_REDUCED W_ENTERPRISE_QUOTA 5000.00"],
    );
    // E2 entered the roster in 2024 (tier 2, 100,000); E3 is a little giant (tier 4).
    let outcome = settle_with(
        &default_policy(),
        &[contract("B1", E2, "T1", "30000", "2025-03-01"), contract("B2", E3, "T1", "30000", "2025-03-01")],
        &CarryIn::default(),
    );
    let tiers: Vec<(u32, String)> =
        outcome.settlements.iter().map(|s| (s.tier_number, format_money(s.enterprise_quota))).collect();
    assert_eq!(tiers, [(2, "100000.00".to_string()), (4, "300000.00".to_string())]);
}

#[test]
fn provider_annual_cap() {
    let policy = policy_text("half_up", "enterprise_product_year", "12000");
    let rows = [
        diagnostic("K1", E1, "D1", "10000", "2025-03-01"),
        diagnostic("K2", E2, "D1", "4000", "2025-03-02"),
        diagnostic("K3", E3, "D1", "1000", "2025-03-03"),
    ];
    check(
        &policy,
        &rows,
        &["SETTLED 10000.00", "SETTLED_REDUCED W_PROVIDER_CAP 2000.00", "E_PROVIDER_CAP_EXHAUSTED voucher_amount"],
    );
}

#[test]
fn provider_cap_reached_exactly() {
    let policy = policy_text("half_up", "enterprise_product_year", "14000");
    let rows = [
        diagnostic("K1", E1, "D1", "10000", "2025-03-01"),
        diagnostic("K2", E2, "D1", "4000", "2025-03-02"),
        diagnostic("K3", E3, "D1", "0.01", "2025-03-03"),
    ];
    check(&policy, &rows, &["SETTLED 10000.00", "SETTLED 4000.00", "E_PROVIDER_CAP_EXHAUSTED voucher_amount"]);
}

#[test]
fn allocation_order_is_completed_on_then_contract_id_bytes() {
    // Same day: "K10" < "K9" as bytes, so K10 takes the item cap first.
    let rows = [
        diagnostic("K9", E1, "D1", "6000", "2025-03-05"),
        diagnostic("K10", E1, "D1", "6000", "2025-03-05"),
        diagnostic("K8", E1, "D1", "1000", "2025-03-04"),
    ];
    check(&default_policy(), &rows, &["SETTLED_REDUCED W_ITEM_CAP 3000.00", "SETTLED 6000.00", "SETTLED 1000.00"]);
    let outcome = settle_with(&default_policy(), &rows, &CarryIn::default());
    let order: Vec<(String, u64)> = outcome.settlements.iter().map(|s| (s.contract_id.to_string(), s.seq)).collect();
    assert_eq!(order, [("K8".to_string(), 1), ("K10".to_string(), 2), ("K9".to_string(), 3)]);
    let first = &outcome.settlements.row(2);
    assert_eq!(
        (format_money(first.item_used_before), format_money(first.item_used_after), format_money(first.shortfall)),
        ("7000.00".to_string(), "10000.00".to_string(), "3000.00".to_string())
    );
}

#[test]
fn carry_in_from_committed_batches() {
    let first =
        settle_with(&default_policy(), &[diagnostic("K1", E1, "D1", "6000", "2025-03-01")], &CarryIn::default());
    let settled = &first.settlements.row(0);
    let mut carry_in = CarryIn::default();
    let carried = LedgerSettlement {
        contract_id: "K1".into(),
        enterprise_id: E1.into(),
        provider_id: P1.into(),
        product_id: "D1".into(),
        category: "diagnostic".into(),
        approved_amount: settled.approved_amount,
        fingerprint: settled.fingerprint.text().as_str().to_string(),
        batch: 0,
    };
    carry_in.year_settlements.push(carried.clone());
    carry_in.history.insert(
        "K1".into(),
        Standing::Settled {
            fingerprint: settled.fingerprint.text().as_str().to_string(),
            service_year: 2025,
            batch: 0,
        },
    );
    let again_same = diagnostic("K1", E1, "D1", "6000.00", "2025-03-01 08:00");
    let again_changed = diagnostic("K1", E1, "D1", "6000", "2025-03-02");
    let next = diagnostic("K2", E1, "D1", "6000", "2025-03-03");
    let outcome = settle_with(&default_policy(), &[again_same], &carry_in);
    assert_eq!(describe(&outcome, 1), ["E_ALREADY_SETTLED contract_id"]);
    let outcome = settle_with(&default_policy(), &[again_changed], &carry_in);
    assert_eq!(describe(&outcome, 1), ["E_SETTLED_CHANGED contract_id"]);
    let outcome = settle_with(&default_policy(), std::slice::from_ref(&next), &carry_in);
    assert_eq!(describe(&outcome, 1), ["SETTLED_REDUCED W_ITEM_CAP 4000.00"]);
    // Under enterprise_category_year the carried total counts for every diagnostic product.
    let mut by_category = CarryIn::default();
    by_category.year_settlements.push(LedgerSettlement { product_id: "D1".into(), ..carried });
    let other_product = diagnostic("K3", E1, "D2", "6000", "2025-03-03");
    let category_policy = policy_text("half_up", "enterprise_category_year", "5000000");
    let outcome = settle_with(&category_policy, &[other_product], &by_category);
    assert_eq!(describe(&outcome, 1), ["SETTLED_REDUCED W_ITEM_CAP 4000.00"]);
    let s = &outcome.settlements.row(0);
    assert_eq!(
        (format_money(s.enterprise_used_before), format_money(s.enterprise_used_after)),
        ("6000.00".into(), "10000.00".into())
    );
    assert_eq!(format_money(outcome.usage[0].used_before), "6000.00");
    assert_eq!(format_money(outcome.payouts[0].approved_amount_year), "10000.00");
}

#[test]
fn registry_rows_checked_and_left_out() {
    use voucher_settle::engine::registries::build as build_registries;
    let policy = parse_policy(&default_policy()).unwrap();
    let table = |text: &str, spec: &[columns::ColumnSpec]| {
        parse_table(Path::new("r.csv"), text.as_bytes(), spec, &Default::default()).unwrap()
    };
    let enterprises = table(
        &format!(
            "enterprise_id,name,industry_code,size_class,above_scale,above_scale_since\n\
             {E1},甲,C3311,small,true,2010\n{E1},甲,C3311,small,true,2010\n\
             {E2},乙,C3971,medium,true,2024\n{E2},乙,C3971,small,true,2024\n\
             91450100MA5KEX001D,坏,C3311,small,true,2010\n{E3},丙,A3311,small,true,2010\n\
             {E4},丁,C1391,huge,true,2010\n{E5},戊,C1391,small,maybe,2010\n{},己,C1391,small,true,19\n",
            e6()
        ),
        &columns::ENTERPRISES,
    );
    let designations = table(
        &format!(
            "enterprise_id,designation,valid_from,valid_to\n{E1},INNOVATIVE_SME,2024-01-01,\n{E1},innovative_sme,2024-01-01,\n\
             {E1},gx_unknown,2024-01-01,\n{E1},innovative_sme,2025-01-01,2024-12-31\n"
        ),
        &columns::DESIGNATIONS,
    );
    let providers = table(
        &format!("provider_id,name,status,signed_from\n{P1},一,正常,2024-01-01\n{P2},二,paused,2024-01-01\n"),
        &columns::PROVIDERS,
    );
    let products =
        table(&format!("product_id,provider_id,category\nD1,{P1},diagnostic\nD2,{P1},咨询\n"), &columns::PRODUCTS);
    let (registries, exceptions) = build_registries(&enterprises, &designations, &providers, &products, &policy);
    let mut got: Vec<(Source, u64, Code, &str)> =
        exceptions.iter().map(|e| (e.source, e.source_row, e.code, e.field)).collect();
    got.sort();
    use Code::*;
    use Source::*;
    assert_eq!(
        got,
        [
            (Enterprises, 2, R_DUPLICATE_ROW, ""),
            (Enterprises, 3, R_DUPLICATE_CONFLICT, ""),
            (Enterprises, 4, R_DUPLICATE_CONFLICT, ""),
            (Enterprises, 5, R_FIELD_INVALID, "enterprise_id"),
            (Enterprises, 6, R_FIELD_INVALID, "industry_code"),
            (Enterprises, 7, R_FIELD_INVALID, "size_class"),
            (Enterprises, 8, R_FIELD_INVALID, "above_scale"),
            (Enterprises, 9, R_FIELD_INVALID, "above_scale_since"),
            (Designations, 3, R_UNKNOWN_DESIGNATION, "designation"),
            (Designations, 4, R_FIELD_INVALID, "valid_to"),
            (Providers, 2, R_FIELD_INVALID, "status"),
            (Products, 2, R_FIELD_INVALID, "category"),
        ]
    );
    assert_eq!(registries.enterprises.len(), 1, "only E1 is usable");
    assert_eq!(registries.designations[E1].len(), 2, "designations have no key: duplicates count");
    assert_eq!(registries.providers.len(), 1);
    assert_eq!(registries.products.len(), 1);
}

/// The message of a reduced or rejected claim names every bound that
/// applied, worked out again from the allocation when the report is written.
#[test]
fn allocation_messages_name_the_bounds() {
    let first = diagnostic("K1", E1, "D1", "8000", "2025-03-01");
    let reduced = diagnostic("K2", E1, "D1", "4000", "2025-03-02");
    let rejected = diagnostic("K4", E1, "D1", "100", "2025-03-04");
    let outcome = settle_with(&default_policy(), &[first, reduced, rejected], &CarryIn::default());
    let messages: Vec<(u64, String)> = outcome.exceptions.iter().map(|e| (e.source_row, e.message())).collect();
    let quota_yuan = outcome.usage[0].quota;
    let quota_room = |used: &str| format_money(quota_yuan - used.parse::<Decimal>().unwrap());
    assert_eq!(
        messages,
        [
            (
                2,
                format!(
                    "受单个服务项目年度上限限制，部分兑付 / reduced by the item cap（申报 claimed 4000.00，比例限额 rate limit 4000.00，项目余额 item room 2000.00，配额余额 quota room {}，服务商余额 provider room 4992000.00，核定 approved 2000.00）",
                    quota_room("8000")
                )
            ),
            (
                3,
                format!(
                    "单个服务项目年度上限已用完 / item cap already used up（申报 claimed 100.00，比例限额 rate limit 100.00，项目余额 item room 0.00，配额余额 quota room {}，服务商余额 provider room 4990000.00，核定 approved 0.00）",
                    quota_room("10000")
                )
            ),
        ]
    );
}

/// A provider already above its annual cap when the batch starts (a policy
/// file edited after earlier batches were committed) breaks a control total:
/// the batch is refused, nothing is written.
#[test]
fn a_cap_already_exceeded_refuses_the_batch() {
    let carried = |provider: &str| LedgerSettlement {
        contract_id: "K0".into(),
        enterprise_id: E2.into(),
        provider_id: provider.into(),
        product_id: "D1".into(),
        category: "diagnostic".into(),
        approved_amount: "15000".parse().unwrap(),
        fingerprint: String::new(),
        batch: 0,
    };
    let rows = [diagnostic("K1", E1, "D1", "1000", "2025-03-01")];
    let within = policy_text("half_up", "enterprise_product_year", "16000");
    let lowered = policy_text("half_up", "enterprise_product_year", "14000");
    for provider in [P1, "91450100UNLISTED01"] {
        let mut carry_in = CarryIn::default();
        carry_in.year_settlements.push(carried(provider));
        let outcome = settle_with(&within, &rows, &carry_in);
        assert!(outcome.control.caps_hold && outcome.control.all_hold());
        let refused = try_settle_with(&lowered, &rows, &carry_in).unwrap_err().to_string();
        assert!(refused.contains("\"caps_hold\":false"), "{provider}: {refused}");
        assert!(refused.contains("nothing written"), "{refused}");
    }
}

/// The exception report follows the rows of the file, and within a row
/// W_OVERPAID comes first, whatever order allocation took the rows in.
#[test]
fn exceptions_follow_source_rows_not_allocation_order() {
    let overpaid = {
        let fields = diagnostic("K4", E1, "D1", "200", "2025-03-07");
        let mut fields: Vec<String> = fields.split(',').map(String::from).collect();
        let balance_paid = HEADER.split(',').position(|name| name == "balance_paid").unwrap();
        fields[balance_paid] = "1.00".into();
        fields.join(",")
    };
    let rows = [
        diagnostic("K1", E1, "D1", "100", "2025-03-09"),
        diagnostic("K2", E1, "D1", "8000", "2025-03-01"),
        diagnostic("K3", E1, "D1", "4000", "2025-03-05"),
        overpaid,
        row(&[("contract_id", "K5"), ("voucher_amount", "")]),
        diagnostic("K6", E1, "D1", "300", "2025-03-02"),
    ];
    let outcome = settle_with(&default_policy(), &rows, &CarryIn::default());
    let order: Vec<(u64, &str)> = outcome.exceptions.iter().map(|e| (e.source_row, e.code.as_str())).collect();
    assert_eq!(
        order,
        [
            (1, "E_ITEM_CAP_EXHAUSTED"),
            (3, "W_ITEM_CAP"),
            (4, "W_OVERPAID"),
            (4, "E_ITEM_CAP_EXHAUSTED"),
            (5, "E_FIELD_MISSING"),
        ]
    );
}

/// A usage row names its enterprise by id and registry name, looked up
/// when the row is written.
#[test]
fn usage_rows_name_their_enterprise() {
    let rows = [diagnostic("K1", E3, "D1", "800", "2025-03-01"), diagnostic("K2", E1, "D1", "400", "2025-03-02")];
    let outcome = settle_with(&default_policy(), &rows, &CarryIn::default());
    let named: Vec<(&str, &str, String)> = outcome
        .usage
        .iter()
        .map(|u| {
            let (id, name) = outcome.enterprise(u);
            (id, name, format_money(u.used_batch))
        })
        .collect();
    let mut want = vec![(E1, "甲", "400.00".to_string()), (E3, "丙", "800.00".to_string())];
    want.sort();
    assert_eq!(named, want);
}

/// The large tables rendered as twins (each CSV file beside its Parquet
/// twin, from the same rows and messages) are the files rendered alone.
#[test]
fn twins_render_as_the_files_alone() {
    let rows = [
        diagnostic("K1", E1, "D1", "8000", "2025-03-01"),
        diagnostic("K2", E1, "D1", "4000", "2025-03-02"),
        diagnostic("K3", E1, "D1", "100", "2025-03-04"),
        row(&[("contract_id", "K4"), ("service_price", "abc")]),
    ];
    let outcome = settle_with(&default_policy(), &rows, &CarryIn::default());
    assert_eq!((outcome.settlements.len(), outcome.exceptions.len()), (2, 3));
    let summary = voucher_settle::report::summary(&outcome, &parse_policy(&default_policy()).unwrap());
    let computed = Computed {
        outcome,
        summary,
        dry_run: false,
        ledger_format: 2,
        prev_manifest_sha256: None,
        signoff: None,
        sequence: 1,
        tool_version: String::new(),
        office: None,
        sample: Default::default(),
    };
    let all = render(&computed, &Destination::memory()).unwrap();
    for name in ["settlements.csv", "settlements.parquet", "exceptions.csv", "exceptions.parquet"] {
        let alone = render_one(&computed, name, &Destination::memory()).unwrap();
        let twin = all.iter().find(|f| f.name == name).unwrap();
        assert!(alone.bytes.as_ref().is_some_and(|b| !b.is_empty()), "{name}");
        assert_eq!(alone.bytes, twin.bytes, "{name}");
    }
}

/// Each batch renders in its own ledger format, so that `verify` replays a
/// batch as it was written: format 1 guarded only the input text columns of
/// the CSV files; format 2 guards every text cell, and an apostrophe too.
#[test]
fn csv_cells_are_guarded_as_the_ledger_format_says() {
    let rows = [
        diagnostic("=K1", E1, "D1", "8000", "2025-03-01"),
        diagnostic("'K2", E2, "D1", "8000", "2025-03-01"),
        row(&[("contract_id", "=K3"), ("service_price", "abc")]),
    ];
    let settlements_and_exceptions = |ledger_format: u32| {
        let outcome = settle_with(&default_policy(), &rows, &CarryIn::default());
        let summary = voucher_settle::report::summary(&outcome, &parse_policy(&default_policy()).unwrap());
        let computed = Computed {
            outcome,
            summary,
            dry_run: false,
            ledger_format,
            prev_manifest_sha256: None,
            signoff: None,
            sequence: 1,
            tool_version: String::new(),
            office: None,
            sample: Default::default(),
        };
        let text = |name: &str| {
            let file = render_one(&computed, name, &Destination::memory()).unwrap();
            String::from_utf8(file.bytes.unwrap()).unwrap()
        };
        (text("settlements.csv"), text("exceptions.csv"))
    };
    let (settlements, exceptions) = settlements_and_exceptions(1);
    assert!(settlements.contains("\n2025-Q1,1,=K1,") || settlements.contains(",=K1,"), "{settlements}");
    assert!(settlements.contains(",'K2,"), "{settlements}");
    assert!(exceptions.contains(",'=K3,"), "{exceptions}");
    let (settlements, exceptions) = settlements_and_exceptions(2);
    assert!(settlements.contains(",'=K1,") && settlements.contains(",''K2,"), "{settlements}");
    assert!(exceptions.contains(",'=K3,"), "{exceptions}");
}
