//! Atom answers as the service writes them (the shape recorded from a namespace in the
//! azure-sdk-for-js test fixtures): an `entry` with `id`, `title` (the entity's name),
//! `published`, `updated`, `author`, a `self` link and the description in `content`;
//! lists are `feed`s of entries with a `next` link while more remain; a GET of a missing
//! entity is an empty feed with status 200.

use time::OffsetDateTime;

use super::description::Description;
use super::schema::{self, Type};
use super::xml::{element, escape, ATOM_NS, SB_2011_NS, SB_NS, XSI_NS};
use crate::http_date::format_xml;
use crate::store::{Kind, Snapshot};

/// The API version written into ids and links.
pub(crate) const API_VERSION: &str = "2021-05";
/// The Atom entry media type of management answers.
pub(crate) const ENTRY_CONTENT_TYPE: &str = "application/atom+xml;type=entry;charset=utf-8";
/// The Atom feed media type of lists.
pub(crate) const FEED_CONTENT_TYPE: &str = "application/atom+xml;type=feed;charset=utf-8";

/// One `entry` element (no XML declaration, so it can sit in a feed).
pub(crate) fn entry(
    host: &str,
    path: &str,
    title: &str,
    published: OffsetDateTime,
    updated: OffsetDateTime,
    content: &str,
) -> String {
    let url = format!("https://{host}/{path}?api-version={API_VERSION}");
    let namespace = host.split('.').next().unwrap_or(host);
    format!(
        "<entry xmlns=\"{ATOM_NS}\">{}<title type=\"text\">{}</title>{}{}<author>{}</author><link rel=\"self\" href=\"{}\"/><content type=\"application/xml\">{content}</content></entry>",
        element("id", &url),
        escape(title),
        element("published", &format_xml(published)),
        element("updated", &format_xml(updated)),
        element("name", namespace),
        escape(&url),
    )
}

/// A complete entry document.
pub(crate) fn entry_document(entry: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{entry}")
}

/// A feed of entries; `next` is the `$skip` of the following page, if any.
pub(crate) fn feed(
    host: &str,
    path: &str,
    title: &str,
    skip: usize,
    top: usize,
    next: Option<usize>,
    entries: &[String],
) -> String {
    let link = |skip: usize| {
        format!("https://{host}/{path}?$skip={skip}&$top={top}&api-version={API_VERSION}")
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"{ATOM_NS}\"><title type=\"text\">{}</title>{}{}<link rel=\"self\" href=\"{}\"/>",
        escape(title),
        element("id", &link(skip)),
        element("updated", &format_xml(OffsetDateTime::now_utc())),
        escape(&link(skip)),
    );
    if let Some(next) = next {
        out.push_str(&format!(
            "<link rel=\"next\" href=\"{}\"/>",
            escape(&link(next))
        ));
    }
    for e in entries {
        out.push_str(e);
    }
    out.push_str("</feed>");
    out
}

/// What the service answers to a GET of an entity that does not exist: 200 and this.
pub(crate) fn empty_feed() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"{ATOM_NS}\"><title type=\"text\">Publicly Listed Services</title><subtitle type=\"text\">This is the list of publicly-listed services currently available.</subtitle><id>uuid:{};id=1</id><updated>{}</updated><generator>Microsoft® Windows Azure Service Bus</generator></feed>",
        uuid::Uuid::new_v4(),
        format_xml(OffsetDateTime::now_utc())
    )
}

/// The `$namespaceinfo` entry: a Standard-tier messaging namespace (azure-servicebus
/// `NamespaceProperties`: Alias, CreatedTime, MessagingSKU, MessagingUnits, ModifiedTime,
/// Name, NamespaceType).
pub(crate) fn namespace_entry(host: &str, created: OffsetDateTime) -> String {
    let name = host.split('.').next().unwrap_or(host);
    let info = format!(
        "<NamespaceInfo xmlns:i=\"{XSI_NS}\" xmlns=\"{SB_NS}\">{}{}{}{}{}</NamespaceInfo>",
        element("CreatedTime", &format_xml(created)),
        element("MessagingSKU", "Standard"),
        element("ModifiedTime", &format_xml(created)),
        element("Name", name),
        element("NamespaceType", "Messaging"),
    );
    entry(host, "$namespaceinfo", name, created, created, &info)
}

/// The description element of an entity: every element of its schema in answer order,
/// settings (defaults filled in) and runtime values.
pub(crate) fn description(snapshot: &Snapshot) -> String {
    let kind = snapshot.kind;
    let name = schema::description_name(kind);
    let mut out = format!("<{name} xmlns:i=\"{XSI_NS}\" xmlns=\"{SB_NS}\">");
    let mut elements: Vec<_> = schema::elements(kind).iter().collect();
    elements.sort_by_key(|e| e.ranks[0]);
    for e in elements {
        if let Some(text) = value(snapshot, &snapshot.description, kind, e.name, e.ty) {
            out.push_str(&text);
        }
    }
    out.push_str(&format!("</{name}>"));
    out
}

fn value(s: &Snapshot, d: &Description, kind: Kind, name: &str, ty: Type) -> Option<String> {
    let (active, dead, scheduled) = s.counts;
    let text = match (name, ty) {
        ("AuthorizationRules", _) => return Some("<AuthorizationRules/>".into()),
        ("CountDetails", _) => return Some(count_details(active, dead, scheduled)),
        ("SizeInBytes", _) => s.size_in_bytes.to_string(),
        ("MessageCount", _) => (active + dead + scheduled).to_string(),
        ("CreatedAt", _) => format_xml(s.created_at),
        ("UpdatedAt", _) => format_xml(s.updated_at),
        ("AccessedAt", _) => format_xml(s.accessed_at),
        ("EntityAvailabilityStatus", _) => "Available".into(),
        ("SubscriptionCount", _) if kind == Kind::Topic => s.subscription_count.to_string(),
        (_, Type::ReadOnly | Type::RuleDescription | Type::Rules) => return None,
        _ => d.answer(kind, name)?,
    };
    Some(element(name, &text))
}

fn count_details(active: usize, dead: usize, scheduled: usize) -> String {
    let c = |n: &str, v: usize| format!("<d2p1:{n}>{v}</d2p1:{n}>");
    format!(
        "<CountDetails xmlns:d2p1=\"{SB_2011_NS}\">{}{}{}{}{}</CountDetails>",
        c("ActiveMessageCount", active),
        c("DeadLetterMessageCount", dead),
        c("ScheduledMessageCount", scheduled),
        c("TransferMessageCount", 0),
        c("TransferDeadLetterMessageCount", 0)
    )
}
