//! What the standard OpenTelemetry environment variables ask for
//! (<https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/>,
//! <https://opentelemetry.io/docs/specs/otel/protocol/exporter/>), as far as courier
//! exports: OTLP over HTTP with protobuf bodies.

use std::time::Duration;

use courier_core::{Error, Result};

/// The signals to export, and their request timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// Export spans (`None`: not asked for).
    pub traces: Option<Duration>,
    /// Export metrics (`None`: not asked for).
    pub metrics: Option<Duration>,
}

/// The OTLP exporter's default request timeout (10 s).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl ExportSettings {
    /// Reads the process environment; `Ok(None)` when no OTLP endpoint is set (or
    /// `OTEL_SDK_DISABLED=true`): nothing is exported then.
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `var` (for tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let set = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let generic = set("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
        let signal = |signal: &str, exporter_var: &str| -> Result<Option<Duration>> {
            let endpoint =
                generic || set(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")).is_some();
            match set(exporter_var).as_deref() {
                None | Some("otlp") => {}
                Some("none") => return Ok(None),
                Some(other) => {
                    return Err(Error::invalid_config(format!(
                        "{exporter_var}={other}: courier exports over OTLP only ('otlp' or 'none')"
                    )))
                }
            }
            if !endpoint {
                return Ok(None);
            }
            for name in [
                format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"),
                "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
            ] {
                if let Some(protocol) = set(&name) {
                    if protocol != "http/protobuf" {
                        return Err(Error::invalid_config(format!(
                            "{name}={protocol}: courier exports OTLP over HTTP with protobuf only; set it to 'http/protobuf' (gRPC and JSON are not built in)"
                        )));
                    }
                    break;
                }
            }
            let timeout = [
                format!("OTEL_EXPORTER_OTLP_{signal}_TIMEOUT"),
                "OTEL_EXPORTER_OTLP_TIMEOUT".to_owned(),
            ]
            .iter()
            .find_map(|name| set(name).map(|v| (name.clone(), v)));
            Ok(Some(match timeout {
                None => DEFAULT_TIMEOUT,
                Some((name, v)) => v.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                    Error::invalid_config(format!("{name}={v}: not a whole number of milliseconds"))
                })?,
            }))
        };
        let settings = ExportSettings {
            traces: signal("TRACES", "OTEL_TRACES_EXPORTER")?,
            metrics: signal("METRICS", "OTEL_METRICS_EXPORTER")?,
        };
        Ok((settings.traces.is_some() || settings.metrics.is_some()).then_some(settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Option<ExportSettings>> {
        ExportSettings::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        assert_eq!(read(&[]).unwrap(), None);
        assert_eq!(read(&[("OTEL_SERVICE_NAME", "shop")]).unwrap(), None);
        assert_eq!(
            read(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
                ("OTEL_SDK_DISABLED", "true")
            ])
            .unwrap(),
            None
        );
    }

    #[test]
    fn endpoints_select_signals() {
        let both = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]).unwrap();
        assert_eq!(
            both,
            Some(ExportSettings {
                traces: Some(DEFAULT_TIMEOUT),
                metrics: Some(DEFAULT_TIMEOUT)
            })
        );
        let traces = read(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://c:4318/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(traces.traces, Some(Duration::from_millis(2500)));
        assert_eq!(traces.metrics, None);
        let no_metrics = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(no_metrics.metrics, None);
    }

    #[test]
    fn what_is_not_built_in_is_refused_by_name() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");
        for (vars, named) in [
            (
                vec![endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
            ),
            (
                vec![
                    endpoint,
                    ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
                ],
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/json",
            ),
            (
                vec![endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")],
                "OTEL_TRACES_EXPORTER=zipkin",
            ),
            (
                vec![endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")],
                "OTEL_EXPORTER_OTLP_TIMEOUT=10s",
            ),
        ] {
            let e = read(&vars).unwrap_err();
            assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
            assert!(e.to_string().contains(named), "{e}");
        }
        let ok = read(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).unwrap();
        assert!(ok.is_some());
    }
}
