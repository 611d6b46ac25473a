//! Safe to operate: dry runs that cannot be mistaken for a committed batch,
//! no formula in any CSV cell, policy typos refused, `verify` on any store,
//! and no subcommand panicking on any store or input.

use std::process::Command;

use calamine::{Reader, open_workbook_auto};
use voucher_settle::checksum::sha256_hex;

use crate::workdir::{Workdir, binary, names_in, unzip};

/// A dry run writes into its own folder, and everything a person reads of
/// it says 试算; the committed run's reports do not.
#[test]
fn a_dry_run_is_marked_and_kept_apart() {
    let w = Workdir::with_example();
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1", "--dry-run"]);
    assert!(printed.contains("试算 DRY RUN") && printed.contains("not for payment"), "{printed}");
    assert!(w.committed().is_empty());
    assert!(!w.path("out/2025-Q1").exists(), "nothing where the committed batch's reports go");
    assert_eq!(w.csv("out/试算/2025-Q1/settlements.csv").len(), 6);
    let html = String::from_utf8(w.read("out/试算/2025-Q1/report.html")).unwrap();
    assert!(html.contains("<title>试算 DRY RUN") && html.contains("不得用于付款"), "the page says 试算");
    let book = open_workbook_auto(w.path("out/试算/2025-Q1/settlement.xlsx")).unwrap();
    let names = book.sheet_names();
    assert_eq!(names.len(), 8);
    assert!(names.iter().all(|n| n.ends_with("（试算）")), "{names:?}");
    let sheet_xml = unzip(&w.read("out/试算/2025-Q1/settlement.xlsx"), "xl/worksheets/sheet2.xml");
    assert!(
        sheet_xml.contains("<oddHeader>") && sheet_xml.contains("试算 DRY RUN"),
        "print header on the list to sign"
    );

    // The committed run: same figures, no mark, its own folder.
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert!(!printed.contains("试算"), "{printed}");
    assert_eq!(w.read("out/2025-Q1/settlements.csv"), w.read("out/试算/2025-Q1/settlements.csv"));
    assert!(!String::from_utf8(w.read("out/2025-Q1/report.html")).unwrap().contains("试算"));
    let book = open_workbook_auto(w.path("out/2025-Q1/settlement.xlsx")).unwrap();
    assert!(book.sheet_names().iter().all(|n| !n.contains("试算")));
    // A dry run of a committed batch has nothing to try and writes nothing.
    std::fs::remove_dir_all(w.path("out/试算/2025-Q1")).unwrap();
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1", "--dry-run"]);
    assert!(printed.contains("already committed"), "{printed}");
    assert!(!w.path("out/试算/2025-Q1").exists());
}

/// Contract ids a spreadsheet would run as formulas: inert in every CSV
/// file (one leading apostrophe), exact in Parquet and the ledger.
#[test]
fn no_formula_in_any_csv_cell() {
    let w = Workdir::with_example();
    let text = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    let ids = [("C-2025-0001", "=1+1"), ("C-2025-0003", "@SUM(A1:A2)"), ("C-2025-0004", "+cmd|' /C calc'!A0")];
    let mut edited = text.clone();
    for (from, to) in ids {
        let quoted = if to.contains(',') || to.contains('"') { format!("\"{to}\"") } else { to.to_string() };
        edited = edited.replacen(&format!("{from},"), &format!("{quoted},"), 1);
    }
    w.write("data/2025-Q1/contracts.csv", edited);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let settled: Vec<String> = w.csv("out/2025-Q1/settlements.csv").iter().map(|r| r["contract_id"].clone()).collect();
    for (_, id) in ids {
        assert!(settled.contains(&format!("'{id}")), "{id} guarded in settlements.csv: {settled:?}");
    }
    use polars::prelude::{ParquetReader, SerReader};
    let frame = ParquetReader::new(std::io::Cursor::new(w.read("out/2025-Q1/settlements.parquet"))).finish().unwrap();
    let stored: Vec<String> =
        frame.column("contract_id").unwrap().str().unwrap().iter().map(|v| v.unwrap().to_string()).collect();
    for (_, id) in ids {
        assert!(stored.contains(&id.to_string()), "{id} exact in settlements.parquet: {stored:?}");
    }
    assert!(w.run_ok(&["verify", "ledger"]).ends_with("1 个批次验证一致 (1 batch verified)\n"));
}

/// The same ids opened by a spreadsheet program: LibreOffice, headless,
/// evaluates `=1+1` in a CSV cell (checked here on an unguarded file) but
/// shows each guarded id as its text.
#[test]
#[ignore = "needs LibreOffice (apt-get install libreoffice-calc-nogui); run with: cargo test --release -- --ignored"]
fn csv_formulas_stay_text_in_libreoffice() {
    let w = Workdir::with_example();
    w.write("raw.csv", "a,b\n=1+1,x\n");
    assert_eq!(libreoffice_cells(&w, "raw.csv")[2], "2", "LibreOffice evaluates an unguarded formula");
    let text = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    w.write(
        "data/2025-Q1/contracts.csv",
        text.replacen("C-2025-0001,", "=1+1,", 1).replacen("C-2025-0003,", "@SUM(A1:A2),", 1),
    );
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let cells = libreoffice_cells(&w, "out/2025-Q1/settlements.csv");
    for id in ["'=1+1", "'@SUM(A1:A2)"] {
        assert!(cells.iter().any(|c| c == id), "{id} shown as text by LibreOffice: {cells:?}");
    }
}

/// The cells of a CSV file as LibreOffice reads and shows them (converted
/// headless to CSV again).
fn libreoffice_cells(w: &Workdir, relative: &str) -> Vec<String> {
    let out_dir = w.path("libreoffice");
    let out = Command::new("soffice")
        .args(["--headless", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false"])
        .arg("--outdir")
        .arg(&out_dir)
        .arg(w.path(relative))
        .env("HOME", w.path("lo-home"))
        .output()
        .expect("LibreOffice (soffice) installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let name = std::path::Path::new(relative).file_name().unwrap();
    let text = std::fs::read_to_string(out_dir.join(name)).unwrap();
    text.lines().flat_map(|l| l.split(',').map(|c| c.trim_matches('"').to_string()).collect::<Vec<_>>()).collect()
}

/// A designation misspelled in a tier's list would drop every enterprise
/// holding the real one a tier: refused, naming the tier, the code and the
/// nearest known code.
#[test]
fn a_policy_typo_is_refused() {
    let w = Workdir::with_example();
    let policy = String::from_utf8(w.read("policy.toml")).unwrap();
    w.write("policy.toml", policy.replacen("\"gx_smart_factory\"", "\"gx_smart_factroy\"", 1));
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("tiers.3.designations") && stderr.contains("gx_smart_factroy"), "{stderr}");
    assert!(stderr.contains("did you mean \"gx_smart_factory\""), "{stderr}");
    assert!(w.committed().is_empty());
}

/// Every subcommand on every kind of store: an exit code of 0, 1, 2 or 3
/// and a message, never a panic (101) or a signal.
#[test]
fn no_panic_on_any_store() {
    let w = Workdir::with_example();
    w.write("a-file", "not a store");
    std::fs::create_dir_all(w.path("empty")).unwrap();
    // The store a first dry run leaves: a lock and an empty batches folder.
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1", "--dry-run"]);
    let stores = ["ledger", "missing", "a-file", "empty"];
    for store in stores {
        for args in [
            vec!["verify", store],
            vec!["verify", store, "--batch", "2025-Q1"],
            vec!["explain", store, "C-2025-0001"],
            vec!["explain", store, "C-2025-0001", "--json"],
        ] {
            let out = w.run(&args);
            let code = out.status.code();
            assert!(matches!(code, Some(0..=3)), "{args:?}: {code:?} {}", String::from_utf8_lossy(&out.stderr));
            assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{args:?}");
        }
    }
    let verify = w.run(&["verify", "ledger"]);
    assert_eq!(verify.status.code(), Some(0), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("no committed batch"));
    // The shipped example, committed, and the other subcommands.
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    for args in [
        vec!["verify", "ledger"],
        vec!["explain", "ledger", "C-2025-0001"],
        vec!["run", "job.toml", "--batch", "2025-Q1"],
        vec!["run", "missing.toml", "--batch", "2025-Q1"],
        vec!["run", "job.toml", "--batch", "auto", "--as-of", "not-a-date"],
        vec!["synth", "--out", "synth", "--contracts", "0"],
    ] {
        let out = w.run(&args);
        let code = out.status.code();
        assert!(matches!(code, Some(0..=3)), "{args:?}: {code:?} {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Command::new(binary()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}

/// The list to sign names, in its print footer, the batch, the manifest it
/// follows in the store, and the page of how many; the manifest that lists
/// the workbook cannot be named inside it, so `run` prints that one.
#[test]
fn the_payout_list_footer_names_the_ledger_state() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&w.read("ledger/batches/000002_2025-Q2/manifest.json")).unwrap();
    let previous = manifest["prev_manifest_sha256"].as_str().unwrap();
    assert_eq!(manifest["ledger_format"], voucher_settle::ledger::LEDGER_FORMAT);
    let footer = unzip(&w.read("out/2025-Q2/settlement.xlsx"), "xl/worksheets/sheet2.xml");
    assert!(footer.contains("<oddFooter>") && footer.contains(previous), "{footer}");
    assert!(footer.contains("批次 batch 2025-Q2") && footer.contains("第 &amp;P 页 共 &amp;N 页"), "{footer}");
    let own = sha256_hex(&w.read("ledger/batches/000002_2025-Q2/manifest.json"));
    assert!(printed.contains(&own), "run prints the new manifest's checksum: {printed}");
}

/// A store whose last batch is in a newer ledger format is left alone by
/// run and verify (exit 2, naming both formats).
#[test]
fn a_store_of_a_newer_ledger_format_is_refused() {
    for (format, command) in [(Some(99), "verify"), (Some(99), "run")] {
        let w = Workdir::with_example();
        w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
        let path = "ledger/batches/000001_2025-Q1/manifest.json";
        let mut manifest: serde_json::Value = serde_json::from_slice(&w.read(path)).unwrap();
        match format {
            Some(format) => manifest["ledger_format"] = format.into(),
            None => {
                manifest.as_object_mut().unwrap().remove("ledger_format");
            }
        }
        let mut bytes = serde_json::to_vec_pretty(&manifest).unwrap();
        bytes.push(b'\n');
        w.write(path, &bytes);
        let mut head: serde_json::Value = serde_json::from_slice(&w.read("ledger/HEAD")).unwrap();
        head["manifest_sha256"] = sha256_hex(&bytes).into();
        w.write("ledger/HEAD", serde_json::to_vec(&head).unwrap());
        let out = match command {
            "verify" => w.run(&["verify", "ledger"]),
            _ => w.run(&["run", "job.toml", "--batch", "2025-Q2"]),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{format:?} {command}: {stderr}");
        let named = format.map_or("format 1".to_string(), |f| format!("format {f}"));
        assert!(stderr.contains(&named) && stderr.contains("2"), "{format:?} {command}: {stderr}");
        assert_eq!(w.committed(), ["000001_2025-Q1"]);
    }
}

/// Job paths that would overwrite the store or a whole folder of someone's
/// files, or give each batch its own empty store, are refused (exit 2).
#[test]
fn job_paths_that_endanger_the_store_are_refused() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let job = String::from_utf8(w.read("job.toml")).unwrap();
    for (from, to, named) in [
        ("output = \"out/{batch}\"", "output = \"ledger/batches/000001_2025-Q1\"", "would write into 账本 the ledger"),
        ("output = \"out/{batch}\"", "output = \"ledger\"", "would write into 账本 the ledger"),
        ("output = \"out/{batch}\"", "output = \".\"", "would write into"),
        ("output = \"out/{batch}\"", "output = \"/\"", "root"),
        ("ledger = \"ledger\"", "ledger = \"ledger-{batch}\"", "may not contain {batch}"),
    ] {
        w.write("job.toml", job.replace(from, to));
        let out = w.run(&["run", "job.toml", "--batch", "2025-Q2"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {stderr}");
        assert!(stderr.contains(named), "{to}: {stderr}");
    }
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
    let text = String::from_utf8(w.run(&["verify", "ledger"]).stdout).unwrap();
    assert!(text.contains("(1 batch verified)"), "{text}");
}

/// Symbolic links planted where the tool writes — the ledger's lock file,
/// its HEAD being replaced, the new output folder — are refused; the file
/// they point at is never truncated or overwritten.
#[test]
fn planted_symlinks_are_never_followed() {
    for planted in ["ledger/.lock", "ledger/.HEAD.partial", "out/2025-Q1/.voucher-settle.partial"] {
        let w = Workdir::with_example();
        std::fs::create_dir_all(w.path("ledger/batches")).unwrap();
        std::fs::create_dir_all(w.path("out/2025-Q1")).unwrap();
        w.write("precious.txt", "keep me");
        std::os::unix::fs::symlink(w.path("precious.txt"), w.path(planted)).unwrap();
        let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{planted}: {stderr}");
        assert_eq!(w.read("precious.txt"), b"keep me", "{planted}: the link's target is untouched");
        assert!(w.committed().is_empty(), "{planted}: nothing committed");
        assert_eq!(out.status.code(), Some(2), "{planted}: {stderr}");
        assert!(stderr.contains("symbolic link"), "{planted}: {stderr}");
    }
}

/// The output folder cannot be published after the commit point (a rename
/// fails, as on a full disk): the batch is committed, so the run says so
/// (exit 0, the manifest's SHA-256 printed) with a warning and the way to
/// restore the folder; the folder that was there is left as it was, no
/// hidden folder stays behind, and the same command restores the outputs
/// beside the file that was there.
#[test]
fn committed_but_not_published_is_reported_as_committed() {
    let w = Workdir::with_example();
    w.write("out/2025-Q1/notes.txt", "mine");
    let out = w.run_env(&["run", "job.toml", "--batch", "2025-Q1"], &[("VOUCHER_SETTLE_FAIL_AT", "publish")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest = sha256_hex(&w.read("ledger/batches/000001_2025-Q1/manifest.json"));
    assert!(stdout.contains(&manifest) && stdout.contains("is committed, but its output folder"), "{stdout}");
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
    assert_eq!(names_in(&w.path("out")), ["2025-Q1"], "no new folder left behind");
    assert_eq!(names_in(&w.path("out/2025-Q1")), ["notes.txt"], "the old folder as it was");
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert!(printed.contains("already committed") && printed.contains("restored from"), "{printed}");
    assert_eq!(w.read("out/2025-Q1/payouts.csv"), w.read("ledger/batches/000001_2025-Q1/payouts.csv"));
    assert_eq!(names_in(&w.path("out")), ["2025-Q1"]);
    assert_eq!(w.read("out/2025-Q1/notes.txt"), b"mine");
}

/// Publishing renames each of this run's files into place: files a killed
/// run left in the hidden folder are never published, and a dry run run
/// again replaces its own files and nothing else.
#[test]
fn a_killed_run_s_files_are_never_published() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1", "--dry-run"]);
    let dry = w.read("out/试算/2025-Q1/summary.json");
    w.write("out/试算/2025-Q1/summary.json", "{}");
    w.write("out/试算/2025-Q1/.voucher-settle.partial/payouts.csv", "left by a killed run");
    w.write("out/试算/2025-Q1/notes.txt", "mine");
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1", "--dry-run"]);
    assert_eq!(w.read("out/试算/2025-Q1/summary.json"), dry);
    assert_ne!(w.read("out/试算/2025-Q1/payouts.csv"), b"left by a killed run");
    assert_eq!(w.read("out/试算/2025-Q1/notes.txt"), b"mine");
    assert!(!w.path("out/试算/2025-Q1/.voucher-settle.partial").exists());
    assert_eq!(names_in(&w.path("out")), ["试算"]);
    assert_eq!(names_in(&w.path("out/试算")), ["2025-Q1"]);
}

/// The command line speaks Chinese and English like every other message:
/// each command's help, and a usage error (exit 2) named in Chinese before
/// clap's English words.
#[test]
fn help_and_usage_errors_are_bilingual() {
    let w = Workdir::new();
    for args in [vec!["--help"], vec!["run", "--help"], vec!["verify", "--help"], vec!["explain", "--help"]] {
        let help = w.run_ok(&args);
        for wanted in ["用法 Usage:", "选项 Options", "显示帮助 Print help"] {
            assert!(help.contains(wanted), "{args:?}: {wanted} in {help}");
        }
    }
    let help = w.run_ok(&["run", "--help"]);
    assert!(help.contains("试算：只生成报表，不提交账本 Write the reports"), "{help}");
    for (args, zh) in [
        (vec!["run", "job.toml", "--bogus"], "未知参数"),
        (vec!["verify"], "缺少必填参数 <LEDGER>"),
        (vec!["run", "job.toml"], "缺少必填参数 --batch <BATCH>"),
        (vec!["frobnicate"], "未知命令"),
    ] {
        let out = w.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(zh) && stderr.contains("error:"), "{args:?}: {stderr}");
    }
}
