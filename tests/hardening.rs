//! Ways a path, a link, a damaged file or an invisible character could make
//! the tool pay twice or crash — each case as it was reported, reproduced.

use std::os::unix::fs::symlink;

use crate::workdir::{JOB, Workdir, names_in};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn verified(w: &Workdir, batches: usize) {
    let out = w.run(&["verify", "ledger"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let wanted = if batches == 1 { "(1 batch verified)".to_string() } else { format!("({batches} batches verified)") };
    assert!(text.contains(&wanted), "{text}");
}

/// Case 1: an output path through a symbolic link to the store (or to its
/// batches folder) is the store: refused (exit 2, naming both paths) before
/// anything is written, the store untouched; the first quarter run again
/// with the normal job is a no-op, never a second commit.
#[test]
fn an_output_path_through_a_link_into_the_store_is_refused() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    symlink(w.path("ledger"), w.path("alias")).unwrap();
    symlink(w.path("ledger/batches"), w.path("batches-link")).unwrap();
    for output in ["alias/example-2025", "alias", "batches-link", "alias/../alias/batches"] {
        w.write("linked.toml", JOB.replace("output = \"out/{batch}\"", &format!("output = \"{output}/{{batch}}\"")));
        let out = w.run(&["run", "linked.toml", "--batch", "2025-Q2"]);
        assert_eq!(out.status.code(), Some(2), "{output}: {}", stderr(&out));
        assert!(stderr(&out).contains("would write into") && stderr(&out).contains("ledger"), "{}", stderr(&out));
        assert_eq!(w.committed(), ["000001_2025-Q1"], "{output}");
        assert!(w.path("ledger/HEAD").is_file() && !w.path("ledger/batches/2025-Q2").exists(), "{output}");
    }
    let again = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert!(again.contains("already committed"), "{again}");
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
    verified(&w, 1);
}

/// Case 11: an output folder that is the job's own folder (`""`, `"."`),
/// an input's folder or an input file is refused, and nothing is moved.
#[test]
fn an_output_folder_among_the_job_or_its_inputs_is_refused() {
    let w = Workdir::with_example();
    for output in ["", ".", "data", "data/{batch}", "policy.toml", "data/providers.csv"] {
        w.write("other.toml", JOB.replace("output = \"out/{batch}\"", &format!("output = \"{output}\"")));
        let out = w.run(&["run", "other.toml", "--batch", "2025-Q1"]);
        assert_eq!(out.status.code(), Some(2), "{output:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("would write into"), "{output:?}: {}", stderr(&out));
        assert!(w.path("other.toml").is_file() && w.path("policy.toml").is_file() && w.path("data/2025-Q1").is_dir());
        assert!(w.committed().is_empty(), "{output:?}");
    }
}

/// The ledger store may not be the job's folder, an input's folder, a root
/// or a home folder either (its HEAD and folders would stand among them).
#[test]
fn a_ledger_among_the_job_or_its_inputs_is_refused() {
    let w = Workdir::with_example();
    for ledger in [".", "data", "/"] {
        w.write("other.toml", JOB.replace("ledger = \"ledger\"", &format!("ledger = \"{ledger}\"")));
        let out = w.run(&["run", "other.toml", "--batch", "2025-Q1"]);
        assert_eq!(out.status.code(), Some(2), "{ledger}: {}", stderr(&out));
        let said = stderr(&out);
        assert!(said.contains("job.ledger") || said.contains("the ledger store"), "{ledger}: {said}");
        assert!(!w.path("HEAD").exists() && !w.path("data/HEAD").exists() && !w.path("batches").exists());
    }
}

/// Case 3: `statements` and `year` never write into the store, however
/// their `--out` reaches it.
#[test]
fn statements_and_year_never_write_into_the_store() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    symlink(w.path("ledger"), w.path("alias")).unwrap();
    let before = w.read("ledger/batches/000001_2025-Q1/settlement.xlsx");
    for args in [
        vec!["statements", "ledger", "--batch", "2025-Q1", "--out", "ledger/batches/000001_2025-Q1"],
        vec!["statements", "ledger", "--batch", "2025-Q1", "--out", "alias/batches/000001_2025-Q1"],
        vec!["year", "ledger", "--year", "2025", "--out", "ledger/batches/zz"],
        vec!["year", "ledger", "--year", "2025", "--out", "alias"],
        vec!["year", "ledger", "--year", "2025", "--out", "."],
    ] {
        let out = w.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("would write into"), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(w.read("ledger/batches/000001_2025-Q1/settlement.xlsx"), before);
    assert!(!w.path("ledger/batches/zz").exists());
    verified(&w, 1);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    verified(&w, 2);
}

/// Case 2: a contract re-exported with an invisible character in its id
/// (a zero-width space, a Mongolian vowel separator, a byte order mark) is
/// not a new contract: its row is `E_FIELD_INVALID` on contract_id and
/// nothing is paid again; a correction naming such an id is
/// `C_FIELD_INVALID`.
#[test]
fn an_invisible_character_never_makes_a_settled_contract_new() {
    let w = Workdir::with_corrections();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let q1 = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    let settled_row = q1.lines().nth(1).unwrap();
    assert!(settled_row.starts_with("C-2025-0001,"), "{settled_row}");
    let mut q2 = String::from_utf8(w.read("data/2025-Q2/contracts.csv")).unwrap();
    for invisible in ['\u{200B}', '\u{180E}', '\u{FEFF}'] {
        q2.push_str(&settled_row.replacen("C-2025-0001", &format!("C-2025-0001{invisible}"), 1));
        q2.push('\n');
    }
    w.write("data/2025-Q2/contracts.csv", q2);
    let corrections = String::from_utf8(w.read("data/2025-Q2/corrections.csv")).unwrap();
    let header = corrections.lines().next().unwrap();
    w.write(
        "data/2025-Q2/corrections.csv",
        format!("{header}\nC-2025-0001\u{200B},clawback,2025-06-10,重复导出,桂工信〔2025〕9号\n"),
    );
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    let settled: Vec<String> =
        w.csv("out/2025-Q2/settlements.csv").into_iter().map(|r| r["contract_id"].clone()).collect();
    assert!(settled.iter().all(|id| !id.starts_with("C-2025-0001")), "{settled:?}");
    let exceptions = w.csv("out/2025-Q2/exceptions.csv");
    let invalid: Vec<(&str, &str, &str)> = exceptions
        .iter()
        .filter(|r| r["code"].ends_with("_FIELD_INVALID"))
        .map(|r| (r["source"].as_str(), r["code"].as_str(), r["field"].as_str()))
        .collect();
    assert_eq!(
        invalid,
        [
            ("contracts", "E_FIELD_INVALID", "contract_id"),
            ("contracts", "E_FIELD_INVALID", "contract_id"),
            ("contracts", "E_FIELD_INVALID", "contract_id"),
            ("corrections", "C_FIELD_INVALID", "contract_id"),
        ]
    );
    let reversals = w.csv("out/2025-Q2/reversals.csv");
    assert!(reversals.is_empty(), "{reversals:?}");
    verified(&w, 2);
}

/// Case 4: a symbolic link anywhere in the store — to a copy of a batch's
/// own file, at any depth — is refused by `run` (exit 2), `verify` (exit 3),
/// `year`, `explain` and `statements` (exit 2), and nothing is written.
#[test]
fn a_link_inside_the_store_is_refused_by_every_command() {
    for linked in [
        "ledger/batches/000001_2025-Q1/settlements.parquet",
        "ledger/batches/000001_2025-Q1/manifest.json",
        "ledger/batches/000001_2025-Q1/exceptions.csv",
        "ledger/batches/000001_2025-Q1/summary.json",
    ] {
        let w = Workdir::with_example();
        w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
        let copy = w.path("elsewhere.bin");
        std::fs::rename(w.path(linked), &copy).unwrap();
        symlink(&copy, w.path(linked)).unwrap();
        for (args, code) in [
            (vec!["run", "job.toml", "--batch", "2025-Q2"], 2),
            (vec!["verify", "ledger"], 3),
            (vec!["year", "ledger", "--year", "2025", "--out", "year"], 2),
            (vec!["explain", "ledger", "C-2025-0001"], 2),
            (vec!["statements", "ledger", "--batch", "2025-Q1", "--out", "st"], 2),
        ] {
            let out = w.run(&args);
            assert_eq!(out.status.code(), Some(code), "{linked} {args:?}: {}", stderr(&out));
            assert!(stderr(&out).contains("symbolic link"), "{linked} {args:?}: {}", stderr(&out));
        }
        assert_eq!(w.committed(), ["000001_2025-Q1"], "{linked}");
        assert!(!w.path("year").exists() && !w.path("st").exists(), "{linked}");
    }
}

/// Case 10: files people put in a batch's output folder (a signed scan, an
/// office lock file) are never moved: they survive ten no-op runs, with
/// and without `--batch auto`, and a committed file deleted from the folder
/// is restored in place beside them.
#[test]
fn people_s_files_in_an_output_folder_are_never_moved() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w.write("out/2025-Q1/兑付清单-已签字.pdf", "signed");
    w.write("out/2025-Q1/~$settlement.xlsx", "lock");
    let committed = w.read("out/2025-Q1/payouts.csv");
    for run in 0..10 {
        let args: &[&str] = if run % 2 == 0 {
            &["run", "job.toml", "--batch", "2025-Q1"]
        } else {
            &["run", "job.toml", "--batch", "auto", "--as-of", "2025-05-01"]
        };
        let printed = w.run_ok(args);
        assert!(printed.contains("intact, nothing changed"), "{printed}");
    }
    let names = names_in(&w.path("out"));
    assert_eq!(names, ["2025-Q1"], "no folder moved aside: {names:?}");
    assert_eq!(w.read("out/2025-Q1/兑付清单-已签字.pdf"), b"signed");
    assert_eq!(w.read("out/2025-Q1/~$settlement.xlsx"), b"lock");
    std::fs::remove_file(w.path("out/2025-Q1/payouts.csv")).unwrap();
    w.write("out/2025-Q1/summary.json", "{}");
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert!(printed.contains("payouts.csv") && printed.contains("summary.json"), "{printed}");
    assert_eq!(w.read("out/2025-Q1/payouts.csv"), committed);
    assert_eq!(w.read("out/2025-Q1/summary.json"), w.read("ledger/batches/000001_2025-Q1/summary.json"));
    assert_eq!(w.read("out/2025-Q1/兑付清单-已签字.pdf"), b"signed");
    let mut expected = names_in(&w.path("ledger/batches/000001_2025-Q1"));
    expected.extend(["~$settlement.xlsx".to_string(), "兑付清单-已签字.pdf".to_string()]);
    expected.sort();
    assert_eq!(names_in(&w.path("out/2025-Q1")), expected);
}

/// Case 7: a run killed between its commit and its publication leaves the
/// quarter's output folder incomplete; the next run — `--batch auto`, which
/// has nothing to settle — completes it and says so.
#[test]
fn a_publication_cut_short_is_completed_by_the_next_run() {
    let w = Workdir::with_example();
    let out = w.run_env(&["run", "job.toml", "--batch", "2025-Q1"], &[("VOUCHER_SETTLE_CRASH_AT", "committed")]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
    assert!(!w.path("out/2025-Q1/payouts.csv").exists());
    let printed = w.run_ok(&["run", "job.toml", "--batch", "auto", "--as-of", "2025-04-15"]);
    assert!(printed.contains("restored from"), "{printed}");
    let mut expected = names_in(&w.path("ledger/batches/000001_2025-Q1"));
    expected.sort();
    assert_eq!(names_in(&w.path("out/2025-Q1")), expected);
    assert_eq!(w.read("out/2025-Q1/settlement.xlsx"), w.read("ledger/batches/000001_2025-Q1/settlement.xlsx"));

    // Killed before publishing Q2, then Q3 run: Q2's folder is completed
    // first (the last committed batch), and Q3 runs.
    let out = w.run_env(&["run", "job.toml", "--batch", "2025-Q2"], &[("VOUCHER_SETTLE_CRASH_AT", "committed")]);
    assert_ne!(out.status.code(), Some(0));
    std::fs::remove_dir_all(w.path("out/2025-Q1")).unwrap();
    w.write("data/2025-Q3/contracts.csv", w.read("data/2025-Q2/contracts.csv"));
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q3"]);
    assert!(printed.contains("committed batch 2025-Q2 was incomplete"), "{printed}");
    assert_eq!(w.read("out/2025-Q2/payouts.csv"), w.read("ledger/batches/000002_2025-Q2/payouts.csv"));
    assert!(!w.path("out/2025-Q1").exists(), "an older batch's folder removed on purpose stays removed");
    assert!(names_in(&w.path("out/2025-Q2")).iter().all(|n| !n.contains("partial")));
}

/// Case 8: the disk fills exactly at the write of `HEAD`: the run undoes
/// its own rename (exit 2, nothing committed, no folder beyond HEAD), the
/// store verifies, and the same command then commits the batch once.
#[test]
fn a_full_disk_at_head_leaves_the_store_as_it_was() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let out = w.run_env(&["run", "job.toml", "--batch", "2025-Q2"], &[("VOUCHER_SETTLE_FAIL_AT", "head")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing committed"), "{}", stderr(&out));
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
    assert!(!w.path("out/2025-Q2").exists(), "no output folder for a batch not committed");
    verified(&w, 1);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    assert_eq!(w.committed(), ["000001_2025-Q1", "000002_2025-Q2"]);
    verified(&w, 2);
}

/// Case 9: HEAD lost after three committed quarters: the message names the
/// last folder as the only one that can be an unfinished commit and the
/// others as committed, never to be moved; following it (restoring HEAD
/// from the last manifest) settles nothing twice.
#[test]
fn the_recovery_message_names_the_only_folder_that_can_be_unfinished() {
    let w = Workdir::with_example();
    w.write("data/2025-Q3/contracts.csv", w.read("data/2025-Q2/contracts.csv"));
    for quarter in ["2025-Q1", "2025-Q2", "2025-Q3"] {
        w.run_ok(&["run", "job.toml", "--batch", quarter]);
    }
    let head = w.read("ledger/HEAD");
    std::fs::remove_file(w.path("ledger/HEAD")).unwrap();
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    assert!(message.contains("000001_2025-Q1, 000002_2025-Q2 are committed"), "{message}");
    assert!(message.contains("never move them"), "{message}");
    assert!(message.contains("Only the last, 000003_2025-Q3, can be an unfinished commit"), "{message}");
    let verify = w.run(&["verify", "ledger"]);
    assert_eq!(verify.status.code(), Some(3));
    assert!(stderr(&verify).contains("Only the last, 000003_2025-Q3"), "{}", stderr(&verify));
    w.write("ledger/HEAD", head);
    verified(&w, 3);
}

/// Case 11: a policy amount beyond the range of money is exit 2 naming the
/// key; a job or input that is not a regular file is refused, not read
/// without end.
#[test]
fn policy_amounts_beyond_money_and_irregular_files_are_refused() {
    let w = Workdir::with_example();
    let policy = String::from_utf8(w.read("policy.toml")).unwrap();
    let (key, huge) = ("provider_annual_cap", "1000000000000000000");
    let line = policy.lines().find(|l| l.trim_start().starts_with(&format!("{key} "))).expect("the key");
    w.write("policy.toml", policy.replace(line, &format!("{key} = \"{huge}\"")));
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(key) && stderr(&out).contains("range of money"), "{}", stderr(&out));

    let w = Workdir::with_example();
    let out = w.run(&["run", "/dev/zero", "--batch", "2025-Q1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a regular file"), "{}", stderr(&out));
    w.write("other.toml", JOB.replace("data/providers.csv", "/dev/zero"));
    let out = w.run(&["run", "other.toml", "--batch", "2025-Q1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("/dev/zero") && stderr(&out).contains("not a regular file"), "{}", stderr(&out));
    assert!(w.committed().is_empty());
}

/// A dry run writes where a glob over the committed batches does not reach
/// (rules 7): `out/*/settlements.parquet` finds the committed quarter only.
#[test]
fn a_glob_over_the_batches_finds_no_dry_run() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2", "--dry-run"]);
    let found: Vec<String> = names_in(&w.path("out"))
        .into_iter()
        .filter(|batch| w.path(&format!("out/{batch}/settlements.parquet")).is_file())
        .collect();
    assert_eq!(found, ["2025-Q1"]);
    assert!(w.path("out/试算/2025-Q2/settlements.parquet").is_file());
    let html = String::from_utf8(w.read("out/试算/2025-Q2/report.html")).unwrap();
    assert!(html.contains("试算 DRY RUN"));
}
