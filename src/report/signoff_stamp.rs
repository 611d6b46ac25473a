//! How a batch's documents show its sign-off (a job with `[signoff]`): a
//! proposal says 待审批 (awaiting sign-off, not for payment) and shows its
//! proposal hash; a committed batch prints who approved it, beside the
//! ink signature lines.

/// The sign-off a batch's documents show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignoffStamp {
    /// Settled and not committed, awaiting its approvals.
    Proposal { proposal_sha256: String, signers_sha256: String, roles: Vec<String> },
    /// Committed with these approvals.
    Approved { proposal_sha256: String, signers_sha256: String, approvals: Vec<ApprovalLine> },
}

/// One approval as the lists print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalLine {
    pub role: String,
    pub name: String,
    pub signer: String,
    pub signed_at: String,
    pub fingerprint: String,
    /// The SSH signature itself (it seeds the spot-check sample).
    pub signature: String,
}

/// What every sheet and page of a proposal says.
pub const PROPOSAL_MARK: &str = "待审批";

impl SignoffStamp {
    pub fn is_proposal(&self) -> bool {
        matches!(self, SignoffStamp::Proposal { .. })
    }

    /// The lines a list to sign prints above its ink signature lines.
    pub fn heading_lines(&self) -> Vec<String> {
        match self {
            SignoffStamp::Proposal { proposal_sha256, signers_sha256, roles } => vec![
                format!(
                    "待审批：未提交账本，不得用于付款；须由 {} 分别签批 (awaiting sign-off by {}; not committed, not for payment)",
                    roles.join("、"),
                    roles.join(", ")
                ),
                format!("提案哈希 proposal hash：{proposal_sha256}"),
                format!("签批人名单 signer list SHA-256：{signers_sha256}"),
            ],
            SignoffStamp::Approved { proposal_sha256, signers_sha256, .. } => vec![
                format!("已签批的提案哈希 proposal hash approved：{proposal_sha256}"),
                format!("签批人名单 signer list SHA-256：{signers_sha256}"),
            ],
        }
    }

    /// What seeds the sample besides the batch: the 审批 signature (or,
    /// with no such role, every approval's in role order); none for a proposal.
    pub fn seed_signature(&self) -> Option<String> {
        let SignoffStamp::Approved { approvals, .. } = self else { return None };
        let approver = approvals.iter().find(|a| a.role == "审批");
        Some(approver.map_or_else(
            || approvals.iter().map(|a| a.signature.as_str()).collect::<Vec<_>>().join("\n"),
            |a| a.signature.clone(),
        ))
    }

    /// Each approval, one line: role, name, when, the key's fingerprint.
    pub fn approval_lines(&self) -> Vec<(String, String)> {
        let SignoffStamp::Approved { approvals, .. } = self else { return Vec::new() };
        approvals
            .iter()
            .map(|a| {
                let at = a.signed_at.replace('T', " ");
                (a.role.clone(), format!("电子签批 signed：{}（{}）{at} {}", a.name, a.signer, a.fingerprint))
            })
            .collect()
    }
}
