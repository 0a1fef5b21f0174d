//! Connecting: the standard AWS configuration chain with courier's settings on top, a
//! timeout on every call, and the configuration mistakes that would otherwise look like
//! passing failures (no credentials, no endpoint override for LocalStack) named at once.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_sqs::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use courier_core::config::AwsConfig;
use courier_core::{Error, Result};

use crate::dead_letter_queues::DeadLetterQueues;
use crate::AwsBroker;

/// Longest a call may take, retries included, unless configured.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest one attempt of a call may take, unless configured: above SQS's longest long
/// poll (20 s) with room for the answer.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// SQS's longest long poll.
const LONGEST_LONG_POLL: Duration = Duration::from_secs(20);

/// Operation and attempt timeouts set explicitly (by courier's configuration).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timeouts {
    operation: Option<Duration>,
    attempt: Option<Duration>,
}

impl Timeouts {
    fn of(config: &AwsConfig) -> Result<Self> {
        let t = Timeouts {
            operation: config.operation_timeout_secs.map(Duration::from_secs),
            attempt: config.attempt_timeout_secs.map(Duration::from_secs),
        };
        if t.operation.is_some_and(|d| d.is_zero()) || t.attempt.is_some_and(|d| d.is_zero()) {
            return Err(Error::invalid_config(
                "[aws] operation_timeout_secs and attempt_timeout_secs must be above 0",
            ));
        }
        let (operation, attempt) = (
            t.operation.unwrap_or(DEFAULT_OPERATION_TIMEOUT),
            t.attempt.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT),
        );
        if attempt > operation {
            return Err(Error::invalid_config(format!(
                "the AWS attempt timeout ({attempt:?}) is longer than the operation timeout ({operation:?}) that includes it: set [aws] attempt_timeout_secs / COURIER_AWS_ATTEMPT_TIMEOUT_SECS lower or operation_timeout_secs / COURIER_AWS_OPERATION_TIMEOUT_SECS higher"
            )));
        }
        Ok(t)
    }

    /// The timeouts a client gets: these, else those of `configured`, else courier's
    /// defaults (a timeout the configuration disabled stays disabled).
    pub(crate) fn applied_to(self, configured: Option<&TimeoutConfig>) -> TimeoutConfig {
        // (Setting `None` on the builder would disable a timeout: only set what is set.)
        let mut explicit = TimeoutConfig::builder();
        if let Some(operation) = self.operation {
            explicit = explicit.operation_timeout(operation);
        }
        if let Some(attempt) = self.attempt {
            explicit = explicit.operation_attempt_timeout(attempt);
        }
        let mut timeouts = explicit.build();
        if let Some(configured) = configured {
            timeouts.take_defaults_from(configured);
        }
        timeouts.take_defaults_from(
            &TimeoutConfig::builder()
                .operation_timeout(DEFAULT_OPERATION_TIMEOUT)
                .operation_attempt_timeout(DEFAULT_ATTEMPT_TIMEOUT)
                .build(),
        );
        timeouts
    }
}

/// The longest long poll that fits an attempt: two thirds of it, at most SQS's 20 s, at
/// least 1 s.
pub(crate) fn long_poll_within(timeouts: Option<&TimeoutConfig>) -> Duration {
    match timeouts.and_then(TimeoutConfig::operation_attempt_timeout) {
        Some(attempt) => (attempt * 2 / 3).clamp(Duration::from_secs(1), LONGEST_LONG_POLL),
        None => LONGEST_LONG_POLL,
    }
}

impl AwsBroker {
    /// Loads the standard AWS configuration chain, with `config`'s settings on top, and
    /// checks that it can work: a region, credentials (loaded once here, so that none
    /// is an [`Error::InvalidConfig`] saying where they were looked for), and, when no
    /// endpoint override is set, that AWS's endpoint resolves (forgetting
    /// `AWS_ENDPOINT_URL` for LocalStack is then named as such, not retried forever).
    pub async fn connect(config: &AwsConfig) -> Result<Self> {
        let (sdk, timeouts) = load(config).await?;
        Ok(Self::with_timeouts(&sdk, timeouts))
    }
}

impl DeadLetterQueues {
    /// Connects as [`AwsBroker::connect`] does (the same chain, settings and checks), with
    /// an SQS client only.
    pub async fn connect(config: &AwsConfig) -> Result<Self> {
        let (sdk, timeouts) = load(config).await?;
        let sqs = aws_sdk_sqs::config::Builder::from(&sdk)
            .timeout_config(timeouts.applied_to(sdk.timeout_config()))
            .build();
        Ok(Self::from_client(aws_sdk_sqs::Client::from_conf(sqs)))
    }
}

/// The standard chain with `config` on top, checked (see [`AwsBroker::connect`]), and the
/// timeouts `config` sets.
async fn load(config: &AwsConfig) -> Result<(SdkConfig, Timeouts)> {
    let timeouts = Timeouts::of(config)?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    let Some(region) = sdk.region().cloned() else {
        return Err(Error::invalid_config(
            "no AWS region: set [aws] region in courier.toml, COURIER_AWS_REGION, AWS_REGION, or a profile's region",
        ));
    };
    let operation = timeouts
        .applied_to(sdk.timeout_config())
        .operation_timeout()
        .unwrap_or(DEFAULT_OPERATION_TIMEOUT);
    check_credentials(&sdk, config.profile.as_deref(), operation).await?;
    check_endpoint(&sdk, &region).await?;
    Ok((sdk, timeouts))
}

/// Loads credentials once through the configured provider.
async fn check_credentials(sdk: &SdkConfig, profile: Option<&str>, within: Duration) -> Result<()> {
    let chain = format!(
        "the standard chain looked in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), the shared config and credentials files (profile '{}'; AWS_PROFILE or [aws] profile picks another), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), ECS container credentials and EC2 instance metadata (IMDS); for LocalStack set AWS_ACCESS_KEY_ID=test and AWS_SECRET_ACCESS_KEY=test",
        profile
            .map(str::to_owned)
            .or_else(|| std::env::var("AWS_PROFILE").ok())
            .unwrap_or_else(|| "default".into())
    );
    let Some(provider) = sdk.credentials_provider() else {
        return Err(Error::invalid_config(format!(
            "no AWS credentials provider is configured: {chain}"
        )));
    };
    match tokio::time::timeout(within, provider.provide_credentials()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::InvalidConfig {
            message: format!("no AWS credentials: {chain}"),
            source: Some(Box::new(e)),
        }),
        Err(elapsed) => Err(Error::InvalidConfig {
            message: format!("no AWS credentials within {within:?}: {chain}"),
            source: Some(Box::new(elapsed)),
        }),
    }
}

/// Without an endpoint override the SDK talks to AWS itself: its SQS endpoint for the
/// region must resolve.
async fn check_endpoint(sdk: &SdkConfig, region: &Region) -> Result<()> {
    let overridden = sdk.endpoint_url().is_some()
        || ["AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SNS"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
    if overridden {
        return Ok(());
    }
    let params = Params::builder()
        .region(region.as_ref())
        .use_fips(sdk.use_fips().unwrap_or(false))
        .use_dual_stack(sdk.use_dual_stack().unwrap_or(false))
        .build()
        .map_err(|e| Error::InvalidConfig {
            message: format!("AWS region '{region}' cannot name an SQS endpoint"),
            source: Some(Box::new(e)),
        })?;
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| Error::InvalidConfig {
            message: format!("no SQS endpoint for AWS region '{region}'"),
            source: Some(e),
        })?;
    let host = host_of(endpoint.url());
    if let Err(e) = tokio::net::lookup_host((host, 443)).await {
        return Err(Error::InvalidConfig {
            message: format!(
                "cannot resolve {host}, AWS's SQS endpoint for region '{region}': no endpoint override is set (AWS_ENDPOINT_URL, COURIER_AWS_ENDPOINT_URL or [aws] endpoint_url), so courier would talk to AWS itself; for LocalStack set AWS_ENDPOINT_URL (e.g. http://127.0.0.1:4566), otherwise check this machine's DNS and network"
            ),
            source: Some(Box::new(e)),
        });
    }
    Ok(())
}

/// The host of an `https://host[:port][/path]` URL.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.split(':').next().unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_timeouts_win_then_the_sdk_configuration_then_courier_defaults() {
        let configured = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_timeout(Duration::from_secs(90))
            .build();
        let t = Timeouts::default().applied_to(Some(&configured));
        assert_eq!(t.connect_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(t.operation_timeout(), Some(Duration::from_secs(90)));
        assert_eq!(t.operation_attempt_timeout(), Some(DEFAULT_ATTEMPT_TIMEOUT));
        let explicit = Timeouts::of(&AwsConfig {
            attempt_timeout_secs: Some(25),
            ..AwsConfig::default()
        })
        .unwrap();
        let t = explicit.applied_to(Some(&configured));
        assert_eq!(t.operation_attempt_timeout(), Some(Duration::from_secs(25)));
        assert_eq!(t.operation_timeout(), Some(Duration::from_secs(90)));
    }

    #[test]
    fn an_attempt_longer_than_its_operation_is_refused() {
        let e = Timeouts::of(&AwsConfig {
            attempt_timeout_secs: Some(90),
            ..AwsConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
        assert!(
            e.to_string().contains("COURIER_AWS_ATTEMPT_TIMEOUT_SECS"),
            "{e}"
        );
    }

    #[test]
    fn long_polls_fit_their_attempts() {
        let with = |attempt: u64| {
            long_poll_within(Some(
                &TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(attempt))
                    .build(),
            ))
        };
        assert_eq!(with(30), Duration::from_secs(20));
        assert_eq!(with(90), Duration::from_secs(20));
        assert_eq!(with(6), Duration::from_secs(4));
        assert_eq!(with(1), Duration::from_secs(1));
        assert_eq!(long_poll_within(None), Duration::from_secs(20));
    }

    #[test]
    fn hosts_of_endpoints() {
        assert_eq!(
            host_of("https://sqs.us-east-1.amazonaws.com"),
            "sqs.us-east-1.amazonaws.com"
        );
        assert_eq!(host_of("http://127.0.0.1:4566/path"), "127.0.0.1");
    }
}
