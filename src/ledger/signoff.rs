//! Signatures waiting for their batch's commit, kept in the store beside
//! the batches (`signoff/`): one file per role and proposal, and one per
//! signer list authorised to replace the list in force. Nothing here is
//! trusted as read: every signature is checked against the signer list
//! before it counts (`crate::signoff`). A committed batch carries the
//! signatures it was committed with in its manifest; these files are
//! never removed (an auditor may ask what was signed and not used).

use std::fs;
use std::path::{Path, PathBuf};

use super::{Ledger, Signature, io_error, sync_dir, write_synced};
use crate::direct_io::read_no_follow;
use crate::{Error, Result};

/// The folder of the store that holds signatures not yet committed.
const SIGNOFF: &str = "signoff";
/// Its folder of authorised signer lists.
const LISTS: &str = "signers";

impl Ledger {
    fn proposal_dir(&self, batch_id: &str, proposal_sha256: &str) -> PathBuf {
        let hash = proposal_sha256.trim_start_matches("sha256:");
        self.root.join(SIGNOFF).join(batch_id).join(hash)
    }

    /// Records a signature over a batch's proposal; a role signed already
    /// for this proposal is refused (exit 2), the first signature kept.
    pub fn add_proposal_signature(&self, batch_id: &str, proposal_sha256: &str, signature: &Signature) -> Result<()> {
        let dir = self.proposal_dir(batch_id, proposal_sha256);
        write_new(&dir, &format!("{}.json", signature.role), signature)
    }

    /// Every signature recorded for the batch, by the proposal it signs
    /// (`sha256:<hex>`); a record that cannot be read is skipped with a
    /// warning — it cannot count, and signing again replaces nothing.
    pub fn proposal_signatures(&self, batch_id: &str) -> Result<Vec<(String, Signature)>> {
        let batch_dir = self.root.join(SIGNOFF).join(batch_id);
        let mut found = Vec::new();
        for proposal in sorted_entries(&batch_dir)? {
            let hash = format!("sha256:{}", file_name(&proposal));
            for record in sorted_entries(&proposal)? {
                if let Some(signature) = read_record(&record) {
                    found.push((hash.clone(), signature));
                }
            }
        }
        Ok(found)
    }

    /// Records a 审批 signer's authorisation of a new signer list (by its
    /// checksum); one per list.
    pub fn add_list_authorization(&self, list_sha256: &str, signature: &Signature) -> Result<()> {
        let dir = self.root.join(SIGNOFF).join(LISTS);
        write_new(&dir, &format!("{}.json", list_sha256.trim_start_matches("sha256:")), signature)
    }

    /// The recorded authorisation of the signer list with this checksum.
    pub fn list_authorization(&self, list_sha256: &str) -> Option<Signature> {
        let name = format!("{}.json", list_sha256.trim_start_matches("sha256:"));
        read_record(&self.root.join(SIGNOFF).join(LISTS).join(name))
    }
}

/// Writes `value` as `dir/name`, durably, refusing to replace a record.
fn write_new(dir: &Path, name: &str, value: &Signature) -> Result<()> {
    let path = dir.join(name);
    if fs::symlink_metadata(&path).is_ok() {
        let existing = read_record(&path);
        let who = existing.map_or_else(|| "?".to_string(), |s| format!("{}（{}）", s.name, s.signer));
        return Err(Error::Input(format!(
            "{}: 已有签名记录，签名人 {who}；不重复签 (already signed, by {who}; a signature is recorded once)",
            path.display()
        )));
    }
    fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    bytes.push(b'\n');
    let partial = dir.join(format!(".{}.partial", std::process::id()));
    write_synced(&partial, &bytes)?;
    fs::rename(&partial, &path).map_err(|e| io_error(&path, e))?;
    sync_dir(dir)
}

fn read_record(path: &Path) -> Option<Signature> {
    let bytes = read_no_follow(path).ok()?;
    let parsed = serde_json::from_slice(&bytes);
    if parsed.is_err() {
        tracing::warn!("签名记录无法读取，不计 (signature record unreadable, not counted): {}", path.display());
    }
    parsed.ok()
}

/// The entries of a folder (none if it does not exist), by name, without
/// the partial files of a write cut short.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir, e)),
    };
    let mut paths: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| !file_name(p).starts_with('.')).collect();
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
