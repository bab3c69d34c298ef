//! Atomic file writes (readers see either the old file or the whole new one) and bounded
//! reads of small files.

use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Writes `bytes` to `path` so that readers see either the old file or the whole new one.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.txt");
/// recs::util::write_atomic(&path, b"hello")?;
/// assert_eq!(std::fs::read(&path)?, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Io`] naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Data(format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        unique()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The cap [`read_small_file`] callers use for operator files (model lists, id lists,
/// thresholds, configurations, registry pointers): 64 MiB, far above any real one and small
/// enough that a wrong path (a data dump, `/dev/zero`) is an error instead of all the memory.
pub const SMALL_FILE_MAX_BYTES: u64 = 64 << 20;

/// Reads a whole small file (a configuration, an id list, a JSON document) into memory, or
/// fails if it holds more than `max_bytes`: never more than `max_bytes + 1` bytes are read,
/// so an endless file (`/dev/zero`, a FIFO) or a wrong, huge path cannot take unbounded memory.
///
/// ```
/// use recs::util::{read_small_file, SMALL_FILE_MAX_BYTES};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("models.txt");
/// std::fs::write(&path, b"ease:lambda=500\n")?;
/// assert_eq!(read_small_file(&path, SMALL_FILE_MAX_BYTES)?, b"ease:lambda=500\n");
/// let err = read_small_file(&path, 4).unwrap_err().to_string();
/// assert!(err.contains("models.txt") && err.contains("4 bytes"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Io`] naming the path when it cannot be read (the source keeps its kind, so
/// `NotFound` can be told apart); [`Error::Limit`] naming the path and the cap when the file
/// is longer.
pub fn read_small_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // The length, where the file has one, sizes the buffer; a device or pipe reports 0.
    let hint = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(hint.min(max_bytes) as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(Error::Limit(format!(
            "{}: longer than {max_bytes} bytes, the most read from a file of this kind \
             (is it the right file?)",
            path.display()
        )));
    }
    Ok(bytes)
}

/// [`read_small_file`] as UTF-8 text.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("ids.txt");
/// std::fs::write(&path, "1\n2\n")?;
/// assert_eq!(recs::util::read_small_text(&path, 1024)?, "1\n2\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`read_small_file`]; [`Error::Io`] (kind `InvalidData`) naming the path when the file
/// is not UTF-8.
pub fn read_small_text(path: &Path, max_bytes: u64) -> Result<String> {
    String::from_utf8(read_small_file(path, max_bytes)?).map_err(|e| {
        Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_at_the_cap_is_read_and_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.txt");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_small_file(&path, 10).unwrap(), b"0123456789");
        let err = read_small_file(&path, 9).unwrap_err();
        assert!(matches!(err, Error::Limit(_)), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("list.txt") && msg.contains("9 bytes"), "{msg}");
    }

    #[test]
    #[cfg(unix)]
    fn an_endless_file_is_an_error_not_unbounded_memory() {
        // /dev/zero never ends and reports length 0: only the cap stops the read
        let err = read_small_file(Path::new("/dev/zero"), 1 << 16).unwrap_err();
        assert!(err.to_string().contains("/dev/zero"), "{err}");
        assert!(matches!(err, Error::Limit(_)), "{err}");
    }

    #[test]
    fn missing_and_non_utf8_files_are_io_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        match read_small_text(&missing, 100) {
            Err(Error::Io { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected Io, got {other:?}"),
        }
        let latin1 = dir.path().join("latin1.txt");
        std::fs::write(&latin1, [b'a', 0xE9]).unwrap();
        let err = read_small_text(&latin1, 100).unwrap_err().to_string();
        assert!(err.contains("latin1.txt"), "{err}");
    }
}
