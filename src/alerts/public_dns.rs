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

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use super::*;

    async fn resolve(allow_private: bool, host: &str) -> Result<Vec<SocketAddr>, String> {
        let name = Name::from_str(host).map_err(|e| e.to_string())?;
        PublicOnly::new(allow_private)
            .resolve(name)
            .await
            .map(Iterator::collect)
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn a_name_that_resolves_inward_is_refused_unless_allowed() {
        let refused = resolve(false, "localhost").await.expect_err("refused");
        assert!(refused.contains("resolves only to loopback"), "{refused}");
        let allowed = resolve(true, "localhost").await.expect("allowed");
        assert!(!allowed.is_empty());
        assert!(allowed.iter().all(|a| a.ip().is_loopback()), "{allowed:?}");
    }

    #[tokio::test]
    async fn public_addresses_pass_and_private_ones_are_dropped() {
        // Literal addresses resolve without DNS.
        let public = resolve(false, "93.184.216.34").await.expect("public");
        assert_eq!(public.len(), 1);
        assert!(resolve(false, "10.1.2.3").await.is_err());
        assert!(resolve(false, "169.254.169.254").await.is_err());
    }
}
