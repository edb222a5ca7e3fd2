//! `SecretTap`: the tests' gRPC channel, recording for the log scan every
//! secret a call carries: credentials and webhook secrets sent, the webhook
//! secrets a server generates and returns, and the tokens given to
//! CompareDeployments.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use http_body_util::{BodyExt as _, StreamBody};
use patchbay::proto::v1::{
    CompareDeploymentsRequest, Connection, CreateConnectionRequest, NotificationChannel,
    RotateWebhookSecretRequest, SetConnectionCredentialsRequest, notification_channel::Kind,
};
use prost::Message;
use tonic::{body::Body, codegen::http, transport::Channel};
use tower::Service;

use crate::log_scan;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
pub struct SecretTap(Channel);

impl SecretTap {
    pub fn new(channel: Channel) -> Self {
        Self(channel)
    }
}

/// The calls that carry secrets, by path.
#[derive(Clone, Copy)]
enum Carrier {
    CreateConnection,
    RotateWebhookSecret,
    SetCredentials,
    CompareDeployments,
    CreateChannel,
}

impl Carrier {
    fn of(path: &str) -> Option<Self> {
        match path.rsplit('/').next()? {
            "CreateConnection" => Some(Self::CreateConnection),
            "RotateWebhookSecret" => Some(Self::RotateWebhookSecret),
            "SetConnectionCredentials" => Some(Self::SetCredentials),
            "CompareDeployments" => Some(Self::CompareDeployments),
            "CreateNotificationChannel" => Some(Self::CreateChannel),
            _ => None,
        }
    }

    fn record_request(self, message: &[u8]) {
        match self {
            Self::CreateConnection => decoded::<CreateConnectionRequest>(message)
                .iter()
                .for_each(|r| log_scan::secret(&r.webhook_secret)),
            Self::RotateWebhookSecret => decoded::<RotateWebhookSecretRequest>(message)
                .iter()
                .for_each(|r| log_scan::secret(&r.webhook_secret)),
            // Every value but the expiry, which is a time, not a secret.
            Self::SetCredentials => decoded::<SetConnectionCredentialsRequest>(message)
                .iter()
                .flat_map(|r| &r.credentials)
                .filter(|(key, _)| *key != "expires_at")
                .for_each(|(_, value)| log_scan::secret(value)),
            Self::CompareDeployments => decoded::<CompareDeploymentsRequest>(message)
                .iter()
                .for_each(|r| log_scan::secret(&r.bearer_token)),
            // The secret is made by the server: see the answer.
            Self::CreateChannel => {}
        }
    }

    /// Whether the answer may hold a generated secret.
    fn answers_a_secret(self) -> bool {
        matches!(
            self,
            Self::CreateConnection | Self::RotateWebhookSecret | Self::CreateChannel
        )
    }

    fn record_answer(self, message: &[u8]) {
        match self {
            Self::CreateChannel => {
                if let Some(NotificationChannel {
                    kind: Some(Kind::Webhook(webhook)),
                    ..
                }) = decoded::<NotificationChannel>(message)
                {
                    log_scan::secret(&webhook.signing_secret);
                }
            }
            _ => {
                if let Some(connection) = decoded::<Connection>(message) {
                    log_scan::secret(&connection.webhook_secret);
                }
            }
        }
    }
}

fn decoded<M: Message + Default>(message: &[u8]) -> Option<M> {
    M::decode(message).ok()
}

/// The messages of gRPC's length-prefixed framing (uncompressed: the tests
/// do not compress).
fn messages(mut framed: &[u8]) -> Vec<&[u8]> {
    let mut found = Vec::new();
    while let [0, a, b, c, d, rest @ ..] = framed {
        let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
        let Some((message, after)) = rest.split_at_checked(len) else {
            break;
        };
        found.push(message);
        framed = after;
    }
    found
}

impl Service<http::Request<Body>> for SecretTap {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The ready clone takes this call; the fresh one waits for the next.
        let fresh = self.0.clone();
        let mut channel = std::mem::replace(&mut self.0, fresh);
        let Some(carrier) = Carrier::of(request.uri().path()) else {
            return Box::pin(async move { channel.call(request).await.map_err(Into::into) });
        };
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let sent = body.collect().await?.to_bytes();
            messages(&sent)
                .into_iter()
                .for_each(|m| carrier.record_request(m));
            let request =
                http::Request::from_parts(parts, Body::new(http_body_util::Full::new(sent)));
            let response = channel.call(request).await?;
            if !carrier.answers_a_secret() {
                return Ok(response);
            }
            let (parts, body) = response.into_parts();
            let answered = body.collect().await?;
            let trailers = answered.trailers().cloned();
            let bytes = answered.to_bytes();
            for message in messages(&bytes) {
                carrier.record_answer(message);
            }
            let mut frames = vec![Ok::<_, BoxError>(http_body::Frame::data(bytes))];
            frames.extend(trailers.map(|t| Ok(http_body::Frame::trailers(t))));
            let body = StreamBody::new(futures_util::stream::iter(frames));
            Ok(http::Response::from_parts(parts, Body::new(body)))
        })
    }
}
