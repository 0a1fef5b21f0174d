//! A function that cannot start reports why through `/runtime/init/error`, as custom
//! runtimes must ("Building a custom runtime for AWS Lambda",
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html>); the runner shows
//! that report. Here the dead-letter setting is one the function refuses.

use std::sync::Arc;

use courier_core::{Broker, MemoryBroker, Source, Topology};
use courier_lambda_runner::{run, RunnerConfig};

#[tokio::test]
async fn a_bad_setting_is_reported_to_init_error_before_the_process_exits() {
    let broker: Arc<dyn Broker> = Arc::new(
        MemoryBroker::with_topology(
            &Topology::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/../topology.yaml")).unwrap(),
        )
        .await
        .unwrap(),
    );
    let mut config = RunnerConfig::new(
        env!("CARGO_BIN_EXE_inventory"),
        Source::subscription("orders", "inventory"),
    );
    config.env = vec![("COURIER_LAMBDA_DEAD_LETTERS".into(), "sometimes".into())];
    let e = run(broker, config, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("init error") && e.contains("COURIER_LAMBDA_DEAD_LETTERS is 'sometimes'"),
        "{e}"
    );
}
