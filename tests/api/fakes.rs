//! A programmable fake provider: an HTTP server on port 0 whose answer per
//! path a test sets and changes, counting hits and concurrent requests.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        record_issued_secrets(&body);
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16) -> Self {
        Self::json(status, serde_json::json!({"message": "fake"}))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Tokens and secrets a fake provider issues (an OAuth token endpoint's
/// answer), recorded for the log scan.
fn record_issued_secrets(value: &serde_json::Value) {
    match value {
        serde_json::Value::Object(fields) => {
            for (key, field) in fields {
                match field.as_str() {
                    Some(text) if is_secret_key(key) => {
                        crate::log_scan::secret(text);
                    }
                    _ => record_issued_secrets(field),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(record_issued_secrets),
        _ => {}
    }
}

fn is_secret_key(key: &str) -> bool {
    (key.ends_with("token") || key.ends_with("secret")) && !key.contains("page")
}

/// What the fake saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct Inner {
    replies: Mutex<HashMap<String, Reply>>,
    /// Replies a path gives once each, in order, before its own reply.
    scripts: Mutex<HashMap<String, VecDeque<Reply>>>,
    /// The answer to paths with no reply of their own (else 404).
    fallback: Mutex<Option<Reply>>,
    seen: Mutex<Vec<Seen>>,
    in_flight: Mutex<HashMap<String, usize>>,
    max_in_flight: Mutex<HashMap<String, usize>>,
}

#[derive(Clone)]
pub struct FakeProvider {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeProvider {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake provider");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers `path` with `reply` from now on; a path with a query answers
    /// only that exact query, before the bare path does.
    pub fn set(&self, path: &str, reply: Reply) {
        self.inner
            .replies
            .lock()
            .expect("lock")
            .insert(path.to_owned(), reply);
    }

    /// Answers the next requests to `path` with `replies`, one each in
    /// order; after them, the path's own reply answers again.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.inner
            .scripts
            .lock()
            .expect("lock")
            .entry(path.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Replies still waiting in `path`'s script.
    pub fn scripted(&self, path: &str) -> usize {
        self.inner
            .scripts
            .lock()
            .expect("lock")
            .get(path)
            .map_or(0, VecDeque::len)
    }

    /// Answers every path that has no reply of its own with `reply`.
    pub fn fallback(&self, reply: Reply) {
        *self.inner.fallback.lock().expect("lock") = Some(reply);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.seen.lock().expect("lock").clone()
    }

    pub fn hits_on(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }

    /// Waits (10 s at most) until `path` has been asked `more` more times:
    /// the signal that whatever calls it has kept running.
    pub async fn hit_again(&self, path: &str, more: usize) {
        let wanted = self.hits_on(path) + more;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.hits_on(path) < wanted {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} was asked {} times, never {wanted}",
                self.hits_on(path)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The most requests to `path` that were ever in flight at once.
    pub fn max_in_flight(&self, path: &str) -> usize {
        self.inner
            .max_in_flight
            .lock()
            .expect("lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().to_string();
    let full = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    inner.seen.lock().expect("lock").push(Seen {
        method,
        path: path.clone(),
        headers,
        body,
    });
    {
        let mut in_flight = inner.in_flight.lock().expect("lock");
        let now = in_flight.entry(path.clone()).or_default();
        *now += 1;
        let mut max = inner.max_in_flight.lock().expect("lock");
        let peak = max.entry(path.clone()).or_default();
        *peak = (*peak).max(*now);
    }
    let scripted = inner
        .scripts
        .lock()
        .expect("lock")
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    let reply = scripted.or_else(|| {
        let replies = inner.replies.lock().expect("lock");
        replies
            .get(&full)
            .or_else(|| replies.get(&path))
            .cloned()
            .or_else(|| inner.fallback.lock().expect("lock").clone())
    });
    let response = match reply {
        Some(reply) => {
            tokio::time::sleep(reply.delay).await;
            let mut response = (
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                reply.body,
            )
                .into_response();
            for (name, value) in reply.headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        None => StatusCode::NOT_FOUND.into_response(),
    };
    if let Some(now) = inner.in_flight.lock().expect("lock").get_mut(&path) {
        *now -= 1;
    }
    response
}

/// A provider that reads each request's head, notes its request line and
/// hangs up without answering: every call to it fails in transport.
pub struct HangUp {
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl HangUp {
    pub async fn start() -> Self {
        use tokio::io::AsyncReadExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let seen = lines.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = vec![0u8; 4096];
                    let n = socket.read(&mut head).await.unwrap_or(0);
                    let text = String::from_utf8_lossy(&head[..n]).into_owned();
                    if let Some(line) = text.lines().next() {
                        seen.lock().expect("lock").push(line.to_owned());
                    }
                });
            }
        });
        Self { addr, lines }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request lines (`DELETE /path HTTP/1.1`) it hung up on.
    pub fn request_lines(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }
}
