//! manifest.json: what a batch read, what it wrote, and the hash of the
//! manifest committed before it (a hash chain).

use serde::{Deserialize, Serialize};

/// A file with its checksum (`sha256:<hex>`) and, for tables, its data rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

fn format_one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub tool_version: String,
    /// The ledger format the batch was written in ([`crate::ledger::LEDGER_FORMAT`]).
    #[serde(default = "format_one")]
    pub ledger_format: u32,
    /// Position in the store's commit order, from 1.
    pub sequence: u64,
    pub batch_id: String,
    pub service_year: i32,
    pub cutoff: String,
    pub dry_run: bool,
    pub created_at: String,
    pub job: FileEntry,
    pub policy: FileEntry,
    pub inputs: Vec<FileEntry>,
    pub outputs: Vec<FileEntry>,
    /// SHA-256 of the previous committed manifest.json of the store.
    pub prev_manifest_sha256: Option<String>,
    /// Who approved the batch before it was committed (a job with
    /// `[signoff]`, ledger format 5 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signoff: Option<SignedOff>,
}

/// A batch's sign-off as committed: the proposal its signers approved, the
/// roles asked for, the signer list in force (archived like an input), how
/// a change of that list was authorised, and one approval per role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOff {
    pub proposal_sha256: String,
    pub roles: Vec<String>,
    /// The signer list (`signers.toml`) in force for this batch.
    pub signers: FileEntry,
    /// The 审批 signature of the list in force before, over this list's
    /// bytes, when this batch's list differs from the previous signed
    /// batch's; none when unchanged or first adopted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signers_authorized: Option<Signature>,
    pub approvals: Vec<Signature>,
}

/// One signature: who (the signer's id and name in the list, the key's
/// fingerprint), in which role, when it was recorded, what was decided,
/// and the SSH signature itself (`ssh-keygen -Y sign` armour).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub role: String,
    pub signer: String,
    pub name: String,
    pub fingerprint: String,
    pub signed_at: String,
    /// `approve` or `reject`.
    pub decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub signature: String,
}

impl Manifest {
    /// Whether a run with these policy and input checksums would settle the
    /// same batch again.
    pub fn same_inputs(&self, policy_sha256: &str, inputs: &[FileEntry]) -> bool {
        let checksums =
            |entries: &[FileEntry]| entries.iter().map(|e| (e.name.clone(), e.sha256.clone())).collect::<Vec<_>>();
        self.policy.sha256 == policy_sha256 && checksums(&self.inputs) == checksums(inputs)
    }
}

impl From<&crate::output::OutputFile> for FileEntry {
    fn from(file: &crate::output::OutputFile) -> FileEntry {
        FileEntry { name: file.name.to_string(), path: None, sha256: file.sha256.clone(), rows: file.rows }
    }
}
