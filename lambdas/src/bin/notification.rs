//! The `notification` function: a `bootstrap` for the `provided.al2023` runtime.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    courier_lambdas::functions::main("notification").await
}
