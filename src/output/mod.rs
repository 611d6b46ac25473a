//! Where rendered output files go. `verify` compares them with the ledger's
//! files as they are rendered (and keeps one in memory only to show where it
//! differs); `run` writes each file while it is rendered, hashing it on
//! the way, into the ledger's staging folder (fsynced) and into a new
//! hidden folder inside the job's output folder ([`Publication`]), whose
//! files are renamed into place one by one once the batch is committed.
//! Nothing is held whole in memory and nothing is copied twice. Each file's hashing
//! and writing run on a thread of their own, a chunk behind the rendering,
//! so the render does not wait for the disk.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::direct_io::{Chunk, DirectFile};
use crate::{Error, Result};

/// A folder the outputs are written into.
#[derive(Debug, Clone)]
pub struct Folder {
    pub dir: PathBuf,
    /// Ledger staging: fsynced. Otherwise not (the ledger is the durable copy).
    pub durable: bool,
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
            let path = folder.dir.join(name);
            let file = DirectFile::create(&path, folder.durable).map_err(|e| Error::write(&path, e))?;
            files.push((path, file, folder.durable));
        }
        // A stored file that cannot be opened simply differs.
        let stored = self.compare_with.as_ref().map(|dir| Stored {
            file: crate::direct_io::open_no_follow(&dir.join(name)).ok(),
            scratch: Vec::new(),
            same: true,
        });
        let sink = Sink { hasher: Sha256::new(), len: 0, files, stored };
        let drain = if sink.files.is_empty() && sink.stored.is_none() {
            Drain::Memory(Vec::new(), sink)
        } else {
            Drain::Background(Background::start(name, sink).map_err(|e| Error::Internal(format!("{name}: {e}")))?)
        };
        Ok(OutputWriter { name, chunk: Chunk::new(), drain })
    }
}

/// A batch's files published into its output folder, each complete under
/// its own name: the files are rendered into a hidden folder inside it
/// ([`PARTIAL`]), and [`Publication::publish`] renames each into place in
/// one step, replacing a file of that name. Nothing else in the output
/// folder is moved, renamed or deleted — a signed scan or an office lock
/// file stays where its owner put it. A folder never mixes two runs: a
/// batch id is committed once, and a dry run writes where no committed
/// batch does.
#[derive(Debug)]
pub struct Publication {
    target: PathBuf,
    new: PathBuf,
    /// The names this tool writes into an output folder.
    names: Vec<String>,
    /// The output folder did not exist before: a run that publishes
    /// nothing removes it again (if it is still empty).
    created: bool,
}

/// The hidden folder inside an output folder that a publication renders
/// into; a killed run's is reused (and only the tool's own files in it
/// are ever replaced or removed).
pub const PARTIAL: &str = ".voucher-settle.partial";

impl Publication {
    /// Makes the output folder if needed, and the hidden folder inside it.
    /// A symbolic link where either goes is refused.
    pub fn begin(target: &Path, names: &[&str]) -> Result<Publication> {
        if target.file_name().is_none() {
            return Err(Error::Input(format!(
                "{}: 输出目录须有名称 (the output folder must be a named folder)",
                target.display()
            )));
        }
        let new = target.join(PARTIAL);
        let publication = Publication {
            target: target.to_path_buf(),
            new,
            names: names.iter().map(|n| n.to_string()).collect(),
            created: std::fs::symlink_metadata(target).is_err(),
        };
        let new = &publication.new;
        if std::fs::symlink_metadata(new).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Input(format!(
                "{}: 符号链接，拒绝写入 (a symbolic link where the tool writes its new files; refused)",
                new.display()
            )));
        }
        std::fs::create_dir_all(new).map_err(|e| Error::write(new, e))?;
        // A killed run's files are never published: only this run's are.
        for name in &publication.names {
            match std::fs::remove_file(new.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::write(&new.join(name), e)),
                _ => {}
            }
        }
        Ok(publication)
    }

    /// The folder the files are written into.
    pub fn dir(&self) -> &Path {
        &self.new
    }

    /// Removes the tool's files from the hidden folder, and the folder if
    /// nothing else is in it (and the output folder, if this run made it
    /// and it is still empty).
    pub fn discard(&self) {
        for name in &self.names {
            let _ = std::fs::remove_file(self.new.join(name));
        }
        let _ = std::fs::remove_dir(&self.new);
        if self.created {
            let _ = std::fs::remove_dir(&self.target);
        }
    }

    /// Writes a whole small file into the hidden folder.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_file(&self.new.join(name), bytes)
    }

    /// Renames each file written into place. Returns the names published.
    pub fn publish(&self) -> Result<Vec<String>> {
        crate::crash::fail_point("publish").map_err(|e| Error::write(&self.target, e))?;
        let mut published = Vec::new();
        for name in &self.names {
            let from = self.new.join(name);
            if std::fs::symlink_metadata(&from).is_ok_and(|m| m.is_file()) {
                let to = self.target.join(name);
                std::fs::rename(&from, &to).map_err(|e| Error::write(&to, e))?;
                published.push(name.clone());
            }
        }
        let _ = std::fs::remove_dir(&self.new);
        Ok(published)
    }
}

/// Writes a whole small file (not fsynced); a symbolic link at `path` is
/// refused, never followed.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = crate::direct_io::create_no_follow(path).map_err(|e| Error::write(path, e))?;
    file.write_all(bytes).map_err(|e| Error::write(path, e))
}

/// One output file being rendered.
pub struct OutputWriter {
    name: &'static str,
    /// The bytes not yet handed on.
    chunk: Chunk,
    drain: Drain,
}

/// Where an output's bytes go.
enum Drain {
    /// Kept whole (rendered in memory); hashed at the end.
    Memory(Vec<u8>, Sink),
    /// Each full chunk handed to a thread that hashes and writes it.
    Background(Background),
}

/// What becomes of an output's bytes, chunk by chunk: hashed, counted,
/// written into each file and compared with the stored file.
struct Sink {
    hasher: Sha256,
    len: u64,
    files: Vec<(PathBuf, DirectFile, bool)>,
    stored: Option<Stored>,
}

impl Sink {
    fn take(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        for (path, file, _) in &mut self.files {
            file.write(bytes).map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
        }
        if let Some(stored) = &mut self.stored {
            stored.compare(bytes);
        }
        Ok(())
    }
}

/// A [`Sink`] on its own thread. Direct writes block until the disk has the
/// bytes; on their own thread they overlap the rendering of the next chunk
/// instead of stalling it. Two chunks take turns: the renderer fills one
/// while the thread empties the other, so the bytes arrive in order.
struct Background {
    full: mpsc::SyncSender<Chunk>,
    empty: mpsc::Receiver<Chunk>,
    /// Until it is joined (at the end, or after it stopped on an error).
    thread: Option<std::thread::JoinHandle<std::io::Result<Sink>>>,
}

impl Background {
    fn start(name: &str, mut sink: Sink) -> std::io::Result<Background> {
        let (full, full_rx) = mpsc::sync_channel::<Chunk>(1);
        let (empty_tx, empty) = mpsc::sync_channel::<Chunk>(1);
        let thread = std::thread::Builder::new().name(format!("write {name}")).spawn(move || {
            // The second chunk; the renderer fills the first.
            let _ = empty_tx.send(Chunk::new());
            for mut chunk in full_rx {
                sink.take(chunk.filled())?;
                chunk.clear();
                let _ = empty_tx.send(chunk);
            }
            Ok(sink)
        })?;
        Ok(Background { full, empty, thread: Some(thread) })
    }

    /// Hands over the full `chunk`, leaving an empty one in its place.
    fn swap(&mut self, chunk: &mut Chunk) -> std::io::Result<()> {
        let handed = self.empty.recv().ok().and_then(|empty| self.full.send(std::mem::replace(chunk, empty)).ok());
        // Only a thread that stopped hangs up: on an error, which it returns.
        handed.ok_or_else(|| match joined(self.thread.take()) {
            Err(e) => e,
            Ok(_) => std::io::Error::other("the writing thread has stopped"),
        })
    }

    /// Hands over the last chunk and waits until everything is written.
    fn finish(self, last: Chunk) -> std::io::Result<Sink> {
        let Background { full, empty, thread } = self;
        let _ = full.send(last);
        drop((full, empty));
        joined(thread)
    }
}

/// What the writing thread ended with, once it has ended (a thread already
/// joined has stopped).
fn joined(thread: Option<std::thread::JoinHandle<std::io::Result<Sink>>>) -> std::io::Result<Sink> {
    match thread.map(|thread| thread.join()) {
        Some(Ok(written)) => written,
        Some(Err(_)) => Err(std::io::Error::other("the writing thread panicked")),
        None => Err(std::io::Error::other("the writing thread has stopped")),
    }
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
    /// Hashes and closes the file; `rows` is its number of data rows.
    pub fn finish(self, rows: Option<u64>) -> Result<OutputFile> {
        let OutputWriter { name, chunk, drain } = self;
        let failed = |e: std::io::Error| Error::Internal(format!("{name}: 写入失败 (cannot write): {e}"));
        let (mut sink, bytes) = match drain {
            Drain::Memory(mut memory, mut sink) => {
                memory.extend_from_slice(chunk.filled());
                sink.hasher.update(&memory);
                sink.len = memory.len() as u64;
                (sink, Some(memory))
            }
            Drain::Background(background) => (background.finish(chunk).map_err(failed)?, None),
        };
        for (path, file, durable) in &sink.files {
            if *durable {
                file.sync_all().map_err(|e| Error::write(path, e))?;
                crate::crash::crash_point("staging-first-file");
            }
        }
        let same_as_stored = sink.stored.as_mut().map(Stored::ends_here);
        Ok(OutputFile {
            name,
            sha256: crate::checksum::sha256_text(sink.hasher),
            len: sink.len,
            rows,
            bytes,
            same_as_stored,
        })
    }

    /// Passes on the full chunk.
    fn hand_off(&mut self) -> std::io::Result<()> {
        match &mut self.drain {
            Drain::Memory(memory, _) => {
                memory.extend_from_slice(self.chunk.filled());
                self.chunk.clear();
                Ok(())
            }
            Drain::Background(background) => background.swap(&mut self.chunk),
        }
    }
}

impl Write for OutputWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            rest = &rest[self.chunk.push(rest)..];
            if self.chunk.is_full() {
                self.hand_off()?;
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
        rss_mib = crate::engine::memory::rss_mib(),
        "output rendered"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(destination: &Destination, bytes: &[u8]) -> Result<OutputFile> {
        let mut writer = destination.create("f.csv")?;
        // In uneven pieces, so that chunks fill mid-write.
        for piece in bytes.chunks(100_003) {
            writer.write_all(piece).map_err(|e| Error::Internal(e.to_string()))?;
        }
        writer.finish(None)
    }

    /// Several chunks, handed to the writing thread in turn, arrive whole and
    /// in order in every folder, with the hash of what was written.
    #[test]
    fn chunks_written_on_their_own_thread_arrive_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let folders = vec![
            Folder { dir: dir.path().join("out"), durable: false },
            Folder { dir: dir.path().join("ledger"), durable: true },
        ];
        let destination = Destination { folders, compare_with: None };
        destination.prepare().unwrap();
        let bytes: Vec<u8> = (0..3 * crate::direct_io::CHUNK + 777).map(|i| (i % 253) as u8).collect();
        let file = written(&destination, &bytes).unwrap();
        assert_eq!(file.len, bytes.len() as u64);
        assert_eq!(file.sha256, crate::checksum::sha256_hex(&bytes));
        assert_eq!(std::fs::read(dir.path().join("out/f.csv")).unwrap(), bytes);
        assert_eq!(std::fs::read(dir.path().join("ledger/f.csv")).unwrap(), bytes);
        let in_memory = written(&Destination::memory(), &bytes).unwrap();
        assert_eq!((in_memory.bytes.as_deref(), in_memory.sha256), (Some(&bytes[..]), file.sha256));
    }

    /// A write the disk refuses on the writing thread reaches the renderer
    /// as an error (here: a full device), not a hang or a short file.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_refused_write_on_the_writing_thread_is_an_error() {
        let file = DirectFile::create(Path::new("/dev/full"), false).unwrap();
        let sink = Sink { hasher: Sha256::new(), len: 0, files: vec![("/dev/full".into(), file, false)], stored: None };
        let mut writer = OutputWriter {
            name: "f.csv",
            chunk: Chunk::new(),
            drain: Drain::Background(Background::start("f", sink).unwrap()),
        };
        let bytes = vec![b'x'; 4 * crate::direct_io::CHUNK];
        let error = writer.write_all(&bytes).unwrap_err();
        assert!(error.to_string().contains("/dev/full"), "{error}");
    }
}
