//! The management plane's Atom XML: parsing descriptions and rules strictly, writing
//! entries and feeds as the service does.

pub(crate) mod description;
pub(crate) mod feed;
pub(crate) mod rule;
pub(crate) mod schema;
pub(crate) mod xml;
