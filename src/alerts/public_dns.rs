//! Name resolution for outbound notifications that drops non-public
//! addresses: the URL was checked when the channel was written, but a name
//! can resolve anywhere later (or differently per lookup), so the check is
//! made again on the addresses actually connected to.

use std::{net::SocketAddr, sync::Arc};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::outbound::is_public;

pub struct PublicOnly {
    allow_private: bool,
}

impl PublicOnly {
    pub fn new(allow_private: bool) -> Arc<Self> {
        Arc::new(Self { allow_private })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to loopback, private or link-local addresses, which are not called")]
pub struct Refused(String);

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(Refused(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}
