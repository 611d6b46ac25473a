//! Amounts owed back (rules 10): the balance carried across batches and
//! service years, refunds checked and applied, offsets, and the documents
//! that show them — each figure computed by hand from the example.
//!
//! The example: after 2025-Q3 provider PRW001L owes 6,400.05 (its net
//! −6,400.05). In 2025-Q4 its net is +3,599.95 and a refund of 4,000.00
//! arrives (a second row repeats it, a third is from PRW002P, who owes
//! nothing). Without offsets it is paid 3,599.95 and still owes 2,400.05;
//! with offsets 2,400.05 is withheld, it is paid 1,199.90 and owes nothing.

use std::collections::BTreeMap;

use calamine::{Data, Reader, open_workbook_auto};

use crate::workdir::{P1, P2, Workdir};

fn row_of(w: &Workdir, file: &str, provider: &str) -> BTreeMap<String, String> {
    w.csv(file).into_iter().find(|r| r["provider_id"] == provider).unwrap_or_else(|| panic!("{file}: no {provider}"))
}

/// owed_before, refunded_batch, offset_batch, owed_new, owed_after, paid_batch.
fn balance(row: &BTreeMap<String, String>) -> [&str; 6] {
    ["owed_before", "refunded_batch", "offset_batch", "owed_new", "owed_after", "paid_batch"].map(|c| row[c].as_str())
}

fn sheet_text(w: &Workdir, file: &str, name: &str) -> String {
    let mut book = open_workbook_auto(w.path(file)).unwrap();
    let range = book.worksheet_range(name).unwrap();
    let cell = |c: &Data| match c {
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f:.2}"),
        _ => String::new(),
    };
    range.rows().map(|r| r.iter().map(cell).collect::<Vec<_>>().join(" | ")).collect::<Vec<_>>().join("\n")
}

fn four_quarters(w: &Workdir) {
    for quarter in ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"] {
        w.run_ok(&["run", "job.toml", "--batch", quarter]);
    }
}

#[test]
fn without_offsets_a_refund_reduces_the_balance_and_the_net_is_paid() {
    let w = Workdir::with_refunds();
    four_quarters(&w);
    let p1 = row_of(&w, "out/2025-Q4/payouts.csv", P1);
    assert_eq!(balance(&p1), ["6400.05", "4000.00", "0.00", "0.00", "2400.05", "3599.95"]);
    let refunds = w.csv("out/2025-Q4/refunds.csv");
    assert_eq!(refunds.len(), 1);
    let r = &refunds[0];
    let applied =
        [&r["source_row"], &r["provider_id"], &r["amount"], &r["received_on"], &r["owed_before"], &r["owed_after"]];
    assert_eq!(applied, ["1", P1, "4000.00", "2025-11-20", "6400.05", "2400.05"]);
    let codes: Vec<(String, String, String)> = w
        .csv("out/2025-Q4/exceptions.csv")
        .into_iter()
        .filter(|e| e["source"] == "refunds")
        .map(|e| (e["source_row"].clone(), e["code"].clone(), e["value"].clone()))
        .collect();
    assert_eq!(
        codes,
        [
            ("2".to_string(), "P_NOT_OWED".to_string(), "0.00".to_string()),
            ("3".to_string(), "P_DUPLICATE_ROW".to_string(), "桂财缴〔2025〕0001号".to_string()),
        ]
    );
    let summary: serde_json::Value = serde_json::from_slice(&w.read("out/2025-Q4/summary.json")).unwrap();
    let owed = &summary["money"]["owed"];
    assert_eq!(
        [&owed["paid"], &owed["refunded"], &owed["owed_before"], &owed["owed_after"], &owed["unmatched"]],
        ["3599.95", "4000.00", "6400.05", "2400.05", "100.00"]
    );
    let owed_back = summary["control_totals"]["owed"].clone();
    assert_eq!((owed_back["refund_rows_in"].as_u64(), owed_back["refunds_applied"].as_u64()), (Some(3), Some(1)));
    // 兑付清单 pays 3,599.95; 追回清单 shows the balance and the 100.00 to check.
    let list = sheet_text(&w, "out/2025-Q4/settlement.xlsx", "兑付清单");
    assert!(list.contains("人民币叁仟伍佰玖拾玖元玖角伍分"), "{list}");
    let claw = sheet_text(&w, "out/2025-Q4/settlement.xlsx", "追回清单");
    assert!(claw.contains(&format!("{P1} | 6400.05 | 0.00 | 4000.00 | 0.00 | 2400.05")), "{claw}");
    assert!(claw.contains("待核对到账款") && claw.contains(&format!("{P2} | 100.00")), "{claw}");
    assert!(claw.contains("P_NOT_OWED"), "{claw}");
    let ledger = sheet_text(&w, "out/2025-Q4/settlement.xlsx", "应退款台账");
    assert!(ledger.contains("2400.05 | 2025-Q3、2025-Q4"), "owing since Q3: {ledger}");
    // explain: the clawed-back contract's provider, batch by batch.
    let explained = w.run_ok(&["explain", "ledger", "C-2025-0003"]);
    assert!(
        explained.contains("批次 batch 2025-Q3: 0.00 → 6400.05\n  批次 batch 2025-Q4: 6400.05 → 2400.05"),
        "{explained}"
    );
    // year: the year's owed back and each provider's balance at its end.
    w.run_ok(&["year", "ledger", "--year", "2025", "--out", "year"]);
    let page = String::from_utf8(w.read("year/year-2025.html")).unwrap();
    assert!(page.contains("年度新增 newly owed 6,400.05 · 退回到账 refunded 4,000.00 · 抵扣 offset 0.00 · 年末余额 balance at year end 2,400.05"), "{page}");
    let providers = sheet_text(&w, "year/year-2025.xlsx", "服务商年度结算");
    assert!(
        providers.contains(&format!("{P1} |")) && providers.contains("6400.05 | 4000.00 | 0.00 | 2400.05"),
        "{providers}"
    );
    let (code, text) = verify(&w);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn with_offsets_the_balance_is_withheld_from_the_positive_net() {
    let w = Workdir::with_refunds();
    let offsets = crate::workdir::repo().join("jobs/policy/gx-2025-offsets.toml");
    w.write("policy.toml", std::fs::read(offsets).unwrap());
    four_quarters(&w);
    let p1 = row_of(&w, "out/2025-Q4/payouts.csv", P1);
    assert_eq!(balance(&p1), ["6400.05", "4000.00", "2400.05", "0.00", "0.00", "1199.90"]);
    let list = sheet_text(&w, "out/2025-Q4/settlement.xlsx", "兑付清单");
    assert!(list.contains("3599.95 | 2400.05 | 1199.90"), "net, offset, paid: {list}");
    assert!(list.contains("人民币壹仟壹佰玖拾玖元玖角"), "{list}");
    // Q3 already: the negative net is owed, nothing offset (the net is negative).
    let q3 = row_of(&w, "out/2025-Q3/payouts.csv", P1);
    assert_eq!(balance(&q3), ["0.00", "0.00", "0.00", "6400.05", "6400.05", "0.00"]);
    let explained = w.run_ok(&["explain", "ledger", "C-2025-0003"]);
    assert!(
        explained.contains("2025-Q4: 6400.05 → 0.00  （可抵扣 offsets on [应退回资金可从后续兑付中抵扣"),
        "{explained}"
    );
    w.run_ok(&["statements", "ledger", "--batch", "2025-Q4", "--out", "statements"]);
    let statement = sheet_text(&w, &format!("statements/{P1}.xlsx"), "对账单");
    for line in [
        "此前应退回余额 owed before 6,400.05",
        "本批退回到账 refunded 4,000.00",
        "本批抵扣 offset 2,400.05",
        "此后应退回余额 owed after 0.00",
        "桂财缴〔2025〕0001号",
        "本批实付 paid 1,199.90（大写：人民币壹仟壹佰玖拾玖元玖角）",
    ] {
        assert!(statement.contains(line), "{line} in {statement}");
    }
}

/// Two refunds of one provider that together exceed its balance: the first
/// is applied, the second refused whole, its value the balance it met; a
/// refund above the whole balance likewise.
#[test]
fn refunds_above_the_balance_are_refused_whole() {
    let w = Workdir::with_refunds();
    w.write(
        "data/2025-Q4/refunds.csv",
        format!(
            "provider_id,amount,received_on,reference\n{P1},5000.00,2025-11-01,R-1\n{P1},1500.00,2025-11-02,R-2\n{P1},1400.05,2025-11-03,R-3\n"
        ),
    );
    four_quarters(&w);
    let refused: Vec<(String, String, String)> = w
        .csv("out/2025-Q4/exceptions.csv")
        .into_iter()
        .filter(|e| e["source"] == "refunds")
        .map(|e| (e["source_row"].clone(), e["code"].clone(), e["value"].clone()))
        .collect();
    assert_eq!(refused, [("2".to_string(), "P_EXCEEDS_OWED".to_string(), "1400.05".to_string())]);
    let p1 = row_of(&w, "out/2025-Q4/payouts.csv", P1);
    assert_eq!(balance(&p1), ["6400.05", "6400.05", "0.00", "0.00", "0.00", "3599.95"]);

    let w = Workdir::with_refunds();
    w.write(
        "data/2025-Q3/refunds.csv",
        format!("provider_id,amount,received_on,reference\n{P1},6400.06,2025-09-30,R-9\n"),
    );
    for quarter in ["2025-Q1", "2025-Q2", "2025-Q3"] {
        w.run_ok(&["run", "job.toml", "--batch", quarter]);
    }
    let e = w.csv("out/2025-Q3/exceptions.csv").into_iter().find(|e| e["source"] == "refunds").unwrap();
    assert_eq!((e["code"].as_str(), e["field"].as_str(), e["value"].as_str()), ("P_EXCEEDS_OWED", "amount", "6400.05"));
}

/// A debt carried across the service-year boundary: after 2025-Q4 PRW001L
/// owes 2,400.05; 2026-Q1 (another service year, no contracts of its
/// provider) lists it for its balance and applies a refund of 400.05; the
/// follow-up 2025-FU-2026Q1, committed after it, starts from 2,000.00 and
/// a refund of 2,000.00 clears it; the store then verifies.
#[test]
fn a_debt_is_carried_across_a_service_year_and_into_a_follow_up() {
    let w = Workdir::with_refunds();
    four_quarters(&w);
    let policy = String::from_utf8(w.read("policy.toml")).unwrap();
    w.write("policy-2026.toml", policy.replace("service_year = 2025", "service_year = 2026"));
    let job = String::from_utf8(w.read("job.toml")).unwrap();
    let job =
        job.replace("service_year = 2025", "service_year = 2026").replace("\"policy.toml\"", "\"policy-2026.toml\"");
    w.write("job-2026.toml", job);
    let header = "合同编号,企业统一社会信用代码,服务商统一社会信用代码,服务产品编号,服务类别,服务产品原价,服务券抵扣金额,合同金额,已付定金,已付余款,签订日期,完成确认日期\n";
    for batch in ["2026-Q1", "2025-FU-2026Q1"] {
        w.write(&format!("data/{batch}/contracts.csv"), header);
        w.write(&format!("data/{batch}/corrections.csv"), "合同编号,处理方式,决定日期,原因,文号\n");
    }
    w.write(
        "data/2026-Q1/refunds.csv",
        format!("凭证号,服务商信用代码,金额,到账日期\nR-2026-1,{P1},400.05,2026-02-01\n"),
    );
    w.run_ok(&["run", "job-2026.toml", "--batch", "2026-Q1"]);
    let p1 = row_of(&w, "out/2026-Q1/payouts.csv", P1);
    assert_eq!(balance(&p1), ["2400.05", "400.05", "0.00", "0.00", "2000.00", "0.00"]);
    let year =
        [&p1["contracts_settled"], &p1["approved_amount_batch"], &p1["approved_amount_year"], &p1["cap_remaining"]];
    assert_eq!(year, ["0", "0.00", "0.00", "5000000.00"], "listed for its balance only, in 2026's year");

    w.write(
        "data/2025-FU-2026Q1/refunds.csv",
        format!("凭证号,服务商信用代码,金额,到账日期\nR-2026-2,{P1},2000.00,2026-03-15\n"),
    );
    w.run_ok(&["run", "job.toml", "--batch", "2025-FU-2026Q1"]);
    let p1 = row_of(&w, "out/2025-FU-2026Q1/payouts.csv", P1);
    assert_eq!(balance(&p1), ["2000.00", "2000.00", "0.00", "0.00", "0.00", "0.00"]);
    assert_eq!(p1["approved_amount_year"], "32599.95", "its 2025 year total");
    let (code, text) = verify(&w);
    assert_eq!(code, Some(0), "{text}");
}

/// A receipt number applied by a committed batch is never applied again.
#[test]
fn a_receipt_applied_before_is_refused_naming_its_batch() {
    let w = Workdir::with_refunds();
    w.write(
        "data/2025-Q4/refunds.csv",
        format!("provider_id,amount,received_on,reference\n{P1},100.00,2025-09-30,R-1\n"),
    );
    w.write(
        "data/2025-Q3/refunds.csv",
        format!("provider_id,amount,received_on,reference\n{P1},100.00,2025-09-30,R-1\n"),
    );
    four_quarters(&w);
    let e = w.csv("out/2025-Q4/exceptions.csv").into_iter().find(|e| e["source"] == "refunds").unwrap();
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str(), e["value"].as_str()),
        ("P_ALREADY_APPLIED", "reference", "2025-Q3")
    );
    let p1 = row_of(&w, "out/2025-Q4/payouts.csv", P1);
    assert_eq!(balance(&p1)[..2], ["6300.05", "0.00"]);
}

#[test]
fn a_bad_offset_setting_or_a_missing_refunds_file_is_exit_2() {
    let w = Workdir::with_refunds();
    let policy = String::from_utf8(w.read("policy.toml")).unwrap();
    w.write("policy.toml", policy.replace("offset_owed = false", "offset_owed = \"yes\""));
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("offset_owed"));
    w.write("policy.toml", policy.replace("offset_owed = false", "offset_owed = false\noffset = true"));
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(out.status.code(), Some(2), "an unknown key in [corrections]");
    w.write("policy.toml", policy);
    std::fs::remove_file(w.path("data/2025-Q1/refunds.csv")).unwrap();
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("inputs.refunds"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(w.committed().is_empty());
}

fn verify(w: &Workdir) -> (Option<i32>, String) {
    let out = w.run(&["verify", "ledger"]);
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}
