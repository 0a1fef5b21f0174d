pub mod otlp_receiver;
