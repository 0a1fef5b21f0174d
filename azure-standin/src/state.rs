//! The stand-in's state: entities, rules, locks, and the in-memory broker behind them.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use courier_core::topology::{QueueSpec, Topology};
use courier_core::{Broker, Delivery, MemoryBroker, Secret, Source};
use tokio::time::Instant;

use crate::sas;
use crate::sql::SqlFilter;

/// How long a `MessageId` is remembered by entities with duplicate detection.
const DEDUP_WINDOW: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Queue,
    Topic,
    Subscription,
}

#[derive(Debug, Clone)]
pub(crate) struct Entity {
    pub(crate) kind: Kind,
    pub(crate) lock_secs: u32,
    pub(crate) max_delivery: u32,
    pub(crate) dead_letter_on_expiry: bool,
    pub(crate) dead_letter_on_filter_errors: bool,
    pub(crate) duplicate_detection: bool,
}

/// A subscription's rules: name -> (SQL text, parsed).
pub(crate) type Rules = BTreeMap<String, (String, SqlFilter)>;

pub(crate) struct Lock {
    pub(crate) entity: String,
    pub(crate) delivery: Delivery,
}

pub(crate) struct StandInState {
    pub(crate) namespace: String,
    key_name: String,
    key: Secret,
    pub(crate) memory: MemoryBroker,
    pub(crate) entities: Mutex<BTreeMap<String, Entity>>,
    /// Rules by subscription path.
    pub(crate) rules: Mutex<BTreeMap<String, Rules>>,
    pub(crate) locks: Mutex<HashMap<String, Lock>>,
    dedup: Mutex<HashMap<String, HashMap<String, Instant>>>,
    seq: AtomicI64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl StandInState {
    pub(crate) fn new(namespace: String, key_name: String, key: Secret) -> Self {
        StandInState {
            namespace,
            key_name,
            key,
            memory: MemoryBroker::new(),
            entities: Mutex::default(),
            rules: Mutex::default(),
            locks: Mutex::default(),
            dedup: Mutex::default(),
            seq: AtomicI64::new(1),
        }
    }

    pub(crate) fn next_seq(&self) -> i64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Checks a SAS token for a request to `path`; the error is the 401 body.
    pub(crate) fn authorize(&self, header: Option<&str>, path: &str) -> Result<(), String> {
        let token = header
            .and_then(|h| h.strip_prefix("SharedAccessSignature "))
            .ok_or("40100: no SharedAccessSignature token")?;
        let mut parts = HashMap::new();
        for p in token.split('&') {
            if let Some((k, v)) = p.split_once('=') {
                parts.insert(k, decode(v));
            }
        }
        let get = |k: &str| {
            parts
                .get(k)
                .cloned()
                .ok_or(format!("40100: token lacks '{k}'"))
        };
        let (sr, sig, se, skn) = (get("sr")?, get("sig")?, get("se")?, get("skn")?);
        if skn != self.key_name {
            return Err(format!("40103: unknown key name '{skn}'"));
        }
        let expiry: u64 = se.parse().map_err(|_| "40103: bad expiry".to_owned())?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if expiry <= now {
            return Err("40105: the token has expired".to_owned());
        }
        if sas::signature(&sr, expiry, &self.key) != sig {
            return Err("40103: Invalid authorization token signature".to_owned());
        }
        let resource = format!(
            "https://{}.servicebus.windows.net/{}",
            self.namespace,
            path.trim_start_matches('/')
        );
        let scope = sr.trim_end_matches('/').to_ascii_lowercase();
        let wanted = resource.to_ascii_lowercase();
        if !(wanted == scope || wanted.starts_with(&format!("{scope}/"))) {
            return Err(format!("40103: the token is for '{sr}', not this resource"));
        }
        Ok(())
    }

    /// The memory broker's queue name for a queue or subscription path.
    pub(crate) fn memory_name(path: &str) -> String {
        path.replace("/subscriptions/", "--")
    }

    /// The memory source for an entity path, possibly ending in `/$DeadLetterQueue`.
    pub(crate) fn source(&self, path: &str) -> Option<(String, Source, Entity)> {
        let (base, dead) = match path.strip_suffix("/$DeadLetterQueue") {
            Some(b) => (b, true),
            None => (path, false),
        };
        let entity = lock(&self.entities)
            .get(base)
            .cloned()
            .filter(|e| e.kind != Kind::Topic)?;
        let q = Source::queue(Self::memory_name(base));
        Some((
            base.to_owned(),
            if dead { q.dead_letter() } else { q },
            entity,
        ))
    }

    /// Creates or updates the memory queue behind a queue or subscription.
    pub(crate) async fn provision_memory(
        &self,
        path: &str,
        e: &Entity,
    ) -> courier_core::Result<()> {
        let mut q = QueueSpec::new(Self::memory_name(path));
        q.max_receive_count = e.max_delivery;
        q.visibility_timeout_secs = e.lock_secs;
        self.memory
            .provision(&Topology {
                queues: vec![q],
                ..Topology::default()
            })
            .await
            .map(drop)
    }

    /// Whether `message_id` was seen on `entity` within the window (and remembers it).
    pub(crate) fn duplicate(&self, entity: &str, message_id: &str) -> bool {
        let now = Instant::now();
        let mut all = lock(&self.dedup);
        let seen = all.entry(entity.to_owned()).or_default();
        seen.retain(|_, at| now.duration_since(*at) < DEDUP_WINDOW);
        seen.insert(message_id.to_owned(), now).is_some()
    }

    /// The subscriptions of a topic whose rules pass these properties.
    pub(crate) fn matching_subscriptions(
        &self,
        topic: &str,
        props: &BTreeMap<String, String>,
    ) -> Vec<String> {
        let prefix = format!("{topic}/subscriptions/");
        let subs: Vec<String> = lock(&self.entities)
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        let rules = lock(&self.rules);
        subs.into_iter()
            .filter(|s| {
                rules
                    .get(s)
                    .is_some_and(|r| r.values().any(|(_, f)| f.matches(props)))
            })
            .collect()
    }
}
