//! The management calls: `GET`, `PUT` (create, or update with `If-Match: *`) and `DELETE`
//! of an entity or rule, Atom XML, `api-version=2017-04`.

use courier_core::Result;
use reqwest::Method;

use crate::error::{Call, Operation};
use crate::rest::RestClient;

const API_VERSION: &str = "api-version=2017-04";
const ATOM_ENTRY: &str = "application/atom+xml;type=entry;charset=utf-8";

fn call(target: &str) -> Call<'_> {
    Call {
        operation: Operation::Manage,
        target,
    }
}

/// The entry at `path`, or `None` when there is none (the service answers a `GET` of a
/// missing entity with an empty feed, or 404).
pub(crate) async fn get(rest: &RestClient, path: &str, target: &str) -> Result<Option<String>> {
    let request = rest.request(Method::GET, path, API_VERSION);
    let body = match rest
        .send(request, call(target), rest.operation_timeout())
        .await
    {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let is_entry = roxmltree::Document::parse(&body)
        .map(|doc| {
            doc.root_element()
                .has_tag_name((super::atom::ATOM_NS, "entry"))
        })
        .unwrap_or(false);
    Ok(is_entry.then_some(body))
}

/// Creates (`update` false) or replaces (`update` true, `If-Match: *`) the entity at `path`.
pub(crate) async fn put(
    rest: &RestClient,
    path: &str,
    entry: String,
    update: bool,
    target: &str,
) -> Result<()> {
    let mut request = rest
        .request(Method::PUT, path, API_VERSION)
        .header(reqwest::header::CONTENT_TYPE, ATOM_ENTRY)
        .body(entry);
    if update {
        request = request.header(reqwest::header::IF_MATCH, "*");
    }
    rest.send(request, call(target), rest.operation_timeout())
        .await
        .map(drop)
}

/// Deletes the entity at `path`; `false` when there was none.
pub(crate) async fn delete(rest: &RestClient, path: &str, target: &str) -> Result<bool> {
    let request = rest.request(Method::DELETE, path, API_VERSION);
    match rest
        .send(request, call(target), rest.operation_timeout())
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}
