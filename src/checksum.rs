//! SHA-256 checksums as the ledger and the manifests write them:
//! `sha256:` and 64 lowercase hex digits, the algorithm named with the value.

use std::path::Path;

use sha2::{Digest, Sha256};

/// `sha256:<hex>`, the checksum form used everywhere in the manifest.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256_text(Sha256::new_with_prefix(bytes))
}

/// The `sha256:<hex>` form of what `hasher` was fed.
pub fn sha256_text(hasher: Sha256) -> String {
    format!("sha256:{:x}", hasher.finalize())
}

/// The checksum of a file, read in pieces (output files can be gigabytes).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(sha256_text(hasher))
}
