//! Secrets stay out of the logs when things fail: a refresh the provider
//! refuses, a revocation that cannot reach the provider, and every action
//! of every built-in type against providers that fail.

use std::{collections::HashMap, time::Duration};

use patchbay::{
    auth::Role,
    proto::v1::{
        ActionState, ConfigFieldType, DeleteConnectionRequest, GetActionRequest,
        GetConnectionStatusRequest, IntegrationType, ListIntegrationTypesRequest, ProblemCode,
        SetConnectionCredentialsRequest, action_service_client::ActionServiceClient,
        integration_registry_client::IntegrationRegistryClient,
        status_service_client::StatusServiceClient,
    },
};
use prost_types::{Struct, value::Kind};
use serde_json::json;

use crate::{
    actions::{start_request, state},
    connections::{create_request, settings},
    fakes::{FakeProvider, HangUp, Reply},
    logged_server::{LoggedServer, assert_absent},
};

/// A value for each of a type's required settings, any URL pointing at
/// the fake: enough for every built-in type (and any added later) to call
/// its provider.
fn settings_for(ty: &IntegrationType, fake: &FakeProvider) -> Struct {
    let url = format!("{}/health", fake.url());
    let pairs: Vec<(String, Kind)> = ty
        .config_fields
        .iter()
        .filter(|f| f.required && !f.secret)
        .map(|f| {
            let value = match ConfigFieldType::try_from(f.r#type) {
                Ok(ConfigFieldType::Url) => Kind::StringValue(url.clone()),
                Ok(ConfigFieldType::Integer | ConfigFieldType::Number) => Kind::NumberValue(1.0),
                Ok(ConfigFieldType::Boolean) => Kind::BoolValue(true),
                _ => Kind::StringValue("acme".to_owned()),
            };
            (f.name.clone(), value)
        })
        .collect();
    let pairs: Vec<(&str, Kind)> = pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    settings(&pairs)
}

/// A canary for every secret field; `expires_at` soon, so OAuth types
/// refresh; Supabase's database URL points at the hang-up server.
fn canaries(type_id: &str, secret_fields: &[String], hang_up: &HangUp) -> HashMap<String, String> {
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    secret_fields
        .iter()
        .map(|field| {
            let canary = format!("{type_id}-{field}-canary-{tag}");
            let value = match field.as_str() {
                "expires_at" => (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc3339(),
                "database_url" => format!("postgres://canary:{canary}@{}/db", hang_up.addr),
                _ => canary,
            };
            (field.clone(), value)
        })
        .collect()
}

fn terminal(state: ActionState) -> bool {
    matches!(
        state,
        ActionState::Succeeded | ActionState::Failed | ActionState::Cancelled
    )
}

#[tokio::test]
async fn secrets_stay_out_of_the_logs_when_providers_fail() {
    let fake = FakeProvider::start().await;
    fake.fallback(Reply::status(500));
    fake.set(
        "/services/oauth2/token",
        Reply::json(400, json!({"error": "invalid_grant"})),
    );
    let hang_up = HangUp::start().await;
    let mut overrides: Vec<String> = [
        "github",
        "vercel",
        "sanity",
        "salesforce",
        "stripe",
        "slack",
    ]
    .iter()
    .map(|ty| format!("{ty}={}", fake.url()))
    .collect();
    overrides.push(format!("hubspot={}", hang_up.url()));
    let args: Vec<String> = [
        "--provider-base-url",
        &overrides.join(","),
        "--action-retry-base",
        "10ms",
        "--action-rate-limit",
        "10000",
        "--probe-ttl-min",
        "100ms",
        "--probe-ttl-max",
        "200ms",
        "--probe-timeout",
        "2s",
    ]
    .map(str::to_owned)
    .into();
    let server = LoggedServer::start(&args).await;
    let owner = server.token("owner", "acme", Role::Owner);
    let channel = server.channel(&owner).await;
    let mut registry = IntegrationRegistryClient::new(channel.clone());
    let mut actions = ActionServiceClient::new(channel.clone());

    let types = registry
        .list_integration_types(ListIntegrationTypesRequest::default())
        .await
        .expect("catalog")
        .into_inner()
        .integration_types;
    assert!(
        types.len() >= patchbay::providers::ids().count(),
        "every built-in type"
    );
    let mut secrets = Vec::new();
    let mut started = Vec::new();
    let mut disconnects = Vec::new();
    for ty in &types {
        let type_id = ty.name.trim_start_matches("integrationTypes/");
        let secret_fields: Vec<String> = ty
            .config_fields
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.name.clone())
            .collect();
        let credentials = canaries(type_id, &secret_fields, &hang_up);
        secrets.extend(
            credentials
                .iter()
                .filter(|(field, _)| *field != "expires_at")
                .map(|(_, value)| value.clone()),
        );
        // One connection runs every action but disconnect, then is deleted
        // (revoking its token); a second one is disconnected.
        for id in [type_id.to_owned(), format!("{type_id}-d")] {
            registry
                .create_connection(create_request(
                    "acme",
                    &id,
                    type_id,
                    settings_for(ty, &fake),
                ))
                .await
                .expect("create");
            registry
                .set_connection_credentials(SetConnectionCredentialsRequest {
                    name: format!("projects/acme/connections/{id}"),
                    credentials: credentials.clone(),
                    etag: String::new(),
                })
                .await
                .expect("credentials");
        }
        for action in &ty.actions {
            let (id, list) = if action.action == "disconnect" {
                (format!("{type_id}-d"), &mut disconnects)
            } else {
                (type_id.to_owned(), &mut started)
            };
            let request = start_request(&id, &action.action, json!({}));
            let action = actions
                .start_action(request)
                .await
                .expect("start")
                .into_inner();
            list.push(action.name);
        }
    }
    assert!(started.len() > 30, "every action of every type");
    wait_until_done(&mut actions, &started).await;

    // A refresh the provider refused shows on the status.
    let mut status = StatusServiceClient::new(channel.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let item = status
            .get_connection_status(GetConnectionStatusRequest {
                name: "projects/acme/connections/salesforce-d".into(),
            })
            .await
            .expect("status")
            .into_inner();
        if item.problem.as_ref().map(|p| p.code) == Some(i32::from(ProblemCode::OauthRevoked)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refused refresh never showed: {item:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for ty in &types {
        let type_id = ty.name.trim_start_matches("integrationTypes/");
        registry
            .delete_connection(DeleteConnectionRequest {
                name: format!("projects/acme/connections/{type_id}"),
                etag: String::new(),
            })
            .await
            .expect("delete");
    }
    wait_until_done(&mut actions, &disconnects).await;
    let revoked_at_the_override = hang_up
        .request_lines()
        .iter()
        .any(|line| line.starts_with("DELETE /oauth/v1/refresh-tokens/"));
    assert!(
        revoked_at_the_override,
        "deleting revokes at the overridden base URL"
    );

    let logs = server.stop().await;
    assert!(
        logs.contains("upstream token revocation failed"),
        "the failing revocation was logged"
    );
    assert!(
        logs.contains("upstream token revocation refused"),
        "the refused revocation was logged"
    );
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_absent(&logs, &secrets);
}

async fn wait_until_done<T>(actions: &mut ActionServiceClient<T>, names: &[String])
where
    T: tonic::client::GrpcService<tonic::body::Body> + Clone,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for name in names {
        loop {
            let action = actions
                .get_action(GetActionRequest { name: name.clone() })
                .await
                .expect("get action")
                .into_inner();
            if terminal(state(&action)) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} never ended: {action:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
