//! Which broker a test talks to, in a form that also travels to a child process through
//! its environment: real LocalStack (with short timeouts), or the Service Bus stand-in —
//! either one directly or through a [`FaultProxy`](crate::proxy::FaultProxy).

use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use courier_aws::AwsBroker;
use courier_azure::{AzureBroker, ConnectionString, Timeouts};
use courier_core::{Broker, Error, Result};

/// A broker to connect to.
#[derive(Clone)]
pub enum Target {
    /// SQS/SNS at `endpoint` (LocalStack, or a proxy in front of it), with these
    /// timeouts per attempt and per operation.
    Aws {
        /// Base URL.
        endpoint: String,
        /// Longest attempt of one call.
        attempt_timeout: Duration,
        /// Longest call, retries included.
        operation_timeout: Duration,
    },
    /// Service Bus REST at `endpoint` (the stand-in, or a proxy in front of it), with
    /// this operation timeout (`[azure] operation_timeout_secs`; also the connect timeout).
    Azure {
        /// `Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…` (the stand-in's).
        connection_string: String,
        /// Base URL.
        endpoint: String,
        /// Longest call, beyond a receive's long poll.
        operation_timeout: Duration,
    },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.name(), self.endpoint())
    }
}

/// LocalStack's URL from `COURIER_TEST_LOCALSTACK_URL` or `AWS_ENDPOINT_URL` (what
/// `scripts/test.sh` exports); panics naming both when neither is set: the suite never
/// skips.
pub fn localstack_url() -> String {
    std::env::var("COURIER_TEST_LOCALSTACK_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| {
            panic!(
                "the fault suite needs LocalStack: start it with ./localstack/start.sh and set COURIER_TEST_LOCALSTACK_URL (scripts/test.sh does both)"
            )
        })
}

impl Target {
    /// LocalStack with these timeouts.
    pub fn localstack(attempt_timeout: Duration, operation_timeout: Duration) -> Target {
        Target::Aws {
            endpoint: localstack_url(),
            attempt_timeout,
            operation_timeout,
        }
    }

    /// The stand-in `standin`, with this operation timeout.
    pub fn standin(
        standin: &courier_azure_standin::StandIn,
        operation_timeout: Duration,
    ) -> Target {
        Target::Azure {
            connection_string: standin.connection_string().expose().to_owned(),
            endpoint: standin.endpoint(),
            operation_timeout,
        }
    }

    /// `aws` or `azure`.
    pub fn name(&self) -> &'static str {
        match self {
            Target::Aws { .. } => "aws",
            Target::Azure { .. } => "azure",
        }
    }

    /// Where requests go.
    pub fn endpoint(&self) -> &str {
        match self {
            Target::Aws { endpoint, .. } | Target::Azure { endpoint, .. } => endpoint,
        }
    }

    /// The same broker, reached through `url` (a proxy in front of it).
    pub fn through(&self, url: &str) -> Target {
        let mut t = self.clone();
        match &mut t {
            Target::Aws { endpoint, .. } | Target::Azure { endpoint, .. } => *endpoint = url.into(),
        }
        t
    }

    /// The environment that [`Target::from_env`] reads back in a child process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Target::Aws {
                endpoint,
                attempt_timeout,
                operation_timeout,
            } => vec![
                ("FAULTS_TARGET", "aws".into()),
                ("FAULTS_ENDPOINT", endpoint.clone()),
                (
                    "FAULTS_ATTEMPT_TIMEOUT_MS",
                    attempt_timeout.as_millis().to_string(),
                ),
                (
                    "FAULTS_OPERATION_TIMEOUT_MS",
                    operation_timeout.as_millis().to_string(),
                ),
            ],
            Target::Azure {
                connection_string,
                endpoint,
                operation_timeout,
            } => vec![
                ("FAULTS_TARGET", "azure".into()),
                ("FAULTS_ENDPOINT", endpoint.clone()),
                ("FAULTS_AZURE_CONNECTION_STRING", connection_string.clone()),
                (
                    "FAULTS_OPERATION_TIMEOUT_MS",
                    operation_timeout.as_millis().to_string(),
                ),
            ],
        }
    }

    /// The target a parent described with [`Target::env`].
    pub fn from_env() -> Result<Target> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| Error::invalid_config(format!("{name} is not set")))
        };
        let millis = |name: &str| -> Result<Duration> {
            let text = var(name)?;
            text.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|e| Error::InvalidConfig {
                    message: format!("{name}={text} is not a number of milliseconds"),
                    source: Some(Box::new(e)),
                })
        };
        match var("FAULTS_TARGET")?.as_str() {
            "aws" => Ok(Target::Aws {
                endpoint: var("FAULTS_ENDPOINT")?,
                attempt_timeout: millis("FAULTS_ATTEMPT_TIMEOUT_MS")?,
                operation_timeout: millis("FAULTS_OPERATION_TIMEOUT_MS")?,
            }),
            "azure" => Ok(Target::Azure {
                connection_string: var("FAULTS_AZURE_CONNECTION_STRING")?,
                endpoint: var("FAULTS_ENDPOINT")?,
                operation_timeout: millis("FAULTS_OPERATION_TIMEOUT_MS")?,
            }),
            other => Err(Error::invalid_config(format!(
                "FAULTS_TARGET={other}: not aws or azure"
            ))),
        }
    }

    /// A broker for this target. AWS: LocalStack's test credentials, the SDK's standard
    /// retries, the target's timeouts.
    pub async fn connect(&self) -> Result<Arc<dyn Broker>> {
        match self {
            Target::Aws {
                endpoint,
                attempt_timeout,
                operation_timeout,
            } => {
                let sdk = aws_config::defaults(BehaviorVersion::latest())
                    .region("us-east-1")
                    .endpoint_url(endpoint)
                    .credentials_provider(aws_credential_types::Credentials::new(
                        "test",
                        "test",
                        None,
                        None,
                        "courier-faults",
                    ))
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(*attempt_timeout)
                            .operation_attempt_timeout(*attempt_timeout)
                            .operation_timeout(*operation_timeout)
                            .build(),
                    )
                    .load()
                    .await;
                Ok(Arc::new(AwsBroker::from_sdk_config(&sdk)))
            }
            Target::Azure {
                connection_string,
                endpoint,
                operation_timeout,
            } => {
                let conn = ConnectionString::parse(connection_string)?;
                let timeouts = Timeouts {
                    operation: *operation_timeout,
                    connect: *operation_timeout,
                };
                Ok(Arc::new(AzureBroker::with_timeouts(
                    conn,
                    Some(endpoint),
                    timeouts,
                )?))
            }
        }
    }
}
