//! What this deployment is, for GetDeploymentInfo and CompareDeployments:
//! its build, the services it serves, and its effective configuration with
//! every secret replaced by a short keyed hash (the keyring's fingerprint:
//! equal secrets compare equal across replicas sharing the keys, and
//! nothing about a value can be read back).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use prost::Message as _;
use sha2::{Digest as _, Sha256};

use crate::{app::ServerConfig, auth::KeySource, crypto::Keyring, proto};

/// The commit the binary was built from (`git rev-parse HEAD` at build
/// time, or `PATCHBAY_GIT_COMMIT`); empty when neither was there.
pub const GIT_COMMIT: &str = env!("PATCHBAY_GIT_COMMIT");

/// What does not change while the process runs.
#[derive(Debug, Clone)]
pub struct DeploymentFacts {
    pub version: &'static str,
    pub git_commit: &'static str,
    /// Each served service and its methods, from the descriptor set.
    pub services: Vec<(String, Vec<String>)>,
    /// Setting → value; secrets as `hmac:<16 hex>`.
    pub config: BTreeMap<String, String>,
    pub config_fingerprint: String,
    pub start_time: DateTime<Utc>,
}

impl DeploymentFacts {
    pub fn new(config: &ServerConfig) -> Self {
        let config_map = effective_config(config, &config.keyring);
        let mut digest = Sha256::new();
        for (key, value) in &config_map {
            digest.update(key.as_bytes());
            digest.update([0]);
            digest.update(value.as_bytes());
            digest.update([0]);
        }
        let config_fingerprint = hex(&digest.finalize()[..8]);
        Self {
            version: env!("CARGO_PKG_VERSION"),
            git_commit: GIT_COMMIT,
            services: served_services(),
            config: config_map,
            config_fingerprint,
            start_time: Utc::now(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `patchbay.v1` services in the descriptor set reflection serves.
fn served_services() -> Vec<(String, Vec<String>)> {
    let Ok(set) = prost_types::FileDescriptorSet::decode(proto::FILE_DESCRIPTOR_SET) else {
        return Vec::new();
    };
    let mut services: Vec<(String, Vec<String>)> = set
        .file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_owned();
            file.service.iter().map(move |service| {
                let methods = service.method.iter().map(|m| m.name().to_owned()).collect();
                (format!("{package}.{}", service.name()), methods)
            })
        })
        .collect();
    services.sort();
    services
}

/// Every setting that shapes behaviour, as text; secrets only as keyed
/// hashes.
fn effective_config(config: &ServerConfig, keyring: &Keyring) -> BTreeMap<String, String> {
    let secret = |value: &[u8]| format!("hmac:{}", keyring.fingerprint(value));
    let mut out = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        out.insert(key.to_owned(), value);
    };
    let db = &config.database;
    set(
        "database",
        format!(
            "{:?}:{:?}/{} as {}",
            db.get_hosts(),
            db.get_ports(),
            db.get_dbname().unwrap_or_default(),
            db.get_user().unwrap_or_default()
        ),
    );
    set(
        "database.password",
        db.get_password().map_or_else(|| "none".to_owned(), secret),
    );
    set("database.pool_size", config.pool_size.to_string());
    set(
        "jwt.keys",
        match &config.keys {
            KeySource::Secret { secret: key, .. } => format!("HS256 {}", secret(key.expose())),
            KeySource::PublicKey { algorithm, .. } => format!("{algorithm:?} public key"),
        },
    );
    set("jwt.issuer", config.jwt_issuer.clone().unwrap_or_default());
    set(
        "jwt.audience",
        config.jwt_audience.clone().unwrap_or_default(),
    );
    set("public_url", config.public_url.clone().unwrap_or_default());
    set("deployment_peers", config.deployment_peers.join(","));
    set(
        "encryption.keys",
        keyring.ids().collect::<Vec<_>>().join(","),
    );
    set("health_interval", format!("{:?}", config.health_interval));
    set("shutdown_grace", format!("{:?}", config.shutdown_grace));
    set(
        "webhooks.secret_grace",
        format!("{:?}", config.webhook_secret_grace),
    );
    let prober = &config.status.prober;
    set("probes.policy", format!("{:?}", prober.policy));
    set("probes.timeout", format!("{:?}", prober.timeout));
    set("probes.concurrency", prober.concurrency.to_string());
    for (type_id, url) in prober.base_uris.overrides() {
        // A URL may carry credentials: only its hash says whether it changed.
        let shown = match url::Url::parse(url) {
            Ok(u) if u.password().is_none() && u.username().is_empty() => url.to_owned(),
            _ => secret(url.as_bytes()),
        };
        set(&format!("providers.base_url.{type_id}"), shown);
    }
    set(
        "status.event_retention",
        format!("{:?}", config.status.event_retention),
    );
    set(
        "status.watch_buffer",
        config.status.watch_buffer.to_string(),
    );
    set("webhooks", format!("{:?}", config.webhooks));
    set("actions", format!("{:?}", config.actions));
    set("grpc.limits", format!("{:?}", config.grpc.limits));
    set(
        "grpc.browser_origins",
        format!("{:?}", config.grpc.browser_origins),
    );
    out
}
