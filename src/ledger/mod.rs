//! The append-only ledger store. Layout:
//!
//! ```text
//! LEDGER/.lock                      held for the whole of a run
//! LEDGER/batches/000001_2025-Q1/    one folder per committed batch, in commit order
//!     manifest.json settlements.csv settlements.parquet exceptions.csv
//!     exceptions.parquet payouts.csv enterprise_usage.csv summary.json
//! LEDGER/staging/                   a commit in progress; never read
//! ```
//!
//! A commit writes the batch into `staging/`, fsyncs every file and the
//! folder, then renames it into `batches/` and fsyncs that: the rename is the
//! commit point, so a crash leaves the store as it was or fully committed.

mod manifest;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use fs2::FileExt;

pub use manifest::{FileEntry, Manifest};

use crate::allocate::item_scope_key;
use crate::frame::read_ledger_settlements;
use crate::ingest::sha256_hex;
use crate::policy::CapScope;
use crate::settle::CarryIn;
use crate::{Error, Result};

const BATCHES: &str = "batches";
const STAGING: &str = "staging";
pub const MANIFEST: &str = "manifest.json";

/// A batch found in the store.
#[derive(Debug, Clone)]
pub struct CommittedBatch {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub manifest_sha256: String,
}

/// An open store; the lock is held until it is dropped.
pub struct Ledger {
    root: PathBuf,
    _lock: File,
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Internal(format!("{}: {e}", path.display()))
}

impl Ledger {
    /// Opens (creating if needed) the store and takes its lock. A second run
    /// against the same store waits here until the first one is done.
    pub fn open(root: &Path) -> Result<Ledger> {
        fs::create_dir_all(root.join(BATCHES)).map_err(|e| io_error(root, e))?;
        let lock_path = root.join(".lock");
        let lock = File::create(&lock_path).map_err(|e| io_error(&lock_path, e))?;
        if lock.try_lock_exclusive().is_err() {
            tracing::warn!(
                "账本正被另一运行占用，等待中 (ledger in use by another run; waiting): {}",
                root.display()
            );
            lock.lock_exclusive().map_err(|e| io_error(&lock_path, e))?;
        }
        let staging = root.join(STAGING);
        if staging.exists() {
            // Left by a run that died before its commit point: never part of the store.
            fs::remove_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
        }
        Ok(Ledger {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The committed batches, in commit order.
    pub fn committed(&self) -> Result<Vec<CommittedBatch>> {
        let batches_dir = self.root.join(BATCHES);
        let mut batches = Vec::new();
        for entry in fs::read_dir(&batches_dir).map_err(|e| io_error(&batches_dir, e))? {
            let dir = entry.map_err(|e| io_error(&batches_dir, e))?.path();
            let manifest_path = dir.join(MANIFEST);
            let bytes = fs::read(&manifest_path).map_err(|e| {
                Error::Input(format!(
                    "{}: 账本批次缺少清单，请运行 verify (ledger batch without a readable manifest; run verify): {e}",
                    dir.display()
                ))
            })?;
            let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
                Error::Input(format!(
                    "{}: 清单无法解析 (manifest unreadable): {e}",
                    manifest_path.display()
                ))
            })?;
            batches.push(CommittedBatch {
                dir,
                manifest,
                manifest_sha256: sha256_hex(&bytes),
            });
        }
        batches.sort_by_key(|b| b.manifest.sequence);
        Ok(batches)
    }

    /// Totals of `service_year` and every settled contract, from the batches given.
    pub fn carry_in(
        &self,
        committed: &[CommittedBatch],
        service_year: i32,
        scope: CapScope,
    ) -> Result<CarryIn> {
        let mut carry_in = CarryIn::default();
        for batch in committed {
            let path = batch.dir.join("settlements.parquet");
            let bytes =
                fs::read(&path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
            for s in read_ledger_settlements(&bytes)? {
                if batch.manifest.service_year == service_year {
                    let key = item_scope_key(
                        scope,
                        &s.enterprise_id,
                        &s.product_id,
                        &s.category,
                        &s.contract_id,
                    );
                    carry_in
                        .totals
                        .add(&key, &s.enterprise_id, &s.provider_id, s.approved_amount);
                }
                carry_in.settled.insert(s.contract_id, s.fingerprint);
            }
        }
        Ok(carry_in)
    }

    /// Commits a batch's files atomically; returns its folder.
    pub fn commit(&self, manifest: &Manifest, files: &[(String, Vec<u8>)]) -> Result<PathBuf> {
        let name = format!("{:06}_{}", manifest.sequence, manifest.batch_id);
        let staging = self.root.join(STAGING).join(&name);
        fs::create_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
        for (file_name, bytes) in files {
            write_synced(&staging.join(file_name), bytes)?;
        }
        sync_dir(&staging)?;
        let target = self.root.join(BATCHES).join(&name);
        if target.exists() {
            return Err(Error::Internal(format!(
                "{}: already exists",
                target.display()
            )));
        }
        fs::rename(&staging, &target).map_err(|e| io_error(&target, e))?;
        sync_dir(&self.root.join(BATCHES))?;
        Ok(target)
    }
}

/// Writes a file and fsyncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(path).map_err(|e| Error::write(path, e))?;
    file.write_all(bytes).map_err(|e| Error::write(path, e))?;
    file.sync_all().map_err(|e| Error::write(path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}
