//! An evaluator of the Service Bus SQL filter subset, for the stand-in.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

fn tokenize(sql: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => (out.push(Token::Open), i += 1).1,
            ')' => (out.push(Token::Close), i += 1).1,
            ',' => (out.push(Token::Comma), i += 1).1,
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => (s.push('\''), i += 2).1,
                        Some('\'') => break i += 1,
                        Some(&ch) => (s.push(ch), i += 1).1,
                    }
                }
                out.push(Token::Str(s));
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|&ch| ch == ']')
                    .ok_or("unterminated [name]")?
                    + i;
                out.push(Token::Ident(chars[i + 1..end].iter().collect()));
                i = end + 1;
            }
            '=' => (out.push(Token::Op("=")), i += 1).1,
            '<' | '>' | '!' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = match two.as_str() {
                    "<=" => "<=",
                    ">=" => ">=",
                    "<>" | "!=" => "<>",
                    _ if c == '<' => "<",
                    _ if c == '>' => ">",
                    _ => return Err(format!("unexpected '{c}'")),
                };
                i += op.len();
                out.push(Token::Op(op));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Token::Num(
                    text.parse().map_err(|_| format!("bad number {text}"))?,
                ));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
                {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected '{other}'")),
        }
    }
    Ok(out)
}

/// A parsed SQL filter, evaluated against a message's properties.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Str(String),
    Num(f64),
}

struct Eval<'a> {
    tokens: &'a [Token],
    pos: usize,
    props: &'a BTreeMap<String, String>,
}

impl Eval<'_> {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.peek_kw(kw);
        self.pos += usize::from(yes);
        yes
    }
    fn expect(&mut self, t: Token) -> Result<(), String> {
        if self.tokens.get(self.pos) == Some(&t) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected {t:?} at token {}", self.pos))
        }
    }
    fn or(&mut self) -> Result<Option<bool>, String> {
        let mut v = self.and()?;
        while self.eat_kw("OR") {
            let r = self.and()?;
            v = match (v, r) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            };
        }
        Ok(v)
    }
    fn and(&mut self) -> Result<Option<bool>, String> {
        let mut v = self.not()?;
        while self.eat_kw("AND") {
            let r = self.not()?;
            v = match (v, r) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
        }
        Ok(v)
    }
    fn not(&mut self) -> Result<Option<bool>, String> {
        if self.eat_kw("NOT") {
            return Ok(self.not()?.map(|b| !b));
        }
        self.predicate()
    }
    fn property(&self, ident: &str) -> Val {
        let key = ident.strip_prefix("user.").unwrap_or(ident);
        match self.props.get(key) {
            Some(v) => Val::Str(v.clone()),
            None => Val::Null,
        }
    }
    fn operand(&mut self) -> Result<Val, String> {
        let t = self.tokens.get(self.pos).cloned().ok_or("unexpected end")?;
        self.pos += 1;
        Ok(match t {
            Token::Str(s) => Val::Str(s),
            Token::Num(n) => Val::Num(n),
            Token::Ident(w) if w.eq_ignore_ascii_case("NULL") => Val::Null,
            Token::Ident(w) => self.property(&w),
            other => return Err(format!("unexpected {other:?}")),
        })
    }
    fn predicate(&mut self) -> Result<Option<bool>, String> {
        if self.tokens.get(self.pos) == Some(&Token::Open) {
            self.pos += 1;
            let v = self.or()?;
            self.expect(Token::Close)?;
            return Ok(v);
        }
        if self.eat_kw("EXISTS") {
            self.expect(Token::Open)?;
            let Some(Token::Ident(p)) = self.tokens.get(self.pos).cloned() else {
                return Err("EXISTS takes a property".into());
            };
            self.pos += 1;
            self.expect(Token::Close)?;
            return Ok(Some(self.property(&p) != Val::Null));
        }
        if self.eat_kw("TRUE") {
            return Ok(Some(true));
        }
        if self.eat_kw("FALSE") {
            return Ok(Some(false));
        }
        let left = self.operand()?;
        if self.eat_kw("IS") {
            let negate = self.eat_kw("NOT");
            if !self.eat_kw("NULL") {
                return Err("IS takes NULL".into());
            }
            return Ok(Some((left == Val::Null) != negate));
        }
        let negate = self.eat_kw("NOT");
        if self.eat_kw("LIKE") {
            let Val::Str(pattern) = self.operand()? else {
                return Err("LIKE takes a string".into());
            };
            let Val::Str(s) = left else { return Ok(None) };
            return Ok(Some(like(&s, &pattern) != negate));
        }
        if self.eat_kw("IN") {
            self.expect(Token::Open)?;
            let mut found = false;
            loop {
                let v = self.operand()?;
                found |= compare(&left, &v) == Some(std::cmp::Ordering::Equal);
                if self.tokens.get(self.pos) == Some(&Token::Comma) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            self.expect(Token::Close)?;
            return Ok(if left == Val::Null {
                None
            } else {
                Some(found != negate)
            });
        }
        if negate {
            return Err("NOT must precede LIKE or IN here".into());
        }
        let Some(Token::Op(op)) = self.tokens.get(self.pos).cloned() else {
            return Err(format!("expected a comparison at token {}", self.pos));
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(compare(&left, &right).map(|o| match op {
            "=" => o.is_eq(),
            "<>" => o.is_ne(),
            "<" => o.is_lt(),
            "<=" => o.is_le(),
            ">" => o.is_gt(),
            _ => o.is_ge(),
        }))
    }
}

fn compare(a: &Val, b: &Val) -> Option<std::cmp::Ordering> {
    let num = |v: &Val| match v {
        Val::Num(n) => Some(*n),
        Val::Str(s) => s.trim().parse::<f64>().ok(),
        Val::Null => None,
    };
    match (a, b) {
        (Val::Null, _) | (_, Val::Null) => None,
        (Val::Num(_), _) | (_, Val::Num(_)) => num(a)?.partial_cmp(&num(b)?),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
    }
}

/// SQL LIKE with `%` (any run) and `_` (one character).
fn like(s: &str, pattern: &str) -> bool {
    fn go(s: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| go(&s[i..], rest)),
            Some(('_', rest)) => !s.is_empty() && go(&s[1..], rest),
            Some((c, rest)) => s.first() == Some(c) && go(&s[1..], rest),
        }
    }
    go(
        &s.chars().collect::<Vec<_>>(),
        &pattern.chars().collect::<Vec<_>>(),
    )
}

impl SqlFilter {
    /// Parses a filter; the text names what is wrong.
    pub fn parse(sql: &str) -> Result<Self, String> {
        let f = SqlFilter {
            tokens: tokenize(sql)?,
        };
        // Evaluate once against nothing, to report syntax errors now.
        f.eval(&BTreeMap::new())?;
        Ok(f)
    }

    fn eval(&self, props: &BTreeMap<String, String>) -> Result<Option<bool>, String> {
        let mut e = Eval {
            tokens: &self.tokens,
            pos: 0,
            props,
        };
        let v = e.or()?;
        if e.pos != self.tokens.len() {
            return Err(format!("unexpected text after token {}", e.pos));
        }
        Ok(v)
    }

    /// Whether a message with these properties passes (unknown counts as no).
    pub fn matches(&self, props: &BTreeMap<String, String>) -> bool {
        self.eval(props).ok().flatten().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_bus_forms_parse() {
        let f = SqlFilter::parse("user.color = 'blue' AND NOT (sys.Label IS NOT NULL) OR 1 = 1")
            .unwrap();
        assert!(f.matches(&BTreeMap::new()));
        assert!(SqlFilter::parse("color = ").is_err());
        assert!(SqlFilter::parse("'x").is_err());
        assert!(like("eu-west", "eu-%") && like("abc", "a_c") && !like("abd", "a_c"));
    }
}
