//! Sign-off (经办、复核、审批): a job with `[signoff]` proposes a batch and
//! commits it only once every role has approved, each by a different signer
//! of the adopted list, over the proposal the inputs still give. Keys are
//! the throw-away test keys of fixtures/signoff.

use std::process::Output;

use crate::workdir::{JOB, Workdir, repo, unzip};

const SIGNOFF: &str = "\n[signoff]\nroles = [\"经办\", \"复核\", \"审批\"]\nsigners = \"signers.toml\"\n";
const PROPOSAL: &str = "out/待审批/2025-Q1";

/// The example with the job asking for sign-off, the keys in `keys/`.
fn signed_example() -> Workdir {
    let w = Workdir::with_example();
    let keys = repo().join("fixtures/signoff");
    for name in ["zhangsan", "lisi", "wangwu", "zhaoliu", "outsider"] {
        w.write(&format!("keys/{name}"), std::fs::read(keys.join(name)).unwrap());
        w.write(&format!("keys/{name}.pub"), std::fs::read(keys.join(format!("{name}.pub"))).unwrap());
    }
    w.write("signers.toml", std::fs::read(keys.join("signers.toml")).unwrap());
    w.write("job.toml", format!("{JOB}{SIGNOFF}"));
    w
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sign(w: &Workdir, batch: &str, role: &str, key: &str) -> Output {
    w.run(&["signoff", "job.toml", "--batch", batch, "--role", role, "--key", &format!("keys/{key}")])
}

fn sign_ok(w: &Workdir, batch: &str, role: &str, key: &str) {
    let out = sign(w, batch, role, key);
    assert_eq!(code(&out), Some(0), "{role} {key}: {}", stderr(&out));
}

fn sign_all(w: &Workdir, batch: &str) {
    sign_ok(w, batch, "经办", "zhangsan");
    sign_ok(w, batch, "复核", "lisi");
    sign_ok(w, batch, "审批", "wangwu");
}

fn head(w: &Workdir) -> Option<String> {
    std::fs::read_to_string(w.path("ledger/HEAD")).ok()
}

fn manifest(w: &Workdir, dir: &str) -> serde_json::Value {
    serde_json::from_slice(&w.read(&format!("ledger/batches/{dir}/manifest.json"))).unwrap()
}

#[test]
fn a_proposal_commits_nothing_and_is_marked_awaiting_sign_off() {
    let w = signed_example();
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert!(w.committed().is_empty(), "no batch folder: {:?}", w.committed());
    assert_eq!(head(&w), None);
    assert!(!w.path("out/2025-Q1").exists(), "nothing where committed batches are published");
    assert!(printed.contains("待审批") && printed.contains("经办、复核、审批"), "{printed}");
    let record: serde_json::Value = serde_json::from_slice(&w.read(&format!("{PROPOSAL}/proposal.json"))).unwrap();
    let hash = record["proposal_sha256"].as_str().unwrap();
    assert!(printed.contains(hash));
    let text = String::from_utf8(w.read(&format!("{PROPOSAL}/签批-复核.txt"))).unwrap();
    for line in ["批次 batch: 2025-Q1", "核定 approved: 74000.01", "本批实付 paid: 74000.01", "签批角色 role: 复核"]
    {
        assert!(text.contains(line), "{line} in {text}");
    }
    assert!(text.contains(&format!("提案哈希 proposal hash: {hash}")));
    let workbook = w.read(&format!("{PROPOSAL}/settlement.xlsx"));
    let names = unzip(&workbook, "xl/workbook.xml");
    assert!(names.contains("兑付清单（待审批）") && names.contains("汇总（待审批）"), "{names}");
    let page = String::from_utf8(w.read(&format!("{PROPOSAL}/report.html"))).unwrap();
    assert!(page.contains("待审批 AWAITING SIGN-OFF") && page.contains(hash));
    // The proposal's tables are the committed batch's to the byte: the
    // hash covers them.
    sign_all(&w, "2025-Q1");
    let proposed = w.read(&format!("{PROPOSAL}/settlements.csv"));
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(w.read("out/2025-Q1/settlements.csv"), proposed);
}

#[test]
fn three_signers_commit_and_every_replay_names_them() {
    let w = signed_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    sign_all(&w, "2025-Q1");
    let printed = w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert!(printed.contains("已提交账本 committed"), "{printed}");
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
    let m = manifest(&w, "000001_2025-Q1");
    let approvals = m["signoff"]["approvals"].as_array().unwrap();
    let who: Vec<(&str, &str)> =
        approvals.iter().map(|a| (a["role"].as_str().unwrap(), a["signer"].as_str().unwrap())).collect();
    assert_eq!(who, [("经办", "zhangsan"), ("复核", "lisi"), ("审批", "wangwu")]);
    let list = std::fs::read(w.path("signers.toml")).unwrap();
    let sha = format!("sha256:{}", sha256(&list));
    assert_eq!(m["signoff"]["signers"]["sha256"], sha.as_str());
    let payouts = unzip(&w.read("out/2025-Q1/settlement.xlsx"), "xl/sharedStrings.xml");
    for text in ["电子签批 signed：张三（zhangsan）", "李四（lisi）", "王五（wangwu）", sha.as_str()] {
        assert!(payouts.contains(text), "{text} on the lists");
    }
    let verified = w.run_ok(&["verify", "ledger"]);
    assert!(verified.contains("签批 审批 王五（wangwu）") && verified.contains("签批人名单采用"), "{verified}");
    // The sample is seeded by the 审批 signature: nobody could choose it.
    let sample = unzip(&w.read("out/2025-Q1/sample.xlsx"), "xl/sharedStrings.xml");
    assert!(sample.contains("种子含审批人的签名"), "the sheet says the sample is unchoosable");
    let proposed = unzip(&w.read(&format!("{PROPOSAL}/sample.xlsx")), "xl/sharedStrings.xml");
    assert!(proposed.contains("不抽样"), "a proposal draws no sample");
    let explained = w.run_ok(&["explain", "ledger", "C-2025-0001"]);
    assert!(explained.contains("签批 signed off by: 经办 张三（zhangsan）、复核 李四（lisi）、审批 王五（wangwu）"));
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn one_person_signs_one_role_and_only_roles_held_with_listed_keys() {
    let w = signed_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let out = w.run_env(
        &["signoff", "job.toml", "--batch", "2025-Q1", "--role", "复核", "--key", "keys/zhaoliu"],
        &[("VOUCHER_SETTLE_PASSPHRASE", "test-passphrase")],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let twice = w.run_env(
        &["signoff", "job.toml", "--batch", "2025-Q1", "--role", "审批", "--key", "keys/zhaoliu"],
        &[("VOUCHER_SETTLE_PASSPHRASE", "test-passphrase")],
    );
    assert_eq!(code(&twice), Some(2));
    assert!(stderr(&twice).contains("one person, one role"), "{}", stderr(&twice));
    let outsider = sign(&w, "2025-Q1", "审批", "outsider");
    assert_eq!(code(&outsider), Some(2));
    assert!(stderr(&outsider).contains("not on the signer list"));
    let not_held = sign(&w, "2025-Q1", "审批", "zhangsan");
    assert_eq!(code(&not_held), Some(2));
    assert!(stderr(&not_held).contains("does not hold the role 审批"));
    sign_ok(&w, "2025-Q1", "经办", "zhangsan");
    // 经办 and 复核 (赵六) approved, 审批 refused twice: still a proposal.
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert!(w.committed().is_empty());
    assert_eq!(head(&w), None);
}

#[test]
fn a_passphrase_protected_key_signs_with_its_passphrase_only() {
    let w = signed_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let args = ["signoff", "job.toml", "--batch", "2025-Q1", "--role", "审批", "--key", "keys/zhaoliu"];
    let wrong = w.run_env(&args, &[("VOUCHER_SETTLE_PASSPHRASE", "wrong")]);
    assert_eq!(code(&wrong), Some(2));
    assert!(stderr(&wrong).contains("wrong passphrase"));
    let none = w.run(&args);
    assert_eq!(code(&none), Some(2), "no terminal, no passphrase");
    w.write("pass.txt", "test-passphrase\n");
    let mut with_file = args.to_vec();
    with_file.extend(["--passphrase-file", "pass.txt"]);
    w.run_ok(&with_file);
    sign_ok(&w, "2025-Q1", "经办", "zhangsan");
    sign_ok(&w, "2025-Q1", "复核", "lisi");
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let m = manifest(&w, "000001_2025-Q1");
    assert_eq!(m["signoff"]["approvals"][2]["signer"], "zhaoliu");
}

/// `ssh-keygen -Y sign` on the signer's own computer; the server never sees
/// the key. Needs ssh-keygen (package openssh-client).
fn ssh_keygen_sign(w: &Workdir, key: &str, file: &str) -> String {
    let key_path = w.path(&format!("keys/{key}"));
    std::fs::set_permissions(&key_path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let copy = w.path(&format!("signing/{key}.txt"));
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(w.path(file), &copy).unwrap();
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", "voucher-settle", "-f"])
        .arg(&key_path)
        .arg(&copy)
        .status()
        .expect("ssh-keygen (openssh-client) is needed by this test: install it");
    assert!(status.success());
    format!("signing/{key}.txt.sig")
}

#[test]
fn a_signature_made_with_ssh_keygen_is_accepted_and_an_older_proposal_s_is_not() {
    let w = signed_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let sig = ssh_keygen_sign(&w, "lisi", &format!("{PROPOSAL}/签批-复核.txt"));
    let args = ["signoff", "job.toml", "--batch", "2025-Q1", "--role", "复核", "--signature", sig.as_str()];
    w.run_ok(&args);
    // Another contract in the export: a new proposal; the signature over
    // the old one does not verify over the new text.
    let mut contracts = w.read("data/2025-Q1/contracts.csv");
    let last = String::from_utf8(contracts.clone()).unwrap().lines().last().unwrap().replacen("C-2025-", "C-2025-9", 1);
    contracts.extend(format!("{last}\n").into_bytes());
    w.write("data/2025-Q1/contracts.csv", contracts);
    let changed = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(code(&changed), Some(2), "signed over the old proposal only: {}", stderr(&changed));
    let again = w.run(&args);
    assert_eq!(code(&again), Some(2));
    assert!(stderr(&again).contains("does not verify"), "{}", stderr(&again));
    assert!(w.committed().is_empty());
}

#[test]
fn a_changed_export_after_signing_commits_nothing() {
    let w = signed_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    let first: serde_json::Value = serde_json::from_slice(&w.read(&format!("{PROPOSAL}/proposal.json"))).unwrap();
    sign_all(&w, "2025-Q1");
    let text = String::from_utf8(w.read("data/2025-Q1/contracts.csv")).unwrap();
    w.write("data/2025-Q1/contracts.csv", text.replacen("10000.00", "9999.00", 1));
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("changed after it was signed"), "{}", stderr(&out));
    assert!(w.committed().is_empty());
    assert_eq!(head(&w), None);
    let second: serde_json::Value = serde_json::from_slice(&w.read(&format!("{PROPOSAL}/proposal.json"))).unwrap();
    assert_ne!(first["proposal_sha256"], second["proposal_sha256"], "a new proposal to sign");
    // The new proposal is the one to sign.
    let new_proposal =
        w.run(&["signoff", "job.toml", "--batch", "2025-Q1", "--role", "经办", "--key", "keys/zhangsan"]);
    assert_eq!(code(&new_proposal), Some(0), "{}", stderr(&new_proposal));
}

#[test]
fn a_batch_committed_in_between_voids_the_signatures() {
    let w = signed_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    sign_all(&w, "2025-Q1");
    // Another batch committed into the store meanwhile (a job without
    // sign-off may, while the store holds no signed batch).
    w.write("data/2025-early/contracts.csv", w.read("data/2025-Q1/contracts.csv"));
    w.write("plain.toml", JOB);
    w.run_ok(&["run", "plain.toml", "--batch", "2025-early", "--cutoff", "2025-02-15"]);
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert_eq!(w.committed(), ["000001_2025-early"]);
    let signing = sign(&w, "2025-Q1", "经办", "zhangsan");
    assert_eq!(code(&signing), Some(0), "the new proposal: {}", stderr(&signing));
}

#[test]
fn a_rejection_stops_the_proposal_until_the_inputs_change() {
    let w = signed_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    sign_ok(&w, "2025-Q1", "经办", "zhangsan");
    let reject = w.run(&[
        "signoff",
        "job.toml",
        "--batch",
        "2025-Q1",
        "--role",
        "复核",
        "--key",
        "keys/lisi",
        "--reject",
        "--reason",
        "合同 C-2025-0003 缺验收单",
    ]);
    assert_eq!(code(&reject), Some(0), "{}", stderr(&reject));
    sign_ok(&w, "2025-Q1", "审批", "wangwu");
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("合同 C-2025-0003 缺验收单") && stderr(&out).contains("李四"), "{}", stderr(&out));
    assert!(w.committed().is_empty());
}

#[test]
fn a_changed_signer_list_needs_an_approver_s_signature() {
    let w = signed_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    sign_all(&w, "2025-Q1");
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w.write(
        "data/2025-Q2/contracts.csv",
        std::fs::read(repo().join("fixtures/example-2025/2025-Q2/contracts.csv")).unwrap(),
    );
    // 李四 also 审批 now: the operator cannot make that so alone.
    let list = String::from_utf8(w.read("signers.toml")).unwrap();
    let changed = list.replacen("roles = [\"复核\"]", "roles = [\"复核\", \"审批\"]", 1);
    assert_ne!(changed, list);
    w.write("signers.toml", &changed);
    let refused = w.run(&["run", "job.toml", "--batch", "2025-Q2"]);
    assert_eq!(code(&refused), Some(2));
    assert!(stderr(&refused).contains("signer list changed"), "{}", stderr(&refused));
    let by_clerk = w.run(&["signoff", "job.toml", "--signers", "--key", "keys/zhangsan"]);
    assert_eq!(code(&by_clerk), Some(2), "经办 cannot authorise it");
    let by_new_role = w.run(&["signoff", "job.toml", "--signers", "--key", "keys/lisi"]);
    assert_eq!(code(&by_new_role), Some(2), "a role the new list gives does not count");
    w.run_ok(&["signoff", "job.toml", "--signers", "--key", "keys/wangwu"]);
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    sign_all(&w, "2025-Q2");
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q2"]);
    assert_eq!(w.committed(), ["000001_2025-Q1", "000002_2025-Q2"]);
    let m = manifest(&w, "000002_2025-Q2");
    assert_eq!(m["signoff"]["signers_authorized"]["signer"], "wangwu");
    let verified = w.run_ok(&["verify", "ledger"]);
    assert!(
        verified.contains("签批人名单变更 signer list changed") && verified.contains("王五（wangwu）"),
        "{verified}"
    );
}

#[test]
fn an_edited_stored_signature_fails_verify_even_with_the_chain_rewritten() {
    let w = signed_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    sign_all(&w, "2025-Q1");
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    w.run_ok(&["verify", "ledger"]);
    let path = "ledger/batches/000001_2025-Q1/manifest.json";
    let mut m = manifest(&w, "000001_2025-Q1");
    // 审批's signature replaced by 复核's: a valid signature, by a listed
    // key, over another text.
    m["signoff"]["approvals"][2]["signature"] = m["signoff"]["approvals"][1]["signature"].clone();
    let mut bytes = serde_json::to_vec_pretty(&m).unwrap();
    bytes.push(b'\n');
    w.write(path, &bytes);
    let out = w.run(&["verify", "ledger"]);
    assert_eq!(code(&out), Some(3), "the chain alone: {}", stderr(&out));
    // Someone rewrites HEAD to the edited manifest too: the signature
    // itself still fails.
    let mut head: serde_json::Value = serde_json::from_slice(&w.read("ledger/HEAD")).unwrap();
    head["manifest_sha256"] = format!("sha256:{}", sha256(&bytes)).into();
    w.write("ledger/HEAD", serde_json::to_vec(&head).unwrap());
    let out = w.run(&["verify", "ledger"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("签批 sign-off"), "{}", stderr(&out));
}

#[test]
fn a_signed_store_refuses_a_job_without_sign_off_and_auto_stops_at_a_proposal() {
    let w = signed_example();
    let auto = w.run_ok(&["run", "job.toml", "--batch", "auto", "--as-of", "2025-07-15"]);
    assert!(auto.contains("2025-Q1") && !auto.contains("2025-Q2"), "stops at the first proposal: {auto}");
    assert!(w.committed().is_empty());
    sign_all(&w, "2025-Q1");
    w.run_ok(&["run", "job.toml", "--batch", "auto", "--as-of", "2025-07-15"]);
    assert_eq!(w.committed(), ["000001_2025-Q1"], "Q1 committed, Q2 proposed");
    assert!(w.path("out/待审批/2025-Q2/proposal.json").exists());
    w.write("plain.toml", JOB);
    let out = w.run(&["run", "plain.toml", "--batch", "2025-Q2"]);
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("[signoff]"), "{}", stderr(&out));
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
    // A dry run still may: it commits nothing.
    w.run_ok(&["run", "plain.toml", "--batch", "2025-Q2", "--dry-run"]);
}

/// Nothing changes for a job without `[signoff]`: no proposal folder, no
/// sign-off in the manifest.
#[test]
fn a_job_without_sign_off_commits_at_once() {
    let w = Workdir::with_example();
    w.run_ok(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(w.committed(), ["000001_2025-Q1"]);
    assert!(!w.path("out/待审批").exists());
    assert!(manifest(&w, "000001_2025-Q1").get("signoff").is_none());
}

/// The proposal folder is checked like the output folder: `待审批` made a
/// link into the ledger store is refused before anything is written.
#[test]
fn a_proposal_folder_through_a_link_into_the_store_is_refused() {
    let w = signed_example();
    std::fs::create_dir_all(w.path("ledger/batches")).unwrap();
    std::fs::create_dir_all(w.path("out")).unwrap();
    std::os::unix::fs::symlink(w.path("ledger/batches"), w.path("out/待审批")).unwrap();
    let out = w.run(&["run", "job.toml", "--batch", "2025-Q1"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("待审批"), "{}", stderr(&out));
    assert!(std::fs::read_dir(w.path("ledger/batches")).unwrap().next().is_none(), "nothing written into the store");
}
