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
