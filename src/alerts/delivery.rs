//! Sending one notification attempt: a webhook POST signed with Standard
//! Webhooks (`webhook-id` is the notification's id, stable across
//! retries, so receivers deduplicate), or an email through the SMTP relay.
//! Errors are said in words that name no secret and no credential.

use std::time::{Duration, Instant};

use chrono::Utc;
use lettre::{
    AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};

use super::{
    channel_seal_context,
    model::ChannelTarget,
    notification::Attempt,
    outbound::check_endpoint,
    payload,
    public_dns::{PublicOnly, Refused},
};
use crate::{
    crypto::Keyring,
    registry::model::SignatureScheme,
    secret::Secret,
    store::alert_notifications::Due,
    webhooks::signing::{self, Signer},
};

/// How notifications leave the server.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// Whether channels may reach loopback, private and link-local hosts.
    pub allow_private_outbound: bool,
    /// `smtp://`, `smtps://` or `smtp://…?tls=required`; may hold a login.
    pub smtp_url: Option<Secret<String>>,
    /// The From of alert emails.
    pub smtp_from: String,
    /// Attempts before a notification is dead-lettered.
    pub attempts: u32,
    /// The first retry's wait; each next one doubles, with jitter.
    pub retry_base: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// How often each replica looks for due notifications without a wake.
    pub poll: Duration,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            allow_private_outbound: false,
            smtp_url: None,
            smtp_from: "Patchbay <alerts@patchbay.invalid>".to_owned(),
            attempts: 8,
            retry_base: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("building the notification HTTP client")]
    Http(#[source] reqwest::Error),
    #[error("--smtp-url is not a usable SMTP URL")]
    Smtp(#[source] lettre::transport::smtp::Error),
    #[error("--smtp-from is not an email address")]
    From(#[source] lettre::address::AddressError),
}

/// What one attempt came to.
struct Outcome {
    ok: bool,
    status_code: Option<i32>,
    error: String,
}

impl Outcome {
    fn failed(error: impl Into<String>) -> Self {
        Self {
            ok: false,
            status_code: None,
            error: error.into(),
        }
    }
}

pub struct Sender {
    http: reqwest::Client,
    mailer: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    keyring: std::sync::Arc<Keyring>,
    allow_private: bool,
}

impl Sender {
    pub fn new(
        config: &AlertConfig,
        keyring: std::sync::Arc<Keyring>,
    ) -> Result<Self, SenderError> {
        let http = reqwest::Client::builder()
            .dns_resolver(PublicOnly::new(config.allow_private_outbound))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(config.timeout)
            .user_agent(concat!("Patchbay-Alerts/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(SenderError::Http)?;
        let mailer = match &config.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(SenderError::Smtp)?
                    .timeout(Some(config.timeout))
                    .build();
                let from: Mailbox = config.smtp_from.parse().map_err(SenderError::From)?;
                Some((transport, from))
            }
            None => None,
        };
        Ok(Self {
            http,
            mailer,
            keyring,
            allow_private: config.allow_private_outbound,
        })
    }

    /// Makes the attempt after `due.attempts`.
    pub async fn attempt(&self, due: &Due) -> Attempt {
        let time = Utc::now();
        let started = Instant::now();
        let outcome = match &due.target {
            ChannelTarget::Webhook { uri } => self.post(due, uri).await,
            ChannelTarget::Email { to } => self.email(due, to).await,
        };
        Attempt {
            attempt: due.attempts.saturating_add(1),
            time,
            ok: outcome.ok,
            status_code: outcome.status_code,
            error: outcome.error,
            duration_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
        }
    }

    async fn post(&self, due: &Due, uri: &str) -> Outcome {
        // Checked again: the deployment may have stopped allowing private
        // hosts since the channel was written.
        let url = match check_endpoint(uri, "uri", self.allow_private) {
            Ok(url) => url,
            Err(_) => {
                return Outcome::failed(
                    "the endpoint points at a loopback, private or link-local address",
                );
            }
        };
        let Some(sealed) = &due.secret else {
            return Outcome::failed("the channel has no signing secret");
        };
        let secret = match self
            .keyring
            .open(sealed, &channel_seal_context(&due.channel))
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            Some(s) => Secret::new(s),
            None => {
                tracing::error!(channel = %due.channel, "a channel's signing secret does not open with this server's keys");
                return Outcome::failed("the channel's signing secret cannot be opened");
            }
        };
        let body = due.payload.to_string().into_bytes();
        let signer = Signer {
            scheme: SignatureScheme::Standard,
            header: None,
            secret: secret.expose(),
            url: url.as_str(),
            now: Utc::now().timestamp(),
        };
        let signed = signing::sign(&signer, body, &due.id, due.event_type.as_str());
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in &signed.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.body(signed.body).send().await {
            Ok(response) => {
                let status = response.status();
                Outcome {
                    ok: status.is_success(),
                    status_code: Some(i32::from(status.as_u16())),
                    error: if status.is_success() {
                        String::new()
                    } else {
                        format!("the endpoint answered {}", status.as_u16())
                    },
                }
            }
            Err(e) => Outcome::failed(transport_error(&e)),
        }
    }

    async fn email(&self, due: &Due, to: &[String]) -> Outcome {
        let Some((transport, from)) = &self.mailer else {
            return Outcome::failed("no SMTP server is configured (--smtp-url)");
        };
        let (subject, body) = payload::email(&due.payload);
        let mut message = Message::builder()
            .from(from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for address in to {
            match address.parse::<Mailbox>() {
                Ok(mailbox) => message = message.to(mailbox),
                Err(_) => return Outcome::failed("a recipient is not an email address"),
            }
        }
        let message = match message.body(body) {
            Ok(m) => m,
            Err(_) => return Outcome::failed("the email could not be built"),
        };
        match transport.send(message).await {
            Ok(response) => Outcome {
                ok: response.is_positive(),
                status_code: Some(i32::from(u16::from(response.code()))),
                error: String::new(),
            },
            Err(e) => Outcome {
                ok: false,
                status_code: e.status().map(|c| i32::from(u16::from(c))),
                error: smtp_error(&e),
            },
        }
    }
}

fn transport_error(e: &reqwest::Error) -> String {
    let refused = std::iter::successors(std::error::Error::source(e), |s| s.source())
        .any(|s| s.is::<Refused>());
    if refused {
        "the endpoint resolves only to loopback, private or link-local addresses".to_owned()
    } else if e.is_timeout() {
        "the endpoint did not answer in time".to_owned()
    } else if e.is_connect() {
        "the endpoint cannot be reached".to_owned()
    } else {
        "the request to the endpoint failed".to_owned()
    }
}

fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    if e.is_permanent() {
        "the SMTP server refused the message".to_owned()
    } else if e.is_transient() {
        "the SMTP server deferred the message".to_owned()
    } else if e.is_timeout() {
        "the SMTP server did not answer in time".to_owned()
    } else {
        "the SMTP server cannot be reached".to_owned()
    }
}
