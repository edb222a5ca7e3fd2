//! Malformed requests on every RPC: wrong resource names, oversized and
//! negative fields, tokens and masks that were never issued, and invalid
//! UTF-8 on the wire. Each gets INVALID_ARGUMENT with a field violation,
//! promptly; none gets INTERNAL, a panic (the server would stop answering)
//! or a hang. Huge page sizes are coerced to the maximum (AIP-158).

use std::{future::Future, pin::Pin, time::Duration};

use patchbay::auth::Role;
use tonic::{Code, Status, codegen::http::uri::PathAndQuery, transport::Channel};
use tonic_prost::ProstCodec;

use crate::helpers::{TestApp, spawn_app, violations};

pub type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// One malformed request: what it is, and the call.
pub struct Case {
    pub rpc: &'static str,
    pub what: String,
    pub call: Call,
}

/// Wraps a client call as a case; the reply itself is not looked at.
#[macro_export]
macro_rules! case {
    ($rpc:literal, $what:expr, $client:expr, $method:ident, $request:expr) => {{
        let (mut client, request) = ($client, $request);
        $crate::malformed_requests::Case {
            rpc: $rpc,
            what: $what.to_string(),
            call: Box::pin(async move { client.$method(request).await.map(|_| ()) }),
        }
    }};
}

/// Names that are not names: each must be refused by a name field.
pub fn bad_names(kind: &str) -> Vec<String> {
    vec![
        String::new(),
        "projects".into(),
        "projects/acme".into(),
        format!("projects/acme/{kind}"),
        format!("projects/acme/{kind}/"),
        format!("projects/acme/{kind}/x/extra"),
        format!("projects/ACME!/{kind}/x"),
        format!("projects/acme/{kind}/{}", "a".repeat(10_000)),
        format!("/projects/acme/{kind}/x"),
        format!("projects/acme/{kind}/x y"),
        format!("projects/acme/{kind}/x\u{0}"),
    ]
}

/// Project names that are not: for `parent` and `project` fields.
pub fn bad_projects() -> Vec<String> {
    vec![
        String::new(),
        "acme".into(),
        "projects/".into(),
        "projects/acme/".into(),
        "projects/ACME!".into(),
        format!("projects/{}", "a".repeat(10_000)),
        "projects/acme/connections/x".into(),
    ]
}

/// Runs every case, each with a time limit, and checks each answer.
pub async fn assert_all_invalid(app: &TestApp, cases: Vec<Case>) {
    let mut failures = Vec::new();
    let count = cases.len();
    for case in cases {
        let answer = tokio::time::timeout(Duration::from_secs(10), case.call).await;
        let problem = match answer {
            Err(_) => Some("no answer in 10 s".to_owned()),
            Ok(Ok(())) => Some("accepted".to_owned()),
            Ok(Err(status)) if status.code() != Code::InvalidArgument => {
                Some(format!("{:?}: {}", status.code(), status.message()))
            }
            Ok(Err(status)) if violations(&status).is_empty() => {
                Some(format!("no field violation: {}", status.message()))
            }
            Ok(Err(_)) => None,
        };
        if let Some(problem) = problem {
            failures.push(format!("{} ({}): {problem}", case.rpc, short(&case.what)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} malformed requests were not INVALID_ARGUMENT with a field violation:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Still serving: nothing panicked its way out.
    assert!(
        app.health_status("").await.is_some(),
        "the server stopped answering"
    );
}

fn short(what: &str) -> String {
    let mut s: String = what.chars().take(60).collect();
    if what.chars().count() > 60 {
        s.push('…');
    }
    s.escape_debug().to_string()
}

/// A message whose field `tag` holds `bytes`: a string field's wire shape
/// with bytes that need not be UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
struct Raw {
    #[prost(bytes = "vec", tag = "1")]
    one: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    two: Vec<u8>,
}

/// A reply with no known fields: any message decodes as it.
#[derive(Clone, PartialEq, prost::Message)]
struct Anything {}

const INVALID_UTF8: &[u8] = b"projects/acme/\xff\xfe";

/// Every RPC, the tag of a string field in its request, and whether that
/// field sits inside a message at tag 1.
const STRING_FIELDS: &[(&str, u32, bool)] = &[
    ("IntegrationRegistry/ListIntegrationTypes", 2, false),
    ("IntegrationRegistry/GetIntegrationType", 1, false),
    ("IntegrationRegistry/RegisterIntegrationType", 1, true),
    ("IntegrationRegistry/UpdateIntegrationType", 1, true),
    ("IntegrationRegistry/CreateConnection", 1, false),
    ("IntegrationRegistry/GetConnection", 1, false),
    ("IntegrationRegistry/ListConnections", 1, false),
    ("IntegrationRegistry/UpdateConnection", 1, true),
    ("IntegrationRegistry/DeleteConnection", 1, false),
    ("IntegrationRegistry/SetConnectionCredentials", 1, false),
    ("IntegrationRegistry/RotateWebhookSecret", 1, false),
    ("IntegrationRegistry/CreateMappingTemplate", 1, false),
    ("IntegrationRegistry/GetMappingTemplate", 1, false),
    ("IntegrationRegistry/ListMappingTemplates", 1, false),
    ("IntegrationRegistry/UpdateMappingTemplate", 1, true),
    ("IntegrationRegistry/DeleteMappingTemplate", 1, false),
    ("IntegrationRegistry/TransformRecord", 1, false),
    ("StatusService/GetProjectStatus", 1, false),
    ("StatusService/GetConnectionStatus", 1, false),
    ("StatusService/RefreshStatus", 1, false),
    ("StatusService/WatchProjectStatus", 1, false),
    ("ActionService/StartAction", 1, false),
    ("ActionService/GetAction", 1, false),
    ("ActionService/ListActions", 1, false),
    ("ActionService/CancelAction", 1, false),
    ("Diagnostics/DiagnoseConnection", 1, false),
    ("Diagnostics/DiagnoseProject", 1, false),
    ("Diagnostics/VerifyWebhook", 1, false),
    ("Diagnostics/SendTestWebhook", 1, false),
    ("Diagnostics/CompareDeployments", 1, false),
    ("Diagnostics/ListWebhookDeliveries", 1, false),
    ("Diagnostics/RedriveDeliveries", 1, false),
    ("Diagnostics/ListAuditEvents", 1, false),
    ("Diagnostics/ExportAuditEvents", 1, false),
    ("Diagnostics/VerifyAuditLog", 1, false),
    ("AlertService/CreateAlertRule", 1, false),
    ("AlertService/GetAlertRule", 1, false),
    ("AlertService/ListAlertRules", 1, false),
    ("AlertService/UpdateAlertRule", 1, true),
    ("AlertService/DeleteAlertRule", 1, false),
    ("AlertService/CreateNotificationChannel", 1, false),
    ("AlertService/GetNotificationChannel", 1, false),
    ("AlertService/ListNotificationChannels", 1, false),
    ("AlertService/UpdateNotificationChannel", 1, true),
    ("AlertService/DeleteNotificationChannel", 1, false),
    ("AlertService/TestNotificationChannel", 1, false),
    ("AlertService/ListNotifications", 1, false),
    ("AlertService/ListAlerts", 1, false),
    ("AlertService/GetAlert", 1, false),
    ("AlertService/AcknowledgeAlert", 1, false),
    ("AutomationService/CreateAutomation", 1, false),
    ("AutomationService/GetAutomation", 1, false),
    ("AutomationService/ListAutomations", 1, false),
    ("AutomationService/UpdateAutomation", 1, true),
    ("AutomationService/DeleteAutomation", 1, false),
    ("AutomationService/PublishAutomation", 1, false),
    ("AutomationService/RunAutomation", 1, false),
    ("AutomationService/DryRunAutomation", 1, false),
    ("AutomationService/GetRun", 1, false),
    ("AutomationService/ListRuns", 1, false),
    ("AutomationService/CancelRun", 1, false),
    ("AutomationService/ReplayRun", 1, false),
];

/// The RPCs with no string field at all: nothing to corrupt.
pub const NO_STRING_FIELD: &[&str] = &[
    "IntegrationRegistry/GetRegistryStats",
    "Diagnostics/GetServiceHealth",
    "Diagnostics/GetDeploymentInfo",
];

async fn raw_call(channel: Channel, token: &str, path: &str, message: Raw) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    let path = PathAndQuery::try_from(format!("/patchbay.v1.{path}")).expect("a path");
    // Read as Empty, every reply decodes (its fields are unknown ones). A
    // stream is read as unary too, which its first error fails the same.
    grpc.unary::<_, Anything, _>(request, path, ProstCodec::default())
        .await
        .map(|_| ())
}

/// A platform admin who owns project `acme`: refused only for the input.
pub fn root(app: &TestApp) -> String {
    app.minter()
        .mint(
            "root",
            &[("acme".into(), Role::Owner)],
            true,
            Duration::from_secs(600),
        )
        .expect("token")
}

#[tokio::test]
async fn invalid_utf8_in_any_rpc_s_string_field_is_invalid_argument() {
    let app = spawn_app().await;
    let token = root(&app);
    let mut cases = Vec::new();
    for (path, tag, nested) in STRING_FIELDS {
        let bytes = if *nested {
            prost::Message::encode_to_vec(&Raw {
                one: INVALID_UTF8.to_vec(),
                two: Vec::new(),
            })
        } else {
            INVALID_UTF8.to_vec()
        };
        let message = match tag {
            1 => Raw {
                one: bytes,
                two: Vec::new(),
            },
            _ => Raw {
                one: Vec::new(),
                two: bytes,
            },
        };
        let (channel, token) = (app.channel.clone(), token.clone());
        cases.push(Case {
            rpc: path,
            what: "invalid UTF-8".into(),
            call: Box::pin(async move { raw_call(channel, &token, path, message).await }),
        });
    }
    assert_all_invalid(&app, cases).await;
}

#[test]
fn the_tables_name_every_rpc() {
    use prost::Message as _;
    let set = prost_types::FileDescriptorSet::decode(patchbay::proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set");
    let mut served: Vec<String> = set
        .file
        .iter()
        .flat_map(|file| &file.service)
        .flat_map(|service| {
            service
                .method
                .iter()
                .map(move |m| format!("{}/{}", service.name(), m.name()))
        })
        .collect();
    served.sort();
    let mut tabled: Vec<String> = STRING_FIELDS
        .iter()
        .map(|(rpc, _, _)| (*rpc).to_owned())
        .chain(NO_STRING_FIELD.iter().map(|rpc| (*rpc).to_owned()))
        .collect();
    tabled.sort();
    assert_eq!(served, tabled);
}

#[tokio::test]
async fn rpcs_without_string_fields_skip_unknown_bytes() {
    let app = spawn_app().await;
    let token = root(&app);
    for path in NO_STRING_FIELD {
        let message = Raw {
            one: INVALID_UTF8.to_vec(),
            two: vec![0xff; 64],
        };
        // Unknown fields are skipped (proto3): answered as usual.
        let answer = raw_call(app.channel.clone(), &token, path, message).await;
        assert!(answer.is_ok(), "{path}: {answer:?}");
    }
}
