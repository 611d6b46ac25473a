//! Writing large files past the page cache (Linux `O_DIRECT`).
//!
//! A batch writes its outputs twice (output folder and ledger) and archives
//! its inputs: at a million contracts that is 1.5 GB. Through the page cache
//! every one of those bytes first lands in a freshly allocated page, and on
//! the virtual machines this tool runs on a fresh page costs far more than
//! the copy itself (measured: 1 GiB written buffered 2.2 s, direct 0.6 s;
//! see the README). So large files are written from one reused,
//! block-aligned buffer straight to the disk. Where the file system refuses
//! direct writes (tmpfs, some network file systems) or outside Linux, the
//! same calls write through the page cache.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Bytes gathered before they are written out; a multiple of [`ALIGN`].
pub const CHUNK: usize = 1 << 20;

/// The alignment direct writes need of the buffer, the length and the file
/// offset (4096 covers every logical block size in use).
const ALIGN: usize = 4096;

/// A [`CHUNK`]-sized buffer whose first byte sits on an [`ALIGN`] boundary.
pub struct Chunk {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl Default for Chunk {
    fn default() -> Chunk {
        Chunk::new()
    }
}

impl Chunk {
    pub fn new() -> Chunk {
        let storage = vec![0u8; CHUNK + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN);
        assert!(start < ALIGN, "a byte buffer can always be aligned");
        Chunk { storage, start, len: 0 }
    }

    /// The bytes gathered so far.
    pub fn filled(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// Room left, to be filled and then counted with [`Chunk::grow`].
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.storage[self.start + self.len..self.start + CHUNK]
    }

    pub fn grow(&mut self, filled: usize) {
        assert!(self.len + filled <= CHUNK, "a chunk holds CHUNK bytes");
        self.len += filled;
    }

    /// Copies as much of `data` as fits; returns how much did.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let taken = data.len().min(CHUNK - self.len);
        self.spare()[..taken].copy_from_slice(&data[..taken]);
        self.len += taken;
        taken
    }

    pub fn is_full(&self) -> bool {
        self.len == CHUNK
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// A file being written, directly while the file system allows it.
#[derive(Debug)]
pub struct DirectFile {
    file: File,
    direct: bool,
    /// To be fsynced at the end: buffered writes start their writeback at once.
    durable: bool,
    /// Bytes written so far.
    len: u64,
}

impl DirectFile {
    /// Creates (or truncates) `path` for direct writing. A `durable` file
    /// will be fsynced; whatever of it goes through the page cache is handed
    /// to the disk as it is written, so the fsync finds most of it there.
    /// A symbolic link at `path` is refused (`O_NOFOLLOW`), never written through.
    pub fn create(path: &Path, durable: bool) -> io::Result<DirectFile> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut options = File::options();
            options.write(true).create(true).truncate(true).custom_flags(libc::O_DIRECT | libc::O_NOFOLLOW);
            match options.open(path) {
                Ok(file) => return Ok(DirectFile { file, direct: true, durable, len: 0 }),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(DirectFile { file: create_no_follow(path)?, direct: false, durable, len: 0 })
    }

    /// Writes `bytes`, the next part of the file. Direct writes take whole
    /// blocks from an aligned buffer (a [`Chunk`]); the block-aligned front
    /// of `bytes` goes directly, a remainder (only the file's last write has
    /// one) through the page cache, after which the file stays buffered.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let aligned =
            if self.direct && bytes.as_ptr().align_offset(ALIGN) == 0 { bytes.len() / ALIGN * ALIGN } else { 0 };
        let (front, rest) = bytes.split_at(aligned);
        let written = self.write_direct(front)?;
        if written < front.len() || !rest.is_empty() {
            self.stop_direct()?;
            self.file.write_all(&bytes[written..])?;
            if self.durable {
                start_writeback(&self.file, self.len + written as u64, (bytes.len() - written) as u64);
            }
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Writes directly until done or refused; returns how much was written.
    fn write_direct(&mut self, mut bytes: &[u8]) -> io::Result<usize> {
        let total = bytes.len();
        while !bytes.is_empty() {
            match self.file.write(bytes) {
                // A short direct write leaves the offset possibly unaligned:
                // the rest goes buffered.
                Ok(n) if n == bytes.len() => bytes = &[],
                Ok(n) => return Ok(total - bytes.len() + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(EINVAL) => return Ok(total - bytes.len()),
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// Turns the file into a plain buffered one.
    fn stop_direct(&mut self) -> io::Result<()> {
        if !self.direct {
            return Ok(());
        }
        self.direct = false;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let fd = self.file.as_raw_fd();
            // SAFETY: fcntl on a descriptor this struct owns; no memory is passed.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            // SAFETY: as above.
            if flags == -1 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Flushes the file to stable storage.
    pub fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }
}

/// Asks the kernel to start writing `len` bytes from `offset` of `file` to
/// disk now, without waiting (Linux; nothing elsewhere). Errors surface at
/// the fsync.
fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on an open descriptor; no memory is passed.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

#[cfg(target_os = "linux")]
const EINVAL: i32 = libc::EINVAL;
#[cfg(not(target_os = "linux"))]
const EINVAL: i32 = 22;

/// Creates (or truncates) a file to write, refusing a symbolic link at
/// `path` (`O_NOFOLLOW`): a link planted where the tool writes is an error,
/// never a write to the file it points at.
pub fn create_no_follow(path: &Path) -> io::Result<File> {
    let mut options = File::options();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Opens a file to read; a symbolic link at `path` is refused (ELOOP),
/// never followed: whoever controls a link's target would control what the
/// ledger reads.
pub fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut options = File::options();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Reads a whole file through [`open_no_follow`].
pub fn read_no_follow(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = open_no_follow(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Opens (creating if needed) a file to lock, refusing a symbolic link.
pub fn open_lock_file(path: &Path, create: bool) -> io::Result<File> {
    let mut options = File::options();
    options.read(true).write(true).create(create);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole chunks, a tail, and an unaligned slice all arrive in order.
    #[test]
    fn writes_arrive_in_order_whatever_their_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = DirectFile::create(&path, true).unwrap();
        let mut chunk = Chunk::new();
        let pattern: Vec<u8> = (0..CHUNK + 5000).map(|i| (i % 251) as u8).collect();
        let taken = chunk.push(&pattern);
        assert_eq!(taken, CHUNK);
        assert!(chunk.is_full());
        file.write(chunk.filled()).unwrap();
        chunk.clear();
        chunk.push(&pattern[taken..]);
        file.write(chunk.filled()).unwrap();
        file.write(&pattern[1..10]).unwrap();
        file.sync_all().unwrap();
        let mut expected = pattern.clone();
        expected.extend_from_slice(&pattern[1..10]);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }
}
