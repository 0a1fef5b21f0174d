//! courier-aws under faults: errors AWS documents, hung connections, configuration
//! mistakes. Servers that misbehave on purpose come from `support`; the tests that need
//! a real SQS use LocalStack (`./localstack/start.sh`), and fail when it is not running.

mod support;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use courier_aws::AwsBroker;
use courier_core::config::AwsConfig;
use courier_core::conformance::unique;
use courier_core::dead_letter::RedriveOptions;
use courier_core::topology::QueueSpec;
use courier_core::{
    display_chain, Broker, Consumer, Destination, Error, Message, Publisher, Source, Topology,
};
use support::{fake_sqs, fake_sqs_in_turn, sdk_config, short_timeouts, CannedResponse};

/// How long a test waits for a call that must give up on its own: far above the
/// timeouts the tests configure, so that only a hung call trips it.
const HANG: Duration = Duration::from_secs(30);

/// A broker on the fake SQS at `url`, without retries (each call is one attempt).
async fn broker_on(url: &str) -> AwsBroker {
    AwsBroker::from_sdk_config(&sdk_config(url, None, Some(RetryConfig::disabled())).await)
}

/// A fake SQS that knows queue `q` and answers ReceiveMessage with `error`.
async fn receive_fails_with(error: CannedResponse) -> String {
    let url = fake_sqs(vec![
        (
            "AmazonSQS.GetQueueUrl",
            CannedResponse::ok(
                serde_json::json!({"QueueUrl": "http://127.0.0.1:1/000000000000/q"}),
            ),
        ),
        (
            "AmazonSQS.GetQueueAttributes",
            CannedResponse::ok(serde_json::json!({"Attributes": {"VisibilityTimeout": "30"}})),
        ),
        ("AmazonSQS.ReceiveMessage", error),
    ])
    .await;
    url
}

async fn receive_error(error: CannedResponse) -> Error {
    let b = broker_on(&receive_fails_with(error).await).await;
    let source = Source::queue("q");
    tokio::time::timeout(HANG, b.receive(&source, 1, Duration::ZERO))
        .await
        .expect("answered")
        .expect_err("the fake answers ReceiveMessage with an error")
}

// The error codes are those of the ReceiveMessage API reference ("Errors"):
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html#API_ReceiveMessage_Errors
// sent as the JSON protocol sends them (query error code in `x-amzn-query-error`):
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-json-api-responses.html

#[tokio::test]
async fn throttling_by_sqs_or_kms_is_transient() {
    for (shape, code) in [
        ("KmsThrottled", "KMS.ThrottlingException"),
        ("RequestThrottled", "RequestThrottled"),
    ] {
        let e = receive_error(CannedResponse::sqs_error(400, shape, code, "Sender")).await;
        assert!(e.is_transient(), "{code}: {e:#?}");
        assert!(
            std::error::Error::source(&e).is_some(),
            "{code}: keeps the SDK error: {e:#?}"
        );
        // AWS sends no retry hint with throttling: none is claimed.
        assert_eq!(e.retry_after(), None, "{code}");
    }
}

#[tokio::test]
async fn only_errors_that_make_receiving_pointless_stop_a_worker() {
    let e = receive_error(CannedResponse::sqs_error(
        400,
        "KmsAccessDenied",
        "KMS.AccessDeniedException",
        "Sender",
    ))
    .await;
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:#?}");
    let e = receive_error(CannedResponse::sqs_error(
        400,
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "Sender",
    ))
    .await;
    assert!(e.is_not_found(), "{e:#?}");
    // A KMS key that is disabled, missing or in the wrong state fails every call until
    // someone fixes it, but it is neither the queue missing nor the caller refused: a
    // worker backs off and goes on (it must not be NotFound, Unauthorized, InvalidConfig).
    for (shape, code) in [
        ("KmsDisabled", "KMS.DisabledException"),
        ("KmsNotFound", "KMS.NotFoundException"),
        ("KmsInvalidState", "KMS.InvalidStateException"),
        ("KmsInvalidKeyUsage", "KMS.InvalidKeyUsageException"),
        ("KmsOptInRequired", "KMS.OptInRequired"),
    ] {
        let e = receive_error(CannedResponse::sqs_error(400, shape, code, "Sender")).await;
        assert!(
            matches!(e, Error::Backend { .. }) && !e.is_transient(),
            "{code}: {e:#?}"
        );
        assert!(display_chain(&e).contains(code), "{code}: {e}");
    }
    // A 5xx is transient.
    let e = receive_error(CannedResponse::sqs_error(
        500,
        "InternalError",
        "InternalError",
        "Receiver",
    ))
    .await;
    assert!(e.is_transient(), "{e:#?}");
}

#[tokio::test]
async fn a_hung_connection_becomes_a_transient_error_within_the_timeouts() {
    let config = AwsConfig {
        region: Some("us-east-1".into()),
        endpoint_url: Some(support::stall().await),
        attempt_timeout_secs: Some(1),
        operation_timeout_secs: Some(2),
        ..AwsConfig::default()
    };
    let b = AwsBroker::connect(&config).await.expect("connect");
    let started = tokio::time::Instant::now();
    let e = tokio::time::timeout(
        HANG,
        b.receive(&Source::queue("q"), 1, Duration::from_secs(20)),
    )
    .await
    .expect("the call gives up on its own")
    .expect_err("nothing answers");
    assert!(e.is_transient(), "{e:#?}");
    let chain = display_chain(&e);
    assert!(
        chain.contains("no answer in time") && chain.contains("timeout"),
        "says what timed out: {chain}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "gave up after the 2 s operation timeout, not {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn brokers_get_timeouts_that_outlast_a_long_poll_by_default() {
    // An SDK configuration without timeouts (the SDK's default sets only a connect
    // timeout): courier adds its own.
    let sdk = sdk_config("http://127.0.0.1:1", None, None).await;
    let b = AwsBroker::from_sdk_config(&sdk);
    for timeouts in [
        b.sqs().config().timeout_config().cloned(),
        b.sns().config().timeout_config().cloned(),
    ] {
        let t = timeouts.expect("timeouts are set");
        let attempt = t.operation_attempt_timeout().expect("attempt timeout");
        let operation = t.operation_timeout().expect("operation timeout");
        assert!(
            attempt > Duration::from_secs(20),
            "a 20 s long poll fits: {attempt:?}"
        );
        assert!(operation >= attempt, "{operation:?} >= {attempt:?}");
    }
    // Timeouts the configuration sets are kept.
    let sdk = sdk_config(
        "http://127.0.0.1:1",
        Some(short_timeouts(
            Duration::from_secs(3),
            Duration::from_secs(4),
        )),
        None,
    )
    .await;
    let b = AwsBroker::from_sdk_config(&sdk);
    let t = b
        .sqs()
        .config()
        .timeout_config()
        .cloned()
        .expect("timeouts");
    assert_eq!(t.operation_attempt_timeout(), Some(Duration::from_secs(3)));
    assert_eq!(t.operation_timeout(), Some(Duration::from_secs(4)));
}

/// Settling and receiving through a connection that goes half-open all give up within
/// their timeouts, as transient errors: nothing holds a handler slot forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settling_over_a_half_open_connection_gives_up_in_time() {
    let proxy = support::Proxy::start(&support::localstack()).await;
    let config = AwsConfig {
        region: Some("us-east-1".into()),
        endpoint_url: Some(proxy.url.clone()),
        attempt_timeout_secs: Some(3),
        operation_timeout_secs: Some(4),
        ..AwsConfig::default()
    };
    let b = AwsBroker::connect(&config).await.expect("connect");
    let name = unique("stall");
    b.provision(&Topology {
        queues: vec![QueueSpec::new(&name)],
        ..Topology::default()
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "LocalStack at {} through the proxy: {e}",
            support::localstack()
        )
    });
    for i in 0..4 {
        b.publish(&Destination::queue(&name), Message::new(format!("m{i}")))
            .await
            .expect("publish");
    }
    let got =
        courier_core::conformance::receive_n(&b, &Source::queue(&name), 4, Duration::from_secs(10))
            .await;
    assert_eq!(got.len(), 4);
    proxy.stall();
    let mut got = got.into_iter();
    let (d1, d2, d3, d4) = (
        got.next().unwrap(),
        got.next().unwrap(),
        got.next().unwrap(),
        got.next().unwrap(),
    );
    let bounded =
        |what: &'static str, f: futures_util::future::BoxFuture<'static, Result<(), Error>>| async move {
            let r = tokio::time::timeout(HANG, f).await;
            let e = r
                .unwrap_or_else(|_| panic!("{what} hung"))
                .expect_err(&format!("{what} cannot succeed on a stalled connection"));
            assert!(e.is_transient(), "{what}: {e:#?}");
        };
    let receiver = b.clone();
    let source = Source::queue(&name);
    futures_util::future::join_all([
        bounded(
            "extend",
            Box::pin(async move { d1.extend(Duration::from_secs(60)).await }),
        ),
        bounded(
            "ack",
            Box::pin(async move { d2.ack().await.map_err(Error::from) }),
        ),
        bounded(
            "nack",
            Box::pin(async move { d3.nack(Duration::ZERO).await.map_err(Error::from) }),
        ),
        bounded(
            "dead_letter",
            Box::pin(async move { d4.dead_letter("stalled").await.map_err(Error::from) }),
        ),
        bounded(
            "receive",
            Box::pin(async move {
                receiver
                    .receive(&source, 1, Duration::from_secs(1))
                    .await
                    .map(drop)
            }),
        ),
    ])
    .await;
}

/// Credentials never reach `Debug`, `Display` or error text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_show_in_errors_or_debug() {
    const KEY_ID: &str = "AKIDCOURIERSECRETID";
    const SECRET: &str = "courier-secret-key-do-not-print";
    const TOKEN: &str = "courier-session-token-do-not-print";
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region("us-east-1")
        .endpoint_url(support::localstack())
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            KEY_ID,
            SECRET,
            Some(TOKEN.into()),
            None,
            "courier-tests",
        ))
        .load()
        .await;
    let b = AwsBroker::from_sdk_config(&sdk);
    let missing = unique("missing");
    let errors = [
        b.receive(&Source::queue(&missing), 1, Duration::ZERO)
            .await
            .expect_err("no such queue"),
        b.publish(&Destination::topic(&missing), Message::new("x"))
            .await
            .expect_err("no such topic"),
    ];
    for e in &errors {
        assert!(e.is_not_found(), "LocalStack answered: {e:#?}");
        let shown = format!("{e} {e:?} {e:#?} {}", display_chain(e));
        for secret in [SECRET, TOKEN] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
    let shown = format!("{b:?}");
    assert!(!shown.contains(SECRET) && !shown.contains(TOKEN), "{shown}");
}

/// Runs this test binary's `child` test alone in a clean environment (plus `env`) and
/// returns what it printed after `OUTCOME:`.
fn run_child(child: &str, env: &[(&str, &str)]) -> String {
    let home = std::env::temp_dir().join(unique("courier-empty-home"));
    std::fs::create_dir_all(&home).expect("home");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", child, "--ignored", "--nocapture"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .envs(env.iter().copied())
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("OUTCOME: "))
        .unwrap_or_else(|| {
            panic!(
                "the child printed no outcome:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_owned()
}

/// Not a test of its own: [`configuration_mistakes_are_named_and_never_transient`] runs it
/// in an environment it controls. Connects through the standard chain, makes one call,
/// and prints the outcome.
#[tokio::test]
#[ignore = "run by configuration_mistakes_are_named_and_never_transient in its own environment"]
async fn child_connects_and_calls() {
    let outcome = match AwsBroker::connect(&AwsConfig::default()).await {
        Err(e) => Err(e),
        Ok(b) => b
            .receive(&Source::queue("courier-child"), 1, Duration::ZERO)
            .await
            .map(drop),
    };
    match outcome {
        Ok(()) => println!("OUTCOME: ok"),
        Err(e) => println!(
            "OUTCOME: {} transient={} {}",
            match e.inner() {
                Error::InvalidConfig { .. } => "InvalidConfig",
                Error::Transient { .. } => "Transient",
                Error::NotFound { .. } => "NotFound",
                Error::Unauthorized { .. } => "Unauthorized",
                _ => "other",
            },
            e.is_transient(),
            display_chain(&e)
        ),
    }
}

#[test]
fn configuration_mistakes_are_named_and_never_transient() {
    // No credentials anywhere: the chain ends at EC2 instance metadata, which is not there.
    let no_credentials = run_child(
        "child_connects_and_calls",
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &support::localstack()),
        ],
    );
    assert!(
        no_credentials.starts_with("InvalidConfig transient=false"),
        "{no_credentials}"
    );
    for part in ["no AWS credentials", "AWS_ACCESS_KEY_ID", "profile", "IMDS"] {
        assert!(
            no_credentials.contains(part),
            "names {part}: {no_credentials}"
        );
    }
    // Credentials, but no endpoint override: the SDK goes to AWS's own endpoint for the
    // region (a region no DNS knows, so that the test means the same everywhere).
    let no_endpoint = run_child(
        "child_connects_and_calls",
        &[
            ("AWS_REGION", "courier-test-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    );
    assert!(
        no_endpoint.starts_with("InvalidConfig transient=false"),
        "{no_endpoint}"
    );
    for part in ["sqs.courier-test-1.amazonaws.com", "AWS_ENDPOINT_URL"] {
        assert!(no_endpoint.contains(part), "names {part}: {no_endpoint}");
    }
    // Both set: LocalStack answers (the queue does not exist).
    let fine = run_child(
        "child_connects_and_calls",
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &support::localstack()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    );
    assert!(fine.starts_with("NotFound"), "{fine}");
}

/// Not a test of its own: [`a_program_that_stops_its_worker_hides_nothing_from_the_next`]
/// runs it as a separate program. Runs a worker on `COURIER_TEST_QUEUE` for half a
/// second, stops it, and exits.
#[tokio::test]
#[ignore = "run by a_program_that_stops_its_worker_hides_nothing_from_the_next as a program of its own"]
async fn child_runs_a_worker_briefly() {
    use courier_core::worker::{handler_fn, HandlerError, Worker};
    let queue = std::env::var("COURIER_TEST_QUEUE").expect("COURIER_TEST_QUEUE");
    let b = AwsBroker::connect(&AwsConfig::default())
        .await
        .expect("connect");
    let worker =
        Worker::new(
            std::sync::Arc::new(b) as std::sync::Arc<dyn Broker>,
            Source::queue(queue),
        )
        .poll_wait(Duration::from_secs(5))
        .handle(
            "T",
            handler_fn(
                |_e: courier_core::Event<serde_json::Value>, _ctx| async move {
                    Ok::<(), HandlerError>(())
                },
            ),
        );
    let report = worker
        .run(tokio::time::sleep(Duration::from_millis(500)))
        .await;
    println!("OUTCOME: {report:?}");
}

/// A program that stops its worker and exits leaves no long poll behind to take the next
/// message: SQS hands messages to a long poll whose caller has gone, hiding them for the
/// visibility timeout (the first run of a program published right after an earlier one
/// stopped took 31 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_stops_its_worker_hides_nothing_from_the_next() {
    let b = AwsBroker::from_sdk_config(&sdk_config(&support::localstack(), None, None).await);
    let name = unique("stopw");
    b.provision(&Topology {
        queues: vec![QueueSpec::new(&name)],
        ..Topology::default()
    })
    .await
    .unwrap_or_else(|e| panic!("LocalStack at {}: {e}", support::localstack()));
    let (endpoint, queue) = (support::localstack(), name.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        run_child(
            "child_runs_a_worker_briefly",
            &[
                ("AWS_REGION", "us-east-1"),
                ("AWS_ENDPOINT_URL", &endpoint),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("COURIER_TEST_QUEUE", &queue),
            ],
        )
    })
    .await
    .unwrap();
    assert!(outcome.starts_with("Ok("), "the worker ran: {outcome}");
    b.publish(&Destination::queue(&name), Message::new("next"))
        .await
        .unwrap();
    let got = b
        .receive(&Source::queue(&name), 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        got.len(),
        1,
        "the message came within 10 s, not after the 30 s visibility timeout"
    );
}

/// A move task as `ListMessageMoveTasks` lists it once it has ended: no `TaskHandle`
/// ("only populated for tasks that are in RUNNING status"), its `StartedTimestamp` in
/// milliseconds since the epoch
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasksResultEntry.html>).
fn ended_task(started_ms: u64, moved: u64) -> serde_json::Value {
    serde_json::json!({
        "SourceArn": "arn:aws:sqs:us-east-1:000000000000:q-dlq",
        "DestinationArn": "arn:aws:sqs:us-east-1:000000000000:q",
        "Status": "COMPLETED",
        "StartedTimestamp": started_ms,
        "ApproximateNumberOfMessagesMoved": moved,
        "ApproximateNumberOfMessagesToMove": moved,
    })
}

/// A redrive whose own move task is not listed yet when it first asks (the listing lags:
/// an earlier redrive's ended task of 3 messages is still the newest) waits for its own
/// task, and reports its 1 message, not the earlier task's 3.
#[tokio::test]
async fn a_redrive_never_reports_an_earlier_move_task_as_its_own() {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // The earlier task started a minute ago, the new one a minute from now (a clock of
    // SQS ahead of this machine's).
    let (earlier, later) = (ended_task(now_ms - 60_000, 3), now_ms + 60_000);
    let list = |results: Vec<serde_json::Value>| {
        CannedResponse::ok(serde_json::json!({ "Results": results }))
    };
    let url = fake_sqs_in_turn(vec![
        (
            "AmazonSQS.GetQueueUrl",
            vec![CannedResponse::ok(
                serde_json::json!({"QueueUrl": "http://127.0.0.1:1/000000000000/q"}),
            )],
        ),
        (
            "AmazonSQS.GetQueueAttributes",
            vec![CannedResponse::ok(serde_json::json!({"Attributes": {
                "QueueArn": "arn:aws:sqs:us-east-1:000000000000:q",
                "VisibilityTimeout": "30"
            }}))],
        ),
        (
            "AmazonSQS.StartMessageMoveTask",
            vec![CannedResponse::ok(
                serde_json::json!({"TaskHandle": "handle-of-the-new-task"}),
            )],
        ),
        (
            "AmazonSQS.ListMessageMoveTasks",
            vec![
                list(vec![earlier.clone()]),
                list(vec![earlier.clone()]),
                list(vec![earlier]),
                list(vec![ended_task(later, 1)]),
            ],
        ),
    ])
    .await;
    let b = broker_on(&url).await;
    let report = tokio::time::timeout(
        HANG,
        b.redrive_dead_letters(&Source::queue("q"), &RedriveOptions::default()),
    )
    .await
    .expect("answered")
    .unwrap();
    assert_eq!(report.method, "StartMessageMoveTask", "{report:?}");
    assert_eq!((report.moved, report.failed.len()), (1, 0), "{report:?}");
}
