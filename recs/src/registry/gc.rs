//! Telling an abandoned publish folder (`.tmp-*` of a killed publisher) from a running one.
//!
//! A publisher writes its folder as `.tmp-<id>/` and renames it to `vX.Y` when complete; a
//! publisher killed mid-way leaves the folder behind. A folder is **abandoned** when
//! - its `.owner` file (`<pid> <host>`, written first by the publisher) names this host and a
//!   process that no longer exists (Linux: no `/proc/<pid>`), or
//! - no owner can be checked (no `.owner`, another host, not Linux) and nothing in it was
//!   modified for `older_than` (the newest mtime of the folder and its files: a publisher that
//!   is still writing keeps touching its file).
//!
//! A folder whose owner is alive on this host is never removed, whatever its age, so a slow
//! concurrent publisher is safe; on a shared (network) folder written from several hosts the
//! age guard is what protects it, so keep `older_than` well above the longest publish.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Name of the owner file inside a publish folder.
pub(crate) const OWNER_FILE: &str = ".owner";

/// Age past which [`crate::registry::Registry::publish`] removes abandoned publish folders of
/// other publishers on its own (one hour); `recs registry gc` takes its own age.
pub const AUTO_GC_AGE: Duration = Duration::from_secs(3600);

/// This host's name (Linux), for owner files.
fn host() -> String {
    crate::util::read_small_text(Path::new("/proc/sys/kernel/hostname"), 4096)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The owner line for a publish folder of this process.
pub(crate) fn owner_line() -> String {
    format!("{} {}\n", std::process::id(), host())
}

/// Whether the owner named in `line` is known to be alive (`Some(true)`), known to be gone
/// (`Some(false)`), or cannot be checked from here (`None`).
fn owner_alive(line: &str) -> Option<bool> {
    let mut parts = line.split_whitespace();
    let pid: u32 = parts.next()?.parse().ok()?;
    let owner_host = parts.next().unwrap_or("");
    let here = host();
    if here.is_empty() || owner_host != here || !Path::new("/proc/self").exists() {
        return None;
    }
    Some(Path::new(&format!("/proc/{pid}")).exists())
}

/// Time since anything in `dir` (one level) or `dir` itself was last modified.
fn idle_for(dir: &Path) -> Duration {
    let mut newest = fs::symlink_metadata(dir).and_then(|m| m.modified()).ok();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                newest = Some(newest.map_or(m, |n| n.max(m)));
            }
        }
    }
    newest
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default()
}

/// Whether the publish folder (or stray temporary file) at `path` is abandoned; see the
/// module docs.
pub(crate) fn abandoned(path: &Path, older_than: Duration) -> bool {
    if path.is_dir() {
        // An owner file is one short line; the cap keeps a stray huge file harmless.
        if let Ok(line) = crate::util::read_small_text(&path.join(OWNER_FILE), 4096) {
            if let Some(alive) = owner_alive(&line) {
                return !alive;
            }
        }
    }
    idle_for(path) >= older_than
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn a_live_owner_is_never_abandoned_and_a_dead_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join(".tmp-live");
        fs::create_dir(&live).unwrap();
        fs::write(live.join(OWNER_FILE), owner_line()).unwrap();
        assert!(!abandoned(&live, Duration::ZERO));
        // A pid above the kernel's pid_max (4194304 at most) cannot be running.
        let dead = dir.path().join(".tmp-dead");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join(OWNER_FILE), format!("4194305 {}\n", host())).unwrap();
        assert!(abandoned(&dead, Duration::from_secs(3600)));
    }

    #[test]
    fn without_an_owner_the_age_decides() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".tmp-x");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("model.bin"), b"half").unwrap();
        assert!(!abandoned(&p, Duration::from_secs(3600)));
        assert!(abandoned(&p, Duration::ZERO));
        // An owner on another host cannot be checked: the age decides too.
        fs::write(p.join(OWNER_FILE), "1 some-other-host\n").unwrap();
        assert!(!abandoned(&p, Duration::from_secs(3600)));
    }
}
