//! Evaluation with the service's semantics ("Subscription Rule SQL Filter Syntax",
//! Considerations): a missing user property is *unknown* (three-valued AND/OR, unknown
//! through comparisons, LIKE and IN), a missing system property is an error, and operators
//! bind as in C#: numbers compare with numbers (Int64 promoted to Double), strings only
//! with strings and only for equality, with no conversion between strings and numbers —
//! any other pairing is an evaluation error (a `FilterException`).

use std::cmp::Ordering;

use super::like::like;
use super::parser::{Expr, Scope};
use crate::properties::Value;

/// What a filter reads from a message.
pub(crate) trait MessageView {
    /// A custom property (names are case-insensitive).
    fn user(&self, name: &str) -> Option<Value>;
    /// A system property: `Err` when no such property exists, `Ok(None)` when unset.
    fn system(&self, name: &str) -> Result<Option<Value>, ()>;
}

/// Unknown is `None`.
type Maybe = Option<Value>;

pub(super) fn truth(e: &Expr, m: &dyn MessageView) -> Result<Option<bool>, String> {
    Ok(match e {
        Expr::Not(inner) => truth(inner, m)?.map(|b| !b),
        Expr::And(parts) => {
            let mut result = Some(true);
            for p in parts {
                match truth(p, m)? {
                    Some(false) => return Ok(Some(false)),
                    None => result = None,
                    Some(true) => {}
                }
            }
            result
        }
        Expr::Or(parts) => {
            let mut result = Some(false);
            for p in parts {
                match truth(p, m)? {
                    Some(true) => return Ok(Some(true)),
                    None => result = None,
                    Some(false) => {}
                }
            }
            result
        }
        Expr::Compare(op, l, r) => match (value(l, m)?, value(r, m)?) {
            (Some(a), Some(b)) => Some(compare(op, &a, &b)?),
            _ => None,
        },
        Expr::IsNull(p, negated) => Some(value(p, m)?.is_none() != *negated),
        Expr::In(left, list, negated) => in_list(left, list, m)?.map(|b| b != *negated),
        Expr::Like {
            value: v,
            pattern,
            escape,
            negated,
        } => like_expr(v, pattern, escape.as_deref(), m)?.map(|b| b != *negated),
        Expr::Exists(Scope::User, name) => Some(m.user(name).is_some()),
        Expr::Exists(Scope::Sys, name) => Some(system(m, name)?.is_some()),
        Expr::Const(Some(Value::Bool(b))) => Some(*b),
        other => return Err(format!("{other:?} is not a condition")),
    })
}

fn system(m: &dyn MessageView, name: &str) -> Result<Maybe, String> {
    m.system(name)
        .map_err(|()| format!("the system property 'sys.{name}' does not exist"))
}

fn value(e: &Expr, m: &dyn MessageView) -> Result<Maybe, String> {
    Ok(match e {
        Expr::Const(v) => v.clone(),
        Expr::Property(Scope::User, name) => m.user(name),
        Expr::Property(Scope::Sys, name) => system(m, name)?,
        Expr::PropertyOf(arg) => match value(arg, m)? {
            Some(Value::Str(name)) => match name.split_once('.') {
                Some((s, n)) if s.eq_ignore_ascii_case("sys") => system(m, n)?,
                Some((s, n)) if s.eq_ignore_ascii_case("user") => m.user(n),
                _ => m.user(&name),
            },
            Some(other) => {
                return Err(format!(
                    "property() takes a string, not {}",
                    other.type_name()
                ))
            }
            None => None,
        },
        Expr::NewId => Some(Value::Guid(uuid::Uuid::new_v4())),
        Expr::Negate(inner) => match value(inner, m)? {
            Some(Value::Long(n)) => Some(Value::Long(n.wrapping_neg())),
            Some(Value::Double(d)) => Some(Value::Double(-d)),
            Some(other) => {
                return Err(format!(
                    "operator '-' cannot be applied to an operand of type '{}'",
                    other.type_name()
                ))
            }
            None => None,
        },
        Expr::Arith(op, l, r) => match (value(l, m)?, value(r, m)?) {
            (Some(a), Some(b)) => Some(arith(op, a, b)?),
            _ => None,
        },
        predicate => truth(predicate, m)?.map(Value::Bool),
    })
}

fn mismatch(op: &str, a: &Value, b: &Value) -> String {
    format!(
        "operator '{op}' cannot be applied to operands of type '{}' and '{}'",
        a.type_name(),
        b.type_name()
    )
}

/// `a op b` for two known values, C# style.
pub(super) fn compare(op: &str, a: &Value, b: &Value) -> Result<bool, String> {
    let ordering = match (a, b) {
        (Value::Long(x), Value::Long(y)) => x.cmp(y),
        (Value::Long(_) | Value::Double(_), Value::Long(_) | Value::Double(_)) => {
            match as_f64(a).partial_cmp(&as_f64(b)) {
                Some(o) => o,
                // NaN: every comparison but <> is false.
                None => return Ok(op == "<>"),
            }
        }
        (Value::DateTime(x), Value::DateTime(y)) => x.cmp(y),
        (Value::TimeSpan(x), Value::TimeSpan(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) if matches!(op, "=" | "<>") => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) if matches!(op, "=" | "<>") => x.cmp(y),
        (Value::Guid(x), Value::Guid(y)) if matches!(op, "=" | "<>") => x.cmp(y),
        _ => return Err(mismatch(op, a, b)),
    };
    Ok(match op {
        "=" => ordering == Ordering::Equal,
        "<>" => ordering != Ordering::Equal,
        "<" => ordering == Ordering::Less,
        "<=" => ordering != Ordering::Greater,
        ">" => ordering == Ordering::Greater,
        _ => ordering != Ordering::Less,
    })
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Long(n) => *n as f64,
        Value::Double(d) => *d,
        _ => f64::NAN,
    }
}

fn arith(op: &str, a: Value, b: Value) -> Result<Value, String> {
    match (&a, &b) {
        (Value::Long(x), Value::Long(y)) => {
            let (x, y) = (*x, *y);
            Ok(Value::Long(match op {
                "+" => x.wrapping_add(y),
                "-" => x.wrapping_sub(y),
                "*" => x.wrapping_mul(y),
                _ if y == 0 => return Err("attempted to divide by zero".into()),
                "/" => x.wrapping_div(y),
                _ => x.wrapping_rem(y),
            }))
        }
        (Value::Long(_) | Value::Double(_), Value::Long(_) | Value::Double(_)) => {
            let (x, y) = (as_f64(&a), as_f64(&b));
            Ok(Value::Double(match op {
                "+" => x + y,
                "-" => x - y,
                "*" => x * y,
                "/" => x / y,
                _ => x % y,
            }))
        }
        // C#: string + anything concatenates.
        (Value::Str(x), _) if op == "+" => Ok(Value::Str(format!("{x}{}", text(&b)))),
        (_, Value::Str(y)) if op == "+" => Ok(Value::Str(format!("{}{y}", text(&a)))),
        _ => Err(mismatch(op, &a, &b)),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Long(n) => n.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        Value::DateTime(at) => at.to_string(),
        Value::TimeSpan(t) => t.to_string(),
        Value::Guid(g) => g.to_string(),
    }
}

fn in_list(left: &Expr, list: &[Expr], m: &dyn MessageView) -> Result<Option<bool>, String> {
    // "If the left operand is evaluated as unknown, then the result is unknown."
    let Some(left) = value(left, m)? else {
        return Ok(None);
    };
    let mut unknown = false;
    for item in list {
        match value(item, m)? {
            Some(v) if compare("=", &left, &v)? => return Ok(Some(true)),
            Some(_) => {}
            None => unknown = true,
        }
    }
    Ok(if unknown { None } else { Some(false) })
}

fn like_expr(
    v: &Expr,
    pattern: &Expr,
    escape: Option<&Expr>,
    m: &dyn MessageView,
) -> Result<Option<bool>, String> {
    let (Some(v), Some(p)) = (value(v, m)?, value(pattern, m)?) else {
        return Ok(None);
    };
    let escape = match escape {
        None => None,
        Some(e) => match value(e, m)? {
            Some(Value::Str(s)) if s.chars().count() == 1 => s.chars().next(),
            Some(other) => {
                return Err(format!(
                    "the ESCAPE character must be a string of length 1, not {other:?}"
                ))
            }
            None => return Ok(None),
        },
    };
    match (v, p) {
        (Value::Str(s), Value::Str(p)) => like(&s, &p, escape).map(Some),
        (a, b) => Err(mismatch("LIKE", &a, &b)),
    }
}
