//! `run` of a job with `[signoff]`: the batch is settled as always, then
//! either committed — every role approved, by distinct signers of the
//! adopted list, over the proposal hash the settlement has now — or
//! written as a proposal awaiting sign-off (待审批), committing nothing.

use std::path::PathBuf;

use super::{Plan, RunReport};
use crate::batch::{Computed, render_checksums};
use crate::job::{JobSpec, SignoffSpec};
use crate::ledger::{CommittedBatch, FileEntry, Ledger, Manifest, Signature, SignedOff};
use crate::output::Publication;
use crate::report::{self, SignoffStamp};
use crate::signoff::{
    self, Adopted, PROPOSAL_FILE, ProposalRecord, approval_text, covered, proposal_sha256, standing, text_file,
};
use crate::{Error, Result};

/// A job's sign-off as this run finds it: the signer list it may use and
/// the signatures recorded for the batch.
pub(crate) struct Signoff {
    pub(crate) adopted: Adopted,
    roles: Vec<String>,
    records: Vec<(String, Signature)>,
    output: PathBuf,
    proposal_output: PathBuf,
}

/// What a proposal writes beside its reports (`proposal.json` and one
/// text per role to sign), and what the run says.
pub(crate) struct Proposal {
    record: ProposalRecord,
    texts: Vec<(String, String)>,
    missing: Vec<String>,
    /// Signatures were made over an earlier proposal of this batch and
    /// none over this one: the inputs or the store changed after signing.
    changed_after_signing: bool,
}

impl Signoff {
    pub(crate) fn load(
        ledger: &Ledger,
        committed: &[CommittedBatch],
        job: &JobSpec,
        spec: &SignoffSpec,
    ) -> Result<Signoff> {
        let adopted = signoff::adopt(ledger, committed, &spec.signers)?;
        Ok(Signoff {
            adopted,
            roles: spec.roles.clone(),
            records: ledger.proposal_signatures(&job.batch.id)?,
            output: job.output.clone(),
            proposal_output: job.proposal_output()?,
        })
    }

    /// Computes the proposal hash of the settled batch and decides: commit
    /// with the approvals over it, or propose it. A valid rejection of this
    /// very proposal stops the run (exit 2).
    pub(crate) fn plan(
        &self,
        computed: &mut Computed,
        manifest: impl FnOnce(Vec<FileEntry>) -> Manifest,
    ) -> Result<Plan> {
        let covered_files = render_checksums(computed, covered)?;
        // The sample is drawn with the stamp decided below, never before.
        computed.sample = std::sync::OnceLock::new();
        let manifest = manifest(covered_files.iter().map(FileEntry::from).collect());
        let list = &self.adopted.list;
        let hash = proposal_sha256(&manifest, &list.sha256);
        let standing = standing(&self.records, &hash, &self.roles, list, &computed.summary);
        if let Some(r) = &standing.rejection {
            return Err(rejected(&manifest.batch_id, r));
        }
        if standing.missing.is_empty() {
            let signed = SignedOff {
                proposal_sha256: hash,
                roles: self.roles.clone(),
                signers: FileEntry {
                    name: "signers".into(),
                    path: Some(self.adopted.path.display().to_string()),
                    sha256: list.sha256.clone(),
                    rows: None,
                },
                signers_authorized: self.adopted.authorized.clone(),
                approvals: standing.approvals,
            };
            computed.signoff = Some(signoff::stamp_of(&signed));
            return Ok(Plan { output: self.output.clone(), commit: true, signed: Some(signed), proposal: None });
        }
        computed.signoff = Some(SignoffStamp::Proposal {
            proposal_sha256: hash.clone(),
            signers_sha256: list.sha256.clone(),
            roles: self.roles.clone(),
        });
        let texts = self.roles.iter().map(|r| (text_file(r), approval_text(&computed.summary, r, &hash))).collect();
        let record = ProposalRecord {
            proposal_sha256: hash,
            roles: self.roles.clone(),
            signers_sha256: list.sha256.clone(),
            manifest,
        };
        let changed_after_signing = standing.stale > 0 && standing.approvals.is_empty();
        let proposal = Proposal { record, texts, missing: standing.missing, changed_after_signing };
        Ok(Plan { output: self.proposal_output.clone(), commit: false, signed: None, proposal: Some(proposal) })
    }
}

impl Proposal {
    /// The files a proposal writes beside the reports.
    pub(crate) fn file_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(PROPOSAL_FILE).chain(self.texts.iter().map(|(name, _)| name.as_str()))
    }
}

fn rejected(batch_id: &str, r: &Signature) -> Error {
    Error::Input(format!(
        "批次 {batch_id} 的本提案已被 {}（{}，{}）拒绝：{}；须以更正后的输入重新提出 \
         (this proposal of batch {batch_id} was rejected by {} as {}: {}; propose it again from changed inputs)",
        r.name,
        r.signer,
        r.role,
        r.reason.as_deref().unwrap_or(""),
        r.signer,
        r.role,
        r.reason.as_deref().unwrap_or("")
    ))
}

/// Writes the proposal's own files beside its reports and publishes them;
/// the run commits nothing. A batch whose signatures were all made over an
/// earlier proposal is exit 2 (the inputs or the store changed after
/// signing; those signatures are kept but not used), its new proposal
/// written for signing.
pub(crate) fn propose(
    job: &JobSpec,
    computed: Computed,
    (publication, output): (&Publication, PathBuf),
    proposal: Proposal,
) -> Result<RunReport> {
    let mut record = serde_json::to_vec_pretty(&proposal.record).map_err(|e| Error::Internal(e.to_string()))?;
    record.push(b'\n');
    let written = std::iter::once((PROPOSAL_FILE, record))
        .chain(proposal.texts.iter().map(|(name, text)| (name.as_str(), text.as_bytes().to_vec())))
        .try_for_each(|(name, bytes)| publication.write(name, &bytes));
    written.and_then(|()| publication.publish().map(|_| ())).inspect_err(|_| publication.discard())?;
    let (id, hash) = (job.batch.id.as_str(), proposal.record.proposal_sha256.as_str());
    if proposal.changed_after_signing {
        return Err(Error::Input(format!(
            "批次 {id} 签批后输入或账本已变，签名保留但不采用，未提交；新提案已写入 {}，须重新签批 \
             (batch {id} changed after it was signed — its inputs, or a batch committed in between; the signatures \
             are kept but not used, nothing committed; the new proposal {hash} is in {} for signing)",
            output.display(),
            output.display()
        )));
    }
    let missing = proposal.missing;
    tracing::warn!(batch = id, proposal = hash, missing = %missing.join(","), "待审批：尚缺签批 awaiting sign-off");
    let printed = format!(
        "【待审批 AWAITING SIGN-OFF：未提交账本，不得用于付款 not committed, not for payment】\n{}\
         提案哈希 proposal hash: {hash}\n尚缺签批 roles still to sign: {}\n\
         签批 sign: voucher-settle signoff {} --batch {id} --role 角色 --key 私钥\n",
        report::printed_summary(&computed.summary),
        missing.join("、"),
        job.job_path.display()
    );
    Ok(RunReport::Proposed { printed, output, proposal_sha256: hash.to_string(), missing, summary: computed.summary })
}
