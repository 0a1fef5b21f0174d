//! The shutdown signal a worker usually runs until.

/// Resolves on ctrl-c or (on Unix) SIGTERM: pass it to [`Worker::run`](super::Worker::run).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("ctrl-c: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}
