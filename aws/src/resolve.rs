//! Clients, and the names-to-URL/ARN caches: a queue URL or topic ARN is looked up once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use courier_core::{Error, Result};

use crate::receive::AckBatcher;
use crate::{error, names};

/// What courier needs to know of a queue.
#[derive(Debug)]
pub(crate) struct QueueInfo {
    /// Base name (without `.fifo`), as courier names it.
    pub(crate) base: String,
    pub(crate) url: String,
    pub(crate) fifo: bool,
    pub(crate) content_based_dedup: bool,
    pub(crate) visibility: Duration,
}

/// What courier needs to know of a topic.
#[derive(Debug)]
pub(crate) struct TopicInfo {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) fifo: bool,
    pub(crate) content_based_dedup: bool,
}

pub(crate) struct Inner {
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) sns: aws_sdk_sns::Client,
    queues: Mutex<HashMap<String, Arc<QueueInfo>>>,
    topics: Mutex<HashMap<String, Arc<TopicInfo>>>,
    acks: OnceLock<AckBatcher>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    pub(crate) fn new(sqs: aws_sdk_sqs::Client, sns: aws_sdk_sns::Client) -> Self {
        Inner {
            sqs,
            sns,
            queues: Mutex::default(),
            topics: Mutex::default(),
            acks: OnceLock::new(),
        }
    }

    /// The ack batcher, started on first use (inside the runtime).
    pub(crate) fn acks(&self) -> &AckBatcher {
        self.acks
            .get_or_init(|| AckBatcher::start(self.sqs.clone()))
    }

    /// Forgets cached entities (after provisioning, or when one vanished).
    pub(crate) fn forget(&self) {
        lock(&self.queues).clear();
        lock(&self.topics).clear();
    }

    /// The queue with this base name (standard, or FIFO with `.fifo`); `what` names it in errors.
    pub(crate) async fn queue(&self, base: &str, what: &str) -> Result<Arc<QueueInfo>> {
        if let Some(q) = lock(&self.queues).get(base) {
            return Ok(q.clone());
        }
        let mut url = None;
        for name in [
            names::queue_name(base, false),
            names::queue_name(base, true),
        ] {
            match self.sqs.get_queue_url().queue_name(&name).send().await {
                Ok(out) => {
                    url = out.queue_url;
                    break;
                }
                Err(e) => match error::map("GetQueueUrl", what, e) {
                    Error::NotFound { .. } => continue,
                    other => return Err(other),
                },
            }
        }
        let url = url.ok_or_else(|| Error::not_found(what))?;
        let attrs = self.queue_attributes(&url, what).await?;
        let get = |name: QueueAttributeName| attrs.get(&name).map(String::as_str);
        let info = Arc::new(QueueInfo {
            base: base.to_owned(),
            fifo: get(QueueAttributeName::FifoQueue) == Some("true"),
            content_based_dedup: get(QueueAttributeName::ContentBasedDeduplication) == Some("true"),
            visibility: Duration::from_secs(
                get(QueueAttributeName::VisibilityTimeout)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(30),
            ),
            url,
        });
        lock(&self.queues).insert(base.to_owned(), info.clone());
        Ok(info)
    }

    /// The topic with this name (standard, or FIFO with `.fifo`).
    pub(crate) async fn topic(&self, name: &str) -> Result<Arc<TopicInfo>> {
        if let Some(t) = lock(&self.topics).get(name) {
            return Ok(t.clone());
        }
        let what = format!("topic '{name}'");
        let arn = self
            .find_topic_arn(name, &what)
            .await?
            .ok_or_else(|| Error::not_found(&what))?;
        let fifo = names::is_fifo(names::arn_name(&arn));
        let content_based_dedup = if fifo {
            let attrs = self.topic_attributes(&arn, &what).await?;
            attrs.get("ContentBasedDeduplication").map(String::as_str) == Some("true")
        } else {
            false
        };
        let info = Arc::new(TopicInfo {
            name: name.to_owned(),
            arn,
            fifo,
            content_based_dedup,
        });
        lock(&self.topics).insert(name.to_owned(), info.clone());
        Ok(info)
    }

    /// All attributes of the queue at `url`.
    pub(crate) async fn queue_attributes(
        &self,
        url: &str,
        what: &str,
    ) -> Result<HashMap<QueueAttributeName, String>> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await;
        Ok(out
            .map_err(|e| error::map("GetQueueAttributes", what, e))?
            .attributes
            .unwrap_or_default())
    }

    /// All attributes of the topic `arn`.
    pub(crate) async fn topic_attributes(
        &self,
        arn: &str,
        what: &str,
    ) -> Result<HashMap<String, String>> {
        let out = self.sns.get_topic_attributes().topic_arn(arn).send().await;
        Ok(out
            .map_err(|e| error::map("GetTopicAttributes", what, e))?
            .attributes
            .unwrap_or_default())
    }

    /// Lists the account's topics (SNS has no lookup by name) for `name` or `name.fifo`.
    pub(crate) async fn find_topic_arn(&self, name: &str, what: &str) -> Result<Option<String>> {
        let wanted = [
            names::topic_name(name, false),
            names::topic_name(name, true),
        ];
        let mut pages = self.sns.list_topics().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error::map("ListTopics", what, e))?;
            for topic in page.topics.unwrap_or_default() {
                if let Some(arn) = topic.topic_arn {
                    if wanted.iter().any(|w| w == names::arn_name(&arn)) {
                        return Ok(Some(arn));
                    }
                }
            }
        }
        Ok(None)
    }
}
