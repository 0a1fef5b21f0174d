//! Service Bus SQL filters ("Subscription Rule SQL Filter Syntax"): parsed once when the
//! rule is created (400 for what the service would refuse), evaluated per message.
//!
//! Public so that tests elsewhere (filter equivalence properties) can evaluate a filter
//! against typed custom properties exactly as the stand-in does:
//!
//! ```
//! use courier_azure_standin::sql::{PropertyValue, SqlFilter};
//! let f = SqlFilter::parse("amount >= 100 AND region LIKE 'eu-%'").unwrap();
//! let typed = [("amount", PropertyValue::Int(150)), ("region", PropertyValue::String("eu-west".into()))];
//! assert_eq!(f.evaluate_properties(&typed), Ok(Some(true)));
//! // A quoted number is a string: comparing it with a number is an evaluation error.
//! let text = [("amount", PropertyValue::String("150".into()))];
//! assert!(f.evaluate_properties(&text).is_err());
//! ```

mod eval;
mod lexer;
mod like;
mod parser;

use std::collections::BTreeMap;

pub(crate) use eval::MessageView;

use crate::properties::Value;

/// "Maximum length of filter condition string: 1,024" (Service Bus quotas).
pub(crate) const MAX_LENGTH: usize = 1024;

/// A custom property value as a filter sees it (the types of "Message Headers and
/// Properties").
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    /// A quoted header value.
    String(String),
    /// An unquoted integer (`System.Int64`).
    Int(i64),
    /// An unquoted floating-point number (`System.Double`).
    Double(f64),
    /// `true` / `false`.
    Bool(bool),
}

/// A parsed SQL filter expression.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    expression: parser::Expr,
}

/// Custom properties only; every `sys.` property reads as unset.
struct Typed<'a>(&'a [(&'a str, PropertyValue)]);

impl MessageView for Typed<'_> {
    fn user(&self, name: &str) -> Option<Value> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| match v {
                PropertyValue::String(s) => Value::Str(s.clone()),
                PropertyValue::Int(n) => Value::Long(*n),
                PropertyValue::Double(d) => Value::Double(*d),
                PropertyValue::Bool(b) => Value::Bool(*b),
            })
    }
    fn system(&self, _name: &str) -> Result<Option<Value>, ()> {
        Ok(None)
    }
}

impl SqlFilter {
    /// Parses a filter as the service does when a rule is created; the error names the
    /// problem (the service answers 400).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_with(text, &BTreeMap::new())
    }

    /// Evaluates against custom properties: true, false, or unknown (`None`, which does
    /// not match); `Err` is an evaluation error (a `FilterException`, which dead-letters
    /// where the subscription has `DeadLetteringOnFilterEvaluationExceptions`).
    pub fn evaluate_properties(
        &self,
        properties: &[(&str, PropertyValue)],
    ) -> Result<Option<bool>, String> {
        self.evaluate(&Typed(properties))
    }

    /// Parses `text` with the rule's `@parameters`; the error names the problem.
    pub(crate) fn parse_with(
        text: &str,
        parameters: &BTreeMap<String, Value>,
    ) -> Result<Self, String> {
        let length = text.chars().count();
        if length > MAX_LENGTH {
            return Err(format!(
                "the filter is {length} characters long; Service Bus allows {MAX_LENGTH}"
            ));
        }
        let tokens = lexer::tokenize(text)?;
        if tokens.is_empty() {
            return Err("the filter is empty".into());
        }
        let expression = parser::Parser::new(&tokens, parameters).filter()?;
        Ok(SqlFilter { expression })
    }

    /// True, false, or unknown (`None`, which does not match); `Err` is an evaluation
    /// error, a `FilterException` in the service.
    pub(crate) fn evaluate(&self, message: &dyn MessageView) -> Result<Option<bool>, String> {
        eval::truth(&self.expression, message)
    }
}

/// Typed equality as a correlation filter applies it (different types are unequal).
pub(crate) fn equal(a: &Value, b: &Value) -> bool {
    eval::compare("=", a, b).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message with custom properties and the system properties MessageId and Label.
    struct Props(Vec<(&'static str, Value)>);

    impl MessageView for Props {
        fn user(&self, name: &str) -> Option<Value> {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        }
        fn system(&self, name: &str) -> Result<Option<Value>, ()> {
            match name.to_ascii_lowercase().as_str() {
                "messageid" => Ok(Some(Value::Str("m-1".into()))),
                "label" => Ok(None),
                _ => Err(()),
            }
        }
    }

    fn eval(sql: &str, props: &[(&'static str, Value)]) -> Result<Option<bool>, String> {
        SqlFilter::parse(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .evaluate(&Props(props.to_vec()))
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn typing_follows_csharp_binding() {
        // "Operators follow C# implicit conversion semantics": no string/number conversion.
        let amount_text = [("amount", s("150"))];
        assert!(
            eval("amount >= 100", &amount_text).is_err(),
            "string vs number: error"
        );
        assert!(eval("amount = 150", &amount_text).is_err());
        assert!(eval("amount IN (150, 200)", &amount_text).is_err());
        assert!(
            eval("amount < 'x'", &amount_text).is_err(),
            "no < on strings"
        );
        assert_eq!(eval("amount = '150'", &amount_text), Ok(Some(true)));
        let amount = [("amount", Value::Long(150))];
        assert_eq!(eval("amount >= 100", &amount), Ok(Some(true)));
        assert_eq!(
            eval("amount >= 100.5", &amount),
            Ok(Some(true)),
            "Int64 promoted"
        );
        assert_eq!(eval("amount + 1 = 151", &amount), Ok(Some(true)));
        assert_eq!(eval("amount % 7 = 3", &amount), Ok(Some(true)));
        assert!(eval("amount / 0 = 1", &amount).is_err());
        assert_eq!(
            eval("'a' + amount = 'a150'", &amount),
            Ok(Some(true)),
            "+ with a string concatenates"
        );
        assert_eq!(
            eval("flag = TRUE", &[("flag", Value::Bool(true))]),
            Ok(Some(true))
        );
        assert!(eval("flag = 1", &[("flag", Value::Bool(true))]).is_err());
    }

    #[test]
    fn unknown_is_three_valued() {
        // The AND / OR truth tables of the documentation.
        assert_eq!(eval("missing = 1", &[]), Ok(None));
        assert_eq!(eval("missing = 1 AND 1 = 0", &[]), Ok(Some(false)));
        assert_eq!(eval("missing = 1 AND 1 = 1", &[]), Ok(None));
        assert_eq!(eval("missing = 1 OR 1 = 1", &[]), Ok(Some(true)));
        assert_eq!(eval("missing = 1 OR 1 = 0", &[]), Ok(None));
        assert_eq!(eval("NOT missing = 1", &[]), Ok(None));
        assert_eq!(
            eval("missing NOT IN ('a')", &[]),
            Ok(None),
            "unknown left: unknown"
        );
        assert_eq!(eval("missing LIKE 'a%'", &[]), Ok(None));
        assert_eq!(eval("missing IS NULL", &[]), Ok(Some(true)));
        assert_eq!(eval("NOT EXISTS(missing)", &[]), Ok(Some(true)));
        assert_eq!(eval("x IN ('a', missing)", &[("x", s("b"))]), Ok(None));
        assert_eq!(
            eval("x IN ('b', missing)", &[("x", s("b"))]),
            Ok(Some(true))
        );
    }

    #[test]
    fn names_scopes_and_system_properties() {
        // "Property names are case-insensitive"; sys/user scopes; a non-existent system
        // property is an error, a missing user property unknown.
        let p = [("Color", s("blue"))];
        assert_eq!(eval("color = 'blue'", &p), Ok(Some(true)));
        assert_eq!(eval("USER.COLOR = 'blue'", &p), Ok(Some(true)));
        assert_eq!(eval("[color] = 'blue'", &p), Ok(Some(true)));
        assert_eq!(eval("sys.MessageId = 'm-1'", &p), Ok(Some(true)));
        assert_eq!(eval("SYS.messageid = 'm-1'", &p), Ok(Some(true)));
        assert_eq!(eval("sys.Label IS NULL", &p), Ok(Some(true)));
        assert_eq!(eval("EXISTS(sys.Label)", &p), Ok(Some(false)));
        assert!(eval("sys.Nonsense = 1", &p).is_err());
        assert_eq!(eval("property('color') = 'blue'", &p), Ok(Some(true)));
        assert_eq!(eval("p('sys.MessageId') = 'm-1'", &p), Ok(Some(true)));
    }

    #[test]
    fn like_with_escape_and_parameters() {
        let p = [("region", s("test_eu")), ("r2", s("tests-eu"))];
        assert_eq!(eval("region LIKE 'test!_%' ESCAPE '!'", &p), Ok(Some(true)));
        assert_eq!(eval("r2 LIKE 'test!_%' ESCAPE '!'", &p), Ok(Some(false)));
        assert_eq!(eval("r2 NOT LIKE 'test!_%' ESCAPE '!'", &p), Ok(Some(true)));
        assert!(eval("region LIKE 'x' ESCAPE '!!'", &p).is_err());
        assert!(eval("n LIKE 'x'", &[("n", Value::Long(1))]).is_err());
        let params = BTreeMap::from([("@r".to_owned(), s("test_eu"))]);
        let f = SqlFilter::parse_with("region = @r", &params).unwrap();
        assert_eq!(f.evaluate(&Props(p.to_vec())), Ok(Some(true)));
        assert!(SqlFilter::parse_with("region = @other", &params).is_err());
    }

    #[test]
    fn what_the_service_refuses_at_creation() {
        for bad in [
            "",
            "color = ",
            "'x",
            "a = 1 AND",
            "a AND b",
            "1 + 1",
            "(a = 1) = 2",
            "a IS NULL = 1",
            "and = 1",
            "x.y = 1",
            "nosuch(1) = 1",
            "a NOT = 1",
            "9223372036854775808 = 1",
        ] {
            assert!(SqlFilter::parse(bad).is_err(), "{bad:?} must be refused");
        }
        for good in [
            "1=1",
            "1 = 0",
            "TRUE",
            "user.color = 'blue' AND NOT (sys.Label IS NOT NULL) OR 1 = 1",
            "sys.To IN ('Store5','Store6','Store7') OR StoreId = 'Store8'",
            "(a + 1) * 2 > -3.5E2",
            "[Property With Space] = 'x' AND \"Contoso & Northwind\" <> 'y'",
        ] {
            assert!(SqlFilter::parse(good).is_ok(), "{good:?} must parse");
        }
    }

    #[test]
    fn size_and_depth_are_bounded() {
        // courier issue 10, item 11: 50,000 nested parentheses overflowed the stack.
        let deep = format!("{}1=1{}", "(".repeat(50_000), ")".repeat(50_000));
        let e = SqlFilter::parse(&deep).unwrap_err();
        assert!(e.contains("1024"), "{e}");
        let nested = format!("{}1=1{}", "(".repeat(500), ")".repeat(500));
        let e = SqlFilter::parse(&nested).unwrap_err();
        assert!(e.contains("nests deeper"), "{e}");
        let nots = format!("{}1=1", "NOT ".repeat(250));
        assert!(SqlFilter::parse(&nots).is_err());
        let ok = format!("{}1=1{}", "(".repeat(30), ")".repeat(30));
        assert!(SqlFilter::parse(&ok).is_ok());
    }
}
