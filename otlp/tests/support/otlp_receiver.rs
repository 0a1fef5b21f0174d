//! An OTLP/HTTP receiver for tests: reads the requests an exporter sends, as the OTLP
//! specification describes them (<https://opentelemetry.io/docs/specs/otlp/#otlphttp>:
//! `POST /v1/traces` and `/v1/metrics`, `Content-Type: application/x-protobuf`), and
//! decodes them with `opentelemetry-proto`, the OpenTelemetry project's generated types of
//! the OTLP protobuf schema. Shared by courier-otlp's and courier-lambdas' tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request as received: path, content type, body.
pub type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A minimal OTLP/HTTP receiver: reads HTTP/1.1 requests with a `Content-Length` body,
/// keeps them, answers 200 with an empty protobuf body (an empty Export…ServiceResponse).
pub async fn receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let keep = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let keep = keep.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let mut request_line = String::new();
                    if read.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = request_line
                        .split(' ')
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let (mut length, mut content_type) = (None, String::new());
                    loop {
                        let mut line = String::new();
                        read.read_line(&mut line).await.unwrap();
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        let (name, value) = line.split_once(':').unwrap();
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => {
                                length = Some(value.trim().parse::<usize>().unwrap())
                            }
                            "content-type" => content_type = value.trim().to_owned(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length.expect("an OTLP request has a Content-Length")];
                    read.read_exact(&mut body).await.unwrap();
                    keep.lock().unwrap().push((path, content_type, body));
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    write.write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (url, received)
}

pub fn attribute(attrs: &[KeyValue], key: &str) -> Option<String> {
    let value = attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    Some(match value {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

pub fn spans(received: &Received) -> (Vec<Span>, Vec<KeyValue>) {
    let mut spans = Vec::new();
    let mut resource = Vec::new();
    for (path, content_type, body) in received.lock().unwrap().iter() {
        if path == "/v1/traces" {
            assert_eq!(content_type, "application/x-protobuf");
            let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("protobuf");
            for rs in request.resource_spans {
                resource = rs.resource.map(|r| r.attributes).unwrap_or_default();
                for ss in rs.scope_spans {
                    assert_eq!(ss.scope.as_ref().map(|s| s.name.as_str()), Some("courier"));
                    spans.extend(ss.spans);
                }
            }
        }
    }
    (spans, resource)
}

/// The last value of each metric data point, by metric name and sorted `k=v` attributes:
/// a counter's sum, a histogram's count.
pub fn metrics(received: &Received) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for (path, content_type, body) in received.lock().unwrap().iter() {
        if path != "/v1/metrics" {
            continue;
        }
        assert_eq!(content_type, "application/x-protobuf");
        let request = ExportMetricsServiceRequest::decode(body.as_slice()).expect("protobuf");
        for m in request
            .resource_metrics
            .into_iter()
            .flat_map(|r| r.scope_metrics)
            .flat_map(|s| s.metrics)
        {
            let key = |attrs: &[KeyValue]| {
                let mut v: Vec<String> = attrs
                    .iter()
                    .map(|kv| {
                        format!(
                            "{}={}",
                            kv.key,
                            attribute(attrs, &kv.key).unwrap_or_default()
                        )
                    })
                    .collect();
                v.sort();
                v.join(",")
            };
            match m.data {
                Some(metric::Data::Sum(sum)) => {
                    for p in sum.data_points {
                        let value = match p.value {
                            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i)) => i as u64,
                            other => panic!("{}: {other:?}", m.name),
                        };
                        out.insert((m.name.clone(), key(&p.attributes)), value);
                    }
                }
                Some(metric::Data::Histogram(h)) => {
                    for p in h.data_points {
                        out.insert((m.name.clone(), key(&p.attributes)), p.count);
                    }
                }
                other => panic!("{}: unexpected {other:?}", m.name),
            }
        }
    }
    out
}

pub fn metric(all: &BTreeMap<(String, String), u64>, name: &str, with: &[&str]) -> u64 {
    all.iter()
        .filter(|((n, attrs), _)| {
            n == name && with.iter().all(|w| attrs.split(',').any(|a| a == *w))
        })
        .map(|(_, v)| v)
        .sum()
}
