//! The grammar of "Subscription Rule SQL Filter Syntax", parsed into an expression tree:
//!
//! ```text
//! predicate  := NOT predicate | predicate AND predicate | predicate OR predicate
//!             | expression {= | <> | != | > | >= | < | <=} expression
//!             | property IS [NOT] NULL | expression [NOT] IN (expression, …)
//!             | expression [NOT] LIKE pattern [ESCAPE escape_char]
//!             | EXISTS (property) | (predicate)
//! expression := constant | function | property | expression {+ | - | * | / | %} expression
//!             | {+ | -} expression | (expression)
//! property   := [sys. | user.] name
//! ```
//!
//! Nesting is bounded ([`MAX_DEPTH`]) so that no text can exhaust the stack.

use std::collections::BTreeMap;

use super::lexer::{is_keyword, Token};
use crate::properties::Value;

/// Deepest nesting of parentheses, `NOT` and signs the stand-in accepts (a filter is at
/// most 1,024 characters; no legitimate one comes near this).
pub(crate) const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    User,
    Sys,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    /// A constant; `None` is `NULL`.
    Const(Option<Value>),
    Property(Scope, String),
    /// `property(name)` / `p(name)`.
    PropertyOf(Box<Expr>),
    NewId,
    Negate(Box<Expr>),
    Arith(&'static str, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Compare(&'static str, Box<Expr>, Box<Expr>),
    IsNull(Box<Expr>, bool),
    In(Box<Expr>, Vec<Expr>, bool),
    Like {
        value: Box<Expr>,
        pattern: Box<Expr>,
        escape: Option<Box<Expr>>,
        negated: bool,
    },
    Exists(Scope, String),
}

impl Expr {
    /// Whether this is a condition (true/false/unknown) rather than a value.
    fn is_predicate(&self) -> bool {
        matches!(
            self,
            Expr::Not(_)
                | Expr::And(_)
                | Expr::Or(_)
                | Expr::Compare(..)
                | Expr::IsNull(..)
                | Expr::In(..)
                | Expr::Like { .. }
                | Expr::Exists(..)
                | Expr::Const(Some(Value::Bool(_)))
        )
    }
}

pub(super) struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    depth: usize,
    parameters: &'a BTreeMap<String, Value>,
}

impl<'a> Parser<'a> {
    pub(super) fn new(tokens: &'a [Token], parameters: &'a BTreeMap<String, Value>) -> Self {
        Parser {
            tokens,
            pos: 0,
            depth: 0,
            parameters,
        }
    }

    /// The whole text as one predicate.
    pub(super) fn filter(mut self) -> Result<Expr, String> {
        let e = self.or()?;
        if self.pos != self.tokens.len() {
            return Err(format!(
                "unexpected {:?} after the expression",
                self.tokens[self.pos]
            ));
        }
        predicate(e, "the filter")
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn keyword(&mut self, kw: &str) -> bool {
        let yes = matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw));
        self.pos += usize::from(yes);
        yes
    }

    fn expect(&mut self, t: Token, what: &str) -> Result<(), String> {
        if self.peek() == Some(&t) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected {what} at token {}", self.pos))
        }
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "the expression nests deeper than {MAX_DEPTH} levels"
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and()?];
        while self.keyword("OR") {
            parts.push(self.and()?);
        }
        Ok(match parts.len() {
            1 => parts.remove(0),
            _ => Expr::Or(
                parts
                    .into_iter()
                    .map(|p| predicate(p, "OR"))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.not()?];
        while self.keyword("AND") {
            parts.push(self.not()?);
        }
        Ok(match parts.len() {
            1 => parts.remove(0),
            _ => Expr::And(
                parts
                    .into_iter()
                    .map(|p| predicate(p, "AND"))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.keyword("NOT") {
            self.deeper()?;
            let inner = predicate(self.not()?, "NOT")?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.condition()
    }

    fn condition(&mut self) -> Result<Expr, String> {
        let left = self.additive()?;
        if self.keyword("IS") {
            let negated = self.keyword("NOT");
            if !self.keyword("NULL") {
                return Err("IS [NOT] must be followed by NULL".into());
            }
            if !matches!(left, Expr::Property(..)) {
                return Err("IS [NOT] NULL applies to a property".into());
            }
            return Ok(Expr::IsNull(Box::new(left), negated));
        }
        let negated = self.keyword("NOT");
        if self.keyword("LIKE") {
            let pattern = value(self.additive()?, "LIKE")?;
            let escape = if self.keyword("ESCAPE") {
                Some(Box::new(value(self.additive()?, "ESCAPE")?))
            } else {
                None
            };
            return Ok(Expr::Like {
                value: Box::new(value(left, "LIKE")?),
                pattern: Box::new(pattern),
                escape,
                negated,
            });
        }
        if self.keyword("IN") {
            self.expect(Token::Open, "'(' after IN")?;
            let mut list = vec![value(self.additive()?, "IN")?];
            while self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                list.push(value(self.additive()?, "IN")?);
            }
            self.expect(Token::Close, "')' closing IN")?;
            return Ok(Expr::In(Box::new(value(left, "IN")?), list, negated));
        }
        if negated {
            return Err("NOT here must be followed by LIKE or IN".into());
        }
        if let Some(Token::Op(op @ ("=" | "<>" | "!=" | "<" | "<=" | ">" | ">="))) = self.peek() {
            let op = if *op == "!=" { "<>" } else { op };
            self.pos += 1;
            let right = self.additive()?;
            return Ok(Expr::Compare(
                op,
                Box::new(value(left, op)?),
                Box::new(value(right, op)?),
            ));
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, String> {
        let mut left = self.multiplicative()?;
        while let Some(Token::Op(op @ ("+" | "-"))) = self.peek() {
            let op: &'static str = op;
            self.pos += 1;
            let right = self.multiplicative()?;
            left = Expr::Arith(op, Box::new(value(left, op)?), Box::new(value(right, op)?));
        }
        Ok(left)
    }

    fn multiplicative(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(Token::Op(op @ ("*" | "/" | "%"))) = self.peek() {
            let op: &'static str = op;
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::Arith(op, Box::new(value(left, op)?), Box::new(value(right, op)?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if let Some(Token::Op(op @ ("+" | "-"))) = self.peek() {
            let negate = *op == "-";
            self.pos += 1;
            self.deeper()?;
            let inner = value(self.unary()?, "a sign")?;
            self.depth -= 1;
            return Ok(match (negate, inner) {
                (true, Expr::Const(Some(Value::Long(n)))) => {
                    Expr::Const(Some(Value::Long(n.wrapping_neg())))
                }
                (true, Expr::Const(Some(Value::Double(d)))) => Expr::Const(Some(Value::Double(-d))),
                (true, e) => Expr::Negate(Box::new(e)),
                (false, e) => e,
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some(token) = self.peek().cloned() else {
            return Err("the expression ends too early".into());
        };
        self.pos += 1;
        match token {
            Token::Open => {
                self.deeper()?;
                let inner = self.or()?;
                self.expect(Token::Close, "')'")?;
                self.depth -= 1;
                Ok(inner)
            }
            Token::Str(s) => Ok(Expr::Const(Some(Value::Str(s)))),
            Token::Long(n) => Ok(Expr::Const(Some(Value::Long(n)))),
            Token::Double(d) => Ok(Expr::Const(Some(Value::Double(d)))),
            Token::Param(name) => self
                .parameters
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&name))
                .map(|(_, v)| Expr::Const(Some(v.clone())))
                .ok_or_else(|| {
                    format!("the parameter {name} has no value in the rule's Parameters")
                }),
            Token::Name(name) => Ok(Expr::Property(Scope::User, name)),
            Token::Word(w) => self.word(w),
            other => Err(format!("unexpected {other:?} at token {}", self.pos - 1)),
        }
    }

    fn word(&mut self, w: String) -> Result<Expr, String> {
        let upper = w.to_ascii_uppercase();
        match upper.as_str() {
            "NULL" => return Ok(Expr::Const(None)),
            "TRUE" => return Ok(Expr::Const(Some(Value::Bool(true)))),
            "FALSE" => return Ok(Expr::Const(Some(Value::Bool(false)))),
            "EXISTS" => {
                self.expect(Token::Open, "'(' after EXISTS")?;
                let Expr::Property(scope, name) = self.property_name()? else {
                    return Err("EXISTS takes a property".into());
                };
                self.expect(Token::Close, "')' closing EXISTS")?;
                return Ok(Expr::Exists(scope, name));
            }
            _ => {}
        }
        if self.peek() == Some(&Token::Open) {
            return self.function(&upper);
        }
        self.pos -= 1;
        self.property_name()
    }

    fn function(&mut self, name: &str) -> Result<Expr, String> {
        self.pos += 1;
        let call = match name {
            "NEWID" => Expr::NewId,
            "PROPERTY" | "P" => {
                self.deeper()?;
                let arg = value(self.additive()?, "property()")?;
                self.depth -= 1;
                Expr::PropertyOf(Box::new(arg))
            }
            other => return Err(format!("unknown function {other}()")),
        };
        self.expect(Token::Close, "')' closing the function call")?;
        Ok(call)
    }

    /// `[sys. | user.] name` (the current token starts it).
    fn property_name(&mut self) -> Result<Expr, String> {
        let first = self.name_token()?;
        if self.peek() == Some(&Token::Dot) {
            let scope = match first.to_ascii_lowercase().as_str() {
                "sys" => Scope::Sys,
                "user" => Scope::User,
                _ => return Err(format!("'{first}.' is not a scope (sys or user)")),
            };
            self.pos += 1;
            return Ok(Expr::Property(scope, self.name_token()?));
        }
        Ok(Expr::Property(Scope::User, first))
    }

    fn name_token(&mut self) -> Result<String, String> {
        match self.peek().cloned() {
            Some(Token::Name(n)) => {
                self.pos += 1;
                Ok(n)
            }
            Some(Token::Word(w)) if !is_keyword(&w) => {
                self.pos += 1;
                Ok(w)
            }
            Some(Token::Word(w)) => Err(format!(
                "'{w}' is a reserved keyword; write [{w}] for a property of that name"
            )),
            other => Err(format!("expected a property name, found {other:?}")),
        }
    }
}

fn predicate(e: Expr, context: &str) -> Result<Expr, String> {
    if e.is_predicate() {
        Ok(e)
    } else {
        Err(format!("{context} needs a condition, not the value {e:?}"))
    }
}

fn value(e: Expr, context: &str) -> Result<Expr, String> {
    match e {
        Expr::Const(Some(Value::Bool(_))) => Ok(e),
        _ if e.is_predicate() => Err(format!("{context} needs a value, not a condition")),
        _ => Ok(e),
    }
}
