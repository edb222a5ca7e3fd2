//! Requests the server cannot decode are the client's fault: invalid UTF-8
//! in a string and a Struct nested too deep are INVALID_ARGUMENT with a
//! field violation; a message over the size limit is RESOURCE_EXHAUSTED.

use patchbay::{
    auth::Role,
    proto::v1::{Connection, TransformRecordRequest},
};
use prost_types::{Struct, Value, value::Kind};
use tonic::{Code, codegen::http::uri::PathAndQuery};
use tonic_prost::ProstCodec;

use crate::helpers::{TestApp, reason, spawn_app, violations};

/// GetConnectionRequest's wire shape, with `name` as raw bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct RawNameRequest {
    #[prost(bytes = "vec", tag = "1")]
    name: Vec<u8>,
}

async fn get_connection_raw(app: &TestApp, name: Vec<u8>) -> tonic::Status {
    let token = app.token("owner", &[("acme", Role::Owner)]);
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.expect("ready");
    let mut request = tonic::Request::new(RawNameRequest { name });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    grpc.unary::<_, Connection, _>(
        request,
        PathAndQuery::from_static("/patchbay.v1.IntegrationRegistry/GetConnection"),
        ProstCodec::default(),
    )
    .await
    .expect_err("refused")
}

#[tokio::test]
async fn invalid_utf8_in_a_string_field_is_invalid_argument() {
    let app = spawn_app().await;
    let status = get_connection_raw(&app, b"projects/acme/connections/\xff\xfe".to_vec()).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(reason(&status), "INVALID_ARGUMENT");
    assert_eq!(violations(&status), ["name"]);
}

#[tokio::test]
async fn a_struct_nested_too_deep_is_invalid_argument() {
    let app = spawn_app().await;
    let mut record = Struct::default();
    for _ in 0..120 {
        record = Struct {
            fields: [(
                "a".to_owned(),
                Value {
                    kind: Some(Kind::StructValue(record)),
                },
            )]
            .into(),
        };
    }
    let token = app.token("editor", &[("acme", Role::Editor)]);
    let status = app
        .registry(Some(&token))
        .transform_record(TransformRecordRequest {
            record: Some(record),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(reason(&status), "INVALID_ARGUMENT");
    assert!(
        violations(&status)
            .first()
            .is_some_and(|f| f.starts_with("record")),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_resource_exhausted() {
    let app = spawn_app().await;
    let status = get_connection_raw(&app, vec![b'a'; 5 * 1024 * 1024]).await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(&status), "MESSAGE_TOO_LARGE");
    // The server still answers well-formed calls.
    let ok = get_connection_raw(&app, b"projects/acme/connections/gone".to_vec()).await;
    assert_eq!(ok.code(), Code::NotFound, "{ok:?}");
}
