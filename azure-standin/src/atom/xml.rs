//! Reading request bodies with a real XML parser (`roxmltree`: namespaces resolved, no DTD,
//! no entity expansion) and writing answers with proper escaping.

use roxmltree::{Document, Node, ParsingOptions};

use crate::failure::Failure;

pub(crate) const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
pub(crate) const SB_NS: &str =
    "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect";
pub(crate) const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub(crate) const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";
/// The namespace of `CountDetails`' children.
pub(crate) const SB_2011_NS: &str = "http://schemas.microsoft.com/netservices/2011/06/servicebus";

/// Escapes text for element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `<name>text</name>` in the default namespace.
pub(crate) fn element(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

/// Parses a request body and hands the description element inside its Atom entry to `f`:
/// `<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml">` holding
/// exactly one element of the Service Bus namespace. Anything else is a 400.
pub(crate) fn with_description<T>(
    body: &[u8],
    f: impl FnOnce(Node<'_, '_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Failure::bad_request("the request body is not UTF-8 text"))?;
    let options = ParsingOptions {
        allow_dtd: false,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| {
        Failure::bad_request(format!("the request body is not well-formed XML: {e}"))
    })?;
    let entry = doc.root_element();
    if !is(entry, ATOM_NS, "entry") {
        return Err(Failure::bad_request(format!(
            "the body must be an Atom entry ({{{ATOM_NS}}}entry), not {}",
            qualified(entry)
        )));
    }
    let mut content = None;
    for child in elements(entry) {
        if child.tag_name().namespace() != Some(ATOM_NS) {
            return Err(Failure::bad_request(format!(
                "unexpected {} in the Atom entry",
                qualified(child)
            )));
        }
        if child.tag_name().name() == "content" && content.replace(child).is_some() {
            return Err(Failure::bad_request(
                "the Atom entry has two content elements",
            ));
        }
    }
    let content =
        content.ok_or_else(|| Failure::bad_request("the Atom entry has no content element"))?;
    if let Some(t) = content.attribute("type") {
        if t != "application/xml" {
            return Err(Failure::bad_request(format!(
                "the content type is '{t}'; a description is application/xml"
            )));
        }
    }
    if content
        .children()
        .any(|c| c.is_text() && !c.text().unwrap_or("").trim().is_empty())
    {
        return Err(Failure::bad_request(
            "the content element holds text, not a description",
        ));
    }
    let mut inner = elements(content);
    let description = inner
        .next()
        .ok_or_else(|| Failure::bad_request("the content element holds no description"))?;
    if inner.next().is_some() {
        return Err(Failure::bad_request(
            "the content element holds more than one element",
        ));
    }
    if description.tag_name().namespace() != Some(SB_NS) {
        return Err(Failure::bad_request(format!(
            "the description {} is not in the Service Bus namespace {SB_NS}",
            qualified(description)
        )));
    }
    f(description)
}

/// The element children of a node.
pub(crate) fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}

pub(crate) fn is(node: Node<'_, '_>, namespace: &str, name: &str) -> bool {
    node.tag_name().namespace() == Some(namespace) && node.tag_name().name() == name
}

/// `{namespace}name`, for error texts.
pub(crate) fn qualified(node: Node<'_, '_>) -> String {
    match node.tag_name().namespace() {
        Some(ns) => format!("{{{ns}}}{}", node.tag_name().name()),
        None => node.tag_name().name().to_owned(),
    }
}

/// The text of a leaf element (no child elements allowed).
pub(crate) fn leaf_text(node: Node<'_, '_>) -> Result<String, Failure> {
    if elements(node).next().is_some() {
        return Err(Failure::bad_request(format!(
            "{} must hold text, not elements",
            node.tag_name().name()
        )));
    }
    Ok(node.children().filter_map(|c| c.text()).collect::<String>())
}

/// The `xsi:type` of an element, without its prefix (`d6p1:string` → `string`), and the
/// namespace that prefix stands for.
pub(crate) fn xsi_type<'a>(node: Node<'a, '_>) -> Option<(Option<&'a str>, &'a str)> {
    let value = node.attribute((XSI_NS, "type"))?;
    Some(match value.split_once(':') {
        Some((prefix, local)) => (node.lookup_namespace_uri(Some(prefix)), local),
        None => (node.lookup_namespace_uri(None), value),
    })
}
