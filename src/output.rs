//! Where rendered output files go. `verify` compares them with the ledger's
//! files as they are rendered (and keeps one in memory only to show where it
//! differs); `run` writes each file while it is rendered, hashing it on
//! the way, into the ledger's staging folder (fsynced, final names) and into
//! the job's output folder (as `.NAME.partial`, renamed once the batch is
//! committed). Nothing is held whole in memory and nothing is copied twice.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::direct_io::{Chunk, DirectFile};
use crate::ledger::FileEntry;
use crate::{Error, Result};

/// A folder the outputs are written into.
#[derive(Debug, Clone)]
pub struct Folder {
    pub dir: PathBuf,
    /// Ledger staging: final names, fsynced. Otherwise `.NAME.partial`,
    /// published by [`publish`] and not fsynced (the ledger is the durable copy).
    pub durable: bool,
}

impl Folder {
    fn path(&self, name: &str) -> PathBuf {
        if self.durable { self.dir.join(name) } else { partial_path(&self.dir, name) }
    }
}

/// The temporary name of an output file in a folder readers use.
pub(crate) fn partial_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.partial"))
}

/// Where to put the outputs: no folders (and nothing to compare with)
/// means in memory.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    pub folders: Vec<Folder>,
    /// A folder of files the outputs are compared with as they are rendered
    /// (`verify`); nothing is kept or written.
    pub compare_with: Option<PathBuf>,
}

impl Destination {
    pub fn memory() -> Destination {
        Destination::default()
    }

    pub fn compare_with(dir: &Path) -> Destination {
        Destination { folders: Vec::new(), compare_with: Some(dir.to_path_buf()) }
    }

    /// Creates the folders.
    pub fn prepare(&self) -> Result<()> {
        for folder in &self.folders {
            std::fs::create_dir_all(&folder.dir).map_err(|e| Error::write(&folder.dir, e))?;
        }
        Ok(())
    }

    pub fn create(&self, name: &'static str) -> Result<OutputWriter> {
        let mut files = Vec::with_capacity(self.folders.len());
        for folder in &self.folders {
            let path = folder.path(name);
            let file = DirectFile::create(&path, folder.durable).map_err(|e| Error::write(&path, e))?;
            files.push((path, file, folder.durable));
        }
        // A stored file that cannot be opened simply differs.
        let stored = self.compare_with.as_ref().map(|dir| Stored {
            file: File::open(dir.join(name)).ok(),
            scratch: Vec::new(),
            same: true,
        });
        let chunk = (!files.is_empty() || stored.is_some()).then(Chunk::new);
        Ok(OutputWriter { name, memory: Vec::new(), chunk, files, stored, hasher: Sha256::new(), len: 0 })
    }

    /// Removes the partial files of a run that did not commit.
    pub fn discard(&self, names: &[&str]) {
        for folder in self.folders.iter().filter(|f| !f.durable) {
            for name in names {
                let _ = std::fs::remove_file(partial_path(&folder.dir, name));
            }
        }
    }
}

/// Moves the partial files into place, each in one rename, so that a reader
/// of the output folder never sees half a file.
pub fn publish(destination: &Destination, names: &[&str]) -> Result<()> {
    for folder in destination.folders.iter().filter(|f| !f.durable) {
        for name in names {
            let path = folder.dir.join(name);
            std::fs::rename(partial_path(&folder.dir, name), &path).map_err(|e| Error::write(&path, e))?;
        }
    }
    Ok(())
}

/// One output file being rendered.
pub struct OutputWriter {
    name: &'static str,
    /// The whole file, when rendered in memory.
    memory: Vec<u8>,
    /// Otherwise the bytes not yet hashed and written out.
    chunk: Option<Chunk>,
    files: Vec<(PathBuf, DirectFile, bool)>,
    stored: Option<Stored>,
    hasher: Sha256,
    len: u64,
}

/// The stored file an output is compared with, read along as it is rendered.
struct Stored {
    file: Option<File>,
    scratch: Vec<u8>,
    same: bool,
}

impl Stored {
    /// Reads as many bytes as `rendered` holds and compares them.
    fn compare(&mut self, rendered: &[u8]) {
        let Some(file) = self.file.as_mut().filter(|_| self.same) else {
            self.same = false;
            return;
        };
        self.scratch.resize(rendered.len(), 0);
        self.same = file.read_exact(&mut self.scratch).is_ok() && self.scratch == rendered;
    }

    /// Whether the stored file ends where the rendered one does.
    fn ends_here(&mut self) -> bool {
        let mut byte = [0u8; 1];
        self.same && self.file.as_mut().is_some_and(|file| matches!(file.read(&mut byte), Ok(0)))
    }
}

impl OutputWriter {
    fn drain(&mut self) -> std::io::Result<()> {
        let Some(chunk) = &mut self.chunk else { return Ok(()) };
        let bytes = chunk.filled();
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        for (path, file, _) in &mut self.files {
            file.write(bytes).map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        }
        if let Some(stored) = &mut self.stored {
            stored.compare(bytes);
        }
        chunk.clear();
        Ok(())
    }

    /// Hashes and closes the file; `rows` is its number of data rows.
    pub fn finish(mut self, rows: Option<u64>) -> Result<OutputFile> {
        let name = self.name;
        let failed = |e: std::io::Error| Error::Internal(format!("{name}: 写入失败 (cannot write): {e}"));
        if self.chunk.is_none() {
            self.hasher.update(&self.memory);
            self.len = self.memory.len() as u64;
        } else {
            self.drain().map_err(failed)?;
            for (path, file, durable) in &self.files {
                if *durable {
                    file.sync_all().map_err(|e| Error::write(path, e))?;
                    crate::ledger::crash_point("staging-first-file");
                }
            }
        }
        let bytes = if self.chunk.is_none() { Some(std::mem::take(&mut self.memory)) } else { None };
        let same_as_stored = self.stored.as_mut().map(Stored::ends_here);
        Ok(OutputFile {
            name: self.name,
            sha256: crate::ingest::sha256_text(self.hasher),
            len: self.len,
            rows,
            bytes,
            same_as_stored,
        })
    }
}

impl Write for OutputWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.chunk.is_none() {
            self.memory.extend_from_slice(data);
            return Ok(data.len());
        }
        let mut rest = data;
        while !rest.is_empty() {
            let chunk = self.chunk.as_mut().expect("written to files");
            rest = &rest[chunk.push(rest)..];
            if chunk.is_full() {
                self.drain()?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A rendered output file.
#[derive(Debug)]
pub struct OutputFile {
    pub name: &'static str,
    pub sha256: String,
    pub len: u64,
    /// Data rows, for tables.
    pub rows: Option<u64>,
    /// The content, when rendered in memory.
    pub bytes: Option<Vec<u8>>,
    /// Whether it equals the stored file, when compared with one.
    pub same_as_stored: Option<bool>,
}

impl OutputFile {
    pub fn entry(&self) -> FileEntry {
        FileEntry { name: self.name.to_string(), path: None, sha256: self.sha256.clone(), rows: self.rows }
    }
}

/// Renders one file with `render`, which writes into the writer it is given.
pub fn render_file(
    destination: &Destination,
    name: &'static str,
    rows: Option<u64>,
    render: impl FnOnce(&mut OutputWriter) -> Result<()>,
) -> Result<OutputFile> {
    let started = std::time::Instant::now();
    let mut writer = destination.create(name)?;
    render(&mut writer)?;
    let file = writer.finish(rows)?;
    log_rendered(&file, started);
    Ok(file)
}

/// The step log's line for a rendered file.
pub fn log_rendered(file: &OutputFile, started: std::time::Instant) {
    let elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::debug!(
        file = file.name,
        bytes = file.len,
        elapsed_ms,
        rss_mib = crate::settle::rss_mib(),
        "output rendered"
    );
}
