//! courier-dynamodb: an [`IdempotencyStore`] on Amazon DynamoDB, for the Lambda functions.
//!
//! The records follow AWS Lambda Powertools' idempotency layout, so the table Powertools
//! users already have (partition key `id`, TTL attribute `expiration`) serves courier too:
//!
//! | attribute | meaning |
//! | --- | --- |
//! | `id` (S) | the key: `[prefix#]subscription#source#event-id` (`%` and `#` escaped) |
//! | `status` (S) | `INPROGRESS` while a consumer holds it, `COMPLETED` once handled |
//! | `in_progress_expiration` (N) | epoch milliseconds when the claim's lease ends |
//! | `expiration` (N) | epoch seconds when the record expires (DynamoDB's TTL deletes it later) |
//!
//! A claim is one conditional `PutItem` that succeeds when the key is new, its record
//! expired, or its in-progress lease ran out (a function that timed out mid-handling), as
//! Powertools does; a losing claim reads the record (consistent read) to tell a completed
//! event from one in progress. Completing is an `UpdateItem`; releasing a conditional
//! `DeleteItem` that never removes a completed record.
//!
//! A Lambda function depends on this crate alone (it needs no PostgreSQL):
//!
//! ```no_run
//! use std::sync::Arc;
//! use courier_dynamodb::DynamoDbIdempotencyStore;
//!
//! # async fn example() -> courier_core::Result<()> {
//! let store = DynamoDbIdempotencyStore::connect(&courier_core::config::AwsConfig::default(), "IdempotencyTable")
//!     .await?
//!     .key_prefix("inventory");
//! let store: Arc<dyn courier_core::worker::IdempotencyStore> = Arc::new(store);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod error;

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;
use courier_core::config::AwsConfig;
use courier_core::worker::{Claim, IdempotencyKey, IdempotencyStore};
use courier_core::{Error, Result};

use error::map;

const IN_PROGRESS: &str = "INPROGRESS";
const COMPLETED: &str = "COMPLETED";
/// DynamoDB's limit on a partition key.
const MAX_KEY_BYTES: usize = 2048;

/// Powertools' claim condition: the key is new, or its record expired, or it is in
/// progress and its lease ran out.
const CLAIM_CONDITION: &str = "attribute_not_exists(#id) OR #expiry < :now OR \
    (#status = :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)";

/// An [`IdempotencyStore`] in a DynamoDB table. See the [crate docs](crate).
#[derive(Clone)]
pub struct DynamoDbIdempotencyStore {
    client: Client,
    table: String,
    prefix: Option<String>,
    retention: Duration,
}

impl fmt::Debug for DynamoDbIdempotencyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoDbIdempotencyStore")
            .field("table", &self.table)
            .field("prefix", &self.prefix)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

fn now() -> (i64, i64) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let millis = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    (secs, millis)
}

fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn as_i64(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// Escapes the separator so that different keys never encode alike.
fn escape(part: &str) -> String {
    part.replace('%', "%25").replace('#', "%23")
}

impl DynamoDbIdempotencyStore {
    /// Loads the standard AWS configuration chain (with `config`'s settings on top) for
    /// the table `table`.
    pub async fn connect(config: &AwsConfig, table: impl Into<String>) -> Result<Self> {
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
        if sdk.region().is_none() {
            return Err(Error::invalid_config(
                "no AWS region: set [aws] region in courier.toml, COURIER_AWS_REGION, AWS_REGION, or a profile's region",
            ));
        }
        Ok(Self::from_client(Client::new(&sdk), table))
    }

    /// A store on this client, remembering completed events for 7 days.
    pub fn from_client(client: Client, table: impl Into<String>) -> Self {
        DynamoDbIdempotencyStore {
            client,
            table: table.into(),
            prefix: None,
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }

    /// Starts every record's id with `prefix#` (e.g. the function's name), so that several
    /// functions can share a table.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// How long a completed event is remembered (its record's `expiration`). Choose more
    /// than the queue's message retention.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The record id of `key`.
    pub fn record_id(&self, key: &IdempotencyKey) -> Result<String> {
        let parts = [&key.subscription, &key.event_source, &key.event_id];
        let mut id: Vec<String> = self.prefix.iter().map(|p| escape(p)).collect();
        id.extend(parts.iter().map(|p| escape(p)));
        let id = id.join("#");
        if id.len() > MAX_KEY_BYTES {
            return Err(Error::invalid_input(format!(
                "the idempotency key of event '{}' is {} bytes; DynamoDB keys hold at most {MAX_KEY_BYTES}",
                key.event_id,
                id.len()
            )));
        }
        Ok(id)
    }

    /// Creates the table (partition key `id`, on-demand capacity) and waits until it is
    /// active; `false` when it existed already. Turn on its TTL on `expiration` with the
    /// tools that manage the account (Terraform's `ttl` block): expiry is checked by the
    /// store either way, TTL only reclaims the space.
    pub async fn create_table(&self) -> Result<bool> {
        let what = format!("CreateTable '{}'", self.table);
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| Error::Backend {
                        message: what.clone(),
                        source: Some(Box::new(e)),
                    })?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| Error::Backend {
                        message: what.clone(),
                        source: Some(Box::new(e)),
                    })?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        let created = match created {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                false
            }
            Err(e) => return Err(map(&what, &self.table, e)),
        };
        for _ in 0..120 {
            let table = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| map("DescribeTable", &self.table, e))?;
            if table.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(created);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(Error::Timeout {
            what: format!("DynamoDB table '{}' to become active", self.table),
            after: Duration::from_secs(30),
        })
    }

    /// After a lost claim: what holds the key, or `None` when its record vanished
    /// meanwhile (expired and deleted).
    async fn holder(&self, id: &str) -> Result<Option<Claim>> {
        let (now_s, now_ms) = now();
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map("GetItem", &self.table, e))?
            .item;
        let Some(item) = item else { return Ok(None) };
        let status = item
            .get("status")
            .and_then(|s| s.as_s().ok())
            .map(String::as_str);
        let expired = as_i64(&item, "expiration").is_some_and(|e| e < now_s);
        Ok(match status {
            Some(COMPLETED) if !expired => Some(Claim::Completed),
            Some(IN_PROGRESS) => Some(Claim::InProgress {
                retry_after: as_i64(&item, "in_progress_expiration")
                    .and_then(|until| u64::try_from(until - now_ms).ok())
                    .map(Duration::from_millis),
            }),
            // Expired between the put and this read: claimable again.
            _ => None,
        })
    }
}

#[async_trait]
impl IdempotencyStore for DynamoDbIdempotencyStore {
    async fn claim(&self, key: &IdempotencyKey, lease: Duration) -> Result<Claim> {
        let id = self.record_id(key)?;
        let retention = i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX);
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        // A record that vanishes between a lost put and the read is claimed again; twice
        // is plenty (it can only vanish once).
        for _ in 0..3 {
            let (now_s, now_ms) = now();
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("id", AttributeValue::S(id.clone()))
                .item("status", AttributeValue::S(IN_PROGRESS.into()))
                .item("expiration", number(now_s.saturating_add(retention)))
                .item(
                    "in_progress_expiration",
                    number(now_ms.saturating_add(lease_ms)),
                )
                .condition_expression(CLAIM_CONDITION)
                .expression_attribute_names("#id", "id")
                .expression_attribute_names("#expiry", "expiration")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#in_progress_expiry", "in_progress_expiration")
                .expression_attribute_values(":now", number(now_s))
                .expression_attribute_values(":now_in_millis", number(now_ms))
                .expression_attribute_values(":inprogress", AttributeValue::S(IN_PROGRESS.into()))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(Claim::Acquired),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    if let Some(claim) = self.holder(&id).await? {
                        return Ok(claim);
                    }
                }
                Err(e) => return Err(map(&format!("PutItem (claiming {key})"), &self.table, e)),
            }
        }
        Ok(Claim::InProgress { retry_after: None })
    }

    async fn complete(&self, key: &IdempotencyKey) -> Result<()> {
        let id = self.record_id(key)?;
        let (now_s, _) = now();
        let retention = i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX);
        self.client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id))
            .update_expression(
                "SET #status = :completed, #expiry = :expiry REMOVE #in_progress_expiry",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#expiry", "expiration")
            .expression_attribute_names("#in_progress_expiry", "in_progress_expiration")
            .expression_attribute_values(":completed", AttributeValue::S(COMPLETED.into()))
            .expression_attribute_values(":expiry", number(now_s.saturating_add(retention)))
            .send()
            .await
            .map_err(|e| map(&format!("UpdateItem (completing {key})"), &self.table, e))?;
        Ok(())
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<()> {
        let id = self.record_id(key)?;
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id))
            .condition_expression("#status = :inprogress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":inprogress", AttributeValue::S(IN_PROGRESS.into()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            // Completed (or gone): nothing to release.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(map(
                &format!("DeleteItem (releasing {key})"),
                &self.table,
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_unambiguous_and_bounded() {
        let client = Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .build(),
        );
        let store = DynamoDbIdempotencyStore::from_client(client, "t").key_prefix("inventory");
        let a = IdempotencyKey::new("queue:a#b", "/shop", "1");
        let b = IdempotencyKey::new("queue:a", "b#/shop", "1");
        let (ia, ib) = (store.record_id(&a).unwrap(), store.record_id(&b).unwrap());
        assert_eq!(ia, "inventory#queue:a%23b#/shop#1");
        assert_ne!(ia, ib);
        let long = IdempotencyKey::new("queue:a", "/shop", "x".repeat(3000));
        let e = store.record_id(&long).unwrap_err().to_string();
        assert!(e.contains("at most 2048"), "{e}");
    }
}
