//! Entity management over Atom ("Create Queue", "Get Queue", "Update Queue", "Delete
//! Queue", the same for topics, subscriptions and rules, and the `$Resources` lists), as
//! azure-servicebus's `ServiceBusAdministrationClient` calls it.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::atom::{description, feed, rule, xml};
use crate::failure::Failure;
use crate::rule::Rule;
use crate::store::{subscription_path, Kind, Snapshot, Store};

/// "Maximum size of any messaging entity path: queue or topic: 260 characters."
const MAX_PATH: usize = 260;
/// "Maximum size of any messaging entity name: namespace, subscription, or subscription
/// rule: 50 characters."
const MAX_NAME: usize = 50;

/// What a management request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resource {
    /// A queue or topic.
    Entity(String),
    Subscription {
        topic: String,
        name: String,
    },
    Rule {
        topic: String,
        subscription: String,
        name: String,
    },
    List(Kind),
    /// `$namespaceinfo` (Get Namespace).
    Namespace,
    Subscriptions(String),
    Rules {
        topic: String,
        subscription: String,
    },
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

fn entity_entry(host: &str, s: &Snapshot) -> String {
    let title = match s.kind {
        Kind::Subscription => s.name.rsplit('/').next().unwrap_or(&s.name),
        _ => &s.name,
    };
    feed::entry(
        host,
        &s.name,
        title,
        s.created_at,
        s.updated_at,
        &feed::description(s),
    )
}

fn rule_entry(host: &str, subscription: &str, r: &Rule) -> String {
    let path = format!("{subscription}/rules/{}", r.name);
    feed::entry(
        host,
        &path,
        &r.name,
        r.created_at,
        r.created_at,
        &rule::render_rule(r),
    )
}

/// Segments of letters, digits, `.`, `-`, `_` ("Service Bus Resource Manager
/// exceptions"); lengths within the quotas.
fn validate_name(name: &str, max: usize, what: &str, allow_slash: bool) -> Result<(), Failure> {
    let ok_segment = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
    };
    let segments_ok = if allow_slash {
        name.split('/').all(ok_segment)
    } else {
        ok_segment(name)
    };
    if !segments_ok {
        return Err(Failure::bad_request(format!(
            "'{name}' contains character(s) that isn't allowed by Service Bus. Entity segments can contain only letters, numbers, periods(.), hyphens(-), and underscores(_)."
        )));
    }
    if name.len() > max {
        return Err(Failure::bad_request(format!(
            "the {what} name '{name}' is longer than {max} characters"
        )));
    }
    Ok(())
}

fn check_names(resource: &Resource) -> Result<(), Failure> {
    match resource {
        Resource::Entity(path) => validate_name(path, MAX_PATH, "entity", true),
        Resource::Subscription { topic, name } => {
            validate_name(topic, MAX_PATH, "topic", true)?;
            validate_name(name, MAX_NAME, "subscription", false)
        }
        Resource::Rule {
            topic,
            subscription,
            name,
        } => {
            validate_name(topic, MAX_PATH, "topic", true)?;
            validate_name(subscription, MAX_NAME, "subscription", false)?;
            // "$Default" is the one name with a '$'.
            if name.eq_ignore_ascii_case("$Default") {
                return Ok(());
            }
            validate_name(name, MAX_NAME, "rule", false)
        }
        _ => Ok(()),
    }
}

/// PUT: create (201), or with `If-Match` update (200); the answer is the new entry.
pub(crate) fn put(
    store: &Store,
    host: &str,
    resource: &Resource,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, Failure> {
    check_names(resource)?;
    let update = headers.contains_key(header::IF_MATCH);
    let status = if update {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let entry = match resource {
        Resource::Rule {
            topic,
            subscription,
            name,
        } => put_rule(
            store,
            host,
            &subscription_path(topic, subscription),
            name,
            update,
            body,
        )?,
        Resource::Entity(path) => put_entity(store, host, path, None, update, body)?,
        Resource::Subscription { topic, name } => put_entity(
            store,
            host,
            &subscription_path(topic, name),
            Some(Kind::Subscription),
            update,
            body,
        )?,
        _ => {
            return Err(Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "a list cannot be written",
            ))
        }
    };
    Ok(answer(
        status,
        feed::ENTRY_CONTENT_TYPE,
        feed::entry_document(&entry),
    ))
}

fn put_rule(
    store: &Store,
    host: &str,
    subscription: &str,
    name: &str,
    update: bool,
    body: &Bytes,
) -> Result<String, Failure> {
    let rule = xml::with_description(body, |node| {
        if node.tag_name().name() != "RuleDescription" {
            return Err(Failure::bad_request(format!(
                "a RuleDescription is expected here, not {}",
                node.tag_name().name()
            )));
        }
        rule::parse_rule(node, Some(name))
    })?;
    store.put_rule(subscription, rule.clone(), update)?;
    let stored = store
        .rules(subscription)
        .and_then(|rules| {
            rules
                .into_iter()
                .find(|r| r.name.eq_ignore_ascii_case(name))
        })
        .unwrap_or(rule);
    Ok(rule_entry(host, subscription, &stored))
}

fn put_entity(
    store: &Store,
    host: &str,
    path: &str,
    expected: Option<Kind>,
    update: bool,
    body: &Bytes,
) -> Result<String, Failure> {
    let (kind, parsed) = xml::with_description(body, |node| {
        let kind = match node.tag_name().name() {
            "QueueDescription" => Kind::Queue,
            "TopicDescription" => Kind::Topic,
            "SubscriptionDescription" => Kind::Subscription,
            other => {
                return Err(Failure::bad_request(format!(
                    "{other} is not a queue, topic or subscription description"
                )))
            }
        };
        match (expected, kind) {
            (Some(Kind::Subscription), Kind::Subscription) | (None, Kind::Queue | Kind::Topic) => {}
            _ => {
                return Err(Failure::bad_request(format!(
                    "a {} cannot be put at '{path}'",
                    node.tag_name().name()
                )))
            }
        }
        Ok((kind, description::parse(kind, node)?))
    })?;
    let snapshot = if update {
        store.update(path, kind, parsed)?
    } else {
        store.create(path, kind, parsed)?
    };
    Ok(entity_entry(host, &snapshot))
}

/// GET of one entity or rule (200 with an empty feed when it does not exist), or a list.
pub(crate) fn get(
    store: &Store,
    host: &str,
    resource: &Resource,
    query: Option<&str>,
) -> Result<Response, Failure> {
    let entry = |e: Option<String>| match e {
        Some(e) => answer(
            StatusCode::OK,
            feed::ENTRY_CONTENT_TYPE,
            feed::entry_document(&e),
        ),
        None => answer(StatusCode::OK, feed::FEED_CONTENT_TYPE, feed::empty_feed()),
    };
    Ok(match resource {
        Resource::Entity(path) => entry(
            store
                .get(path)
                .filter(|s| s.kind != Kind::Subscription)
                .map(|s| entity_entry(host, &s)),
        ),
        Resource::Subscription { topic, name } => entry(
            store
                .get(&subscription_path(topic, name))
                .filter(|s| s.kind == Kind::Subscription)
                .map(|s| entity_entry(host, &s)),
        ),
        Resource::Rule {
            topic,
            subscription,
            name,
        } => {
            let sub = subscription_path(topic, subscription);
            let found = store.rules(&sub).and_then(|rules| {
                rules
                    .into_iter()
                    .find(|r| r.name.eq_ignore_ascii_case(name))
            });
            entry(found.map(|r| rule_entry(host, &sub, &r)))
        }
        Resource::Namespace => answer(
            StatusCode::OK,
            feed::ENTRY_CONTENT_TYPE,
            feed::entry_document(&feed::namespace_entry(host, store.started_at())),
        ),
        Resource::List(kind) => {
            let (path, title) = match kind {
                Kind::Queue => ("$Resources/Queues", "Queues"),
                _ => ("$Resources/Topics", "Topics"),
            };
            let entries: Vec<String> = store
                .list(*kind, None)
                .iter()
                .map(|s| entity_entry(host, s))
                .collect();
            page(host, path, title, entries, query)
        }
        Resource::Subscriptions(topic) => {
            let entries: Vec<String> = store
                .list(Kind::Subscription, Some(topic))
                .iter()
                .map(|s| entity_entry(host, s))
                .collect();
            page(
                host,
                &format!("{topic}/subscriptions"),
                "Subscriptions",
                entries,
                query,
            )
        }
        Resource::Rules {
            topic,
            subscription,
        } => {
            let sub = subscription_path(topic, subscription);
            let entries: Vec<String> = store
                .rules(&sub)
                .unwrap_or_default()
                .iter()
                .map(|r| rule_entry(host, &sub, r))
                .collect();
            page(host, &format!("{sub}/rules"), "Rules", entries, query)
        }
    })
}

/// One page of a list: `$skip` entries skipped, at most `$top` (default 100) returned.
fn page(
    host: &str,
    path: &str,
    title: &str,
    entries: Vec<String>,
    query: Option<&str>,
) -> Response {
    let param = |name: &str, default: usize| {
        query
            .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let (skip, top) = (param("$skip", 0), param("$top", 100).clamp(1, 100));
    let total = entries.len();
    let slice: Vec<String> = entries.into_iter().skip(skip).take(top).collect();
    let next = (skip.saturating_add(top) < total).then(|| skip + top);
    answer(
        StatusCode::OK,
        feed::FEED_CONTENT_TYPE,
        feed::feed(host, path, title, skip, top, next, &slice),
    )
}

/// DELETE → 200, or 404 when it does not exist.
pub(crate) fn delete(store: &Store, resource: &Resource) -> Result<Response, Failure> {
    match resource {
        Resource::Entity(path) => {
            if store
                .get(path)
                .is_some_and(|s| s.kind == Kind::Subscription)
            {
                return Err(Failure::not_found(format!(
                    "The messaging entity '{path}' could not be found."
                )));
            }
            store.delete(path)?;
        }
        Resource::Subscription { topic, name } => store.delete(&subscription_path(topic, name))?,
        Resource::Rule {
            topic,
            subscription,
            name,
        } => store.delete_rule(&subscription_path(topic, subscription), name)?,
        _ => {
            return Err(Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "a list cannot be deleted",
            ))
        }
    }
    Ok(StatusCode::OK.into_response())
}
