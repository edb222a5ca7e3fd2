//! Where alert notifications land in tests: a webhook receiver that checks
//! every delivery with the Standard Webhooks project's own verifier, and an
//! SMTP sink that speaks just enough SMTP to take a message.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    net::TcpListener,
};

/// One delivery the receiver took, with its verdict.
#[derive(Debug, Clone)]
pub struct Received {
    /// `webhook-id`: the notification's id.
    pub id: String,
    /// The body's `type`: `alert.fired`, `alert.resolved` or `alert.test`.
    pub event_type: String,
    pub body: serde_json::Value,
    /// Whether `standardwebhooks::Webhook::verify` accepted it.
    pub verified: bool,
}

#[derive(Default)]
struct Inbox {
    secret: Mutex<Option<String>>,
    received: Mutex<Vec<Received>>,
    /// Status codes to answer with, in order; 204 once they run out.
    answers: Mutex<VecDeque<u16>>,
}

#[derive(Clone)]
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    inbox: Arc<Inbox>,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let inbox = Arc::new(Inbox::default());
        let app = Router::new().fallback(receive).with_state(inbox.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inbox }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks/patchbay", self.addr)
    }

    /// The channel's signing secret, as CreateNotificationChannel gave it.
    pub fn trust(&self, secret: &str) {
        *self.inbox.secret.lock().expect("lock") = Some(secret.to_owned());
    }

    /// Answers the next deliveries with these statuses, in order.
    pub fn answer(&self, statuses: &[u16]) {
        self.inbox
            .answers
            .lock()
            .expect("lock")
            .extend(statuses.iter().copied());
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.received.lock().expect("lock").clone()
    }

    /// The verified deliveries of `event_type`.
    pub fn of_type(&self, event_type: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.event_type == event_type)
            .collect()
    }

    /// Waits (20 s at most) until `n` deliveries of `event_type` came.
    pub async fn wait_for(&self, event_type: &str, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.of_type(event_type);
            if found.len() >= n {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} {event_type} deliveries, never {n}: {:?}",
                found.len(),
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = inbox.secret.lock().expect("lock").clone();
    let verified = secret.is_some_and(|secret| {
        standardwebhooks::Webhook::new(&secret)
            .and_then(|hook| hook.verify(&body, &headers))
            .is_ok()
    });
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    inbox.received.lock().expect("lock").push(Received {
        id: headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        event_type: json["type"].as_str().unwrap_or_default().to_owned(),
        body: json,
        verified,
    });
    let answer = inbox.answers.lock().expect("lock").pop_front();
    StatusCode::from_u16(answer.unwrap_or(204)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// One message the sink took.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA: headers and body, dot-unstuffed.
    pub data: String,
}

impl Mail {
    pub fn subject(&self) -> &str {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
    }
}

/// A plain SMTP server (no TLS, no auth) that accepts every message.
#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let inbox = mails.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let inbox = inbox.clone();
                tokio::spawn(async move {
                    let _ = session(socket, inbox).await;
                });
            }
        });
        Self { addr, mails }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("lock").clone()
    }

    /// Waits (20 s at most) until `n` messages came.
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} mails, never {n}",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    inbox: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Some(line) = lines.next_line().await? {
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "HELO" | "RSET" | "NOOP" => b"250 OK\r\n",
            "MAIL" => {
                from = address(&line);
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(address(&line));
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                while let Some(line) = lines.next_line().await? {
                    if line == "." {
                        break;
                    }
                    let line = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(line);
                    data.push('\n');
                }
                inbox.lock().expect("lock").push(Mail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

/// The address in `MAIL FROM:<a>` or `RCPT TO:<a>`.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(a, _)| a.to_owned())
        .unwrap_or_default()
}
