//! Atomic file replacement: a reader (or a crash) sees either the old file or the new one,
//! never half of each.
//!
//! The recipe: write everything to `NAME.tmp` in the same folder, `fsync` it so the bytes are on
//! disk, `rename` it over `NAME` (atomic on POSIX file systems within one folder), then `fsync`
//! the folder so the rename itself survives a power cut.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary sibling `write_with` writes first: `NAME.tmp` next to `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replaces `path` atomically with whatever `write` puts into the temporary file it is given.
///
/// `write` receives the temporary path (so it can call a library's `save(path)`); after it
/// returns, the file is synced and renamed over `path`. On error the temporary file is removed
/// and `path` is untouched.
///
/// # Errors
/// The error of `write`, or the I/O error of syncing or renaming, naming the file.
pub fn write_with<E>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> anyhow::Result<()>
where
    E: Into<anyhow::Error>,
{
    use anyhow::Context;
    let tmp = temp_path(path);
    let result = write(&tmp).map_err(Into::into).and_then(|()| {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    });
    if result.is_err() {
        // Best effort: the error being reported is the one that matters.
        let _ = fs::remove_file(&tmp);
        return result;
    }
    sync_parent(path).with_context(|| format!("syncing the folder of {}", path.display()))
}

/// Replaces `path` atomically with `bytes`.
///
/// # Errors
/// The I/O error, naming the file.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_with(path, |tmp| -> anyhow::Result<()> {
        use anyhow::Context;
        let mut f = File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("writing {}", tmp.display()))?;
        Ok(())
    })
}

fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("trainer-atomic-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temp() {
        let dir = scratch("ok");
        let p = dir.join("a.json");
        write_bytes(&p, b"old").unwrap();
        write_bytes(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert!(!temp_path(&p).exists());
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = scratch("fail");
        let p = dir.join("ckpt.safetensors");
        write_bytes(&p, b"good").unwrap();
        let err = write_with(&p, |tmp| {
            fs::write(tmp, b"half").unwrap();
            Err(anyhow::anyhow!("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read(&p).unwrap(), b"good");
        assert!(!temp_path(&p).exists());
    }
}
