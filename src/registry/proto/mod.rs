//! Conversions between the registry's types and `patchbay.v1` messages,
//! one file per resource; requests are parsed and validated here, at the
//! edge.

pub(super) mod catalog;
pub(super) mod connection;
mod enums;
pub(crate) mod template;
