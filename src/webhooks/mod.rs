//! Inbound webhooks: signature schemes (the bridge's receiving path builds
//! on these).

pub mod signature;
