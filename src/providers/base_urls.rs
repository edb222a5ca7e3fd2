//! Where a provider is called: the type's own URLs, or the server's override
//! for every connection of the type (`--provider-base-url`, a proxy or a
//! fake). Every call to a provider, OAuth included, goes through here.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::registry::model::{OAuthSpec, TypeSpec};

#[derive(Debug, Clone, Default)]
pub struct BaseUrls {
    /// Type id → base URL, without a trailing slash.
    overrides: HashMap<String, String>,
}

impl BaseUrls {
    pub fn insert(&mut self, type_id: impl Into<String>, url: impl Into<String>) {
        let url: String = url.into();
        self.overrides
            .insert(type_id.into(), url.trim_end_matches('/').to_owned());
    }

    /// Every override, by type id.
    pub fn overrides(&self) -> impl Iterator<Item = (&str, &str)> {
        self.overrides.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The API base of a connection of `type_id`: the override, else the
    /// type's own, with `{setting}` placeholders filled from `settings`.
    pub fn api(&self, type_id: &str, spec: &TypeSpec, settings: &Map<String, Value>) -> String {
        let template = self
            .overrides
            .get(type_id)
            .map_or(spec.api_base_uri.as_str(), String::as_str);
        super::resolve_base_uri(template, settings)
    }

    /// The type's OAuth endpoints, moved onto the override like its API calls.
    pub fn oauth(&self, type_id: &str, spec: &TypeSpec) -> Option<OAuthSpec> {
        let oauth = spec.oauth.as_ref()?;
        let Some(base) = self.overrides.get(type_id) else {
            return Some(oauth.clone());
        };
        let rebase = |uri: &str| rebase(uri, &spec.api_base_uri, base);
        Some(OAuthSpec {
            token_uri: rebase(&oauth.token_uri),
            revoke_uri: rebase(&oauth.revoke_uri),
        })
    }
}

impl FromIterator<(String, String)> for BaseUrls {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut urls = Self::default();
        for (type_id, url) in iter {
            urls.insert(type_id, url);
        }
        urls
    }
}

/// `uri` on `base`: what follows the type's API base when `uri` lies under
/// it, else what follows its origin. Plain string work, not URL parsing,
/// so `{refresh_token}` placeholders survive unencoded.
fn rebase(uri: &str, api_base: &str, base: &str) -> String {
    if uri.is_empty() {
        return String::new();
    }
    let api_base = api_base.trim_end_matches('/');
    if !api_base.is_empty()
        && let Some(rest) = uri.strip_prefix(api_base)
        && (rest.is_empty() || rest.starts_with(['/', '?']))
    {
        return format!("{base}{rest}");
    }
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    let path = uri[after_scheme..]
        .find(['/', '?'])
        .map_or("", |i| &uri[after_scheme + i..]);
    format!("{base}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_under_the_api_base_keep_their_path_below_it() {
        let fake = "http://127.0.0.1:9";
        assert_eq!(
            rebase(
                "https://api.hubapi.com/oauth/v1/refresh-tokens/{refresh_token}",
                "https://api.hubapi.com",
                fake
            ),
            "http://127.0.0.1:9/oauth/v1/refresh-tokens/{refresh_token}"
        );
        assert_eq!(
            rebase(
                "https://api.example.com/v2/oauth/token",
                "https://api.example.com/v2/",
                fake
            ),
            "http://127.0.0.1:9/oauth/token"
        );
    }

    #[test]
    fn endpoints_on_another_host_keep_their_whole_path() {
        let fake = "http://127.0.0.1:9/proxy";
        assert_eq!(
            rebase(
                "https://login.salesforce.com/services/oauth2/revoke",
                "",
                fake
            ),
            "http://127.0.0.1:9/proxy/services/oauth2/revoke"
        );
        assert_eq!(
            rebase(
                "https://github.com/login/oauth/access_token?x=1",
                "https://api.github.com",
                fake
            ),
            "http://127.0.0.1:9/proxy/login/oauth/access_token?x=1"
        );
        assert_eq!(rebase("https://auth.example.com", "", fake), fake);
        // A host shorter than the scheme's separator is not skipped over.
        assert_eq!(
            rebase("http://a.b/token", "", fake),
            "http://127.0.0.1:9/proxy/token"
        );
        assert_eq!(rebase("", "", fake), "");
    }

    #[test]
    fn a_lookalike_host_is_not_under_the_api_base() {
        assert_eq!(
            rebase(
                "https://api.hubapi.com.evil.test/token",
                "https://api.hubapi.com",
                "http://fake"
            ),
            "http://fake/token"
        );
    }
}
