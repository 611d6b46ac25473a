//! The engine's allocation against the reference model of
//! `rules::reference` on random small batches with tight caps: every cap
//! scope, both roundings, committed totals carried in, some of them
//! reversed or clawed back by the batch's corrections. A failing case is
//! shrunk and printed with its seed by proptest; regressions found this way
//! are kept in `tests/model.proptest-regressions`.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;
use voucher_settle::engine::LedgerSettlement;
use voucher_settle::engine::{BatchTables, CarryIn, settle_batch};
use voucher_settle::ingest::parse_table;
use voucher_settle::rules::category::Category;
use voucher_settle::rules::codes::{Severity, Source};
use voucher_settle::rules::corrections::Standing;
use voucher_settle::rules::policy::parse_policy;
use voucher_settle::rules::reference::{self, Totals};
use voucher_settle::schema::input as columns;

use crate::workdir::{E1, E2, E3, P1, P2};

const ENTERPRISES: [&str; 3] = [E1, E2, E3];
/// (product, provider, category); the categories' rates and caps are tight.
const PRODUCTS: [(&str, &str, Category); 4] = [
    ("D1", P1, Category::Diagnostic),
    ("D2", P2, Category::Diagnostic),
    ("F1", P1, Category::Financing),
    ("T1", P2, Category::DigitalTransformation),
];

fn policy_text(rounding: &str, scope: &str, diagnostic_rate: &str) -> String {
    format!(
        r#"
[scheme]
name = "model"
service_year = 2025
reference = "办法"
rounding = "{rounding}"
cap_scope = "{scope}"
deposit_ratio_min = "0.20"
provider_annual_cap = "9000"
[categories.diagnostic]
rate = "{diagnostic_rate}"
cap = "1000"
[categories.financing]
rate = "0.50"
cap = "2500"
[categories.digital_transformation]
rate = "0.35"
cap = "2000"
[tiers.1]
quota = "3000"
[tiers.2]
quota = "4500"
designations = ["innovative_sme"]
"#
    )
}

/// The enterprise's quota under `policy_text`: E2 holds a tier-2 designation.
fn quota(enterprise: &str) -> Decimal {
    if enterprise == E2 { Decimal::from(4500) } else { Decimal::from(3000) }
}

#[derive(Debug, Clone)]
struct Draw {
    enterprise: usize,
    product: usize,
    price_fen: u32,
    /// The claim as a share of the price, in percent.
    claim_percent: u32,
    completed_day: u32,
}

fn draw() -> impl Strategy<Value = Draw> {
    (0..3usize, 0..4usize, 1u32..400_000, 1u32..=100, 1u32..=28).prop_map(
        |(enterprise, product, price_fen, claim_percent, completed_day)| Draw {
            enterprise,
            product,
            price_fen,
            claim_percent,
            completed_day,
        },
    )
}

fn fen(amount: u64) -> Decimal {
    Decimal::new(amount as i64, 2)
}

fn table(name: &str, text: &str, spec: &[columns::ColumnSpec]) -> voucher_settle::ingest::Table {
    parse_table(Path::new(name), text.as_bytes(), spec, &Default::default()).unwrap()
}

fn tables(draws: &[Draw]) -> BatchTables {
    let mut contracts = String::from(
        "contract_id,enterprise_id,provider_id,product_id,category,service_price,voucher_amount,contract_amount,deposit_paid,balance_paid,signed_on,completed_on\n",
    );
    for (n, d) in draws.iter().enumerate() {
        let (product, provider, _) = PRODUCTS[d.product];
        let price = u64::from(d.price_fen);
        let claim = (price * u64::from(d.claim_percent)).div_ceil(100).min(price);
        let rest = price - claim;
        contracts += &format!(
            "K{n:03},{},{provider},{product},,{},{},{},{},0,2025-01-02,2025-02-{:02}\n",
            ENTERPRISES[d.enterprise],
            fen(price),
            fen(claim),
            fen(rest),
            fen(rest),
            d.completed_day
        );
    }
    let enterprises = format!(
        "enterprise_id,name,industry_code,size_class,above_scale,above_scale_since\n\
         {E1},甲,C3311,small,true,2010\n{E2},乙,C3971,medium,true,2010\n{E3},丙,C1391,micro,true,2010\n"
    );
    let designations = format!("enterprise_id,designation,valid_from,valid_to\n{E2},innovative_sme,2024-01-01,\n");
    let providers = format!(
        "provider_id,name,status,signed_from,signed_to\n{P1},一,active,2024-01-01,\n{P2},二,active,2024-01-01,\n"
    );
    let mut products = String::from("product_id,provider_id,category\n");
    for (product, provider, category) in PRODUCTS {
        products += &format!("{product},{provider},{}\n", category.code());
    }
    BatchTables {
        contracts: table("contracts.csv", &contracts, &columns::CONTRACTS),
        enterprises: table("enterprises.csv", &enterprises, &columns::ENTERPRISES),
        designations: table("designations.csv", &designations, &columns::DESIGNATIONS),
        providers: table("providers.csv", &providers, &columns::PROVIDERS),
        products: table("products.csv", &products, &columns::PRODUCTS),
    }
}

/// The reference's view of the drawn contracts.
fn model_contracts(draws: &[Draw]) -> Vec<reference::Contract> {
    draws
        .iter()
        .enumerate()
        .map(|(n, d)| {
            let (product, provider, category) = PRODUCTS[d.product];
            let price = u64::from(d.price_fen);
            let claim = (price * u64::from(d.claim_percent)).div_ceil(100).min(price);
            reference::Contract {
                contract_id: format!("K{n:03}"),
                completed_on: NaiveDate::from_ymd_opt(2025, 2, d.completed_day).unwrap(),
                enterprise_id: ENTERPRISES[d.enterprise].to_string(),
                provider_id: provider.to_string(),
                product_id: product.to_string(),
                category,
                service_price: fen(price),
                voucher_amount: fen(claim),
                quota: quota(ENTERPRISES[d.enterprise]),
            }
        })
        .collect()
}

/// Settlements of earlier batches of the year: (enterprise, product, approved
/// fen), small enough that no cap is exceeded before the batch.
fn carried() -> impl Strategy<Value = Vec<(usize, usize, u32)>> {
    proptest::collection::vec((0..3usize, 0..4usize, 1u32..24_000), 0..4)
}

fn carry_in(carried: &[(usize, usize, u32)]) -> (CarryIn, Totals) {
    let mut carry_in = CarryIn::default();
    let mut totals = Totals::default();
    for (n, &(enterprise, product, approved)) in carried.iter().enumerate() {
        let (product_id, provider, category) = PRODUCTS[product];
        let approved = fen(u64::from(approved));
        let settled = LedgerSettlement {
            contract_id: format!("OLD{n}"),
            enterprise_id: ENTERPRISES[enterprise].to_string(),
            provider_id: provider.to_string(),
            product_id: product_id.to_string(),
            category: category.code().to_string(),
            approved_amount: approved,
            fingerprint: String::new(),
            batch: 0,
        };
        let c = model_contract(&settled);
        carry_in.history.insert(
            settled.contract_id.clone(),
            Standing::Settled { fingerprint: String::new(), service_year: 2025, batch: 0 },
        );
        carry_in.year_settlements.push(settled);
        for (map, key) in
            [(&mut totals.enterprise, c.enterprise_id.clone()), (&mut totals.provider, c.provider_id.clone())]
        {
            *map.entry(key).or_default() += approved;
        }
        carried_item(&mut totals, &c, approved);
    }
    (carry_in, totals)
}

/// The item totals a carried settlement counts for, under each scope the
/// test may draw (the contract scope never carries).
fn carried_item(totals: &mut Totals, c: &reference::Contract, approved: Decimal) {
    for scope in [
        voucher_settle::rules::policy::CapScope::EnterpriseProductYear,
        voucher_settle::rules::policy::CapScope::EnterpriseCategoryYear,
    ] {
        *totals.item.entry(reference::item_scope(scope, c)).or_default() += approved;
    }
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 300, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn engine_allocates_as_the_reference_model(
        draws in proptest::collection::vec(draw(), 1..40),
        rounding in proptest::sample::select(vec!["half_up", "down"]),
        scope in proptest::sample::select(vec!["enterprise_product_year", "contract", "enterprise_category_year"]),
        diagnostic_rate in proptest::sample::select(vec!["0.80", "0.333", "0"]),
        carried in carried(),
        actions in proptest::collection::vec(0u8..3, 4),
    ) {
        let policy = parse_policy(&policy_text(rounding, scope, diagnostic_rate)).unwrap();
        let (carry_in, mut totals) = carry_in(&carried);
        // Rules 9.3: each carried settlement may be reversed (1) or clawed
        // back (2) by this batch's corrections; the model's totals start
        // net of them.
        let mut corrections = String::from("contract_id,action,decided_on,reason\n");
        let mut taken_back_total = Decimal::ZERO;
        for (settled, &action) in carry_in.year_settlements.iter().zip(&actions).filter(|(_, a)| **a > 0) {
            let name = if action == 1 { "reverse" } else { "clawback" };
            corrections.push_str(&format!("{},{name},2025-03-01,model\n", settled.contract_id));
            take_back(&mut totals, settled);
            taken_back_total += settled.approved_amount;
        }
        let corrections_table =
            parse_table(Path::new("corrections.csv"), corrections.as_bytes(), &columns::CORRECTIONS, &Default::default())
                .unwrap();
        let cutoff = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
        let outcome =
            settle_batch(tables(&draws), voucher_settle::engine::OptionalInputs { corrections: Some(corrections_table), refunds: None }, &policy, "M", 2025, cutoff, &carry_in, voucher_settle::ledger::Format::NEWEST.rules()).unwrap();
        let expected = reference::allocate(&policy, &model_contracts(&draws), &mut totals);

        // Every contract is eligible: each ends in a settlement row or an allocation error.
        let approved: HashMap<String, (Decimal, String)> = outcome
            .settlements
            .iter()
            .map(|s| (s.contract_id.to_string(), (s.approved_amount, s.code.to_string())))
            .collect();
        let rejected: HashMap<String, String> = outcome
            .exceptions
            .iter()
            .filter(|e| e.source == Source::Contracts && e.severity() == Severity::Error)
            .map(|e| (e.contract_id.to_string(), e.code.to_string()))
            .collect();
        prop_assert_eq!(approved.len() + rejected.len(), draws.len());
        for g in &expected {
            let code = g.code.map(|c| c.to_string()).unwrap_or_default();
            match approved.get(&g.contract_id) {
                Some((amount, got_code)) => {
                    prop_assert_eq!(*amount, g.approved, "{}", g.contract_id);
                    prop_assert_eq!(got_code, &code, "{}", g.contract_id);
                }
                None => {
                    prop_assert_eq!(g.approved, Decimal::ZERO, "{} rejected by the engine", g.contract_id);
                    prop_assert_eq!(rejected.get(&g.contract_id), Some(&code), "{}", g.contract_id);
                }
            }
        }
        // Allocation order: the settlement rows follow the model's order.
        let model_order: Vec<&str> =
            expected.iter().filter(|g| g.approved > Decimal::ZERO).map(|g| g.contract_id.as_str()).collect();
        let engine_order: Vec<String> = outcome.settlements.iter().map(|s| s.contract_id.to_string()).collect();
        prop_assert_eq!(engine_order, model_order);
        // No total above its cap, none below zero.
        for (enterprise, used) in &totals.enterprise {
            prop_assert!(*used >= Decimal::ZERO && *used <= quota(enterprise));
        }
        for used in totals.provider.values() {
            prop_assert!(*used >= Decimal::ZERO && *used <= Decimal::from(9000));
        }
        prop_assert!(outcome.control.all_hold());
        // Σ approved − Σ reversed = Σ net payouts; every reversal applied.
        let reversed: Decimal = outcome.reversals.iter().map(|r| r.amount).sum();
        prop_assert_eq!(reversed, taken_back_total);
        let net: Decimal = outcome.payouts.iter().map(|p| p.net_amount_batch()).sum();
        prop_assert_eq!(outcome.settlements.totals().approved - reversed, net);
        for r in &outcome.reversals {
            prop_assert!(r.after.item >= Decimal::ZERO && r.after.enterprise >= Decimal::ZERO);
            prop_assert!(r.after.provider >= Decimal::ZERO);
        }
        for u in &outcome.usage {
            prop_assert!(u.used_after >= Decimal::ZERO && u.used_after <= u.quota);
        }
    }
}

/// The model's totals after a carried settlement is taken back (rules 9.3).
fn take_back(totals: &mut Totals, settled: &LedgerSettlement) {
    let amount = settled.approved_amount;
    *totals.enterprise.entry(settled.enterprise_id.clone()).or_default() -= amount;
    *totals.provider.entry(settled.provider_id.clone()).or_default() -= amount;
    carried_item(totals, &model_contract(settled), -amount);
}

/// A committed settlement as the model's contract, for its item scope.
fn model_contract(settled: &LedgerSettlement) -> reference::Contract {
    let category = PRODUCTS.iter().find(|p| p.0 == settled.product_id).map(|p| p.2).unwrap();
    reference::Contract {
        contract_id: settled.contract_id.clone(),
        completed_on: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        enterprise_id: settled.enterprise_id.clone(),
        provider_id: settled.provider_id.clone(),
        product_id: settled.product_id.clone(),
        category,
        service_price: settled.approved_amount,
        voucher_amount: settled.approved_amount,
        quota: quota(&settled.enterprise_id),
    }
}
