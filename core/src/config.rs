//! Configuration: `courier.toml` plus `COURIER_*` environment overrides.
//!
//! ```toml
//! provider = "memory"          # memory (default) | aws | azure
//! topology = "topology.yaml"   # optional
//!
//! [aws]                        # everything optional: the standard AWS chain fills the rest
//! region = "us-east-1"
//! endpoint_url = "http://127.0.0.1:4566"
//! profile = "dev"
//! operation_timeout_secs = 60  # a call, retries included (default 60)
//! attempt_timeout_secs = 30    # one attempt of a call; above SQS's 20 s long poll (default 30)
//!
//! [azure]
//! connection_string = "Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…"
//! endpoint = "http://127.0.0.1:9090"   # optional: send requests to a local server
//! allow_insecure_endpoint = false       # plain http:// to a non-loopback host sends SAS tokens in clear
//! operation_timeout_secs = 30           # a call, beyond a receive's long poll (default 30)
//! connect_timeout_secs = 10             # opening a connection (default 10)
//!
//! [postgres]                   # the outbox and the durable idempotency store
//! url = "postgres://app:…@127.0.0.1:5432/shop"
//! ```
//!
//! Environment variables override the file: `COURIER_PROVIDER`, `COURIER_TOPOLOGY`,
//! `COURIER_AWS_REGION`, `COURIER_AWS_ENDPOINT_URL`, `COURIER_AWS_PROFILE`,
//! `COURIER_AWS_OPERATION_TIMEOUT_SECS`, `COURIER_AWS_ATTEMPT_TIMEOUT_SECS`,
//! `COURIER_AZURE_CONNECTION_STRING`, `COURIER_AZURE_ENDPOINT`,
//! `COURIER_AZURE_ALLOW_INSECURE_ENDPOINT` (`true`/`false`),
//! `COURIER_AZURE_OPERATION_TIMEOUT_SECS`, `COURIER_AZURE_CONNECT_TIMEOUT_SECS`,
//! `COURIER_POSTGRES_URL`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The default config file, read when present in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "courier.toml";
/// The default topology file, read when the config names none.
pub const DEFAULT_TOPOLOGY_FILE: &str = "topology.yaml";

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The in-memory broker (the default).
    #[default]
    Memory,
    /// Amazon SQS + SNS.
    Aws,
    /// Azure Service Bus.
    Azure,
}

impl Provider {
    /// The name as written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Memory => "memory",
            Provider::Aws => "aws",
            Provider::Azure => "azure",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "memory" => Ok(Provider::Memory),
            "aws" => Ok(Provider::Aws),
            "azure" => Ok(Provider::Azure),
            _ => Err(Error::invalid_config(format!(
                "provider '{s}' is not one of memory, aws, azure"
            ))),
        }
    }
}

/// A secret string: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// AWS settings; unset fields come from the standard AWS configuration chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Region, e.g. `eu-west-1`.
    pub region: Option<String>,
    /// Endpoint override, e.g. LocalStack's `http://127.0.0.1:4566`.
    pub endpoint_url: Option<String>,
    /// Named profile.
    pub profile: Option<String>,
    /// Longest a call to SQS or SNS may take, retries included, in seconds (the backend's
    /// default when unset: 60). A call that takes longer fails as a transient error.
    pub operation_timeout_secs: Option<u64>,
    /// Longest one attempt of a call may take, in seconds (the backend's default when
    /// unset: 30, above SQS's longest long poll of 20 s). A receive polls for at most two
    /// thirds of it.
    pub attempt_timeout_secs: Option<u64>,
}

/// Azure Service Bus settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// `Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…`.
    pub connection_string: Option<Secret>,
    /// Send requests to this base URL instead of the namespace (a local server).
    pub endpoint: Option<String>,
    /// Allow an `endpoint` that is plain `http://` on a host other than loopback. Every
    /// request carries a SAS token, which such an endpoint would see in clear; off by
    /// default.
    #[serde(default)]
    pub allow_insecure_endpoint: bool,
    /// Longest a Service Bus REST call may take, in seconds (the backend's default when
    /// unset: 30). A receive's call may take its long poll plus this: the service holds
    /// the request for the poll, so the poll is never shortened to fit. A call that takes
    /// longer fails as a transient `Timeout`.
    pub operation_timeout_secs: Option<u64>,
    /// Longest opening a connection may take, in seconds (default 10; never longer than
    /// the operation timeout in effect).
    pub connect_timeout_secs: Option<u64>,
}

/// PostgreSQL settings (the outbox and the durable idempotency store).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/dbname` (or libpq's `key=value` form); secret,
    /// since it may hold the password.
    pub url: Option<Secret>,
}

/// Everything `courier::connect` needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which backend.
    #[serde(default)]
    pub provider: Provider,
    /// The topology file.
    pub topology: Option<PathBuf>,
    /// AWS settings.
    #[serde(default)]
    pub aws: AwsConfig,
    /// Azure settings.
    #[serde(default)]
    pub azure: AzureConfig,
    /// PostgreSQL settings.
    #[serde(default)]
    pub postgres: PostgresConfig,
}

const ENV_VARS: &[&str] = &[
    "COURIER_PROVIDER",
    "COURIER_TOPOLOGY",
    "COURIER_AWS_REGION",
    "COURIER_AWS_ENDPOINT_URL",
    "COURIER_AWS_PROFILE",
    "COURIER_AWS_OPERATION_TIMEOUT_SECS",
    "COURIER_AWS_ATTEMPT_TIMEOUT_SECS",
    "COURIER_AZURE_CONNECTION_STRING",
    "COURIER_AZURE_ENDPOINT",
    "COURIER_AZURE_ALLOW_INSECURE_ENDPOINT",
    "COURIER_AZURE_OPERATION_TIMEOUT_SECS",
    "COURIER_AZURE_CONNECT_TIMEOUT_SECS",
    "COURIER_POSTGRES_URL",
];

impl Config {
    /// Loads `path` (which must exist) or, when `None`, `./courier.toml` if present, then
    /// applies the `COURIER_*` environment variables.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let mut config = match path {
            Some(p) => Self::from_file(p)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                Self::from_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => Config::default(),
        };
        config.apply_env(std::env::vars())?;
        Ok(config)
    }

    /// The topology this configuration names: the `topology` file (from `courier.toml`
    /// or `COURIER_TOPOLOGY`), else `./topology.yaml`; an error names both when neither
    /// exists.
    pub fn read_topology(&self) -> Result<crate::Topology> {
        match &self.topology {
            Some(path) => crate::Topology::from_file(path),
            None if Path::new(DEFAULT_TOPOLOGY_FILE).exists() => {
                crate::Topology::from_file(DEFAULT_TOPOLOGY_FILE)
            }
            None => Err(Error::invalid_config(format!(
                "no topology: set `topology` in {DEFAULT_CONFIG_FILE} or COURIER_TOPOLOGY, or add ./{DEFAULT_TOPOLOGY_FILE}"
            ))),
        }
    }

    /// Reads a config file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::InvalidConfig {
            message: format!("cannot read config file '{}'", path.display()),
            source: Some(Box::new(e)),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses config TOML; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| {
                    format!(
                        " (line {})",
                        text[..s.start.min(text.len())].matches('\n').count() + 1
                    )
                })
                .unwrap_or_default();
            Error::invalid_config(format!(
                "{origin}{line}: {}",
                redact_values(e.message().trim())
            ))
        })
    }

    /// Applies `COURIER_*` variables from `vars`; an unknown `COURIER_*` name is an error
    /// that lists the known ones.
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<()> {
        for (name, value) in vars {
            if !name.starts_with("COURIER_") {
                continue;
            }
            let value = value.trim().to_owned();
            match name.as_str() {
                "COURIER_PROVIDER" => {
                    self.provider = value.parse().map_err(|_| {
                        Error::invalid_config(format!(
                            "COURIER_PROVIDER '{value}' is not one of memory, aws, azure"
                        ))
                    })?
                }
                "COURIER_TOPOLOGY" => self.topology = Some(PathBuf::from(value)),
                "COURIER_AWS_REGION" => self.aws.region = Some(value),
                "COURIER_AWS_ENDPOINT_URL" => self.aws.endpoint_url = Some(value),
                "COURIER_AWS_PROFILE" => self.aws.profile = Some(value),
                "COURIER_AWS_OPERATION_TIMEOUT_SECS" => {
                    self.aws.operation_timeout_secs = Some(seconds(&name, &value)?)
                }
                "COURIER_AWS_ATTEMPT_TIMEOUT_SECS" => {
                    self.aws.attempt_timeout_secs = Some(seconds(&name, &value)?)
                }
                "COURIER_AZURE_CONNECTION_STRING" => {
                    self.azure.connection_string = Some(Secret::new(value))
                }
                "COURIER_AZURE_ENDPOINT" => self.azure.endpoint = Some(value),
                "COURIER_AZURE_ALLOW_INSECURE_ENDPOINT" => {
                    self.azure.allow_insecure_endpoint = match value.as_str() {
                        "true" | "1" => true,
                        "false" | "0" | "" => false,
                        other => {
                            return Err(Error::invalid_config(format!(
                                "COURIER_AZURE_ALLOW_INSECURE_ENDPOINT '{other}' is not true or false"
                            )))
                        }
                    }
                }
                "COURIER_AZURE_OPERATION_TIMEOUT_SECS" => {
                    self.azure.operation_timeout_secs = Some(seconds(&name, &value)?)
                }
                "COURIER_AZURE_CONNECT_TIMEOUT_SECS" => {
                    self.azure.connect_timeout_secs = Some(seconds(&name, &value)?)
                }
                "COURIER_POSTGRES_URL" => self.postgres.url = Some(Secret::new(value)),
                // Read by the tests, the Lambda functions and the example shop, not here.
                other
                    if ["COURIER_TEST_", "COURIER_LAMBDA_", "COURIER_SHOP_"]
                        .iter()
                        .any(|p| other.starts_with(p)) => {}
                // A misspelled variable must not silently run on the default provider.
                other => {
                    return Err(Error::invalid_config(format!(
                        "unknown environment variable {other}: courier reads {} (and COURIER_TEST_*, COURIER_LAMBDA_*, COURIER_SHOP_* are left to tests and functions)",
                        ENV_VARS.join(", ")
                    )))
                }
            }
        }
        Ok(())
    }
}

/// Hides the values a parse error quotes (`invalid type: string "…"`): a connection
/// string written where a table belongs must not reach the error text.
fn redact_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("string \"") {
        let (head, tail) = rest.split_at(at + "string \"".len());
        out.push_str(head);
        out.push_str("***\"");
        let mut escaped = false;
        let end = tail
            .char_indices()
            .find(|&(_, c)| {
                let closes = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                closes
            })
            .map_or(tail.len(), |(i, _)| i + 1);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A whole number of seconds, at least 1, from environment variable `name`.
fn seconds(name: &str, value: &str) -> Result<u64> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Error::invalid_config(format!(
            "{name} '{value}' is not a whole number of seconds above 0"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_memory() {
        assert_eq!(
            Config::from_toml("", "c.toml").unwrap().provider,
            Provider::Memory
        );
    }

    #[test]
    fn file_then_env() {
        let mut c = Config::from_toml(
            "provider = \"aws\"\n[aws]\nregion = \"eu-west-1\"\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(c.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.aws.operation_timeout_secs, None);
        c.apply_env([
            (
                "COURIER_AWS_OPERATION_TIMEOUT_SECS".to_owned(),
                "45".to_owned(),
            ),
            (
                "COURIER_AWS_ATTEMPT_TIMEOUT_SECS".to_owned(),
                "25".to_owned(),
            ),
            ("COURIER_PROVIDER".to_owned(), "azure".to_owned()),
            (
                "COURIER_AZURE_CONNECTION_STRING".to_owned(),
                "Endpoint=sb://x/;SharedAccessKey=abc".to_owned(),
            ),
            ("PATH".to_owned(), "/bin".to_owned()),
        ])
        .unwrap();
        assert_eq!(c.provider, Provider::Azure);
        assert_eq!(c.aws.operation_timeout_secs, Some(45));
        assert_eq!(c.aws.attempt_timeout_secs, Some(25));
        assert_eq!(
            c.azure.connection_string.as_ref().unwrap().expose(),
            "Endpoint=sb://x/;SharedAccessKey=abc"
        );
    }

    #[test]
    fn azure_timeouts_from_file_and_env() {
        let mut c = Config::from_toml(
            "[azure]\noperation_timeout_secs = 5\nconnect_timeout_secs = 2\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(c.azure.operation_timeout_secs, Some(5));
        assert_eq!(c.azure.connect_timeout_secs, Some(2));
        c.apply_env([(
            "COURIER_AZURE_OPERATION_TIMEOUT_SECS".to_owned(),
            "7".to_owned(),
        )])
        .unwrap();
        assert_eq!(c.azure.operation_timeout_secs, Some(7));
        for bad in ["0", "-1", "soon"] {
            let e = c
                .apply_env([(
                    "COURIER_AZURE_CONNECT_TIMEOUT_SECS".to_owned(),
                    bad.to_owned(),
                )])
                .unwrap_err();
            assert!(
                e.to_string().contains("COURIER_AZURE_CONNECT_TIMEOUT_SECS"),
                "{e}"
            );
        }
    }

    #[test]
    fn insecure_azure_endpoints_are_allowed_only_when_asked() {
        let c = Config::from_toml("[azure]\nallow_insecure_endpoint = true\n", "c.toml").unwrap();
        assert!(c.azure.allow_insecure_endpoint);
        let mut c = Config::default();
        assert!(!c.azure.allow_insecure_endpoint, "off by default");
        let var = |v: &str| {
            [(
                "COURIER_AZURE_ALLOW_INSECURE_ENDPOINT".to_owned(),
                v.to_owned(),
            )]
        };
        c.apply_env(var("true")).unwrap();
        assert!(c.azure.allow_insecure_endpoint);
        c.apply_env(var("0")).unwrap();
        assert!(!c.azure.allow_insecure_endpoint);
        let e = c.apply_env(var("yes please")).unwrap_err().to_string();
        assert!(e.contains("COURIER_AZURE_ALLOW_INSECURE_ENDPOINT"), "{e}");
    }

    #[test]
    fn a_misspelled_variable_is_an_error_not_a_silent_default() {
        let e = Config::default()
            .apply_env([("COURIER_PROVDER".to_owned(), "aws".to_owned())])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown environment variable COURIER_PROVDER")
                && e.contains("COURIER_PROVIDER, COURIER_TOPOLOGY"),
            "{e}"
        );
        Config::default()
            .apply_env([
                ("COURIER_TEST_LOCALSTACK_URL".to_owned(), "x".to_owned()),
                ("COURIER_SHOP_FLAKY_ORDERS".to_owned(), "x".to_owned()),
            ])
            .expect("variables of tests and functions are theirs");
    }

    #[test]
    fn a_secret_in_the_wrong_place_is_not_printed() {
        let e = Config::from_toml(
            "[aws]\nregion = \"eu\"\n\nazure = \"Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=s3cr3t\"\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("s3cr3t"), "{e}");
        let e = Config::from_toml(
            "azure = \"Endpoint=sb://x/;SharedAccessKey=s3cr3t\\\"x\"\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("s3cr3t") && e.contains("c.toml"), "{e}");
        assert_eq!(
            redact_values(r#"invalid type: string "a\"b", expected struct AzureConfig"#),
            r#"invalid type: string "***", expected struct AzureConfig"#
        );
    }

    #[test]
    fn secrets_never_print() {
        let mut c = Config::default();
        c.azure.connection_string = Some(Secret::new("SharedAccessKey=s3cr3t"));
        c.apply_env([(
            "COURIER_POSTGRES_URL".to_owned(),
            "postgres://app:s3cr3t@db/shop".to_owned(),
        )])
        .unwrap();
        let shown = format!("{c:?} {}", c.azure.connection_string.as_ref().unwrap());
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn bad_config_is_one_named_line() {
        for (text, expected) in [
            (
                "provider = \"gcp\"",
                "c.toml (line 1): unknown variant `gcp`",
            ),
            (
                "provder = \"aws\"",
                "c.toml (line 1): unknown field `provder`",
            ),
            (
                "[aws]\nregoin = \"x\"",
                "c.toml (line 2): unknown field `regoin`",
            ),
            ("provider = ", "c.toml (line 1):"),
        ] {
            let e = Config::from_toml(text, "c.toml").unwrap_err().to_string();
            assert!(e.contains(expected), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let e = Config::default()
            .apply_env([("COURIER_PROVIDER".to_owned(), "gcp".to_owned())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("COURIER_PROVIDER 'gcp' is not one of"), "{e}");
        for value in ["0", "-1", "ten", "1.5"] {
            let e = Config::default()
                .apply_env([(
                    "COURIER_AWS_ATTEMPT_TIMEOUT_SECS".to_owned(),
                    value.to_owned(),
                )])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!(
                    "COURIER_AWS_ATTEMPT_TIMEOUT_SECS '{value}' is not a whole number"
                )),
                "{e}"
            );
        }
        let e = Config::from_file(Path::new("/nonexistent/courier.toml")).unwrap_err();
        assert!(crate::error::display_chain(&e)
            .contains("cannot read config file '/nonexistent/courier.toml'"));
    }
}
