//! `voucher-settle signoff JOB --batch ID --role ROLE --key KEYFILE`: sign
//! a batch's proposal (approve, or reject with a reason) — or, with
//! `--signers`, a changed signer list — and record the signature in the
//! ledger store. No committed file changes; the next `run` commits the
//! batch once every role has approved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::checksum::{sha256_file, sha256_hex};
use crate::job::{BatchRequest, JobSpec, SignoffSpec, ledger_and_signoff, load_job};
use crate::ledger::{Ledger, Signature};
use crate::report::Summary;
use crate::rules::codes::Source;
use crate::signoff::{
    self, APPROVER, PROPOSAL_FILE, ProposalRecord, SignerList, approval_text, proposal_sha256, rejection_text, standing,
};
use crate::{Error, Result, TOOL_VERSION};

/// 签批：同意或拒绝一个待审批批次，或签批更改后的签批人名单 Approve or reject a batch awaiting sign-off, or sign a changed signer list.
#[derive(Debug, Clone, clap::Args)]
pub struct SignoffArgs {
    /// 作业文件（含 [signoff]） The job file (with [signoff]).
    pub job: PathBuf,
    /// 待审批的批次号 The batch awaiting sign-off.
    #[arg(long, required_unless_present = "signers")]
    pub batch: Option<String>,
    /// 签批角色，如 经办、复核、审批 The role signed in (e.g. 经办, 复核, 审批).
    #[arg(long, required_unless_present = "signers")]
    pub role: Option<String>,
    /// 签批人的 OpenSSH Ed25519 私钥文件 The signer's OpenSSH Ed25519 private key file.
    #[arg(long, required_unless_present = "signature", conflicts_with = "signature")]
    pub key: Option<PathBuf>,
    /// 在别处用 `ssh-keygen -Y sign -n voucher-settle` 对签批文本做出的签名 A signature made elsewhere with `ssh-keygen -Y sign -n voucher-settle` over the text to sign.
    #[arg(long)]
    pub signature: Option<PathBuf>,
    /// 拒绝（须写 --reason，须用 --key） Reject the proposal (needs --reason and --key).
    #[arg(long, requires = "reason", conflicts_with = "signature")]
    pub reject: bool,
    /// 拒绝理由 Why the proposal is rejected.
    #[arg(long)]
    pub reason: Option<String>,
    /// 签批更改后的签批人名单（审批人） Sign the job's changed signer list (a 审批 signer of the list in force).
    #[arg(long, conflicts_with_all = ["batch", "role", "reject"])]
    pub signers: bool,
    /// 私钥口令所在文件（否则读环境变量 VOUCHER_SETTLE_PASSPHRASE，或在终端输入） A file holding the key's passphrase (else $VOUCHER_SETTLE_PASSPHRASE, else asked on the terminal).
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
}

pub fn run(args: &SignoffArgs) -> Result<String> {
    if args.signers {
        return sign_list(args);
    }
    let (batch, role) = (args.batch.clone().unwrap_or_default(), args.role.clone().unwrap_or_default());
    let request = BatchRequest { dry_run: false, id: batch, cutoff: None, as_of: None };
    let job = load_job(&args.job, &request)?;
    let spec = job.signoff.clone().ok_or_else(|| no_signoff(&args.job))?;
    let ledger = Ledger::open(&job.ledger)?;
    let committed = ledger.committed()?;
    if committed.iter().any(|b| b.manifest.batch_id == job.batch.id) {
        return Err(Error::Input(format!(
            "批次 {} 已提交，无需签批 (batch {} is already committed)",
            job.batch.id, job.batch.id
        )));
    }
    let adopted = signoff::adopt(&ledger, &committed, &spec.signers)?;
    let head = committed.last().map(|b| b.manifest_sha256.clone());
    let (record, summary) = current_proposal(&job, &spec, &adopted.list, head.as_deref())?;
    if !record.roles.contains(&role) {
        return Err(Error::Input(format!(
            "角色 {role} 不在 [signoff] roles {:?} 中 (role {role:?} is not one of the job's roles)",
            record.roles
        )));
    }
    let hash = record.proposal_sha256.as_str();
    let message = match (&args.reject, &args.reason) {
        (true, Some(reason)) => rejection_text(&summary, &role, hash, reason),
        _ => approval_text(&summary, &role, hash),
    };
    let armored = signature_of(args, message.as_bytes())?;
    let signature = recorded(&adopted.list, &role, armored, message.as_bytes(), args)?;
    let mut records = ledger.proposal_signatures(&job.batch.id)?;
    refuse_second_role(&records, hash, &signature)?;
    ledger.add_proposal_signature(&job.batch.id, hash, &signature)?;
    records.push((hash.to_string(), signature.clone()));
    // What `run` will find: the same check of every recorded signature.
    let missing = standing(&records, hash, &record.roles, &adopted.list, &summary).missing;
    let decided = if args.reject { "拒绝 rejected" } else { "同意 approved" };
    Ok(format!(
        "{message}\n已记录 recorded: {}（{}）{decided} as {role}, {}\n尚缺 still to sign: {}",
        signature.name,
        signature.signer,
        signature.fingerprint,
        if missing.is_empty() {
            "无 none — run 即可提交 (run commits it)".to_string()
        } else {
            missing.join("、")
        }
    ))
}

fn no_signoff(job: &Path) -> Error {
    Error::Input(format!("{}: 作业文件没有 [signoff]，无需签批 (the job has no [signoff])", job.display()))
}

/// The batch's proposal as `run` wrote it, checked against the inputs, the
/// store and the signer list as they are now; any change is exit 2 (run
/// again to propose anew), and so is a proposal folder altered since.
fn current_proposal(
    job: &JobSpec,
    spec: &SignoffSpec,
    list: &SignerList,
    head: Option<&str>,
) -> Result<(ProposalRecord, Summary)> {
    let folder = job.proposal_output()?;
    let read = |name: &str| std::fs::read(folder.join(name)).map_err(|e| Error::unreadable(&folder.join(name), e));
    let bytes = read(PROPOSAL_FILE).map_err(|e| {
        Error::Input(format!(
            "批次 {} 尚无提案，请先运行 run (no proposal yet: run the batch first): {e}",
            job.batch.id
        ))
    })?;
    let record: ProposalRecord = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Input(format!("{}: {e}", folder.join(PROPOSAL_FILE).display())))?;
    let m = &record.manifest;
    let mut changed = Vec::new();
    if proposal_sha256(m, &record.signers_sha256) != record.proposal_sha256 || m.batch_id != job.batch.id {
        changed.push("proposal.json".to_string());
    }
    if m.prev_manifest_sha256.as_deref() != head {
        changed.push("账本 HEAD (a batch was committed in between)".into());
    }
    if record.signers_sha256 != list.sha256 || record.roles != spec.roles {
        changed.push("签批人名单或角色 signers / roles".into());
    }
    if m.tool_version != TOOL_VERSION {
        changed.push(format!("工具版本 tool version {}", m.tool_version));
    }
    changed.extend(changed_files(job, &record));
    if !changed.is_empty() {
        return Err(Error::Input(format!(
            "批次 {} 的提案与现在的输入不符：{}；请重新运行 run 生成新提案 \
             (the proposal of batch {} no longer matches: {}; run the batch again to propose it anew)",
            job.batch.id,
            changed.join("、"),
            job.batch.id,
            changed.join(", ")
        )));
    }
    let summary_bytes = read("summary.json")?;
    let listed = m.outputs.iter().find(|o| o.name == "summary.json").map(|o| o.sha256.as_str());
    if listed != Some(sha256_hex(&summary_bytes).as_str()) {
        return Err(Error::Input(format!(
            "{}: 提案文件已被改动 (the proposal's summary.json was altered)",
            folder.display()
        )));
    }
    let summary = serde_json::from_slice(&summary_bytes).map_err(|e| Error::Input(format!("summary.json: {e}")))?;
    Ok((record, summary))
}

/// The inputs, policy and job file whose checksum differs from the
/// proposal's.
fn changed_files(job: &JobSpec, record: &ProposalRecord) -> Vec<String> {
    let mut paths: BTreeMap<&str, &Path> = Source::ALL.iter().map(|&s| (s.as_str(), job.input(s))).collect();
    paths.extend(job.optional_inputs().map(|(s, p, _)| (s.as_str(), p.as_path())));
    let m = &record.manifest;
    let mut files: Vec<(String, &Path, &str)> = vec![("policy".into(), &job.policy, m.policy.sha256.as_str())];
    for input in &m.inputs {
        let path = paths.get(input.name.as_str()).copied().unwrap_or(Path::new(""));
        files.push((input.name.clone(), path, &input.sha256));
    }
    let mut changed: Vec<String> = files
        .into_iter()
        .filter(|(_, path, sha)| sha256_file(path).map_or(true, |actual| actual != *sha))
        .map(|(name, path, _)| format!("{name} {}", path.display()))
        .collect();
    if job.job_sha256 != m.job.sha256 {
        changed.push(format!("job {}", job.job_path.display()));
    }
    changed
}

/// The armoured signature: made here with the key, or read from the file
/// `ssh-keygen -Y sign` wrote.
fn signature_of(args: &SignoffArgs, message: &[u8]) -> Result<String> {
    if let Some(file) = &args.signature {
        return std::fs::read_to_string(file).map_err(|e| Error::unreadable(file, e));
    }
    let key =
        args.key.as_ref().ok_or_else(|| Error::Input("--key 或 --signature (give --key or --signature)".into()))?;
    let sign = |passphrase: Option<&str>| signoff::sign(key, passphrase, message);
    match sign(None) {
        Err(e) if e.contains("passphrase-protected") => {
            let passphrase = passphrase(args)?;
            sign(Some(&passphrase)).map_err(Error::Input)
        }
        other => other.map_err(Error::Input),
    }
}

/// The key's passphrase: from --passphrase-file, $VOUCHER_SETTLE_PASSPHRASE,
/// or typed on the terminal without echo.
fn passphrase(args: &SignoffArgs) -> Result<String> {
    if let Some(file) = &args.passphrase_file {
        let text = std::fs::read_to_string(file).map_err(|e| Error::unreadable(file, e))?;
        return Ok(text.trim_end_matches(['\r', '\n']).to_string());
    }
    if let Ok(text) = std::env::var("VOUCHER_SETTLE_PASSPHRASE") {
        return Ok(text);
    }
    read_hidden("私钥口令 passphrase: ").ok_or_else(|| {
        Error::Input("私钥有口令保护：请在终端输入，或用 --passphrase-file (the key is passphrase-protected: type it on a terminal, or give --passphrase-file)".into())
    })
}

/// A line typed on the terminal with echo off; none without a terminal.
fn read_hidden(prompt: &str) -> Option<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return None;
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    // SAFETY: termios calls on the process's own standard input, restored below.
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        (libc::tcgetattr(0, &mut t) == 0).then(|| {
            let mut quiet = t;
            quiet.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &quiet);
            t
        })
    };
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if let Some(t) = saved {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
    }
    eprintln!();
    read.ok().map(|_| line.trim_end_matches(['\r', '\n']).to_string())
}

/// The signature as the store records it, once it verifies over the
/// message and its signer holds the role (else exit 2 with why).
fn recorded(list: &SignerList, role: &str, armored: String, message: &[u8], args: &SignoffArgs) -> Result<Signature> {
    let signer = list.verify(&armored, message).map_err(Error::Input)?;
    signer.holds(role).map_err(Error::Input)?;
    Ok(Signature {
        role: role.to_string(),
        signer: signer.id.clone(),
        name: signer.name.clone(),
        fingerprint: signer.fingerprint.clone(),
        signed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        decision: if args.reject { "reject" } else { "approve" }.to_string(),
        reason: args.reject.then(|| args.reason.clone().unwrap_or_default()),
        signature: armored,
    })
}

/// One person signs a proposal in one role only.
fn refuse_second_role(records: &[(String, Signature)], hash: &str, signature: &Signature) -> Result<()> {
    let other = records.iter().find(|(h, s)| h == hash && s.signer == signature.signer && s.role != signature.role);
    match other {
        Some((_, s)) => Err(Error::Input(format!(
            "{}（{}）已以 {} 签批本提案，不能再签 {} (signer {} already signed this proposal as {}; one person, one role)",
            s.name, s.signer, s.role, signature.role, s.signer, s.role
        ))),
        None => Ok(()),
    }
}

/// `--signers`: a 审批 signer of the list in force signs the job's changed
/// signer list; the next run adopts it.
fn sign_list(args: &SignoffArgs) -> Result<String> {
    let (ledger_path, spec) = ledger_and_signoff(&args.job)?;
    let spec = spec.ok_or_else(|| no_signoff(&args.job))?;
    let ledger = Ledger::open(&ledger_path)?;
    let committed = ledger.committed()?;
    let in_force = signoff::list_in_force(&ledger, &committed)?.ok_or_else(|| {
        Error::Input("账本尚无签批人名单：首个签批批次提交时采用作业的名单，无需另签 (no signer list in force yet: the first signed batch adopts the job's)".into())
    })?;
    let (list, bytes) = signoff::read_list(&spec.signers)?;
    if list.sha256 == in_force.sha256 {
        return Err(Error::Input(format!(
            "{}: 名单未更改，无需签批 (the list is the one in force)",
            spec.signers.display()
        )));
    }
    let armored = signature_of(args, &bytes)?;
    let signature = recorded(&in_force, APPROVER, armored, &bytes, args)?;
    ledger.add_list_authorization(&list.sha256, &signature)?;
    Ok(format!(
        "已记录 recorded: {}（{}）以{APPROVER}签批新名单 {} (signed the new signer list; the next run adopts it)",
        signature.name, signature.signer, list.sha256
    ))
}
