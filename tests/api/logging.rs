//! What an operator reads: a client's errors are logged at INFO or WARN
//! with the code's name and the reason, never at ERROR.

use patchbay::{
    auth::Role,
    proto::v1::{GetConnectionRequest, integration_registry_client::IntegrationRegistryClient},
};
use serde_json::Value;

use crate::logged_server::LoggedServer;

/// The JSON log lines that record a failed RPC.
fn failures(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| {
            let message = event["fields"]["message"].as_str().unwrap_or_default();
            message.starts_with("rpc answered an error")
                || message.starts_with("rpc failed")
                || message == "response failed"
        })
        .collect()
}

#[tokio::test]
async fn client_errors_are_logged_with_their_code_and_reason_below_error() {
    let server = LoggedServer::start(&[]).await;
    let owner = server.token("owner", "acme", Role::Owner);
    let stranger = server.token("mallory", "elsewhere", Role::Owner);
    let mut registry = IntegrationRegistryClient::new(server.channel(&owner).await);
    let get = |name: &str| GetConnectionRequest { name: name.into() };
    registry
        .get_connection(get("projects/acme/connections/missing"))
        .await
        .expect_err("not found");
    registry
        .get_connection(get("not a name"))
        .await
        .expect_err("invalid");
    IntegrationRegistryClient::new(server.channel(&stranger).await)
        .get_connection(get("projects/acme/connections/missing"))
        .await
        .expect_err("denied");
    let logs = server.stop().await;

    let lines = failures(&logs);
    let seen: Vec<(String, String, String)> = lines
        .iter()
        .map(|event| {
            (
                event["level"].as_str().unwrap_or_default().to_owned(),
                event["fields"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                event["span"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let expected = [
        ("INFO", "NOT_FOUND", "NOT_FOUND"),
        ("INFO", "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        ("WARN", "PERMISSION_DENIED", "PROJECT_ACCESS_DENIED"),
    ];
    for (level, code, reason) in expected {
        assert!(
            seen.iter()
                .any(|(l, c, r)| (l.as_str(), c.as_str(), r.as_str()) == (level, code, reason)),
            "no {level} line for {code} ({reason}): {seen:?}"
        );
    }
    let errors: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("\"level\":\"ERROR\""))
        .collect();
    assert!(
        errors.is_empty(),
        "nothing here is the server's fault: {errors:?}"
    );
}
