use std::process::Command;

use prost::Message as _;
use tokio_stream::StreamExt as _;

use crate::helpers::{spawn_app, tool};

const OUR_SERVICES: [&str; 5] = [
    "patchbay.v1.IntegrationRegistry",
    "patchbay.v1.StatusService",
    "patchbay.v1.ActionService",
    "patchbay.v1.Diagnostics",
    "grpc.health.v1.Health",
];

#[tokio::test]
async fn reflection_v1_lists_every_service() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = spawn_app().await;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection v1 needs no token")
        .into_inner();
    let response = responses.next().await.expect("one response").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list, got {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for wanted in OUR_SERVICES
        .iter()
        .chain(&["grpc.reflection.v1.ServerReflection"])
    {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn reflection_v1alpha_lists_services_and_serves_commented_descriptors() {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = spawn_app().await;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("patchbay.v1.StatusService".into()),
        MessageRequest::FileContainingSymbol("google.rpc.ErrorInfo".into()),
    ]
    .map(|message| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(message),
    });
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("reflection v1alpha needs no token")
        .into_inner();

    let list = responses.next().await.expect("list").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = list.message_response else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for wanted in OUR_SERVICES {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} missing from {names:?}"
        );
    }

    let file = responses.next().await.expect("file").expect("ok");
    let Some(MessageResponse::FileDescriptorResponse(files)) = file.message_response else {
        panic!("expected descriptors");
    };
    let status_file = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).expect("decode"))
        .find(|f| f.name() == "patchbay/v1/status_service.proto")
        .expect("the status service's file");
    let comments: Vec<String> = status_file
        .source_code_info
        .expect("source info is kept, so describe shows comments")
        .location
        .into_iter()
        .filter_map(|l| l.leading_comments)
        .collect();
    assert!(
        comments.iter().any(|c| c.contains("resumable stream")),
        "service comment missing: {comments:?}"
    );

    let details = responses.next().await.expect("error details").expect("ok");
    assert!(
        matches!(
            details.message_response,
            Some(MessageResponse::FileDescriptorResponse(_))
        ),
        "google.rpc error details are registered: {details:?}"
    );
}

#[tokio::test]
async fn grpcurl_lists_and_describes_the_contract() {
    let Some(grpcurl) = tool("grpcurl") else {
        return;
    };
    let app = spawn_app().await;
    let addr = app.grpc_addr.to_string();
    let list = tokio::task::spawn_blocking({
        let (grpcurl, addr) = (grpcurl.clone(), addr.clone());
        move || {
            Command::new(grpcurl)
                .args(["-plaintext", &addr, "list"])
                .output()
        }
    })
    .await
    .expect("join")
    .expect("run grpcurl");
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "grpcurl list failed: {list:?}");
    for wanted in OUR_SERVICES {
        assert!(
            stdout.contains(wanted),
            "{wanted} missing from grpcurl list:\n{stdout}"
        );
    }

    let describe = tokio::task::spawn_blocking(move || {
        Command::new(grpcurl)
            .args(["-plaintext", &addr, "describe", "patchbay.v1.StatusService"])
            .output()
    })
    .await
    .expect("join")
    .expect("run grpcurl");
    let stdout = String::from_utf8_lossy(&describe.stdout);
    assert!(
        describe.status.success(),
        "grpcurl describe failed: {describe:?}"
    );
    assert!(stdout.contains("rpc WatchProjectStatus"), "{stdout}");
    assert!(
        stdout.contains("// Streams the project's status"),
        "describe shows the comments:\n{stdout}"
    );
}

#[tokio::test]
async fn grpc_web_is_served_on_the_same_port() {
    let app = spawn_app().await;
    // An empty HealthCheckRequest in a gRPC-Web frame: flag 0, length 0.
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/grpc.health.v1.Health/Check",
            app.grpc_addr
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .expect("HTTP/1.1 request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/grpc-web+proto")
    );
    let body = response.bytes().await.expect("body");
    // Data frame: HealthCheckResponse{status: SERVING} = field 1, varint 1.
    assert_eq!(&body[..7], &[0, 0, 0, 0, 2, 0x08, 0x01]);
    let trailers = String::from_utf8_lossy(&body[7..]);
    assert!(trailers.contains("grpc-status:0"), "trailers: {trailers}");
}
