//! Risk flags and the spot-check sample on a dataset with a planted case of
//! every flag and a near miss just below each threshold: every planted case
//! is flagged, no near miss is; the sample puts flagged contracts first, is
//! drawn the same from a fresh store, and `verify` replays both files.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use calamine::{Reader, open_workbook_auto};

use crate::workdir::{Workdir, make_uscc, repo};

fn enterprise(n: u32) -> String {
    make_uscc(&format!("91450100MA5RE{n:04}"))
}

fn provider(n: u32) -> String {
    make_uscc(&format!("91450100MA5RP{n:04}"))
}

/// One contract: id, enterprise, provider, product, service price, voucher,
/// signed, completed.
struct C(&'static str, u32, u32, &'static str, &'static str, &'static str, &'static str, &'static str);

/// The registries: enterprises 1–99 (tier 1, quota 50,000), providers 1–12
/// each with products D (diagnostic, guide 12,500), O and T (other
/// supported, guide 100,000) and L (other supported, guide 20,000).
fn registries(w: &Workdir, contacts: &[(u32, bool, [&str; 4])]) {
    let contact_of = |n: u32, is_enterprise: bool| {
        contacts.iter().find(|(m, e, _)| *m == n && *e == is_enterprise).map_or([""; 4], |(_, _, c)| *c).join(",")
    };
    let mut enterprises = String::from(
        "enterprise_id,name,industry_code,size_class,above_scale,above_scale_since,法定代表人,联系电话,注册地址,银行账号\n",
    );
    for n in 1..100 {
        let _ = writeln!(enterprises, "{},企业{n},C3311,small,true,2015,{}", enterprise(n), contact_of(n, true));
    }
    let mut providers =
        String::from("provider_id,name,status,signed_from,signed_to,legal_person,phone,address,bank_account\n");
    let mut products = String::from("product_id,provider_id,category,name,list_price\n");
    for n in 1..13 {
        let id = provider(n);
        let _ = writeln!(providers, "{id},服务商{n},active,2024-01-01,,{}", contact_of(n, false));
        for (kind, category, list) in [
            ("D", "diagnostic", "12500"),
            ("O", "other_supported", "100000"),
            ("T", "other_supported", "100000"),
            ("L", "other_supported", "20000"),
        ] {
            let _ = writeln!(products, "{kind}{n:02},{id},{category},产品,{list}");
        }
    }
    w.write("data/enterprises.csv", enterprises);
    w.write("data/providers.csv", providers);
    w.write("data/products.csv", products);
    w.write("data/designations.csv", "enterprise_id,designation,valid_from,valid_to\n");
    let policy = String::from_utf8(std::fs::read(repo().join("jobs/policy/gx-2025.toml")).unwrap()).unwrap();
    w.write("policy.toml", policy.replace("provider_annual_cap = \"5000000\"", "provider_annual_cap = \"100000\""));
    w.write("job.toml", crate::workdir::JOB);
}

fn contracts(w: &Workdir, quarter: &str, rows: &[C]) {
    let mut text = String::from(
        "contract_id,enterprise_id,provider_id,product_id,category,service_price,voucher_amount,contract_amount,deposit_paid,balance_paid,signed_on,completed_on\n",
    );
    for C(id, e, p, product, price, voucher, signed, completed) in rows {
        let (price, voucher): (rust_decimal::Decimal, rust_decimal::Decimal) =
            (price.parse().unwrap(), voucher.parse().unwrap());
        let amount = price - voucher;
        let _ = writeln!(
            text,
            "{id},{},{},{product}{p:02},,{price},{voucher},{amount},{amount},0,{signed},{completed}",
            enterprise(*e),
            provider(*p)
        );
    }
    w.write(&format!("data/{quarter}/contracts.csv"), text);
}

/// The planted cases and their near misses, all in 2025-Q1.
fn planted() -> Vec<C> {
    let mut rows = vec![
        // F_FAST_COMPLETION: 2 days and 20,000.00; near: 3 days; 19,999.99.
        C("FAST", 1, 3, "O", "40000.00", "20000.00", "2025-02-01", "2025-02-03"),
        C("FAST-3-DAYS", 2, 3, "O", "40000.00", "20000.00", "2025-02-01", "2025-02-04"),
        C("FAST-SMALL", 3, 3, "O", "39999.98", "19999.99", "2025-02-01", "2025-02-03"),
        // F_PRICE_ABOVE_LIST: 0.01 above the guide price of 20,000; near: at it.
        C("PRICE", 4, 3, "L", "20000.01", "10000.00", "2025-02-01", "2025-02-20"),
        C("PRICE-AT", 5, 3, "L", "20000.00", "10000.00", "2025-02-01", "2025-02-20"),
        // F_RELATED_PARTY: a phone held by the two alone; near: an address
        // held by four entries; the same legal person and nothing else.
        C("RELATED", 10, 4, "D", "1250.00", "1000.00", "2025-01-10", "2025-01-20"),
        C("AGENCY", 11, 5, "D", "1250.00", "1000.00", "2025-01-10", "2025-01-20"),
        C("SAME-NAME", 14, 6, "D", "1250.00", "1000.00", "2025-01-10", "2025-01-20"),
        // F_CONCENTRATION (enterprise): 45,000.00 of 50,000 with provider 9;
        // near: 44,999.99 with provider 9.
        C("QUOTA-1", 6, 9, "O", "60000.00", "30000.00", "2025-01-05", "2025-01-25"),
        C("QUOTA-2", 6, 9, "T", "30000.00", "15000.00", "2025-01-05", "2025-01-25"),
        C("QUOTA-NEAR-1", 7, 9, "O", "60000.00", "30000.00", "2025-01-05", "2025-01-25"),
        C("QUOTA-NEAR-2", 7, 9, "T", "29999.98", "14999.99", "2025-01-05", "2025-01-25"),
        // F_CAP_RACE (cap 100,000 in this policy): provider 11 at 95,000.00
        // in the year's first batch; near: provider 12 at 94,999.99.
        C("CAP-1", 20, 11, "O", "60000.00", "30000.00", "2025-01-05", "2025-01-26"),
        C("CAP-2", 21, 11, "O", "60000.00", "30000.00", "2025-01-05", "2025-01-26"),
        C("CAP-3", 22, 11, "O", "60000.00", "30000.00", "2025-01-05", "2025-01-26"),
        C("CAP-4", 23, 11, "T", "10000.00", "5000.00", "2025-01-05", "2025-01-26"),
        C("CAP-NEAR-1", 24, 12, "O", "60000.00", "30000.00", "2025-01-05", "2025-01-26"),
        C("CAP-NEAR-2", 25, 12, "O", "60000.00", "30000.00", "2025-01-05", "2025-01-26"),
        C("CAP-NEAR-3", 26, 12, "O", "60000.00", "30000.00", "2025-01-05", "2025-01-26"),
        C("CAP-NEAR-4", 27, 12, "T", "9999.98", "4999.99", "2025-01-05", "2025-01-26"),
    ];
    // F_CONCENTRATION (provider): provider 1, 10 contracts, 8 from
    // enterprise 30 (80%); near: provider 2, 7 of 10 (70%); provider 8,
    // 9 contracts all from one enterprise.
    const P1: [&str; 10] = ["P1-01", "P1-02", "P1-03", "P1-04", "P1-05", "P1-06", "P1-07", "P1-08", "P1-09", "P1-10"];
    const P2: [&str; 10] = ["P2-01", "P2-02", "P2-03", "P2-04", "P2-05", "P2-06", "P2-07", "P2-08", "P2-09", "P2-10"];
    const P8: [&str; 9] = ["P8-01", "P8-02", "P8-03", "P8-04", "P8-05", "P8-06", "P8-07", "P8-08", "P8-09"];
    for (i, id) in P1.into_iter().enumerate() {
        rows.push(C(
            id,
            if i < 8 { 30 } else { 31 + i as u32 },
            1,
            "D",
            "1250.00",
            "1000.00",
            "2025-01-02",
            "2025-01-15",
        ));
    }
    for (i, id) in P2.into_iter().enumerate() {
        rows.push(C(
            id,
            if i < 7 { 34 } else { 35 + i as u32 },
            2,
            "D",
            "1250.00",
            "1000.00",
            "2025-01-02",
            "2025-01-16",
        ));
    }
    for id in P8 {
        rows.push(C(id, 45, 8, "D", "1250.00", "1000.00", "2025-01-02", "2025-01-17"));
    }
    // F_SAME_DAY_BULK: provider 7, 20 contracts completed on 2025-03-10;
    // near: provider 10, 19 on 2025-03-11.
    for (n, id) in BULK.into_iter().enumerate() {
        rows.push(C(id, 50 + n as u32, 7, "D", "1250.00", "1000.00", "2025-03-01", "2025-03-10"));
    }
    for (n, id) in BULK_NEAR.into_iter().enumerate() {
        rows.push(C(id, 70 + n as u32, 10, "D", "1250.00", "1000.00", "2025-03-01", "2025-03-11"));
    }
    rows
}

const BULK: [&str; 20] = [
    "B-01", "B-02", "B-03", "B-04", "B-05", "B-06", "B-07", "B-08", "B-09", "B-10", "B-11", "B-12", "B-13", "B-14",
    "B-15", "B-16", "B-17", "B-18", "B-19", "B-20",
];
const BULK_NEAR: [&str; 19] = [
    "N-01", "N-02", "N-03", "N-04", "N-05", "N-06", "N-07", "N-08", "N-09", "N-10", "N-11", "N-12", "N-13", "N-14",
    "N-15", "N-16", "N-17", "N-18", "N-19",
];

/// Contacts: enterprise 10 and provider 4 share a phone held by them alone;
/// enterprises 11–13 and provider 5 an agency's address (four holders);
/// enterprise 14 and provider 6 only a legal person's name.
const CONTACTS: [(u32, bool, [&str; 4]); 8] = [
    (10, true, ["张三", "0771-555 0001", "", ""]),
    (4, false, ["李四", "07715550001", "", ""]),
    (11, true, ["", "", "南宁市民族大道100号 代理记账中心", ""]),
    (12, true, ["", "", "南宁市民族大道100号代理记账中心", ""]),
    (13, true, ["", "", "南宁市 民族大道100号，代理记账中心", ""]),
    (5, false, ["", "", "南宁市民族大道100号代理记账中心。", ""]),
    (14, true, ["王五", "", "", ""]),
    (6, false, ["王五", "", "", ""]),
];

fn planted_store() -> Workdir {
    let w = Workdir::new();
    registries(&w, &CONTACTS);
    contracts(&w, "2025-Q1", &planted());
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w
}

/// (flag, contract, enterprise, provider) of each finding.
fn findings(w: &Workdir, batch: &str) -> BTreeSet<(String, String, String, String)> {
    w.csv(&format!("out/{batch}/risk.csv"))
        .into_iter()
        .map(|r| (r["flag"].clone(), r["contract_id"].clone(), r["enterprise_id"].clone(), r["provider_id"].clone()))
        .collect()
}

#[test]
fn every_planted_case_is_flagged_and_no_near_miss() {
    let w = planted_store();
    let settled = w.csv("out/2025-Q1/settlements.csv");
    let all: Vec<String> = planted().iter().map(|c| c.0.to_string()).collect();
    assert_eq!(settled.len(), all.len(), "every planted contract settles: {:?}", w.csv("out/2025-Q1/exceptions.csv"));
    let s = |text: &str| text.to_string();
    let expected: BTreeSet<(String, String, String, String)> = [
        (s("F_CAP_RACE"), s(""), s(""), provider(11)),
        (s("F_CONCENTRATION"), s(""), enterprise(30), provider(1)),
        (s("F_CONCENTRATION"), s(""), enterprise(6), provider(9)),
        (s("F_FAST_COMPLETION"), s("FAST"), enterprise(1), provider(3)),
        (s("F_PRICE_ABOVE_LIST"), s("PRICE"), enterprise(4), provider(3)),
        (s("F_RELATED_PARTY"), s("RELATED"), enterprise(10), provider(4)),
        (s("F_SAME_DAY_BULK"), s(""), s(""), provider(7)),
    ]
    .into_iter()
    .collect();
    assert_eq!(findings(&w, "2025-Q1"), expected);
    let risk = w.csv("out/2025-Q1/risk.csv");
    let value = |flag: &str| risk.iter().find(|r| r["flag"] == flag).map(|r| r["value"].clone()).unwrap();
    assert_eq!(value("F_SAME_DAY_BULK"), "2025-03-10: 20");
    assert_eq!(value("F_CAP_RACE"), "95.00%");
    assert_eq!(value("F_RELATED_PARTY"), "phone");
    assert_eq!(value("F_FAST_COMPLETION"), "2");
    let concentration: BTreeSet<String> =
        risk.iter().filter(|r| r["flag"] == "F_CONCENTRATION").map(|r| r["value"].clone()).collect();
    assert_eq!(concentration, ["provider_share=80.00%", "quota_share=90.00%"].map(String::from).into());
    let message = &risk.iter().find(|r| r["flag"] == "F_CAP_RACE").unwrap()["message"];
    assert!(message.contains("95000.00") && message.contains("100000.00"), "{message}");
}

#[test]
fn the_sample_puts_findings_first_and_draws_the_same_from_a_fresh_store() {
    let w = planted_store();
    let sample = w.csv("out/2025-Q1/sample.csv");
    let basis: Vec<&str> = sample.iter().map(|r| r["basis"].as_str()).collect();
    let flagged = ["FAST", "PRICE", "RELATED"];
    let first: BTreeSet<&str> = sample[..3].iter().map(|r| r["contract_id"].as_str()).collect();
    assert_eq!(first, flagged.into());
    // Then the contracts behind each provider or enterprise finding:
    // provider 1's 8 with enterprise 30, enterprise 6's 2 with provider 9,
    // provider 11's 4 (cap race), provider 7's 20 of 2025-03-10.
    let of_providers = 8 + 2 + 4 + 20;
    assert!(basis[3..3 + of_providers].iter().all(|b| b.starts_with("F_")), "{basis:?}");
    let others = w.csv("out/2025-Q1/settlements.csv").len() - 3 - of_providers;
    let random = basis.iter().filter(|b| **b == "random").count();
    assert_eq!(random, others.min(10.max(others.div_ceil(20))), "5%, at least 10, of {others}");
    let again = Workdir::new();
    registries(&again, &CONTACTS);
    contracts(&again, "2025-Q1", &planted());
    again.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(w.read("out/2025-Q1/sample.csv"), again.read("out/2025-Q1/sample.csv"), "drawn the same");
    let sheet = crate::workdir::unzip(&w.read("out/2025-Q1/sample.xlsx"), "xl/sharedStrings.xml");
    assert!(
        sheet.contains("核查结果") && sheet.contains("种子 seed") && sheet.contains("不能排除重算选择"),
        "no sign-off: said so"
    );
    let not_sampled = settled_not_in(&w, &sample);
    let explained = w.run_ok(&["explain", "ledger", &not_sampled]);
    assert!(explained.contains("抽查 sampled: 未抽中"), "{explained}");
    let explained = w.run_ok(&["explain", "ledger", "FAST"]);
    assert!(
        explained.contains("风险提示 flag F_FAST_COMPLETION") && explained.contains("抽查 sampled: 抽查第"),
        "{explained}"
    );
}

/// A settled contract the sample does not hold.
fn settled_not_in(w: &Workdir, sample: &[std::collections::BTreeMap<String, String>]) -> String {
    let sampled: BTreeSet<&str> = sample.iter().map(|r| r["contract_id"].as_str()).collect();
    let settled = w.csv("out/2025-Q1/settlements.csv");
    settled.into_iter().map(|r| r["contract_id"].clone()).find(|id| !sampled.contains(id.as_str())).unwrap()
}

#[test]
fn verify_detects_an_edited_risk_or_sample_file() {
    let w = planted_store();
    w.run_ok(&["verify", "ledger"]);
    for file in ["risk.csv", "sample.csv"] {
        let copy = Workdir::copy_of(&w);
        let path = format!("ledger/batches/000001_2025-Q1/{file}");
        let text = String::from_utf8(copy.read(&path)).unwrap();
        let edited = if file == "risk.csv" {
            text.replacen("F_FAST_COMPLETION", "F_PRICE_ABOVE_LIST", 1)
        } else {
            text.replacen(",1,", ",9,", 1)
        };
        assert_ne!(edited, text);
        copy.write(&path, edited);
        let out = copy.run(&["verify", "ledger"]);
        assert_eq!(out.status.code(), Some(3), "{file}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_later_batch_of_the_year_is_no_first_batch_and_keeps_the_year_s_totals() {
    let w = planted_store();
    // Q2: provider 11 settles more (no F_CAP_RACE outside the year's first
    // batch); provider 2 gets its 8th contract from enterprise 34 (8 of 11
    // contracts, 72.7%: still below 80%); provider 8 its 10th from one
    // enterprise (10 of 10: flagged over the year so far).
    contracts(
        &w,
        "2025-Q2",
        &[
            C("CAP-5", 28, 11, "D", "1250.00", "1000.00", "2025-04-02", "2025-04-20"),
            C("P2-11", 34, 2, "D", "1250.00", "1000.00", "2025-04-02", "2025-04-20"),
            C("P8-10", 45, 8, "D", "1250.00", "1000.00", "2025-04-02", "2025-04-20"),
        ],
    );
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    let s = |text: &str| text.to_string();
    let expected: BTreeSet<_> = [(s("F_CONCENTRATION"), s(""), enterprise(45), provider(8))].into_iter().collect();
    assert_eq!(findings(&w, "2025-Q2"), expected);
    w.run_ok(&["year", "ledger", "--year", "2025", "--out", "year"]);
    let mut book = open_workbook_auto(w.path("year/year-2025.xlsx")).unwrap();
    let sheet = book.worksheet_range("服务商年度结算").unwrap();
    let flags_of = |id: &str| {
        let row = sheet.rows().find(|r| r.first().is_some_and(|c| *c == id)).unwrap();
        row.last().map(|c| c.to_string()).unwrap_or_default()
    };
    assert_eq!(flags_of(&provider(8)), "F_CONCENTRATION×1");
    assert_eq!(flags_of(&provider(7)), "F_SAME_DAY_BULK×1");
    assert_eq!(flags_of(&provider(2)), "");
}

/// The four contact columns change no settlement, exception or payout of
/// the shipped example.
#[test]
fn contact_columns_change_no_money_and_no_exception() {
    let plain = Workdir::with_example();
    let with_contacts = Workdir::copy_of(&plain);
    for file in ["data/enterprises.csv", "data/providers.csv"] {
        let text = String::from_utf8(with_contacts.read(file)).unwrap();
        let mut lines = text.lines();
        let mut out = format!("{},法定代表人,联系电话,注册地址,银行账号\n", lines.next().unwrap());
        for (i, line) in lines.enumerate() {
            let _ = writeln!(out, "{line},某人{i},0771-000{i},南宁市某路{i}号,6222{i:08}");
        }
        with_contacts.write(file, out);
    }
    for w in [&plain, &with_contacts] {
        w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    }
    for file in ["settlements.csv", "exceptions.csv", "payouts.csv", "enterprise_usage.csv", "summary.json"] {
        let path = format!("out/2025-Q1/{file}");
        assert_eq!(plain.read(&path), with_contacts.read(&path), "{file}");
    }
}
