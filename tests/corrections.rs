//! Corrections of settled money (rules 9): the example's story over four
//! quarters with exact amounts, a settlement of another service year, the
//! corrections file's bad forms, tampering, and crashes with corrections.

use calamine::{Data, Reader, open_workbook_auto};

use crate::workdir::{E1, E2, E3, JOB, P1, P2, Workdir};

fn all_quarters() -> Workdir {
    let w = Workdir::with_corrections();
    for quarter in ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"] {
        w.run_ok(&["run", "job.toml", "--batch", quarter]);
    }
    w
}

/// The rows of a CSV output, each as the listed columns' values.
fn rows(w: &Workdir, path: &str, columns: &[&str]) -> Vec<Vec<String>> {
    w.csv(path).iter().map(|r| columns.iter().map(|c| r[*c].clone()).collect()).collect()
}

fn texts(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Q1–Q2 settle; Q3 claws back C-2025-0003 (10,000.00, E1 and P1) and
/// reverses C-2025-0002 (30,000.00, E1 and P2), then settles C-2025-0002
/// again as corrected (30,000.00) and C-2025-0022, refused in Q2 for E1's
/// quota, from the quota freed (5,000.00); C-2025-0030 is held. Q4 releases
/// it (10,000.00) and reverses C-2025-0023 (6,400.05). Every amount below
/// was computed by hand.
#[test]
fn four_quarters_of_settlements_reversals_clawbacks_and_holds() {
    let w = all_quarters();
    let payout_columns = [
        "provider_id",
        "contracts_settled",
        "approved_amount_batch",
        "contracts_reversed",
        "reversed_amount_batch",
        "net_amount_batch",
        "approved_amount_year",
        "cap_remaining",
    ];
    assert_eq!(
        rows(&w, "out/2025-Q3/payouts.csv", &payout_columns),
        [
            texts(&[P1, "1", "3599.95", "1", "10000.00", "-6400.05", "29000.00", "4971000.00"]),
            texts(&[P2, "2", "35000.00", "1", "30000.00", "5000.00", "90000.00", "4910000.00"]),
        ]
    );
    assert_eq!(
        rows(&w, "out/2025-Q4/payouts.csv", &payout_columns),
        [texts(&[P1, "1", "10000.00", "1", "6400.05", "3599.95", "32599.95", "4967400.05"])]
    );
    let usage_columns =
        ["enterprise_id", "tier", "quota", "used_before", "used_batch", "reversed_batch", "used_after", "remaining"];
    assert_eq!(
        rows(&w, "out/2025-Q3/enterprise_usage.csv", &usage_columns),
        [
            texts(&[E1, "1", "50000.00", "50000.00", "35000.00", "40000.00", "45000.00", "5000.00"]),
            texts(&[E2, "2", "100000.00", "41400.05", "3599.95", "0.00", "45000.00", "55000.00"]),
        ]
    );
    // E2 has a reversal but no contract in Q4: listed with its tier and quota.
    assert_eq!(
        rows(&w, "out/2025-Q4/enterprise_usage.csv", &usage_columns),
        [
            texts(&[E2, "2", "100000.00", "45000.00", "0.00", "6400.05", "38599.95", "61400.05"]),
            texts(&[E3, "3", "200000.00", "29000.00", "10000.00", "0.00", "39000.00", "161000.00"]),
        ]
    );
    let reversal_columns = [
        "source_row",
        "contract_id",
        "action",
        "reference",
        "settled_batch_id",
        "amount",
        "item_used_before",
        "item_used_after",
        "enterprise_used_before",
        "enterprise_used_after",
        "provider_used_before",
        "provider_used_after",
    ];
    assert_eq!(
        rows(&w, "out/2025-Q3/reversals.csv", &reversal_columns),
        [
            texts(&[
                "1",
                "C-2025-0003",
                "clawback",
                "桂工信〔2025〕101号",
                "2025-Q1",
                "10000.00",
                "10000.00",
                "0.00",
                "50000.00",
                "40000.00",
                "35400.05",
                "25400.05"
            ]),
            texts(&[
                "2",
                "C-2025-0002",
                "reverse",
                "桂工信〔2025〕102号",
                "2025-Q1",
                "30000.00",
                "30000.00",
                "0.00",
                "40000.00",
                "10000.00",
                "85000.00",
                "55000.00"
            ]),
        ]
    );
    // Q4 reverses the D001 settlement of Q2; the item total also holds Q3's 3,599.95.
    assert_eq!(
        rows(&w, "out/2025-Q4/reversals.csv", &reversal_columns),
        [texts(&[
            "3",
            "C-2025-0023",
            "reverse",
            "桂工信〔2025〕120号",
            "2025-Q2",
            "6400.05",
            "10000.00",
            "3599.95",
            "45000.00",
            "38599.95",
            "29000.00",
            "22599.95"
        ])]
    );
    // A batch without corrections writes the file with its header only.
    assert!(w.csv("out/2025-Q1/reversals.csv").is_empty());
    assert!(String::from_utf8(w.read("out/2025-Q1/reversals.csv")).unwrap().contains("provider_used_after"));

    let summary: serde_json::Value = serde_json::from_slice(&w.read("out/2025-Q3/summary.json")).unwrap();
    let c = &summary["corrections"];
    assert_eq!((c["rows_in"].as_u64(), c["reversed_total"].as_str()), (Some(13), Some("40000.00")));
    assert_eq!(c["applied"], serde_json::json!({"clawback": 1, "reverse": 1, "hold": 1}));
    assert_eq!((c["providers_owing"].as_u64(), c["owed_total"].as_str()), (Some(1), Some("6400.05")));
    let k = &summary["control_totals"]["corrections"];
    assert_eq!(
        [&k["correction_rows_in"], &k["reversal_rows"], &k["correction_error_rows"], &k["holds_used"]],
        [13, 2, 8, 1]
    );
    assert_eq!([&k["holds_unused"], &k["duplicate_rows"]], [1, 1]);
    assert_eq!((k["net_total"].as_str(), k["rows_balance"].as_bool()), (Some("-1400.05"), Some(true)));
    let html = String::from_utf8(w.read("out/2025-Q3/report.html")).unwrap();
    assert!(html.contains("更正（冲正、追回、暂缓）") && html.contains("C_DUPLICATE_ROW"), "report counts corrections");

    let out = w.run(&["verify", "ledger"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(4 batches verified)"));
}

fn sheet_rows(w: &Workdir, path: &str, sheet: &str) -> Vec<Vec<String>> {
    let mut book = open_workbook_auto(w.path(path)).unwrap();
    let range = book.worksheet_range(sheet).unwrap();
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Float(f) => format!("{f:.2}"),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

/// The workbook finance staff sign pays each provider's net; a provider
/// whose net is negative is on 追回清单 with what it owes, in capitals.
#[test]
fn the_payout_list_pays_the_net_and_the_clawback_list_shows_what_is_owed() {
    let w = all_quarters();
    let payouts = sheet_rows(&w, "out/2025-Q3/settlement.xlsx", "兑付清单");
    let listed: Vec<&Vec<String>> = payouts.iter().filter(|r| r[2] == P1 || r[2] == P2).collect();
    assert_eq!(listed.len(), 1, "only P2's net is positive: {payouts:?}");
    assert_eq!((listed[0][6].as_str(), listed[0][8].as_str()), ("5000.00", "5000.00"), "net, paid");
    let total = payouts.iter().find(|r| r[0] == "实付合计 Total paid").unwrap();
    assert_eq!(total[8], "5000.00");
    assert!(payouts.iter().any(|r| r.iter().any(|c| c == "人民币伍仟元整")), "{payouts:?}");

    let owed = sheet_rows(&w, "out/2025-Q3/settlement.xlsx", "追回清单");
    let reversal = owed.iter().find(|r| r[1] == "C-2025-0003").unwrap();
    assert_eq!((reversal[4].as_str(), reversal[5].as_str()), ("追回", "10000.00"));
    assert_eq!((reversal[6].as_str(), reversal[7].as_str()), ("服务未实际提供", "桂工信〔2025〕101号"));
    assert!(owed.iter().any(|r| r[1] == "C-2025-0002" && r[4] == "冲正" && r[5] == "30000.00"));
    let provider = owed.iter().find(|r| r[2] == P1 && r[3] == "6400.05").expect("P1 owes 6,400.05");
    assert_eq!(provider[4], "人民币陆仟肆佰元零伍分");
    let total = owed.iter().find(|r| r[0] == "应退回合计 Total owed").unwrap();
    assert_eq!(total[3], "6400.05");
}

/// explain shows a contract's whole life: settled, clawed back (with the
/// decision and the totals before and after), refused when exported again.
#[test]
fn explain_shows_a_clawback_in_the_contracts_history() {
    let w = all_quarters();
    let out = w.run(&["explain", "ledger", "C-2025-0003", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let explanation: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let history = explanation["history"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> =
        history.iter().map(|e| (e["batch_id"].as_str().unwrap(), e["kind"].as_str().unwrap())).collect();
    assert_eq!(
        kinds,
        [
            ("2025-Q1", "settled"),
            ("2025-Q3", "clawback"),
            ("2025-Q3", "rejected"),
            ("2025-Q4", "correction"),
            ("2025-Q4", "rejected")
        ]
    );
    let clawback = &history[1]["reversal"];
    assert_eq!(clawback["amount"], "10000.00");
    assert_eq!(clawback["reference"], "桂工信〔2025〕101号");
    assert_eq!(clawback["decided_on"], "2025-07-10");
    assert_eq!(
        clawback["totals"][1],
        serde_json::json!({"name": "enterprise", "name_zh": "企业累计", "before": "50000.00", "after": "40000.00"})
    );
    assert_eq!(history[2]["exceptions"][0]["code"], "E_CLAWED_BACK");
    assert_eq!(history[3]["exceptions"][0]["code"], "C_ALREADY_REVERSED");
    let text = String::from_utf8(w.run(&["explain", "ledger", "C-2025-0003"]).stdout).unwrap();
    assert!(text.contains("追回 clawback") && text.contains("enterprise 50000.00 → 40000.00"), "{text}");
}

/// A settlement committed by a batch of another service year cannot be
/// reversed from this year's batches: `C_OTHER_SERVICE_YEAR`.
#[test]
fn a_settlement_of_another_service_year_is_not_reversed() {
    let w = Workdir::with_example();
    let policy = String::from_utf8(w.read("policy.toml")).unwrap();
    assert!(policy.contains("service_year = 2025"));
    w.write("policy-2024.toml", policy.replacen("service_year = 2025", "service_year = 2024", 1));
    let job_2024 = JOB
        .replace("service_year = 2025", "service_year = 2024")
        .replace("policy = \"policy.toml\"", "policy = \"policy-2024.toml\"");
    w.write("job-2024.toml", job_2024);
    let header = "contract_id,enterprise_id,provider_id,product_id,category,service_price,voucher_amount,contract_amount,deposit_paid,balance_paid,signed_on,completed_on\n";
    w.write(
        "data/2024-Q4/contracts.csv",
        format!("{header}C-2024-0001,{E1},{P1},D001,diagnostic,5000,4000,1000,200,800,2024-10-08,2024-11-20\n"),
    );
    for quarter in ["2024-Q1", "2024-Q2", "2024-Q3"] {
        w.write(&format!("data/{quarter}/contracts.csv"), header);
    }
    for quarter in ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4"] {
        w.run_ok(&["run", "job-2024.toml", "--batch", quarter]);
    }
    w.write(
        "data/2025-Q1/corrections.csv",
        "contract_id,action,decided_on,reason,reference\nC-2024-0001,reverse,2025-02-01,上年度兑付有误,\n",
    );
    w.write("job.toml", format!("{JOB}corrections = \"data/{{batch}}/corrections.csv\"\n"));
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let codes: Vec<(String, String)> = w
        .csv("out/2025-Q1/exceptions.csv")
        .into_iter()
        .filter(|e| e["source"] == "corrections")
        .map(|e| (e["source_row"].clone(), e["code"].clone()))
        .collect();
    assert_eq!(codes, [("1".to_string(), "C_OTHER_SERVICE_YEAR".to_string())]);
    assert!(w.csv("out/2025-Q1/reversals.csv").is_empty());
}

fn with_q3_corrections(contents: &[u8]) -> Workdir {
    let w = Workdir::with_corrections();
    for quarter in ["2025-Q1", "2025-Q2"] {
        w.run_ok(&["run", "job.toml", "--batch", quarter]);
    }
    w.write("data/2025-Q3/corrections.csv", contents);
    w
}

/// A corrections file that cannot be read as a table stops the batch
/// (exit 2, naming the file, nothing committed); one whose rows are wrong
/// gets a row exception per row and no effect.
#[test]
fn bad_corrections_files() {
    let refused: [(&str, &[u8]); 4] = [
        ("empty", b""),
        ("no reason column", b"contract_id,action,decided_on\nC-2025-0003,reverse,2025-07-01\n"),
        ("not a table", b"\x00\x01\x02PK\x03\x04 binary"),
        ("two headers naming one column", "合同编号,contract_id,action,decided_on,reason\n".as_bytes()),
    ];
    for (what, contents) in refused {
        let w = with_q3_corrections(contents);
        let out = w.run(&["run", "job.toml", "--batch", "2025-Q3"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains("corrections.csv"), "{what}: names the file: {stderr}");
        assert_eq!(w.committed().len(), 2, "{what}: nothing committed");
    }

    // Named by the job, missing: exit 2 naming the key.
    let w = with_q3_corrections(b"");
    std::fs::remove_file(w.path("data/2025-Q3/corrections.csv")).unwrap();
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("inputs.corrections"), "{stderr}");
    assert_eq!(w.committed().len(), 2);

    // Header only: no corrections; the batch settles as without them.
    let w = with_q3_corrections("合同编号,处理方式,决定日期,原因\n".as_bytes());
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q3"]);
    assert!(w.csv("out/2025-Q3/reversals.csv").is_empty());
    let codes: Vec<String> = w
        .csv("out/2025-Q3/exceptions.csv")
        .into_iter()
        .filter(|e| e["contract_id"] == "C-2025-0003")
        .map(|e| e["code"].clone())
        .collect();
    assert_eq!(codes, ["E_ALREADY_SETTLED"]);

    // GBK with Chinese action names and dates in every form; a blank
    // record is skipped and not numbered (rules 2).
    let text = "合同编号,处理方式,决定日期,原因,文号\r\n\
                C-2025-0003,追回,2025/7/10,服务未实际提供,桂工信〔2025〕101号\r\n\
                ,,,,\r\n\
                C-2025-0002,撤销,2025-07-15,动作无效,\r\n\
                C-2025-0004,reverse,2025年7月16日,价格核实中,\r\n";
    let (gbk, _, unmappable) = encoding_rs::GB18030.encode(text);
    assert!(!unmappable);
    let w = with_q3_corrections(&gbk);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q3"]);
    let reversals = rows(&w, "out/2025-Q3/reversals.csv", &["source_row", "contract_id", "action", "reason", "amount"]);
    assert_eq!(
        reversals,
        [
            texts(&["1", "C-2025-0003", "clawback", "服务未实际提供", "10000.00"]),
            texts(&["3", "C-2025-0004", "reverse", "价格核实中", "15000.01"]),
        ]
    );
    let codes: Vec<(String, String, String)> = w
        .csv("out/2025-Q3/exceptions.csv")
        .into_iter()
        .filter(|e| e["source"] == "corrections")
        .map(|e| (e["source_row"].clone(), e["code"].clone(), e["field"].clone()))
        .collect();
    assert_eq!(codes, [("2".to_string(), "C_FIELD_INVALID".to_string(), "action".to_string())]);
}

/// A reason of 500 characters is kept; 501 is `C_FIELD_INVALID` on the
/// reason, with no effect.
#[test]
fn a_reason_over_500_characters_is_refused() {
    let long = |n: usize| "长".repeat(n);
    let w = with_q3_corrections(
        format!(
            "contract_id,action,decided_on,reason\nC-2025-0003,clawback,2025-07-10,{}\nC-2025-0002,reverse,2025-07-10,{}\n",
            long(500),
            long(501)
        )
        .as_bytes(),
    );
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q3"]);
    assert_eq!(rows(&w, "out/2025-Q3/reversals.csv", &["contract_id"]), [texts(&["C-2025-0003"])]);
    let codes: Vec<(String, String)> = w
        .csv("out/2025-Q3/exceptions.csv")
        .into_iter()
        .filter(|e| e["source"] == "corrections")
        .map(|e| (e["code"].clone(), e["field"].clone()))
        .collect();
    assert_eq!(codes, [("C_FIELD_INVALID".to_string(), "reason".to_string())]);
}

/// The archived corrections file and the stored reversals are part of what
/// verify proves: a changed byte in either is tampering (exit 3), and the
/// next batch refuses to carry in a changed reversals.parquet (exit 2,
/// nothing committed).
#[test]
fn tampered_corrections_or_reversals_are_found() {
    let three = || {
        let w = Workdir::with_corrections();
        for quarter in ["2025-Q1", "2025-Q2", "2025-Q3"] {
            w.run_ok(&["run", "job.toml", "--batch", quarter]);
        }
        w
    };
    let manifest = |w: &Workdir| -> serde_json::Value {
        serde_json::from_slice(&w.read("ledger/batches/000003_2025-Q3/manifest.json")).unwrap()
    };
    // The archived corrections: edited to claw back 20,000 instead.
    let w = three();
    let sha = manifest(&w)["inputs"].as_array().unwrap().iter().find(|i| i["name"] == "corrections").unwrap()["sha256"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let object = format!("ledger/objects/sha256/{sha}");
    let text = String::from_utf8(w.read(&object)).unwrap();
    w.write(&object, text.replacen("C-2025-0003,clawback", "C-2025-0001,clawback", 1));
    let out = w.run(&["verify", "ledger"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("corrections"), "{text}");

    for file in ["reversals.csv", "reversals.parquet"] {
        let w = three();
        let path = format!("ledger/batches/000003_2025-Q3/{file}");
        let mut bytes = w.read(&path);
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        w.write(&path, bytes);
        let out = w.run(&["verify", "ledger"]);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(3), "{file}: {text}");
        assert!(text.contains(file), "{file}: {text}");
        if file == "reversals.parquet" {
            let out = w.run(&["run", "job.toml", "--batch", "2025-Q4"]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{stderr}");
            assert!(stderr.contains("reversals.parquet"), "{stderr}");
            assert_eq!(w.committed().len(), 3);
        }
    }
}

/// Killed at every point of committing a batch with corrections, the store
/// still verifies; the next run ends where an uninterrupted one ends.
#[test]
fn a_crash_while_committing_corrections_leaves_a_usable_store() {
    let clean = with_q3_corrections(
        &std::fs::read(crate::workdir::repo().join("fixtures/example-2025/2025-Q3/corrections.csv")).unwrap(),
    );
    clean.run_ok(&["run", "job.toml", "--batch", "2025-Q3"]);
    for point in voucher_settle::ledger::CRASH_POINTS {
        let w = with_q3_corrections(&clean.read("data/2025-Q3/corrections.csv"));
        let out = w.run_env(&["run", "job.toml", "--batch", "2025-Q3"], &[("VOUCHER_SETTLE_CRASH_AT", point)]);
        assert_eq!(out.status.code(), None, "{point}: the process died");
        let cut_short = point == "renamed" || point == "head-written";
        let out = w.run(&["verify", "ledger"]);
        let want = if cut_short { 3 } else { 0 };
        assert_eq!(out.status.code(), Some(want), "{point}: {}", String::from_utf8_lossy(&out.stderr));
        if cut_short {
            std::fs::create_dir_all(w.path("ledger/quarantine")).unwrap();
            std::fs::rename(w.path("ledger/batches/000003_2025-Q3"), w.path("ledger/quarantine/000003_2025-Q3"))
                .unwrap();
        }
        w.run_ok(&["run", "job.toml", "--batch", "2025-Q3"]);
        for name in ["reversals.csv", "payouts.csv", "enterprise_usage.csv", "exceptions.csv"] {
            let path = format!("out/2025-Q3/{name}");
            assert_eq!(w.read(&path), clean.read(&path), "{point}: {name}");
        }
        let out = w.run(&["verify", "ledger"]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("(3 batches verified)"), "{point}");
    }
}

/// A follow-up batch of the next calendar year starts from the year's
/// totals net of every reversal: E1, at 45,000.00 of its 50,000.00 quota
/// after Q3 took 40,000.00 back, is approved exactly the 5,000.00 left.
#[test]
fn a_follow_up_batch_starts_from_totals_net_of_reversals() {
    let w = all_quarters();
    let header = "contract_id,enterprise_id,provider_id,product_id,category,service_price,voucher_amount,contract_amount,deposit_paid,balance_paid,signed_on,completed_on\n";
    w.write(
        "data/2025-FU-2026Q1/contracts.csv",
        format!("{header}C-2025-0040,{E1},{P2},M001,,20000,10000,10000,2000,8000,2025-11-01,2026-02-10\n"),
    );
    w.write("data/2025-FU-2026Q1/corrections.csv", "合同编号,处理方式,决定日期,原因\n");
    w.run_ok(&["run", "job.toml", "--batch", "2025-FU-2026Q1"]);
    assert_eq!(
        rows(&w, "out/2025-FU-2026Q1/settlements.csv", &["contract_id", "approved_amount", "code"]),
        [texts(&["C-2025-0040", "5000.00", "W_ENTERPRISE_QUOTA"])]
    );
    assert_eq!(
        rows(
            &w,
            "out/2025-FU-2026Q1/enterprise_usage.csv",
            &["enterprise_id", "used_before", "used_after", "remaining"]
        ),
        [texts(&[E1, "45000.00", "50000.00", "0.00"])]
    );
}
