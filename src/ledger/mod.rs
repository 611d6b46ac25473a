//! The append-only ledger store. Layout:
//!
//! ```text
//! LEDGER/.lock                      held for the whole of a run (shared by verify/explain)
//! LEDGER/HEAD                       the last committed batch: sequence and manifest SHA-256
//! LEDGER/batches/000001_2025-Q1/    one folder per committed batch, in commit order
//!     manifest.json settlements.csv settlements.parquet exceptions.csv
//!     exceptions.parquet payouts.csv enterprise_usage.csv summary.json
//! LEDGER/objects/sha256/<hex>       archived inputs, policies and job files, by content
//! LEDGER/staging/                   a commit in progress; never read
//! ```
//!
//! A commit renders the batch's outputs into `staging/` (each fsynced)
//! while it archives the inputs (content-addressed, so an unchanged registry
//! is stored once), adds the manifest, fsyncs the folder, renames it into
//! `batches/`, and finally replaces `HEAD`. Replacing
//! HEAD is the commit point: a batch folder beyond HEAD is the leftover of a
//! run that died and is removed by the next run, so a crash at any moment
//! leaves the store as it was or with the batch fully committed.

mod format;
mod manifest;
mod signoff;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use fs2::FileExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use format::{Format, LEDGER_FORMAT};
pub use manifest::{FileEntry, Manifest, Signature, SignedOff};

use crate::checksum::sha256_hex;
use crate::crash::crash_point;
use crate::direct_io::{Chunk, DirectFile, create_no_follow, open_lock_file, read_no_follow};
use crate::{Error, Result};

const BATCHES: &str = "batches";
const STAGING: &str = "staging";
const OBJECTS: &str = "objects/sha256";
const HEAD: &str = "HEAD";
pub const MANIFEST: &str = "manifest.json";

pub use crate::crash::CRASH_POINTS;

/// The last committed batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub sequence: u64,
    pub batch_id: String,
    pub manifest_sha256: String,
}

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
    _lock: Option<File>,
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Internal(format!("{}: {e}", path.display()))
}

/// A store that is not as its manifests say (exit 2, nothing changed).
pub fn corrupt(what: String) -> Error {
    Error::Input(format!("账本不一致，请运行 verify (ledger inconsistent; run verify): {what}"))
}

impl Ledger {
    /// Opens (creating if needed) the store for a run and takes its lock. A
    /// second run against the same store waits here until the first is done.
    /// Leftovers of a run that died before its commit point are removed.
    pub fn open(root: &Path) -> Result<Ledger> {
        fs::create_dir_all(root.join(BATCHES)).map_err(|e| io_error(root, e))?;
        refuse_links(root)?;
        let lock_path = root.join(".lock");
        let lock = open_lock_file(&lock_path, true).map_err(|e| io_error(&lock_path, e))?;
        if lock.try_lock_exclusive().is_err() {
            tracing::warn!("账本正被另一运行占用，等待中 (ledger in use by another run; waiting): {}", root.display());
            lock.lock_exclusive().map_err(|e| io_error(&lock_path, e))?;
        }
        let ledger = Ledger { root: root.to_path_buf(), _lock: Some(lock) };
        ledger.remove_uncommitted()?;
        Ok(ledger)
    }

    /// Opens an existing store to read it (verify, explain). Takes a shared
    /// lock when the store is writable, so that no commit runs meanwhile.
    pub fn open_read(root: &Path) -> Result<Ledger> {
        if !root.join(BATCHES).is_dir() {
            return Err(Error::Input(format!(
                "{}: 不是账本目录 (not a ledger store: no batches/ folder)",
                root.display()
            )));
        }
        refuse_links(root)?;
        let lock = open_lock_file(&root.join(".lock"), false).ok();
        if let Some(lock) = &lock {
            lock.lock_shared().map_err(|e| io_error(&root.join(".lock"), e))?;
        }
        Ok(Ledger { root: root.to_path_buf(), _lock: lock })
    }

    pub fn head(&self) -> Result<Option<Head>> {
        let path = self.root.join(HEAD);
        match read_no_follow(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(format!("{}: {e}", path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    /// Every batch folder with its sequence number, committed or not, in order.
    pub fn batch_dirs(&self) -> Result<Vec<(u64, PathBuf)>> {
        let batches_dir = self.root.join(BATCHES);
        let mut dirs = Vec::new();
        for entry in fs::read_dir(&batches_dir).map_err(|e| io_error(&batches_dir, e))? {
            let dir = entry.map_err(|e| io_error(&batches_dir, e))?.path();
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let sequence = name.split('_').next().and_then(|s| s.parse::<u64>().ok());
            match sequence {
                Some(sequence) => dirs.push((sequence, dir)),
                None => return Err(corrupt(format!("{}: not a batch folder", dir.display()))),
            }
        }
        dirs.sort();
        Ok(dirs)
    }

    fn remove_uncommitted(&self) -> Result<()> {
        let staging = self.root.join(STAGING);
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
        }
        // An archive cut short leaves its partial object file.
        let objects = self.root.join(OBJECTS);
        for entry in fs::read_dir(&objects).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().ends_with(".partial") {
                fs::remove_file(entry.path()).map_err(|e| io_error(&entry.path(), e))?;
            }
        }
        // A batch folder HEAD does not name may be a commit cut short
        // between its rename and HEAD — or a committed batch whose HEAD was
        // rolled back or lost. The two cannot be told apart from the store,
        // so nothing is deleted or moved: the run stops and says how to go on.
        let head = self.head()?;
        let committed = head.as_ref().map_or(0, |h| h.sequence);
        let beyond: Vec<PathBuf> =
            self.batch_dirs()?.into_iter().filter(|(sequence, _)| *sequence > committed).map(|(_, dir)| dir).collect();
        if beyond.is_empty() {
            return Ok(());
        }
        Err(Error::Input(format!(
            "{}. 未作任何更改 (nothing was changed).",
            beyond_head(&self.root, head.as_ref(), &beyond)
        )))
    }

    /// The committed batches (up to HEAD), in commit order, after checking
    /// the chain from HEAD back to the first batch ([`Ledger::chain`]): a
    /// break is a damaged store (exit 2, nothing changed; `verify` says more).
    pub fn committed(&self) -> Result<Vec<CommittedBatch>> {
        self.chain().map_err(corrupt)
    }

    /// Reads the committed batches and checks what links them: their
    /// sequence and folder names, each manifest's hash of the one before it,
    /// and HEAD naming the last manifest by its hash, and no folder beyond
    /// HEAD. The first break found is returned as text.
    pub fn chain(&self) -> std::result::Result<Vec<CommittedBatch>, String> {
        let head = self.head().map_err(|e| e.to_string())?;
        let dirs = self.batch_dirs().map_err(|e| e.to_string())?;
        // A batch folder HEAD does not name (all of them when HEAD is
        // missing) is a commit cut short or a HEAD rolled back or lost: the
        // store is not in a state to trust, whichever it is. `run` refuses
        // it too (exit 2), with the same way forward.
        let committed = head.as_ref().map_or(0, |h| h.sequence);
        let beyond: Vec<PathBuf> =
            dirs.iter().filter(|(sequence, _)| *sequence > committed).map(|(_, dir)| dir.clone()).collect();
        if !beyond.is_empty() {
            return Err(beyond_head(&self.root, head.as_ref(), &beyond));
        }
        let Some(head) = head else { return Ok(Vec::new()) };
        let mut batches: Vec<CommittedBatch> = Vec::new();
        for (sequence, dir) in dirs {
            let expected = batches.len() as u64 + 1;
            if sequence != expected {
                return Err(format!("batch folder {expected:06}_* missing (next is {})", dir.display()));
            }
            let batch = self.read_batch(&dir).map_err(|e| e.to_string())?;
            let name = format!("{:06}_{}", batch.manifest.sequence, batch.manifest.batch_id);
            if dir.file_name().is_none_or(|n| n.to_string_lossy() != name) {
                return Err(format!("{}: manifest says {name}", dir.display()));
            }
            let previous = batches.last().map(|b| b.manifest_sha256.clone());
            if batch.manifest.prev_manifest_sha256 != previous {
                return Err(format!(
                    "batch {}, {MANIFEST}: prev_manifest_sha256 {:?}, the previous manifest is {:?} (chain broken)",
                    batch.manifest.batch_id, batch.manifest.prev_manifest_sha256, previous
                ));
            }
            batches.push(batch);
        }
        if (batches.len() as u64) < head.sequence {
            return Err(format!(
                "batch folder {:06}_{} missing (HEAD names it as the last committed batch)",
                head.sequence, head.batch_id
            ));
        }
        match batches.last() {
            Some(last) if last.manifest_sha256 == head.manifest_sha256 && last.manifest.sequence == head.sequence => {
                Ok(batches)
            }
            Some(last) => Err(format!(
                "HEAD names batch {} ({}), the last batch is {} ({})",
                head.batch_id, head.manifest_sha256, last.manifest.batch_id, last.manifest_sha256
            )),
            None => Err(format!("HEAD names batch {}, the store has none", head.batch_id)),
        }
    }

    pub fn read_batch(&self, dir: &Path) -> Result<CommittedBatch> {
        let manifest_path = dir.join(MANIFEST);
        let bytes = read_no_follow(&manifest_path).map_err(|e| corrupt(format!("{}: {e}", manifest_path.display())))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("{}: {e}", manifest_path.display())))?;
        Ok(CommittedBatch { dir: dir.to_path_buf(), manifest, manifest_sha256: sha256_hex(&bytes) })
    }

    /// A committed batch's output file, read and checked against the
    /// checksum its manifest lists (a mismatch is a damaged store, exit 2);
    /// the manifest itself against the SHA-256 the chain named it by.
    pub fn stored_output(&self, batch: &CommittedBatch, name: &str) -> Result<Vec<u8>> {
        let path = batch.dir.join(name);
        let bytes = read_no_follow(&path).map_err(|e| corrupt(format!("{}: {e}", path.display())))?;
        // The manifest itself is named by the hash chain it was read with.
        let listed = match name {
            MANIFEST => Some(batch.manifest_sha256.as_str()),
            _ => batch.manifest.outputs.iter().find(|o| o.name == name).map(|o| o.sha256.as_str()),
        };
        let actual = sha256_hex(&bytes);
        match listed {
            Some(sha256) if sha256 == actual => Ok(bytes),
            Some(sha256) => Err(corrupt(format!(
                "{}: 校验和与清单不符 (checksum differs from the manifest): listed {sha256}, found {actual}",
                path.display()
            ))),
            None => Err(corrupt(format!("{}: not listed in {MANIFEST}", path.display()))),
        }
    }

    pub fn object_path(&self, sha256: &str) -> PathBuf {
        self.root.join(OBJECTS).join(sha256.trim_start_matches("sha256:"))
    }

    /// Reads an archived object and checks that its content still has its name.
    pub fn read_object(&self, sha256: &str) -> std::result::Result<Vec<u8>, String> {
        let path = self.object_path(sha256);
        let bytes = read_no_follow(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let actual = sha256_hex(&bytes);
        if actual != sha256 {
            return Err(format!("{}: content is {actual}", path.display()));
        }
        Ok(bytes)
    }

    /// Archives a file under its SHA-256, refusing it if it changed since it
    /// was read (its checksum then differs from `expected_sha256`).
    pub fn archive(&self, source: &Path, expected_sha256: &str) -> Result<()> {
        let target = self.object_path(expected_sha256);
        if target.exists() {
            return Ok(());
        }
        let dir = target.parent().expect("objects folder");
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let partial = dir.join(format!(".{}.partial", std::process::id()));
        let mut reader = File::open(source).map_err(|e| Error::unreadable(source, e))?;
        let mut writer = DirectFile::create(&partial, true).map_err(|e| Error::write(&partial, e))?;
        let mut hasher = Sha256::new();
        let mut chunk = Chunk::new();
        loop {
            let read = reader.read(chunk.spare()).map_err(|e| Error::unreadable(source, e))?;
            chunk.grow(read);
            if chunk.is_full() || read == 0 {
                hasher.update(chunk.filled());
                writer.write(chunk.filled()).map_err(|e| Error::write(&partial, e))?;
                chunk.clear();
            }
            if read == 0 {
                break;
            }
        }
        writer.sync_all().map_err(|e| Error::write(&partial, e))?;
        if crate::checksum::sha256_text(hasher) != expected_sha256 {
            let _ = fs::remove_file(&partial);
            return Err(Error::Input(format!(
                "{}: 文件在运行期间被修改 (the file changed while the run was reading it); nothing committed",
                source.display()
            )));
        }
        fs::rename(&partial, &target).map_err(|e| Error::write(&target, e))?;
        sync_dir(dir)
    }

    /// Starts a commit: an empty staging folder for the batch's outputs,
    /// which are rendered straight into it (see [`crate::output`]). `open`
    /// removed any staging leftover, under the lock this store holds.
    pub fn begin(&self, sequence: u64, batch_id: &str) -> Result<Staging> {
        let name = format!("{sequence:06}_{batch_id}");
        let dir = self.root.join(STAGING).join(&name);
        fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        Ok(Staging { dir, name })
    }

    /// Archives the input files of a batch (paths with the checksums they
    /// were read with) before it is committed. An object that no batch
    /// names yet is harmless: the store is content-addressed.
    pub fn archive_all(&self, files: &[(PathBuf, String)]) -> Result<()> {
        files.iter().try_for_each(|(source, sha256)| self.archive(source, sha256))
    }

    /// Commits a staged batch atomically; returns its folder. The staged
    /// outputs are already fsynced and the inputs archived ([`Ledger::archive_all`]).
    pub fn commit(&self, staging: Staging, manifest: &Manifest, manifest_bytes: &[u8]) -> Result<PathBuf> {
        crash_point("objects");
        write_synced(&staging.dir.join(MANIFEST), manifest_bytes)?;
        crash_point("staging-written");
        sync_dir(&staging.dir)?;
        crash_point("staging-synced");
        let target = self.root.join(BATCHES).join(&staging.name);
        fs::rename(&staging.dir, &target).map_err(|e| io_error(&target, e))?;
        sync_dir(&self.root.join(BATCHES))?;
        // Now empty; a leftover would be removed by the next run anyway.
        let _ = fs::remove_dir(self.root.join(STAGING));
        crash_point("renamed");
        // HEAD is the commit point. Until it is replaced the batch is not
        // committed: a failure to write it (a full disk) puts the batch
        // folder back into staging, so the store is as it was before.
        if let Err(e) = self.replace_head(manifest, manifest_bytes) {
            let _ = fs::remove_file(self.root.join(".HEAD.partial"));
            fs::create_dir_all(self.root.join(STAGING)).map_err(|e| io_error(&self.root.join(STAGING), e))?;
            fs::rename(&target, &staging.dir).map_err(|undo| {
                Error::Internal(format!(
                    "{e}; 批次目录 {} 未能移回 (and the batch folder could not be moved back: {undo}) — \
                     该批次未提交 (the batch is not committed: HEAD does not name it)",
                    target.display()
                ))
            })?;
            sync_dir(&self.root.join(BATCHES))?;
            return Err(Error::Input(format!("{e}; 未提交任何内容 (nothing committed)")));
        }
        if let Err(e) = sync_dir(&self.root) {
            // HEAD is replaced: committed, though not yet durably so.
            tracing::warn!("{e}");
        }
        crash_point("committed");
        Ok(target)
    }
}

impl Ledger {
    /// Writes `HEAD` naming the batch, through a partial file renamed over it.
    fn replace_head(&self, manifest: &Manifest, manifest_bytes: &[u8]) -> Result<()> {
        let head = Head {
            sequence: manifest.sequence,
            batch_id: manifest.batch_id.clone(),
            manifest_sha256: sha256_hex(manifest_bytes),
        };
        let head_partial = self.root.join(".HEAD.partial");
        let mut head_bytes = serde_json::to_vec_pretty(&head).map_err(|e| Error::Internal(e.to_string()))?;
        head_bytes.push(b'\n');
        crate::crash::fail_point("head").map_err(|e| Error::write(&head_partial, e))?;
        write_synced(&head_partial, &head_bytes)?;
        crash_point("head-written");
        fs::rename(&head_partial, self.root.join(HEAD)).map_err(|e| Error::write(&self.root.join(HEAD), e))
    }
}

/// What to do about batch folders HEAD does not name, naming which one can
/// be an unfinished commit and which are committed. A run commits one batch
/// at a time and writes HEAD right after renaming its folder: only the last
/// folder can be a commit cut short; every folder before it was followed by
/// a later commit, so it is committed (HEAD was rolled back or lost), and
/// moving it aside would settle its contracts a second time.
fn beyond_head(root: &Path, head: Option<&Head>, beyond: &[PathBuf]) -> String {
    let name = |d: &PathBuf| d.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let last = beyond.last().map(name).unwrap_or_default();
    let earlier: Vec<String> = beyond[..beyond.len().saturating_sub(1)].iter().map(name).collect();
    let head_says = match head {
        Some(head) => {
            format!("HEAD 记录至第 {} 批 (HEAD names batch {} {})", head.sequence, head.sequence, head.batch_id)
        }
        None => "HEAD 缺失 (HEAD is missing)".to_string(),
    };
    let them = if earlier.len() == 1 { "it" } else { "them" };
    let (committed_zh, committed_en) = if earlier.is_empty() {
        (String::new(), String::new())
    } else {
        (
            format!("{} 已提交（其后还有批次提交），切勿移动，否则会重复结算。", earlier.join("、")),
            format!(
                "{} {} committed — a later batch was committed after {them} — never move {them}: settling {them} \
                 again would pay twice. ",
                earlier.join(", "),
                if earlier.len() == 1 { "is" } else { "are" },
            ),
        )
    };
    format!(
        "账本 {} 中有 HEAD 未记录的批次目录；{head_says}。{committed_zh}只有最后一个 {last} 可能是中断的提交：\
         若该批次的运行未结束（没有打印清单 SHA-256，输出目录没有它的 manifest.json），将 {last} 移入 quarantine/ 后重新运行；\
         否则它已提交，请按 {last}/manifest.json 恢复 HEAD。 (batch folders beyond HEAD in {}. {committed_en}Only the \
         last, {last}, can be an unfinished commit: if its run did not finish (no manifest SHA-256 printed, no \
         manifest.json of it in its output folder), move {last} alone into {}/quarantine/ and run again; otherwise it \
         is committed: restore HEAD from {last}/manifest.json. `voucher-settle verify {}` shows the store's state.)",
        root.display(),
        root.display(),
        root.display(),
        root.display()
    )
}

/// A batch being staged: its outputs are written here before the commit.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    name: String,
}

impl Staging {
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// No symbolic link anywhere in the store, at any depth: a link could
/// point the store's reads or writes anywhere, and whoever controls its
/// target would control the carry-in. The whole store is walked without
/// following links (a few entries per batch and archived input); every
/// file is then also opened without following one
/// ([`crate::direct_io::open_no_follow`]), so a link planted after the
/// walk is refused too.
pub fn find_link(root: &Path) -> Option<PathBuf> {
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_symlink() {
                return Some(entry.path());
            }
            if kind.is_dir() {
                folders.push(entry.path());
            }
        }
    }
    None
}

fn refuse_links(root: &Path) -> Result<()> {
    // The store itself may be named through a link: it is the folder the
    // link leads to, walked as such.
    match find_link(root) {
        Some(path) => Err(Error::Input(format!(
            "{}: 账本中的符号链接，拒绝使用 (a symbolic link inside the ledger store; refused: every file of the \
             store must be in it — replace the link by the file it points to, or restore the store from a copy)",
            path.display()
        ))),
        None => Ok(()),
    }
}

/// Writes a file and fsyncs it; a symbolic link at `path` is refused.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = create_no_follow(path).map_err(|e| Error::write(path, e))?;
    file.write_all(bytes).map_err(|e| Error::write(path, e))?;
    file.sync_all().map_err(|e| Error::write(path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_error(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An input archived byte for byte under its checksum (a size that ends
    /// in a partial block), and one that changed since it was read refused,
    /// leaving no object and no partial file behind.
    #[test]
    fn archive_keeps_the_input_as_read_or_refuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
        let input = dir.path().join("contracts.csv");
        let bytes: Vec<u8> = (0..3 * crate::direct_io::CHUNK + 123).map(|i| (i % 97) as u8).collect();
        fs::write(&input, &bytes).unwrap();
        let sha256 = sha256_hex(&bytes);
        ledger.archive_all(&[(input.clone(), sha256.clone())]).unwrap();
        assert_eq!(fs::read(ledger.object_path(&sha256)).unwrap(), bytes);

        let read_as = sha256_hex(b"what the run read");
        let refused = ledger.archive(&input, &read_as).unwrap_err();
        assert!(refused.to_string().contains("changed while the run was reading it"), "{refused}");
        assert!(!ledger.object_path(&read_as).exists());
        let objects: Vec<_> = fs::read_dir(dir.path().join("ledger").join(OBJECTS)).unwrap().collect();
        assert_eq!(objects.len(), 1, "only the first object: {objects:?}");
    }

    /// A run killed while archiving leaves a partial object; the next run
    /// removes it and keeps the archived objects.
    #[test]
    fn a_partial_object_is_removed_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ledger");
        let ledger = Ledger::open(&root).unwrap();
        let input = dir.path().join("providers.csv");
        fs::write(&input, b"provider_id\n").unwrap();
        let sha256 = sha256_hex(b"provider_id\n");
        ledger.archive_all(&[(input, sha256.clone())]).unwrap();
        let partial = root.join(OBJECTS).join(".4242.partial");
        fs::write(&partial, b"half").unwrap();
        drop(ledger);
        let ledger = Ledger::open(&root).unwrap();
        assert!(!partial.exists());
        assert!(ledger.object_path(&sha256).exists());
    }
}
