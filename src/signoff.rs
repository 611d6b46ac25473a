//! Sign-off before a commit (经办、复核、审批): the signer list, the SSH
//! signatures that identify a signer by key, the proposal hash that binds
//! what was signed to the batch as it will be committed, and the text a
//! signer approves. The key formats are RustCrypto's `ssh-key` (OpenSSH
//! private keys, plain or passphrase-protected, and `ssh-keygen -Y sign`
//! signatures); none is written by hand here.

use std::path::Path;

use serde::{Deserialize, Serialize};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

use crate::checksum::sha256_hex;
use crate::ledger::{CommittedBatch, Ledger, Manifest, Signature, SignedOff};
use crate::report::Summary;
use crate::schema::files;
use crate::stored::StoredBatch;
use crate::{Error, Result};

/// The namespace every signature is made in (`ssh-keygen -Y sign -n`).
pub const NAMESPACE: &str = "voucher-settle";
/// The role whose signer authorises a change of the signer list.
pub const APPROVER: &str = "审批";

/// One person who may sign, identified by their public key.
#[derive(Debug, Clone)]
pub struct Signer {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub key: PublicKey,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

impl Signer {
    /// Whether the signer holds `role` in the list (else why not).
    pub fn holds(&self, role: &str) -> std::result::Result<(), String> {
        if self.roles.iter().any(|r| r == role) {
            return Ok(());
        }
        Err(format!(
            "{}（{}）不担任 {role}，只担任 {} (signer {} does not hold the role {role})",
            self.name,
            self.id,
            self.roles.join("、"),
            self.id
        ))
    }
}

/// The signer list (`signers.toml`) and its checksum.
#[derive(Debug, Clone)]
pub struct SignerList {
    pub sha256: String,
    pub signers: Vec<Signer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    signer: Vec<RawSigner>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigner {
    id: String,
    name: String,
    roles: Vec<String>,
    key: String,
}

impl SignerList {
    /// Parses a signer list: every signer with an id, a name, a role and an
    /// Ed25519 public key; no id or key twice.
    pub fn parse(bytes: &[u8]) -> std::result::Result<SignerList, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "不是 UTF-8 文本 (not UTF-8 text)".to_string())?;
        let raw: RawList = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut signers: Vec<Signer> = Vec::with_capacity(raw.signer.len());
        for s in raw.signer {
            let signer = signer_of(s)?;
            if signers.iter().any(|o| o.id == signer.id || o.key.key_data() == signer.key.key_data()) {
                return Err(format!(
                    "签批人 {} 的编号或公钥重复 (signer {:?}: id or key listed twice)",
                    signer.id, signer.id
                ));
            }
            signers.push(signer);
        }
        if signers.is_empty() {
            return Err("名单为空 (no [[signer]])".into());
        }
        Ok(SignerList { sha256: sha256_hex(bytes), signers })
    }

    /// Checks an armoured SSH signature over `message` made in
    /// [`NAMESPACE`] and returns its signer; a key not on the list, another
    /// namespace or a signature that does not verify is refused with why.
    pub fn verify(&self, armored: &str, message: &[u8]) -> std::result::Result<&Signer, String> {
        let sig = SshSig::from_pem(armored.trim()).map_err(|e| format!("签名格式无效 (not an SSH signature): {e}"))?;
        if sig.namespace() != NAMESPACE {
            return Err(format!(
                "签名的命名空间为 {:?}，应为 {NAMESPACE} (signature made with -n {:?}; use -n {NAMESPACE})",
                sig.namespace(),
                sig.namespace()
            ));
        }
        let signer = self.signers.iter().find(|s| s.key.key_data() == sig.public_key()).ok_or_else(|| {
            let fingerprint = PublicKey::from(sig.public_key().clone()).fingerprint(HashAlg::Sha256);
            format!("密钥 {fingerprint} 不在签批人名单中 (key {fingerprint} is not on the signer list)")
        })?;
        signer.key.verify(NAMESPACE, message, &sig).map_err(|_| {
            format!(
                "{}（{}）的签名与所签内容不符 (the signature of {} does not verify over what is signed)",
                signer.name, signer.id, signer.id
            )
        })?;
        Ok(signer)
    }
}

fn signer_of(s: RawSigner) -> std::result::Result<Signer, String> {
    let key = PublicKey::from_openssh(s.key.trim()).map_err(|e| {
        format!("签批人 {} 的公钥无效 (signer {:?}: key is not an OpenSSH public key: {e})", s.id, s.id)
    })?;
    if key.algorithm() != ssh_key::Algorithm::Ed25519 {
        return Err(format!("签批人 {} 的公钥须为 ssh-ed25519 (signer {:?}: use an Ed25519 key)", s.id, s.id));
    }
    let roles: Vec<String> = s.roles.iter().map(|r| r.trim().to_string()).collect();
    if s.id.trim().is_empty() || s.name.trim().is_empty() || roles.is_empty() {
        return Err(format!("签批人 {:?}：编号、姓名、角色均不能为空 (id, name and roles are required)", s.id));
    }
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    Ok(Signer { id: s.id.trim().to_string(), name: s.name.trim().to_string(), roles, key, fingerprint })
}

/// Signs `message` with an OpenSSH private key file, as `ssh-keygen -Y
/// sign -n voucher-settle` would (Ed25519 signatures are deterministic:
/// the same armour either way); a protected key needs its passphrase.
pub fn sign(key_file: &Path, passphrase: Option<&str>, message: &[u8]) -> std::result::Result<String, String> {
    let text = std::fs::read(key_file).map_err(|e| format!("{}: {e}", key_file.display()))?;
    let key = PrivateKey::from_openssh(&text)
        .map_err(|e| format!("{}: 不是 OpenSSH 私钥 (not an OpenSSH private key): {e}", key_file.display()))?;
    let key = match (key.is_encrypted(), passphrase) {
        (false, _) => key,
        (true, Some(passphrase)) => {
            key.decrypt(passphrase).map_err(|_| format!("{}: 口令不对 (wrong passphrase)", key_file.display()))?
        }
        (true, None) => {
            return Err(format!(
                "{}: 私钥有口令保护，请输入口令 (the key is passphrase-protected: give its passphrase)",
                key_file.display()
            ));
        }
    };
    let sig = key.sign(NAMESPACE, HashAlg::Sha512, message).map_err(|e| format!("{}: {e}", key_file.display()))?;
    sig.to_pem(LineEnding::LF).map_err(|e| e.to_string())
}

/// Whether an output is covered by the proposal hash: every output but
/// those rendered again at commit — the workbooks and the page (they show
/// the approvals), the Parquet files (their footer says committed; their
/// rows are their CSV twins', which are covered) and the spot-check sample
/// (drawn at commit, seeded by the 审批 signature).
pub fn covered(name: &str) -> bool {
    let again = name.ends_with(".xlsx") || name.ends_with(".html") || name.ends_with(".parquet");
    !(again || name.starts_with("sample."))
}

/// The proposal hash: SHA-256 over the batch id, cutoff, ledger format,
/// tool version, the store's HEAD the batch follows, the checksum of every
/// input, the policy, the job and the signer list, and of every covered
/// output — one `key value` line each, no timestamps.
pub fn proposal_sha256(m: &Manifest, signers_sha256: &str) -> String {
    let mut text = format!(
        "voucher-settle proposal\nbatch {}\ncutoff {}\nledger_format {}\ntool_version {}\nhead {}\n",
        m.batch_id,
        m.cutoff,
        m.ledger_format,
        m.tool_version,
        m.prev_manifest_sha256.as_deref().unwrap_or("none")
    );
    for input in &m.inputs {
        text.push_str(&format!("input {} {}\n", input.name, input.sha256));
    }
    text.push_str(&format!("policy {}\njob {}\nsigners {signers_sha256}\n", m.policy.sha256, m.job.sha256));
    for output in m.outputs.iter().filter(|o| covered(&o.name)) {
        text.push_str(&format!("output {} {}\n", output.name, output.sha256));
    }
    sha256_hex(text.as_bytes())
}

/// What a signer approves in `role`: the batch and its totals, the
/// proposal hash, in Chinese and English; the file `签批-<role>.txt` of a
/// proposal holds it for `ssh-keygen -Y sign`.
pub fn approval_text(summary: &Summary, role: &str, proposal_sha256: &str) -> String {
    let mut text = statement(summary, proposal_sha256);
    text.push_str(&format!("签批角色 role: {role}\n决定 decision: 同意 approve\n"));
    text
}

/// What a signer rejecting the proposal in `role` signs, with the reason.
pub fn rejection_text(summary: &Summary, role: &str, proposal_sha256: &str, reason: &str) -> String {
    let mut text = statement(summary, proposal_sha256);
    let reason = reason.replace(['\r', '\n'], " ");
    text.push_str(&format!("签批角色 role: {role}\n决定 decision: 拒绝 reject\n理由 reason: {reason}\n"));
    text
}

fn statement(s: &Summary, proposal_sha256: &str) -> String {
    let money = s.money.as_ref();
    let figure = |f: fn(&crate::report::figures::MoneyFigures) -> &str| money.map_or("", f).to_string();
    let paid = money.and_then(|m| m.owed.as_ref()).map_or_else(|| figure(|m| &m.to_pay), |o| o.paid.clone());
    format!(
        "服务券兑付结算 签批单 voucher-settle sign-off\n\
         批次 batch: {}\n截止日期 cutoff: {}\n合同行数 contract rows: {}\n核定 approved: {}\n\
         冲回追回 taken back: {}\n净额 net: {}\n本批实付 paid: {}\n付款服务商 providers paid: {}\n\
         提案哈希 proposal hash: {proposal_sha256}\n",
        s.batch_id,
        s.cutoff,
        s.contract_rows_in,
        figure(|m| &m.approved),
        figure(|m| &m.taken_back),
        figure(|m| &m.net),
        paid,
        s.providers_paid,
    )
}

/// What is wrong with a committed batch's sign-off, checked against the
/// signer list in force for it and the summary it committed: each role
/// approved once, by a signer of the list holding that role, no signer in
/// two roles, every signature valid over its text.
pub fn check_approvals(signed: &SignedOff, list: &SignerList, summary: &Summary) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for role in &signed.roles {
        let of_role: Vec<&Signature> = signed.approvals.iter().filter(|a| &a.role == role).collect();
        let [approval] = of_role[..] else {
            problems.push(format!(
                "角色 {role} 的批准有 {} 个 (role {role}: {} approvals, one needed)",
                of_role.len(),
                of_role.len()
            ));
            continue;
        };
        let text = approval_text(summary, role, &signed.proposal_sha256);
        match check_one(approval, list, text.as_bytes()) {
            Err(why) => problems.push(format!("{role}: {why}")),
            Ok(signer) if seen.contains(&signer.id.as_str()) => {
                problems.push(format!("签批人 {} 签了两个角色 (signer {} signed in two roles)", signer.id, signer.id));
            }
            Ok(signer) => seen.push(&signer.id),
        }
    }
    if signed.approvals.len() != signed.roles.len() {
        problems.push("批准数与角色数不符 (approvals do not match the roles)".into());
    }
    problems
}

/// Checks one recorded signature: valid over `message`, by a signer of the
/// list who holds its role, and recorded under that signer's id.
pub fn check_one<'l>(s: &Signature, list: &'l SignerList, message: &[u8]) -> std::result::Result<&'l Signer, String> {
    let signer = list.verify(&s.signature, message)?;
    if signer.id != s.signer || signer.fingerprint != s.fingerprint {
        return Err(format!(
            "记录的签批人 {} 与签名的密钥 {} 不符 (recorded signer differs from the key)",
            s.signer, signer.id
        ));
    }
    signer.holds(&s.role)?;
    Ok(signer)
}

/// The signer list a job's batch is signed against: the job's
/// `signers.toml` once adopted — the first signed batch of the store adopts
/// it; after that a changed file counts only with the 审批 signature of a
/// signer of the list in force, recorded by `signoff --signers`.
#[derive(Debug, Clone)]
pub struct Adopted {
    pub list: SignerList,
    pub path: std::path::PathBuf,
    /// The list in force before, when this one replaces it, and the 审批
    /// signature that authorised the change.
    pub authorized: Option<Signature>,
}

/// The signer list in force after the committed batches: the last signed
/// batch's (none before the first signed batch).
pub fn list_in_force(ledger: &Ledger, committed: &[CommittedBatch]) -> Result<Option<SignerList>> {
    let Some(signed) = committed.iter().rev().find_map(|b| b.manifest.signoff.as_ref()) else { return Ok(None) };
    let bytes = ledger
        .read_object(&signed.signers.sha256)
        .map_err(|e| Error::Input(format!("账本不一致 (ledger inconsistent): {e}")))?;
    SignerList::parse(&bytes)
        .map(Some)
        .map_err(|e| Error::Input(format!("账本中的签批人名单无效 (stored signer list invalid): {e}")))
}

/// Reads and parses a signer list file (exit 2 naming it).
pub fn read_list(path: &Path) -> Result<(SignerList, Vec<u8>)> {
    crate::paths::refuse_irregular(path)?;
    let bytes = std::fs::read(path).map_err(|e| Error::unreadable(path, e))?;
    let list = SignerList::parse(&bytes)
        .map_err(|e| Error::Input(format!("{}: 签批人名单无效 (invalid signer list): {e}", path.display())))?;
    Ok((list, bytes))
}

/// The job's signer list, if it may be used: the one in force, the first
/// one, or a change authorised by a 审批 signer of the one in force.
pub fn adopt(ledger: &Ledger, committed: &[CommittedBatch], path: &Path) -> Result<Adopted> {
    let (list, bytes) = read_list(path)?;
    let adopted = |authorized| Adopted { list: list.clone(), path: path.to_path_buf(), authorized };
    let Some(in_force) = list_in_force(ledger, committed)? else { return Ok(adopted(None)) };
    if in_force.sha256 == list.sha256 {
        return Ok(adopted(None));
    }
    let authorization = ledger.list_authorization(&list.sha256);
    let checked = authorization.as_ref().map(|a| check_list_change(a, &in_force, &bytes));
    match (authorization, checked) {
        (Some(a), Some(Ok(()))) => Ok(adopted(Some(a))),
        (_, why) => Err(Error::Input(format!(
            "{}: 签批人名单已更改，须由现行名单中的审批人签批后生效：voucher-settle signoff 作业 --signers --key 私钥 \
             (the signer list changed ({}); it takes effect once a 审批 signer of the list in force ({}) has signed it: \
             `voucher-settle signoff JOB --signers --key KEYFILE`){}",
            path.display(),
            list.sha256,
            in_force.sha256,
            why.and_then(std::result::Result::err).map_or_else(String::new, |e| format!("; {e}"))
        ))),
    }
}

/// A list change is authorised by a signer of the list in force holding
/// 审批, over the new list's bytes.
pub fn check_list_change(
    authorization: &Signature,
    in_force: &SignerList,
    new_bytes: &[u8],
) -> std::result::Result<(), String> {
    if authorization.role != APPROVER {
        return Err(format!("名单变更须由{APPROVER}签批 (a list change is signed in the role {APPROVER})"));
    }
    check_one(authorization, in_force, new_bytes).map(|_| ())
}

/// What the recorded signatures say of one proposal.
#[derive(Debug, Default)]
pub struct Standing {
    /// One valid approval per role, from distinct signers, in role order.
    pub approvals: Vec<Signature>,
    /// A valid rejection of this proposal, if any.
    pub rejection: Option<Signature>,
    /// The roles without a valid approval.
    pub missing: Vec<String>,
    /// Signatures recorded for the batch over other proposals (the inputs
    /// or the store changed since they were made): kept, not used.
    pub stale: usize,
}

/// Checks every recorded signature of the batch against the signer list
/// and the text of this proposal; only valid ones count.
pub fn standing(
    records: &[(String, Signature)],
    proposal_sha256: &str,
    roles: &[String],
    list: &SignerList,
    summary: &Summary,
) -> Standing {
    let mut standing =
        Standing { stale: records.iter().filter(|(h, _)| h != proposal_sha256).count(), ..Standing::default() };
    let current: Vec<&Signature> = records.iter().filter(|(h, _)| h == proposal_sha256).map(|(_, s)| s).collect();
    for s in current.iter().filter(|s| s.decision == "reject") {
        let text = rejection_text(summary, &s.role, proposal_sha256, s.reason.as_deref().unwrap_or(""));
        if check_one(s, list, text.as_bytes()).is_ok() {
            standing.rejection = Some((*s).clone());
        }
    }
    let mut signers: Vec<&str> = Vec::new();
    for role in roles {
        let valid = current.iter().filter(|s| &s.role == role && s.decision == "approve").find(|s| {
            let text = approval_text(summary, role, proposal_sha256);
            check_one(s, list, text.as_bytes()).is_ok() && !signers.contains(&s.signer.as_str())
        });
        match valid {
            Some(s) => {
                signers.push(&s.signer);
                standing.approvals.push((*s).clone());
            }
            None => standing.missing.push(role.clone()),
        }
    }
    standing
}

/// `proposal.json`: the proposal hash and everything it is computed from,
/// so that `signoff` can tell whether the inputs still match it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposalRecord {
    pub proposal_sha256: String,
    pub roles: Vec<String>,
    pub signers_sha256: String,
    pub manifest: Manifest,
}

/// The file of a proposal that records its hash and ingredients.
pub const PROPOSAL_FILE: &str = "proposal.json";

/// The text file a signer in `role` approves.
pub fn text_file(role: &str) -> String {
    format!("签批-{role}.txt")
}

/// The documents' stamp of a batch committed with these approvals.
pub fn stamp_of(signed: &SignedOff) -> crate::report::SignoffStamp {
    let approvals = signed
        .approvals
        .iter()
        .map(|s| crate::report::ApprovalLine {
            role: s.role.clone(),
            name: s.name.clone(),
            signer: s.signer.clone(),
            signed_at: s.signed_at.clone(),
            fingerprint: s.fingerprint.clone(),
            signature: s.signature.clone(),
        })
        .collect();
    crate::report::SignoffStamp::Approved {
        proposal_sha256: signed.proposal_sha256.clone(),
        signers_sha256: signed.signers.sha256.clone(),
        approvals,
    }
}

/// What `verify` proves of the sign-off of the committed batch at `index`:
/// its proposal hash recomputed from its manifest, its signer list (the
/// one in force, or a change signed by a 审批 signer of the list before),
/// each approval valid over its text from the stored summary, and no batch
/// after a signed one committed without sign-off. Returns the lines to
/// print, or what is wrong.
pub fn verify_batch(
    ledger: &Ledger,
    batches: &[CommittedBatch],
    index: usize,
) -> std::result::Result<Vec<String>, String> {
    let batch = &batches[index];
    let m = &batch.manifest;
    let before = batches[..index].iter().rev().find_map(|b| b.manifest.signoff.as_ref());
    let Some(signed) = &m.signoff else {
        return match before {
            Some(_) => Err("签批过的账本中此批次未经签批 (committed without sign-off after a signed batch)".into()),
            None => Ok(Vec::new()),
        };
    };
    let list_of = |sha: &str| -> std::result::Result<(SignerList, Vec<u8>), String> {
        let bytes = ledger.read_object(sha)?;
        Ok((SignerList::parse(&bytes).map_err(|e| format!("signer list {sha}: {e}"))?, bytes))
    };
    let (list, bytes) = list_of(&signed.signers.sha256)?;
    let mut lines = list_change(before, signed, &bytes, &list_of)?;
    if proposal_sha256(m, &list.sha256) != signed.proposal_sha256 {
        return Err(format!(
            "提案哈希与清单不符 (proposal hash {} does not match the manifest)",
            signed.proposal_sha256
        ));
    }
    let summary_bytes = StoredBatch::new(ledger, batch).bytes(files::SUMMARY).map_err(|e| e.to_string())?;
    let summary: Summary = serde_json::from_slice(&summary_bytes).map_err(|e| format!("{}: {e}", files::SUMMARY))?;
    let problems = check_approvals(signed, &list, &summary);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    lines.extend(
        signed
            .approvals
            .iter()
            .map(|a| format!("    签批 {} {}（{}）{} {}", a.role, a.name, a.signer, a.signed_at, a.fingerprint)),
    );
    Ok(lines)
}

/// Reads a stored signer list by its checksum (with its bytes).
type ListOf<'a> = dyn Fn(&str) -> std::result::Result<(SignerList, Vec<u8>), String> + 'a;

/// A batch's signer list against the one in force before it: the same, the
/// first, or a change signed by a 审批 signer of the one before.
fn list_change(
    before: Option<&SignedOff>,
    signed: &SignedOff,
    bytes: &[u8],
    list_of: &ListOf<'_>,
) -> std::result::Result<Vec<String>, String> {
    let sha = &signed.signers.sha256;
    let Some(before) = before else { return Ok(vec![format!("    签批人名单采用 signer list adopted: {sha}")]) };
    if &before.signers.sha256 == sha {
        return Ok(Vec::new());
    }
    let (in_force, _) = list_of(&before.signers.sha256)?;
    let authorization = signed
        .signers_authorized
        .as_ref()
        .ok_or_else(|| format!("签批人名单更改未经审批签批 (signer list changed to {sha} without a 审批 signature)"))?;
    check_list_change(authorization, &in_force, bytes).map_err(|e| format!("signer list change to {sha}: {e}"))?;
    Ok(vec![format!(
        "    签批人名单变更 signer list changed: {} → {sha}，由 {}（{}）{} 签批 (authorised)",
        before.signers.sha256, authorization.name, authorization.signer, authorization.signed_at
    )])
}

/// Who signed a committed batch off, one phrase (empty when its job had no
/// sign-off): `经办 张三（zhangsan）、复核 …`.
pub fn signed_by(m: &Manifest) -> String {
    let Some(signed) = &m.signoff else { return String::new() };
    signed.approvals.iter().map(|a| format!("{} {}（{}）", a.role, a.name, a.signer)).collect::<Vec<_>>().join("、")
}
