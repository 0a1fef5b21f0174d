//! Raw Service Bus REST calls, as a program that is not courier makes them (a foreign
//! producer sending gzip, a consumer reading the properties courier wrote), signed with
//! the documented SAS algorithm.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use courier_azure::connection::sas_token;
use courier_azure::ConnectionString;

/// A message as a raw peek-lock returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMessage {
    pub status: u16,
    /// Response headers by lower-case name (custom properties among them).
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl RawMessage {
    /// `BrokerProperties`, parsed.
    pub fn broker_properties(&self) -> serde_json::Map<String, serde_json::Value> {
        self.headers
            .get("brokerproperties")
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or_default()
    }
}

pub struct Rest {
    connection: ConnectionString,
    base: String,
    http: reqwest::Client,
}

impl Rest {
    pub fn new(connection: ConnectionString, base: String) -> Self {
        Rest {
            connection,
            base,
            http: reqwest::Client::new(),
        }
    }

    fn token(&self, path: &str) -> String {
        let expiry = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        let resource = format!("{}/{path}", self.connection.namespace_url());
        sas_token(
            &resource,
            expiry,
            &self.connection.key_name,
            &self.connection.key,
        )
    }

    /// A request to `path` (no leading slash, query allowed), signed.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let resource = path.split('?').next().unwrap_or(path);
        self.http
            .request(method, format!("{}/{path}", self.base))
            .header("authorization", self.token(resource))
    }

    /// "Send Message" with these headers (custom properties and `BrokerProperties`).
    pub async fn send(&self, entity: &str, headers: &[(&str, &str)], body: Vec<u8>) -> u16 {
        let mut req = self.request(reqwest::Method::POST, &format!("{entity}/messages"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(body).send().await.expect("send").status().as_u16()
    }

    /// "Peek-Lock Message", waiting up to `wait`.
    pub async fn peek_lock(&self, entity: &str, wait: Duration) -> RawMessage {
        let res = self
            .request(
                reqwest::Method::POST,
                &format!("{entity}/messages/head?timeout={}", wait.as_secs()),
            )
            .send()
            .await
            .expect("peek-lock");
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = res.bytes().await.expect("body").to_vec();
        RawMessage {
            status,
            headers,
            body,
        }
    }

    /// "Delete Message" (complete) of a raw peek-locked message.
    pub async fn complete(&self, message: &RawMessage) -> u16 {
        let location = &message.headers["location"];
        let path = location
            .split_once(".servicebus.windows.net/")
            .map(|(_, p)| p)
            .expect("a lock URI");
        self.request(reqwest::Method::DELETE, path)
            .send()
            .await
            .expect("complete")
            .status()
            .as_u16()
    }

    /// A management `GET` (Atom XML).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .request(reqwest::Method::GET, &format!("{path}?api-version=2017-04"))
            .send()
            .await
            .expect("get");
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    }

    /// A management `PUT` of an Atom entry (create, or update with `If-Match: *`).
    pub async fn put(&self, path: &str, entry: &str, update: bool) -> (u16, String) {
        let mut req = self
            .request(reqwest::Method::PUT, &format!("{path}?api-version=2017-04"))
            .header(
                "content-type",
                "application/atom+xml;type=entry;charset=utf-8",
            )
            .body(entry.to_owned());
        if update {
            req = req.header("if-match", "*");
        }
        let res = req.send().await.expect("put");
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    }
}

impl Rest {
    /// A management `DELETE`.
    pub async fn delete(&self, path: &str) -> u16 {
        self.request(
            reqwest::Method::DELETE,
            &format!("{path}?api-version=2017-04"),
        )
        .send()
        .await
        .expect("delete")
        .status()
        .as_u16()
    }
}

/// A `RuleDescription` entry with a SQL filter, as Microsoft's SDKs write it.
pub fn sql_rule_entry(name: &str, sql: &str) -> String {
    entry(
        "RuleDescription",
        &format!(
            r#"<Filter i:type="SqlFilter"><SqlExpression>{}</SqlExpression></Filter><Action i:type="EmptyRuleAction"/><Name>{name}</Name>"#,
            sql.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        ),
    )
}

/// An Atom entry wrapping a description, as Microsoft's SDKs write it.
pub fn entry(description: &str, children: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><{description} xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">{children}</{description}></content></entry>"#
    )
}

/// The text of the first element named `tag` in `xml` (tests only: no nesting).
pub fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..start + end])
}
