//! An append-only file of ids, each line written and fsynced before the call returns: what
//! a process recorded survives its SIGKILL (a torn last line, written when the kill came,
//! is ignored).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

/// An open ledger; appends are serialised.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    file: Mutex<File>,
}

impl Ledger {
    /// Opens (creating) the ledger at `path` for appending.
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<Ledger> {
        let path = path.into();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Ledger {
            path,
            file: Mutex::new(file),
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends these lines and makes them durable before returning.
    pub fn append<'a>(&self, lines: impl IntoIterator<Item = &'a str>) -> std::io::Result<()> {
        let mut text = String::new();
        for line in lines {
            assert!(!line.contains('\n'), "a ledger line is one line");
            text.push_str(line);
            text.push('\n');
        }
        let mut file = self.file.lock();
        file.write_all(text.as_bytes())?;
        file.sync_data()
    }

    /// Every complete line of the ledger at `path` (none when it does not exist).
    pub fn read(path: &Path) -> std::io::Result<Vec<String>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        Ok(complete
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// How many times each line occurs in the ledger at `path`.
    pub fn counts(path: &Path) -> std::io::Result<HashMap<String, u32>> {
        let mut counts = HashMap::new();
        for line in Self::read(path)? {
            *counts.entry(line).or_insert(0) += 1;
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_not_read() {
        let path = std::env::temp_dir().join(format!("ledger-{}", fastrand::u64(..)));
        let ledger = Ledger::open(&path).unwrap();
        ledger.append(["a", "b"]).unwrap();
        ledger.append(["a"]).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"tor")
            .unwrap();
        assert_eq!(Ledger::read(&path).unwrap(), ["a", "b", "a"]);
        assert_eq!(Ledger::counts(&path).unwrap()["a"], 2);
        std::fs::remove_file(path).unwrap();
    }
}
