//! The namespace a protocol test talks to over plain REST: the local stand-in, or a real
//! Service Bus namespace when `COURIER_TEST_AZURE_CONNECTION_STRING` is set (a key that
//! may manage entities; every test makes uniquely named entities).
#![allow(dead_code, unreachable_pub)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use courier_azure_standin::{Options, StandIn};
use hmac::{Hmac, Mac};
use reqwest::{Method, RequestBuilder, Response};
use sha2::Sha256;

pub const ATOM: &str = "http://www.w3.org/2005/Atom";
pub const SB: &str = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect";

pub struct Namespace {
    pub standin: Option<StandIn>,
    /// Where requests go (`http://127.0.0.1:PORT` or `https://NS.servicebus.windows.net`).
    base: String,
    /// The namespace's host, as tokens name it.
    pub host: String,
    pub key_name: String,
    key: String,
    http: reqwest::Client,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Percent-encoding as Python's `quote_plus` (upper case) or .NET's `UrlEncode` (lower).
pub fn url_encode(text: &str, lower: bool) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
    if !lower {
        return encoded;
    }
    let mut out = String::new();
    let mut chars = encoded.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            for _ in 0..2 {
                if let Some(h) = chars.next() {
                    out.push(h.to_ascii_lowercase());
                }
            }
        }
    }
    out
}

/// A SAS token as "Service Bus access control with Shared Access Signatures" describes it,
/// signed over `encoded_sr` exactly.
pub fn sas_token(encoded_sr: &str, expiry: u64, key_name: &str, key: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{encoded_sr}\n{expiry}").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!(
        "SharedAccessSignature sr={encoded_sr}&sig={}&se={expiry}&skn={key_name}",
        url_encode(&sig, false)
    )
}

impl Namespace {
    /// The real namespace of `COURIER_TEST_AZURE_CONNECTION_STRING`, else a local stand-in.
    pub async fn connect() -> Self {
        match std::env::var("COURIER_TEST_AZURE_CONNECTION_STRING") {
            Ok(cs) => Self::remote(&cs),
            Err(_) => Self::local(Options::default()).await,
        }
    }

    /// Always the local stand-in (for what only it can show, or its documented choices).
    pub async fn local(options: Options) -> Self {
        let standin = StandIn::start_with("127.0.0.1:0".parse().unwrap(), options)
            .await
            .expect("the stand-in starts");
        let cs = standin.connection_string().expose().to_owned();
        let mut ns = Self::remote(&cs);
        ns.base = standin.endpoint();
        ns.standin = Some(standin);
        ns
    }

    fn remote(connection_string: &str) -> Self {
        let mut parts = std::collections::HashMap::new();
        for p in connection_string.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = p.split_once('=').expect("KEY=VALUE");
            parts.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        let endpoint = &parts["endpoint"];
        let host = endpoint
            .trim_start_matches("sb://")
            .trim_end_matches('/')
            .to_owned();
        Namespace {
            standin: None,
            base: format!("https://{host}"),
            host,
            key_name: parts["sharedaccesskeyname"].clone(),
            key: parts["sharedaccesskey"].clone(),
            http: reqwest::Client::new(),
        }
    }

    pub fn is_standin(&self) -> bool {
        self.standin.is_some()
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// A token for `https://HOST/scope`, valid for an hour.
    pub fn token(&self, scope: &str) -> String {
        let uri = format!("https://{}/{scope}", self.host);
        sas_token(
            &url_encode(&uri, false),
            unix_now() + 3600,
            &self.key_name,
            &self.key,
        )
    }

    /// A request without authorization.
    pub fn bare(&self, method: Method, path_and_query: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}/{path_and_query}", self.base))
            .timeout(std::time::Duration::from_secs(120))
    }

    /// A request signed with a namespace-wide token.
    pub fn request(&self, method: Method, path_and_query: &str) -> RequestBuilder {
        self.bare(method, path_and_query)
            .header("Authorization", self.token(""))
    }

    pub fn unique(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    }

    /// PUT an Atom entry with this description (create, or with `update` If-Match: *).
    pub async fn put(&self, path: &str, description: &str, update: bool) -> Response {
        let body = entry(description);
        let mut req = self
            .request(Method::PUT, &format!("{path}?api-version=2021-05"))
            .header(
                "Content-Type",
                "application/atom+xml;type=entry;charset=utf-8",
            )
            .body(body);
        if update {
            req = req.header("If-Match", "*");
        }
        req.send().await.unwrap()
    }

    /// Creates a queue with these description children (in schema order).
    pub async fn queue(&self, name: &str, children: &str) -> String {
        let res = self
            .put(name, &description("QueueDescription", children), false)
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        name.to_owned()
    }

    pub async fn topic(&self, name: &str, children: &str) -> String {
        let res = self
            .put(name, &description("TopicDescription", children), false)
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        name.to_owned()
    }

    /// A subscription whose `$Default` rule is replaced by `filter` (a `<Filter>` element).
    pub async fn subscription(
        &self,
        topic: &str,
        name: &str,
        children: &str,
        filter: Option<&str>,
    ) -> String {
        let path = format!("{topic}/subscriptions/{name}");
        let res = self
            .put(
                &path,
                &description("SubscriptionDescription", children),
                false,
            )
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        if let Some(filter) = filter {
            let res = self.rule(&path, "only", filter, false).await;
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
            let res = self
                .request(
                    Method::DELETE,
                    &format!("{path}/rules/$Default?api-version=2021-05"),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        }
        path
    }

    pub async fn rule(
        &self,
        subscription: &str,
        name: &str,
        filter: &str,
        update: bool,
    ) -> Response {
        let rule = format!(
            "<RuleDescription xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"{SB}\">{filter}<Action i:type=\"EmptyRuleAction\"/><Name>{name}</Name></RuleDescription>"
        );
        self.put(&format!("{subscription}/rules/{name}"), &rule, update)
            .await
    }

    /// Send Message with custom property headers and optional BrokerProperties.
    pub async fn send(
        &self,
        entity: &str,
        body: &str,
        broker: Option<&str>,
        properties: &[(&str, &str)],
    ) -> Response {
        let mut req = self
            .request(Method::POST, &format!("{entity}/messages"))
            .header("Content-Type", "text/plain")
            .body(body.to_owned());
        if let Some(b) = broker {
            req = req.header("BrokerProperties", b);
        }
        for (k, v) in properties {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// Peek-lock with a long-poll `timeout` (seconds).
    pub async fn peek_lock(&self, entity: &str, timeout: u64) -> Response {
        self.request(
            Method::POST,
            &format!("{entity}/messages/head?timeout={timeout}"),
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn receive_and_delete(&self, entity: &str, timeout: u64) -> Response {
        self.request(
            Method::DELETE,
            &format!("{entity}/messages/head?timeout={timeout}"),
        )
        .send()
        .await
        .unwrap()
    }

    /// The path of a lock URI from a peek-lock's Location.
    pub fn lock_path(&self, res: &Response) -> String {
        let location = res.headers()["location"].to_str().unwrap();
        let prefix = format!("https://{}/", self.host);
        location
            .strip_prefix(&prefix)
            .expect("Location on the namespace")
            .to_owned()
    }

    pub async fn delete(&self, path: &str) {
        let _ = self
            .request(Method::DELETE, &format!("{path}?api-version=2021-05"))
            .send()
            .await;
    }
}

/// `<X xmlns=SB>children</X>`.
pub fn description(name: &str, children: &str) -> String {
    format!("<{name} xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"{SB}\">{children}</{name}>")
}

/// The Atom entry around a description.
pub fn entry(description: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><entry xmlns=\"{ATOM}\"><content type=\"application/xml\">{description}</content></entry>")
}

/// The parsed `BrokerProperties` of a received message.
pub fn broker_properties(res: &Response) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(res.headers()["brokerproperties"].to_str().unwrap()).unwrap()
}

/// A header's text.
pub fn header(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}
