//! One error type for the whole run; `main` turns it into an exit code.

use std::path::Path;

/// Why a run stopped. Row-level problems are never errors: they are
/// exception rows. These are the problems that make a whole run meaningless.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Unusable input, job or policy: exit code 2, nothing committed.
    #[error("{0}")]
    Input(String),
    /// `verify` found a difference: exit code 3.
    #[error("{0}")]
    Mismatch(String),
    /// A broken invariant (a control total that does not hold) or an
    /// operating failure while writing: exit code 1.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            Error::Mismatch(_) => 3,
            Error::Internal(_) => 1,
        }
    }

    /// An input file that cannot be read at all.
    pub fn unreadable(path: &Path, err: impl std::fmt::Display) -> Error {
        Error::Input(format!("{}: 无法读取文件 (cannot read file): {err}", path.display()))
    }

    /// A file or folder that cannot be written (no permission, a full
    /// disk): the environment, exit 2 (rules 7) — before the commit point
    /// nothing is committed; after it, the run reports a warning instead.
    pub fn write(path: &Path, err: impl std::fmt::Display) -> Error {
        Error::Input(format!(
            "{}: 写入失败，请检查权限和磁盘空间 (cannot write: {err}; check permissions and free space)",
            path.display()
        ))
    }
}
