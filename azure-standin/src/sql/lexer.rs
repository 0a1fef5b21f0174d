//! Tokens of the SQL filter language ("Subscription Rule SQL Filter Syntax"): regular,
//! `[delimited]` and `"quoted"` identifiers, `'strings'` with `''`, integer (Int64),
//! decimal and approximate (Double) numbers, `@parameters`, operators and punctuation.
//! Keywords are case-insensitive.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    /// A regular identifier or keyword (as written).
    Word(String),
    /// `[delimited]` or `"quoted"`: always a name, never a keyword.
    Name(String),
    Str(String),
    Long(i64),
    Double(f64),
    Param(String),
    Op(&'static str),
    Open,
    Close,
    Comma,
    Dot,
}

pub(super) const KEYWORDS: &[&str] = &[
    "AND", "OR", "NOT", "IS", "NULL", "IN", "LIKE", "ESCAPE", "EXISTS", "TRUE", "FALSE",
];

pub(super) fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

pub(super) fn tokenize(sql: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let (token, next) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => (Token::Open, i + 1),
            ')' => (Token::Close, i + 1),
            ',' => (Token::Comma, i + 1),
            '.' if !chars.get(i + 1).is_some_and(char::is_ascii_digit) => (Token::Dot, i + 1),
            '\'' => {
                let (text, next) = enclosed(&chars, i, '\'', '\'')?;
                (Token::Str(text), next)
            }
            '[' => {
                let (text, next) = enclosed(&chars, i, '[', ']')?;
                (Token::Name(text), next)
            }
            '"' => {
                let (text, next) = enclosed(&chars, i, '"', '"')?;
                (Token::Name(text), next)
            }
            '@' => {
                let end = word_end(&chars, i + 1);
                if end == i + 1 {
                    return Err(format!("'@' at {i} is not followed by a parameter name"));
                }
                (Token::Param(chars[i..end].iter().collect()), end)
            }
            c if c.is_ascii_digit() || c == '.' => number(&chars, i)?,
            c if c.is_alphabetic() => {
                let end = word_end(&chars, i + 1);
                (Token::Word(chars[i..end].iter().collect()), end)
            }
            _ => operator(&chars, i)?,
        };
        out.push(token);
        i = next;
    }
    Ok(out)
}

fn word_end(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
        i += 1;
    }
    i
}

/// Text between `open` and `close`, where a doubled `close` stands for itself.
fn enclosed(
    chars: &[char],
    start: usize,
    open: char,
    close: char,
) -> Result<(String, usize), String> {
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err(format!("{open} opened at {start} is never closed")),
            Some(&c) if c == close && chars.get(i + 1) == Some(&close) => {
                text.push(close);
                i += 2;
            }
            Some(&c) if c == close => return Ok((text, i + 1)),
            Some(&c) => {
                text.push(c);
                i += 1;
            }
        }
    }
}

fn number(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let mut i = start;
    let digits = |i: &mut usize| {
        let from = *i;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > from
    };
    let whole = digits(&mut i);
    let mut decimal = false;
    if chars.get(i) == Some(&'.') {
        i += 1;
        decimal = true;
        if !digits(&mut i) && !whole {
            return Err(format!("a number at {start} has no digits"));
        }
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(chars.get(j), Some('+' | '-')) {
            j += 1;
        }
        if !digits(&mut j) {
            return Err(format!(
                "the exponent of the number at {start} has no digits"
            ));
        }
        i = j;
        decimal = true;
    }
    if chars.get(i).is_some_and(|c| c.is_alphabetic() || *c == '_') {
        return Err(format!("a number at {start} runs into a name"));
    }
    let text: String = chars[start..i].iter().collect();
    let token = if decimal {
        Token::Double(text.parse().map_err(|_| format!("bad number {text}"))?)
    } else {
        // "The values are stored as System.Int64 internally, and follow the same range."
        Token::Long(
            text.parse()
                .map_err(|_| format!("the integer {text} is out of the Int64 range"))?,
        )
    };
    Ok((token, i))
}

fn operator(chars: &[char], i: usize) -> Result<(Token, usize), String> {
    let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
    for op in ["<>", "!=", "<=", ">="] {
        if two == op {
            return Ok((Token::Op(op), i + 2));
        }
    }
    let op = match chars[i] {
        '=' => "=",
        '<' => "<",
        '>' => ">",
        '+' => "+",
        '-' => "-",
        '*' => "*",
        '/' => "/",
        '%' => "%",
        other => return Err(format!("unexpected '{other}' at {i}")),
    };
    Ok((Token::Op(op), i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_the_documented_forms() {
        let t = tokenize("sys.Label LIKE '%bus%' OR [HR-EmployeeID] = 'it''s' AND x >= 1894.1204 AND y <> 101.5E5 AND z = @p").unwrap();
        assert!(t.contains(&Token::Name("HR-EmployeeID".into())));
        assert!(t.contains(&Token::Str("it's".into())));
        assert!(t.contains(&Token::Double(1894.1204)));
        assert!(t.contains(&Token::Double(101.5e5)));
        assert!(t.contains(&Token::Param("@p".into())));
        assert_eq!(tokenize("[a]]b]").unwrap(), vec![Token::Name("a]b".into())]);
        assert_eq!(
            tokenize("\"x\"\"y\"").unwrap(),
            vec![Token::Name("x\"y".into())]
        );
        assert!(tokenize("'open").is_err());
        assert!(tokenize("99999999999999999999").is_err(), "beyond Int64");
        assert!(tokenize("a ~ b").is_err());
    }
}
