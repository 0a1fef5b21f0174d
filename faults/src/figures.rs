//! Each suite reports its figures from the run itself: one line on standard error (seen
//! with `--nocapture`) and, when `COURIER_TEST_FAULTS_REPORT` names a file, appended to it
//! (`scripts/test.sh` prints that file at the end).

use std::io::Write;

/// Reports `line` as the figures of `suite`.
pub fn report(suite: &str, line: &str) {
    let text = format!("{suite}: {line}");
    eprintln!("FIGURES {text}");
    if let Ok(path) = std::env::var("COURIER_TEST_FAULTS_REPORT") {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{text}"));
        if let Err(e) = written {
            panic!("cannot write the figures to {path}: {e}");
        }
    }
}

/// `n` with thousands separators, as the README writes figures.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_separated() {
        assert_eq!(super::thousands(5000), "5,000");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_234_567), "1,234,567");
    }
}
