//! Where a path really leads. Every folder the tool writes into (a run's
//! output folder, `year` and `statements`' `--out`) is resolved through
//! symbolic links before it is compared with the ledger store, the inputs,
//! the job's own folder, a file-system root or a home folder: a path that
//! spells the ledger through a link is the ledger.

use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// The path as the file system resolves it: its longest existing leading
/// part canonicalized (every link followed), the rest appended with `.` and
/// `..` applied as the file system would once the folders are made.
pub fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.clone();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |mut at, part| {
                match Path::new(part).components().next() {
                    Some(Component::ParentDir) => {
                        at.pop();
                    }
                    Some(Component::CurDir) | None => {}
                    Some(_) => at.push(part),
                }
                at
            });
        }
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            // `..` or `.` at the end of a path that does not exist yet.
            (None, Some(parent)) if existing.ends_with("..") || existing.ends_with(".") => {
                rest.push(existing.components().next_back().map(|c| c.as_os_str().to_os_string()).unwrap_or_default());
                existing = parent.to_path_buf();
            }
            _ => return absolute,
        }
    }
}

/// A place a folder written by the tool must keep clear of.
pub struct Protected {
    /// What it is, in Chinese and English (`账本 the ledger store`).
    pub what: &'static str,
    pub path: PathBuf,
    /// Only the folder itself is protected (the folder of an input or of
    /// the job: the tool's files would stand among them); otherwise also
    /// everything in it and every folder that holds it (the ledger).
    pub exact: bool,
}

/// Refuses (exit 2, naming both paths, both as resolved) a folder to be
/// written that is a file-system root or a home folder, or reaches any
/// protected place. `key` names the setting or option that gave `target`.
pub fn refuse_writes_into(key: &str, target: &Path, protected: &[Protected]) -> Result<()> {
    let target = resolved(target);
    let home = std::env::var_os("HOME").map(|h| resolved(Path::new(&h)));
    let root_or_home = target.parent().is_none()
        || home.as_deref() == Some(target.as_path())
        || target.parent() == Some(Path::new("/home"));
    if root_or_home {
        return Err(Error::Input(format!(
            "{key} {}: 是根目录或主目录，拒绝写入 (is a file-system root or a home folder; refused — choose another folder)",
            target.display()
        )));
    }
    for place in protected {
        let path = resolved(&place.path);
        let reaches = if place.exact { target == path } else { target.starts_with(&path) || path.starts_with(&target) };
        if reaches {
            return Err(Error::Input(format!(
                "{key} {} 会写入{} {}，拒绝 (would write into {} {}; nothing was written — choose another folder)",
                target.display(),
                place.what,
                path.display(),
                place.what,
                path.display()
            )));
        }
    }
    Ok(())
}

/// Refuses (exit 2) an input that is not a regular file — a device, a pipe
/// or a folder would be read without end or not at all.
pub fn refuse_irregular(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(Error::Input(format!(
            "{}: 不是普通文件，拒绝读取 (not a regular file — a device, pipe or folder; refused)",
            path.display()
        ))),
        Err(e) => Err(Error::unreadable(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path through a link resolves to where the link points, even where
    /// the last parts do not exist yet; `..` after a link climbs from the
    /// link's target, as the file system does.
    #[test]
    fn a_path_through_a_link_is_where_the_link_leads() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(real.join("ledger/store")).unwrap();
        std::os::unix::fs::symlink(real.join("ledger"), real.join("alias")).unwrap();
        assert_eq!(resolved(&real.join("alias/store/new/x")), real.join("ledger/store/new/x"));
        assert_eq!(resolved(&real.join("alias/../alias/store")), real.join("ledger/store"));
        assert_eq!(resolved(&real.join("nothing/../ledger")), real.join("ledger"));
        let protected = [Protected { what: "账本 the ledger store", path: real.join("ledger/store"), exact: false }];
        let refused = refuse_writes_into("job.output", &real.join("alias/store/2025-Q1"), &protected).unwrap_err();
        assert!(refused.to_string().contains("would write into"), "{refused}");
        assert!(refuse_writes_into("job.output", &real.join("alias"), &protected).is_err(), "holds the store");
        assert!(refuse_writes_into("job.output", &real.join("out/2025-Q1"), &protected).is_ok());
        assert!(refuse_writes_into("--out", Path::new("/"), &[]).is_err());
    }
}
