//! The load generator: plain HTTP/1.1 over one keep-alive TCP connection
//! per client (as pgbench holds one session per client), each delivery
//! signed as it is sent (Standard Webhooks, unique ids). Written by hand so
//! the generator costs little of the two cores it shares with the server.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

pub struct Target {
    pub addr: SocketAddr,
    pub path: String,
}

/// `clients` senders for `seconds`; returns accepted per second and the
/// number of 202s.
pub async fn drive_webhooks(
    clients: usize,
    seconds: u64,
    target: &Target,
    key: Arc<Vec<u8>>,
    next_id: Arc<AtomicU64>,
) -> (f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, path) = (target.addr, target.path.clone());
            let (key, next_id) = (key.clone(), next_id.clone());
            let (stop, accepted, refused) = (stop.clone(), accepted.clone(), refused.clone());
            tokio::spawn(async move {
                let Ok(mut client) = Client::connect(addr).await else {
                    refused.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                while !stop.load(Ordering::Relaxed) {
                    let n = next_id.fetch_add(1, Ordering::Relaxed);
                    match client.post(&path, &key, n).await {
                        Ok(202) => accepted.fetch_add(1, Ordering::Relaxed),
                        Ok(_) => refused.fetch_add(1, Ordering::Relaxed),
                        Err(_) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = accepted.load(Ordering::Relaxed);
    let refused = refused.load(Ordering::Relaxed);
    if refused > 0 {
        eprintln!("warning: {refused} deliveries were not accepted");
    }
    (accepted as f64 / elapsed, accepted)
}

struct Client {
    stream: TcpStream,
    request: Vec<u8>,
    response: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            request: Vec::with_capacity(1024),
            response: Vec::with_capacity(1024),
        })
    }

    /// Sends delivery `n` and returns the response's status code.
    async fn post(&mut self, path: &str, key: &[u8], n: u64) -> std::io::Result<u16> {
        let id = format!("msg_{n:016}");
        let ts = chrono::Utc::now().timestamp();
        let body = super::body(n);
        let mut mac = <Hmac<Sha256>>::new_from_slice(key).map_err(std::io::Error::other)?;
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body.as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        self.request.clear();
        self.request.extend_from_slice(
            format!(
                "POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n\
                 webhook-id: {id}\r\nwebhook-timestamp: {ts}\r\nwebhook-signature: v1,{signature}\r\n\
                 content-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        self.request.extend_from_slice(body.as_bytes());
        self.stream.write_all(&self.request).await?;
        self.read_response().await
    }

    /// Reads one response (headers, then Content-Length bytes of body).
    async fn read_response(&mut self) -> std::io::Result<u16> {
        self.response.clear();
        let mut chunk = [0u8; 2048];
        loop {
            if let Some(end) = find(&self.response, b"\r\n\r\n") {
                let head =
                    std::str::from_utf8(&self.response[..end]).map_err(std::io::Error::other)?;
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| std::io::Error::other("no status"))?;
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while self.response.len() < end + 4 + length {
                    let read = self.stream.read(&mut chunk).await?;
                    if read == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    self.response.extend_from_slice(&chunk[..read]);
                }
                return Ok(status);
            }
            let read = self.stream.read(&mut chunk).await?;
            if read == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.response.extend_from_slice(&chunk[..read]);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
