//! `LIKE` with `%` (any run of characters), `_` (exactly one) and an optional `ESCAPE`
//! character that makes the next pattern character literal ("Subscription Rule SQL Filter
//! Syntax": `property LIKE 'ABC\%' ESCAPE '\'` matches `ABC%`).
//!
//! No backtracking: the pattern is cut at each `%` into segments of fixed length; the
//! first is anchored at the start, the last at the end, and each one between is matched at
//! its leftmost position (the leftmost placement never hurts the segments after it). Time
//! is at most text length × pattern length, both bounded by the service's quotas.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Atom {
    One,
    Char(char),
}

/// Whether `text` matches `pattern`; `Err` for a pattern that ends in its escape character.
pub(crate) fn like(text: &str, pattern: &str, escape: Option<char>) -> Result<bool, String> {
    let segments = compile(pattern, escape)?;
    let text: Vec<char> = text.chars().collect();
    Ok(matches_segments(&text, &segments))
}

/// Segments between `%`s (an unescaped `%` at either end leaves an empty segment there).
fn compile(pattern: &str, escape: Option<char>) -> Result<Vec<Vec<Atom>>, String> {
    let mut segments = Vec::new();
    let mut current = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            let literal = chars.next().ok_or_else(|| {
                format!("the LIKE pattern '{pattern}' ends with its escape character")
            })?;
            current.push(Atom::Char(literal));
            continue;
        }
        match c {
            '%' => segments.push(std::mem::take(&mut current)),
            '_' => current.push(Atom::One),
            c => current.push(Atom::Char(c)),
        }
    }
    segments.push(current);
    Ok(segments)
}

fn fits(text: &[char], at: usize, segment: &[Atom]) -> bool {
    text.len() >= at + segment.len()
        && segment.iter().zip(&text[at..]).all(|(a, c)| match a {
            Atom::One => true,
            Atom::Char(x) => x == c,
        })
}

fn matches_segments(text: &[char], segments: &[Vec<Atom>]) -> bool {
    let (first, middle, last) = match segments {
        [] => return text.is_empty(),
        // No '%': the whole text, character for character.
        [only] => return text.len() == only.len() && fits(text, 0, only),
        [first, middle @ .., last] => (first, middle, last),
    };
    if !fits(text, 0, first) {
        return false;
    }
    let mut at = first.len();
    for segment in middle {
        let Some(found) =
            (at..=text.len().saturating_sub(segment.len())).find(|&i| fits(text, i, segment))
        else {
            return false;
        };
        at = found + segment.len();
    }
    text.len() >= at + last.len() && fits(text, text.len() - last.len(), last)
}

#[cfg(test)]
mod tests {
    use super::like;

    fn l(text: &str, pattern: &str) -> bool {
        like(text, pattern, None).unwrap()
    }

    #[test]
    fn wildcards_match_as_sql_does() {
        assert!(l("eu-west", "eu-%"));
        assert!(l("abc", "a_c") && !l("abd", "a_c"));
        assert!(l("", "%") && l("", "") && !l("a", ""));
        assert!(l("bus stop", "%bus%") && l("the bus", "%bus%") && !l("bu s", "%bus%"));
        assert!(l("aXbYc", "a%b%c") && !l("aXbY", "a%b%c"));
        assert!(l("abab", "%ab") && l("aab", "a%ab") && !l("ab", "a%ab"));
        assert!(l("ab", "%%__%%") && !l("a", "%%__%%"));
        assert!(l("x", "_") && !l("", "_") && !l("xy", "_"));
    }

    #[test]
    fn underscore_and_percent_are_wildcards_unless_escaped() {
        // courier issue 10, item 4: 'test_%' must not match what 'test\_%' would exclude.
        assert!(l("tests-eu", "test_%"), "_ is any one character");
        assert!(!like("tests-eu", "test!_%", Some('!')).unwrap());
        assert!(like("test_eu", "test!_%", Some('!')).unwrap());
        // The documentation's example.
        assert!(like("ABC%", "ABC\\%", Some('\\')).unwrap());
        assert!(!like("ABCD", "ABC\\%", Some('\\')).unwrap());
        assert!(like("a!b", "a!!b", Some('!')).unwrap());
        assert!(like("x", "x!", Some('!')).is_err());
    }

    #[test]
    fn no_exponential_backtracking() {
        // The old evaluator recursed on every '%' (2^n paths); this is one pass per segment.
        let text = "a".repeat(30_000);
        let pattern = format!("{}b", "%a".repeat(400));
        assert!(!l(&text, &pattern));
        assert!(l(&text, &"%a".repeat(400)));
    }
}
