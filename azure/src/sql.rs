//! Service Bus SQL filters: courier [`Filter`]s translated to SQL (the same text Terraform's
//! `modules/topology` writes). The SQL evaluator lives in the stand-in (`courier-azure-standin`).

use courier_core::filter::{Condition, Filter, Literal};

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn name(attr: &str) -> String {
    let plain = attr
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && attr.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        attr.to_owned()
    } else {
        format!("[{attr}]")
    }
}

/// The SQL filter for a courier filter: keys AND-ed, a key's conditions OR-ed.
pub fn to_sql(filter: &Filter) -> String {
    filter
        .conditions
        .iter()
        .map(|(attr, conditions)| {
            let p = name(attr);
            let parts: Vec<String> = conditions
                .iter()
                .map(|c| match c {
                    Condition::Equals(s) => format!("{p} = {}", quote(s)),
                    Condition::EqualsNumber(n) => format!("{p} = {}", number(*n)),
                    Condition::Prefix(x) => format!("{p} LIKE {}", quote(&format!("{x}%"))),
                    Condition::AnythingBut(list) => {
                        format!(
                            "{p} NOT IN ({})",
                            list.iter()
                                .map(|l| match l {
                                    Literal::Str(s) => quote(s),
                                    Literal::Num(n) => number(*n),
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                    Condition::AnythingButPrefix(x) => {
                        format!("{p} NOT LIKE {}", quote(&format!("{x}%")))
                    }
                    Condition::Numeric(bounds) => format!(
                        "({})",
                        bounds
                            .iter()
                            .map(|(op, n)| format!("{p} {} {}", op.as_str(), number(*n)))
                            .collect::<Vec<_>>()
                            .join(" AND ")
                    ),
                    Condition::Exists(true) => format!("EXISTS({p})"),
                    Condition::Exists(false) => format!("NOT EXISTS({p})"),
                })
                .collect();
            format!("({})", parts.join(" OR "))
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use courier_azure_standin::sql::{PropertyValue, SqlFilter};

    /// Properties as Service Bus must see them for the filter to work: numbers typed.
    fn typed<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<(&'a str, PropertyValue)> {
        pairs
            .iter()
            .map(|(k, v)| match v.parse::<i64>() {
                Ok(n) => (*k, PropertyValue::Int(n)),
                Err(_) => (*k, PropertyValue::String((*v).to_owned())),
            })
            .collect()
    }

    fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn courier_filters_round_trip_through_sql() {
        let policy = serde_json::json!({
            "type": ["OrderCreated", "OrderPaid"], "region": [{"prefix": "eu-"}],
            "amount": [{"numeric": [">=", 100, "<", 1000]}, 5],
            "source": [{"anything-but": ["/test", "/qa's"]}], "gift-wrap": [{"exists": false}]
        });
        let filter = Filter::from_policy(&serde_json::from_value(policy).unwrap()).unwrap();
        let sql = to_sql(&filter);
        assert_eq!(
            sql,
            "((amount >= 100 AND amount < 1000) OR amount = 5) AND (ce_source NOT IN ('/test', '/qa''s')) AND (ce_type = 'OrderCreated' OR ce_type = 'OrderPaid') AND (NOT EXISTS([gift-wrap])) AND (region LIKE 'eu-%')"
        );
        let f = SqlFilter::parse(&sql).unwrap();
        let matches =
            |pairs: &[(&str, &str)]| f.evaluate_properties(&typed(pairs)) == Ok(Some(true));
        let base = [
            ("amount", "150"),
            ("ce_source", "/shop"),
            ("ce_type", "OrderPaid"),
            ("region", "eu-west"),
        ];
        assert!(matches(&base));
        for (k, v) in [
            ("amount", "1000"),
            ("ce_source", "/qa's"),
            ("ce_type", "X"),
            ("region", "us"),
            ("gift-wrap", "yes"),
        ] {
            let mut p: Vec<(&str, &str)> = base.iter().filter(|(n, _)| *n != k).copied().collect();
            p.push((k, v));
            assert!(!matches(&p), "{k}={v} must not pass");
            assert_eq!(
                filter.matches(&strings(&p)),
                matches(&p),
                "SQL and courier agree on {k}={v}"
            );
        }
        let five = [
            ("amount", "5"),
            ("ce_source", "/shop"),
            ("ce_type", "OrderPaid"),
            ("region", "eu-west"),
        ];
        assert!(matches(&five));
        assert!(!matches(&five[..1]), "NOT IN needs the property");
    }
}
