//! Every document of a batch tells the same money as the record: the
//! workbook's 汇总, 兑付清单 and 追回清单, `summary.json`, `report.html`, the
//! provider statements and the year's page, each read back and compared
//! with `payouts.csv` and `reversals.csv` and with figures computed by hand
//! — never with the code that renders them.

use std::collections::BTreeMap;

use calamine::{Data, Reader, open_workbook_auto};
use rust_decimal::Decimal;

use crate::workdir::Workdir;

const P1: &str = "91450100MA5PRW001L";

/// The example's four quarters with its refunds, under offsets: in Q4
/// PRW001L's balance of 2,400.05 left after its refund is withheld.
fn four_quarters() -> Workdir {
    let w = Workdir::with_refunds();
    let policy = String::from_utf8(w.read("policy.toml")).unwrap();
    w.write("policy.toml", policy.replace("offset_owed = false", "offset_owed = true"));
    for quarter in ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"] {
        w.run_ok(&["run", "job.toml", "--batch", quarter]);
    }
    w
}

fn amount(text: &str) -> Decimal {
    Decimal::from_str_exact(text.trim().trim_start_matches('\'')).unwrap_or_else(|_| panic!("not an amount: {text:?}"))
}

/// Thousands separators, as the documents for people write amounts.
fn grouped(value: Decimal) -> String {
    let text = format!("{:.2}", value.abs());
    let (integer, fraction) = text.split_once('.').unwrap();
    let mut out = String::new();
    for (i, c) in integer.chars().enumerate() {
        if i > 0 && (integer.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}{out}.{fraction}", if value.is_sign_negative() && !value.is_zero() { "-" } else { "" })
}

fn sheet(path: &std::path::Path, name: &str) -> Vec<Vec<Data>> {
    let mut book = open_workbook_auto(path).unwrap();
    book.worksheet_range(name).unwrap().rows().map(<[Data]>::to_vec).collect()
}

fn text(cell: &Data) -> String {
    match cell {
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f:.2}"),
        Data::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

fn number(cell: &Data) -> Decimal {
    match cell {
        Data::Float(f) => Decimal::from_str_exact(&format!("{f:.2}")).unwrap(),
        other => panic!("not a number: {other:?}"),
    }
}

/// The money of one batch as the record has it: per provider with a
/// settlement or reversal the net of `payouts.csv` and what it is paid;
/// per provider with a balance owed back its before, new, refunded, offset
/// and after; the approved and taken-back totals.
struct Record {
    nets: BTreeMap<String, Decimal>,
    paid: BTreeMap<String, Decimal>,
    balances: BTreeMap<String, [Decimal; 5]>,
    approved: Decimal,
    taken_back: Decimal,
}

const BALANCE_COLUMNS: [&str; 5] = ["owed_before", "owed_new", "refunded_batch", "offset_batch", "owed_after"];

fn record(w: &Workdir, batch: &str) -> Record {
    let payouts = w.csv(&format!("out/{batch}/payouts.csv"));
    let reversals = w.csv(&format!("out/{batch}/reversals.csv"));
    let in_batch = |p: &&BTreeMap<String, String>| p["contracts_settled"] != "0" || p["contracts_reversed"] != "0";
    let nets: BTreeMap<String, Decimal> =
        payouts.iter().filter(in_batch).map(|p| (p["provider_id"].clone(), amount(&p["net_amount_batch"]))).collect();
    let paid = payouts
        .iter()
        .filter(in_batch)
        .filter(|p| amount(&p["net_amount_batch"]) >= Decimal::ZERO)
        .map(|p| (p["provider_id"].clone(), amount(&p["paid_batch"])))
        .collect();
    let balances = payouts
        .iter()
        .map(|p| (p["provider_id"].clone(), BALANCE_COLUMNS.map(|c| amount(&p[c]))))
        .filter(|(_, b)| b.iter().any(|a| !a.is_zero()))
        .collect();
    let approved = payouts.iter().map(|p| amount(&p["approved_amount_batch"])).sum();
    let taken_back: Decimal = reversals.iter().map(|r| amount(&r["amount"])).sum();
    let reversed: Decimal = payouts.iter().map(|p| amount(&p["reversed_amount_batch"])).sum();
    assert_eq!(taken_back, reversed, "{batch}: reversals.csv against payouts.csv");
    Record { nets, paid, balances, approved, taken_back }
}

/// 2025-Q3 and Q4 of the example, by hand: in Q3 provider PRW001L has
/// 3,599.95 approved and 10,000.00 clawed back, a net of −6,400.05 it owes;
/// PRW002P 35,000.00 approved, 30,000.00 reversed, 5,000.00 to pay; the
/// batch 38,599.95 − 40,000.00 = −1,400.05 = 5,000.00 to pay − 6,400.05
/// owed. In Q4 PRW001L has 10,000.00 approved and 6,400.05 taken back:
/// 3,599.95 to pay.
#[test]
fn every_document_of_a_batch_tells_the_record_s_money() {
    let w = four_quarters();
    let d = |s: &str| Decimal::from_str_exact(s).unwrap();
    let hand = [
        ("2025-Q3", d("38599.95"), d("40000.00"), d("5000.00"), d("6400.05")),
        ("2025-Q4", d("10000.00"), d("6400.05"), d("3599.95"), d("0.00")),
    ];
    for (batch, approved, taken_back, to_pay, owed) in hand {
        let r = record(&w, batch);
        let net = approved - taken_back;
        assert_eq!((r.approved, r.taken_back), (approved, taken_back), "{batch}: the record");
        let pays: Decimal = r.nets.values().filter(|n| **n >= Decimal::ZERO).sum();
        let owes: Decimal = -r.nets.values().filter(|n| **n < Decimal::ZERO).sum::<Decimal>();
        assert_eq!((pays, owes), (to_pay, owed), "{batch}: the record's nets");
        if batch == "2025-Q3" {
            assert_eq!(r.nets[P1], d("-6400.05"));
        }
        if batch == "2025-Q4" {
            assert_eq!(r.paid[P1], d("1199.90"), "3,599.95 less the 2,400.05 withheld");
            assert_eq!(r.balances[P1], [d("6400.05"), d("0.00"), d("4000.00"), d("2400.05"), d("0.00")]);
        }
        workbook_agrees(&w, batch, &r, (approved, taken_back, net, to_pay, owed));
        summary_json_agrees(&w, batch, (approved, taken_back, net, to_pay, owed));
        report_html_agrees(&w, batch, &r);
        statements_agree(&w, batch, &r);
    }
    let rows = sheet(&w.path(&format!("statements-2025-Q3/{P1}.xlsx")), "对账单");
    let all: String = rows.iter().flatten().map(text).collect::<Vec<_>>().join("\n");
    assert!(all.contains("本批应退回 6,400.05（大写：人民币陆仟肆佰元零伍分）"), "{all}");
    w.run_ok(&["year", "ledger", "--year", "2025", "--out", "year"]);
    let page = String::from_utf8(w.read("year/year-2025.html")).unwrap();
    assert!(page.contains("-1,400.05（应退回 owed back）"), "Q3's negative net drawn as owed");
}

fn workbook_agrees(w: &Workdir, batch: &str, r: &Record, figures: (Decimal, Decimal, Decimal, Decimal, Decimal)) {
    let path = w.path(&format!("out/{batch}/settlement.xlsx"));
    let summary = sheet(&path, "汇总");
    let value = |label: &str| -> Decimal {
        let row = summary.iter().find(|row| text(&row[0]).starts_with(label));
        number(&row.unwrap_or_else(|| panic!("{batch}: 汇总 has no row {label}"))[1])
    };
    let shown = (
        value("本批核定"),
        value("本批冲正追回"),
        value("本批净额"),
        value("兑付清单应付合计"),
        value("追回清单应退回合计"),
    );
    assert_eq!(shown, figures, "{batch}: 汇总");
    let controls: String =
        summary.iter().map(|row| row.iter().map(text).collect::<Vec<_>>().join(" | ")).collect::<Vec<_>>().join("\n");
    assert!(!controls.contains("不平"), "{batch}: {controls}");

    let paid_total: Decimal = r.paid.values().sum();
    assert_eq!(value("兑付清单实付合计"), paid_total, "{batch}: 汇总 paid");
    let list = sheet(&path, "兑付清单");
    let listed = list.iter().filter(|row| r.nets.contains_key(&text(&row[2])));
    let nets: BTreeMap<String, Decimal> = listed.clone().map(|row| (text(&row[2]), number(&row[6]))).collect();
    let paid: BTreeMap<String, Decimal> = listed.map(|row| (text(&row[2]), number(&row[8]))).collect();
    let expected: BTreeMap<String, Decimal> =
        r.nets.iter().filter(|(_, n)| **n >= Decimal::ZERO).map(|(p, n)| (p.clone(), *n)).collect();
    assert_eq!(nets, expected, "{batch}: 兑付清单 nets");
    assert_eq!(paid, r.paid, "{batch}: 兑付清单 paid");
    let total = list.iter().find(|row| text(&row[0]).starts_with("实付合计")).expect("实付合计");
    assert_eq!(number(&total[8]), paid_total, "{batch}: 兑付清单 total");

    let clawbacks = sheet(&path, "追回清单");
    let owed_at = clawbacks.iter().position(|row| text(&row[0]).starts_with("应退回金额")).expect("owed block");
    let balances_at = clawbacks.iter().position(|row| text(&row[0]).starts_with("应退回余额")).expect("balances");
    assert_eq!(balance_rows(&clawbacks[balances_at..], r), r.balances, "{batch}: 追回清单 balances");
    assert_eq!(balance_rows(&sheet(&path, "应退款台账"), r), r.balances, "{batch}: 应退款台账");
    let owed: BTreeMap<String, Decimal> = clawbacks[owed_at..balances_at]
        .iter()
        .filter(|row| r.nets.contains_key(&text(&row[2])))
        .map(|row| (text(&row[2]), number(&row[3])))
        .collect();
    let expected: BTreeMap<String, Decimal> =
        r.nets.iter().filter(|(_, n)| **n < Decimal::ZERO).map(|(p, n)| (p.clone(), -*n)).collect();
    assert_eq!(owed, expected, "{batch}: 追回清单");
}

/// The balance rows of a sheet: provider id in the third column, then
/// before, new, refunded, offset and after.
fn balance_rows(rows: &[Vec<Data>], r: &Record) -> BTreeMap<String, [Decimal; 5]> {
    let mut found = BTreeMap::new();
    for row in rows {
        let id = text(&row[2]);
        if r.balances.contains_key(&id) && !found.contains_key(&id) {
            found.insert(id, [3, 4, 5, 6, 7].map(|c| number(&row[c])));
        }
    }
    found
}

fn summary_json_agrees(w: &Workdir, batch: &str, figures: (Decimal, Decimal, Decimal, Decimal, Decimal)) {
    let summary: serde_json::Value = serde_json::from_slice(&w.read(&format!("out/{batch}/summary.json"))).unwrap();
    let money = &summary["money"];
    let get = |key: &str| amount(money[key].as_str().unwrap_or_else(|| panic!("{batch}: summary.json money.{key}")));
    let shown = (get("approved"), get("taken_back"), get("net"), get("to_pay"), get("owed_back"));
    assert_eq!(shown, figures, "{batch}: summary.json");
    let paid =
        amount(money["owed"]["paid"].as_str().unwrap_or_else(|| panic!("{batch}: summary.json money.owed.paid")));
    let offset = amount(money["owed"]["offset"].as_str().unwrap());
    assert_eq!(paid, figures.3 - offset, "{batch}: summary.json paid = to pay − offset");
}

fn report_html_agrees(w: &Workdir, batch: &str, r: &Record) {
    let page = String::from_utf8(w.read(&format!("out/{batch}/report.html"))).unwrap();
    for (provider, net) in &r.nets {
        let shown =
            if *net < Decimal::ZERO { format!("{}（应退回 owed back）", grouped(*net)) } else { grouped(*net) };
        assert!(page.contains(&format!("{shown}</span>")), "{batch}: report.html draws {provider}'s net {shown}");
    }
}

fn statements_agree(w: &Workdir, batch: &str, r: &Record) {
    let out = format!("statements-{batch}");
    w.run_ok(&["statements", "ledger", "--batch", batch, "--out", &out]);
    for (provider, net) in &r.nets {
        let rows = sheet(&w.path(&format!("{out}/{provider}.xlsx")), "对账单");
        let all: String = rows.iter().flatten().map(text).collect::<Vec<_>>().join("\n");
        let line = if *net < Decimal::ZERO {
            format!("本批应退回 {}", grouped(-*net))
        } else {
            format!("本批应付净额 {}", grouped(*net))
        };
        assert!(all.contains(&line), "{batch} {provider}: {line} in {all}");
        let paid = r.paid.get(provider).copied().unwrap_or_default();
        let line = format!("本批实付 paid {}", grouped(paid));
        assert!(all.contains(&line), "{batch} {provider}: {line} in {all}");
    }
    for (provider, [before, _, _, _, after]) in &r.balances {
        let rows = sheet(&w.path(&format!("{out}/{provider}.xlsx")), "对账单");
        let all: String = rows.iter().flatten().map(text).collect::<Vec<_>>().join("\n");
        let line = format!("此前应退回余额 owed before {}", grouped(*before));
        assert!(
            all.contains(&line) && all.contains(&format!("此后应退回余额 owed after {}", grouped(*after))),
            "{batch} {provider}: {all}"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    /// Random correction stories: after the example's first two quarters,
    /// the third reverses, claws back or holds any of the contracts settled
    /// so far (some providers' nets then negative); every document of the
    /// batch still tells the record's money.
    #[test]
    fn documents_agree_after_any_correction_story(
        story in proptest::collection::vec((0usize..64, 0usize..3), 0..12)
    ) {
        let base = two_quarters();
        let w = Workdir::copy_of(base);
        let settled: Vec<String> = ["2025-Q1", "2025-Q2"]
            .iter()
            .flat_map(|b| w.csv(&format!("out/{b}/settlements.csv")))
            .map(|s| s["contract_id"].clone())
            .collect();
        let mut file = String::from("合同编号,处理方式,决定日期,原因,文号\n");
        for (pick, action) in &story {
            let action = ["reverse", "clawback", "hold"][*action];
            file.push_str(&format!("{},{action},2025-08-01,核查,桂工信〔2025〕1号\n", settled[pick % settled.len()]));
        }
        w.write("data/2025-Q3/corrections.csv", file);
        w.run_ok(&["run", "job.toml", "--batch", "2025-Q3"]);
        let r = record(&w, "2025-Q3");
        let to_pay: Decimal = r.nets.values().filter(|n| **n >= Decimal::ZERO).sum();
        let owed: Decimal = -r.nets.values().filter(|n| **n < Decimal::ZERO).sum::<Decimal>();
        let figures = (r.approved, r.taken_back, r.approved - r.taken_back, to_pay, owed);
        workbook_agrees(&w, "2025-Q3", &r, figures);
        summary_json_agrees(&w, "2025-Q3", figures);
        report_html_agrees(&w, "2025-Q3", &r);
        statements_agree(&w, "2025-Q3", &r);
    }
}

/// The example's first two quarters, committed once for every story.
fn two_quarters() -> &'static Workdir {
    static BASE: std::sync::OnceLock<Workdir> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let w = Workdir::with_corrections();
        for quarter in ["2025-Q1", "2025-Q2"] {
            w.run_ok(&["run", "job.toml", "--batch", quarter]);
        }
        w
    })
}
