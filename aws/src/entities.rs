//! What courier knows of the account's queues and topics: each is looked up once (URL,
//! ARN, FIFO-ness, visibility timeout) and remembered until provisioning changes things
//! or an entity turns out to be gone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use courier_core::{Error, Result};
use parking_lot::Mutex;

use crate::{error, names};

/// SQS's default visibility timeout, for a queue that does not say.
const DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);

/// What courier needs to know of a queue.
#[derive(Debug)]
pub(crate) struct QueueInfo {
    /// Base name (without `.fifo`), as courier names it.
    pub(crate) base: String,
    pub(crate) url: String,
    /// Its ARN (what `StartMessageMoveTask` names queues by).
    pub(crate) arn: String,
    pub(crate) fifo: bool,
    pub(crate) content_based_dedup: bool,
    pub(crate) visibility: Duration,
}

impl QueueInfo {
    /// How errors name it: `queue 'audit'`.
    pub(crate) fn describe(&self) -> String {
        format!("queue '{}'", self.base)
    }
}

/// What courier needs to know of a topic.
#[derive(Debug)]
pub(crate) struct TopicInfo {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) fifo: bool,
    pub(crate) content_based_dedup: bool,
}

/// Queue and topic lookups, cached by name.
pub(crate) struct Entities {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    queues: Mutex<HashMap<String, Arc<QueueInfo>>>,
    topics: Mutex<HashMap<String, Arc<TopicInfo>>>,
}

impl Entities {
    pub(crate) fn new(sqs: aws_sdk_sqs::Client, sns: aws_sdk_sns::Client) -> Self {
        Entities {
            sqs,
            sns,
            queues: Mutex::default(),
            topics: Mutex::default(),
        }
    }

    /// Forgets everything looked up (after provisioning, or when an entity vanished).
    pub(crate) fn forget(&self) {
        self.queues.lock().clear();
        self.topics.lock().clear();
    }

    /// The queue with this base name (standard, or FIFO with `.fifo`), or at this URL
    /// (what a request's `ReplyTo` holds); `what` names it in errors.
    pub(crate) async fn queue(&self, base: &str, what: &str) -> Result<Arc<QueueInfo>> {
        if let Some(q) = self.queues.lock().get(base) {
            return Ok(q.clone());
        }
        let (url, base_name) = match names::queue_name_of_url(base) {
            Some(name) => (
                base.to_owned(),
                name.strip_suffix(".fifo").unwrap_or(name).to_owned(),
            ),
            None => (self.queue_url(base, what).await?, base.to_owned()),
        };
        let attrs = self.queue_attributes(&url, what).await?;
        let get = |name: QueueAttributeName| attrs.get(&name).map(String::as_str);
        let info = Arc::new(QueueInfo {
            base: base_name,
            arn: get(QueueAttributeName::QueueArn)
                .unwrap_or_default()
                .to_owned(),
            fifo: get(QueueAttributeName::FifoQueue) == Some("true"),
            content_based_dedup: get(QueueAttributeName::ContentBasedDeduplication) == Some("true"),
            visibility: get(QueueAttributeName::VisibilityTimeout)
                .and_then(|v| v.parse().ok())
                .map_or(DEFAULT_VISIBILITY, Duration::from_secs),
            url,
        });
        self.queues.lock().insert(base.to_owned(), info.clone());
        Ok(info)
    }

    /// Forgets one queue (deleted by courier).
    pub(crate) fn forget_queue(&self, base: &str) {
        self.queues.lock().remove(base);
    }

    /// The URL of the standard queue `base`, else of the FIFO queue `base.fifo`.
    async fn queue_url(&self, base: &str, what: &str) -> Result<String> {
        for name in [
            names::queue_name(base, false),
            names::queue_name(base, true),
        ] {
            match self.sqs.get_queue_url().queue_name(&name).send().await {
                Ok(out) => {
                    if let Some(url) = out.queue_url {
                        return Ok(url);
                    }
                }
                Err(e) => match error::map("GetQueueUrl", what, e) {
                    e if e.is_not_found() => continue,
                    other => return Err(other),
                },
            }
        }
        Err(Error::not_found(what))
    }

    /// The topic with this name (standard, or FIFO with `.fifo`).
    pub(crate) async fn topic(&self, name: &str) -> Result<Arc<TopicInfo>> {
        if let Some(t) = self.topics.lock().get(name) {
            return Ok(t.clone());
        }
        let what = format!("topic '{name}'");
        let arn = self
            .find_topic_arn(name, &what)
            .await?
            .ok_or_else(|| Error::not_found(&what))?;
        let fifo = names::is_fifo(names::arn_name(&arn));
        let content_based_dedup = fifo
            && self
                .topic_attributes(&arn, &what)
                .await?
                .get("ContentBasedDeduplication")
                .is_some_and(|v| v == "true");
        let info = Arc::new(TopicInfo {
            name: name.to_owned(),
            arn,
            fifo,
            content_based_dedup,
        });
        self.topics.lock().insert(name.to_owned(), info.clone());
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
            let found = page
                .topics
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| t.topic_arn)
                .find(|arn| wanted.iter().any(|w| w == names::arn_name(arn)));
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }
}
