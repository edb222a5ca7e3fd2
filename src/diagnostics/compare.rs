//! CompareDeployments: another deployment's GetDeploymentInfo, asked over
//! gRPC, against ours, field by field. Only peers the operator listed
//! (`--deployment-peer`) are ever dialled, so the server is no proxy.

use std::{collections::BTreeMap, time::Duration};

use tonic::transport::Endpoint;

use crate::{
    error::{ApiError, ErrorCode},
    proto::v1::{self as pb, diagnostics_client::DiagnosticsClient},
};

/// How long the peer has to connect, and to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest DNS name.
const MAX_HOST_LEN: usize = 253;

/// A target is `host:port` (a DNS name, an IPv4 address or a bracketed
/// IPv6 one) before it is compared with the listed peers, so a malformed
/// one is the caller's mistake, named as such, and never echoed whole.
pub fn parse_target(target: &str) -> Result<&str, ApiError> {
    let invalid = || ApiError::invalid_field("target", "must be host:port, e.g. 10.0.0.2:50051");
    let (host, port) = target.rsplit_once(':').ok_or_else(invalid)?;
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= MAX_HOST_LEN
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        }
    };
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0) && !port.starts_with('+');
    if host_ok && port_ok {
        Ok(target)
    } else {
        Err(invalid())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub field: String,
    pub local: String,
    pub remote: String,
    pub severity: Severity,
}

/// Asks `target` for its deployment info, presenting `token`.
pub async fn remote_info(target: &str, token: &str) -> Result<pb::DeploymentInfo, ApiError> {
    let unreachable = || {
        ApiError::unavailable(
            "DEPLOYMENT_PEER_UNREACHABLE",
            format!("{target} did not answer"),
        )
        .with_metadata("target", target)
    };
    let endpoint = Endpoint::from_shared(format!("http://{target}"))
        .map_err(|_| ApiError::invalid_field("target", "is not host:port"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT);
    let channel = endpoint.connect().await.map_err(|_| unreachable())?;
    let mut request = tonic::Request::new(pb::GetDeploymentInfoRequest {});
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| ApiError::invalid_field("bearer_token", "is not a valid header value"))?;
    request.metadata_mut().insert("authorization", bearer);
    DiagnosticsClient::new(channel)
        .get_deployment_info(request)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| peer_error(target, &status))
}

/// What a peer's failed answer means here: gone away, or refusing.
fn peer_error(target: &str, status: &tonic::Status) -> ApiError {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => ApiError::unavailable(
            "DEPLOYMENT_PEER_UNREACHABLE",
            format!("{target} did not answer"),
        )
        .with_metadata("target", target),
        code => ApiError::new(
            ErrorCode::FailedPrecondition,
            "DEPLOYMENT_PEER_REFUSED",
            format!("{target} refused: {code:?}"),
        )
        .with_metadata("target", target)
        .with_metadata("peer_code", format!("{code:?}")),
    }
}

/// Every field that differs, ordered by field.
pub fn drift(local: &pb::DeploymentInfo, remote: &pb::DeploymentInfo) -> Vec<Drift> {
    let (local, remote) = (flatten(local), flatten(remote));
    let mut fields: Vec<&String> = local.keys().chain(remote.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter_map(|field| {
            let l = local.get(field).cloned().unwrap_or_default();
            let r = remote.get(field).cloned().unwrap_or_default();
            (l != r).then(|| Drift {
                severity: severity(field),
                field: field.clone(),
                local: l,
                remote: r,
            })
        })
        .collect()
}

fn flatten(info: &pb::DeploymentInfo) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([
        ("version".to_owned(), info.version.clone()),
        ("git_commit".to_owned(), info.git_commit.clone()),
        ("schema_version".to_owned(), info.schema_version.to_string()),
        ("catalog_hash".to_owned(), info.catalog_hash.clone()),
        (
            "start_time".to_owned(),
            info.start_time
                .as_ref()
                .map(|t| format!("{}.{:09}", t.seconds, t.nanos))
                .unwrap_or_default(),
        ),
    ]);
    for service in &info.services {
        let mut methods = service.methods.clone();
        methods.sort();
        out.insert(format!("services.{}", service.name), methods.join(","));
    }
    for (key, value) in &info.config {
        out.insert(format!("config.{key}"), value.clone());
    }
    out
}

/// What a difference in `field` is likely to break.
fn severity(field: &str) -> Severity {
    match field {
        "start_time" => Severity::Info,
        // One side's tokens or sealed secrets are unreadable to the other,
        // or they disagree on the schema or the catalog.
        "schema_version"
        | "catalog_hash"
        | "config.jwt.keys"
        | "config.jwt.issuer"
        | "config.jwt.audience"
        | "config.encryption.keys" => Severity::Critical,
        f if f.starts_with("services.") => Severity::Critical,
        _ => Severity::Warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(version: &str, schema: i64, config: &[(&str, &str)]) -> pb::DeploymentInfo {
        pb::DeploymentInfo {
            version: version.into(),
            schema_version: schema,
            config: config
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_target_is_host_and_port() {
        for good in [
            "10.0.0.2:50051",
            "patchbay-eu.internal:443",
            "[::1]:50051",
            "a:1",
        ] {
            assert_eq!(parse_target(good).ok(), Some(good), "{good}");
        }
        let long = format!("{}:1", "h".repeat(MAX_HOST_LEN + 1));
        for bad in [
            "",
            "host",
            ":50051",
            "host:",
            "host:0",
            "host:65536",
            "host:+1",
            "a b:1",
            "[::1:1",
            "[zz]:1",
            "http://h:1",
            &long,
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
        assert!(parse_target(&format!("{}:1", "h".repeat(MAX_HOST_LEN))).is_ok());
    }

    #[test]
    fn only_differences_are_reported_with_their_severity() {
        let a = info("1.0.0", 11, &[("jwt.keys", "HS256 hmac:aa"), ("pool", "4")]);
        let b = info(
            "1.1.0",
            11,
            &[("jwt.keys", "HS256 hmac:bb"), ("extra", "x"), ("pool", "4")],
        );
        let found = drift(&a, &b);
        let fields: Vec<(&str, Severity)> = found
            .iter()
            .map(|d| (d.field.as_str(), d.severity))
            .collect();
        assert_eq!(
            fields,
            [
                ("config.extra", Severity::Warning),
                ("config.jwt.keys", Severity::Critical),
                ("version", Severity::Warning),
            ]
        );
        assert!(drift(&a, &a).is_empty());

        let mut c = a.clone();
        c.services.push(pb::ServedService {
            name: "patchbay.v1.Extra".into(),
            methods: vec!["Call".into()],
        });
        assert_eq!(
            drift(&a, &c)
                .iter()
                .map(|d| (d.field.as_str(), d.severity))
                .collect::<Vec<_>>(),
            [("services.patchbay.v1.Extra", Severity::Critical)]
        );
    }

    #[test]
    fn a_peer_gone_away_is_unreachable_and_one_that_refuses_is_named() {
        for gone in [tonic::Code::Unavailable, tonic::Code::DeadlineExceeded] {
            let e = peer_error("peer:1", &tonic::Status::new(gone, "x"));
            assert_eq!(e.code(), ErrorCode::Unavailable);
            assert_eq!(e.reason(), "DEPLOYMENT_PEER_UNREACHABLE");
        }
        let e = peer_error("peer:1", &tonic::Status::unauthenticated("no"));
        assert_eq!(e.code(), ErrorCode::FailedPrecondition);
        assert_eq!(e.reason(), "DEPLOYMENT_PEER_REFUSED");
    }
}
