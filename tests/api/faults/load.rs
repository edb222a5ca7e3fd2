//! What the fault tests put a deployment under: a webhook connection fed
//! by many senders, and watchers that record every event they see.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use patchbay::{
    auth::Role,
    proto::v1::{StatusUpdate, status_update::Event},
};
use tokio::task::JoinHandle;
use tonic::Streaming;

use super::replica::{Deployment, Replica};
use crate::{
    connections::{create_request, s, settings},
    watch::watch_request,
    webhook_signing::{secret_for, sign},
    webhooks::{new_id, now},
};

/// A connection of a Standard Webhooks type in project `acme`: its webhook
/// key and secret.
pub async fn webhook_connection(deployment: &Deployment, replica: &Replica) -> (String, String) {
    deployment
        .db()
        .await
        .execute(
            "INSERT INTO integration_types (id, display_name, category, spec, etag) \
             SELECT 'hook-standard', 'hook', 'custom', \
             jsonb_set(spec, '{signature_scheme}', '\"standard\"'), 'e' \
             FROM integration_types WHERE id = 'http' ON CONFLICT (id) DO NOTHING",
            &[],
        )
        .await
        .expect("register the webhook type");
    let secret = secret_for("standard", 7);
    let owner = deployment.token("owner", "acme", Role::Owner);
    let mut request = create_request(
        "acme",
        "hook",
        "hook-standard",
        settings(&[("health_url", s("http://127.0.0.1:9/health"))]),
    );
    request.webhook_secret = secret.clone();
    let connection = replica
        .registry(&owner)
        .create_connection(request)
        .await
        .expect("create the connection")
        .into_inner();
    (connection.webhook_key, secret)
}

/// Senders posting signed deliveries, each until told to stop or until
/// the bridge stops answering.
pub struct Senders {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<Vec<Sent>>>,
}

/// One delivery a sender posted, and what came back (0: no answer).
pub struct Sent {
    pub status: u16,
    /// Ours, from a 2xx answer.
    pub delivery_id: Option<String>,
    pub retry_after: bool,
}

impl Senders {
    pub fn start(count: usize, url: &str, secret: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let tasks = (0..count)
            .map(|sender| {
                let (stop, accepted, http) = (stop.clone(), accepted.clone(), http.clone());
                let (url, secret) = (url.to_owned(), secret.to_owned());
                tokio::spawn(async move {
                    let mut sent = Vec::new();
                    for n in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let body =
                            format!("{{\"type\":\"fault.test\",\"sender\":{sender},\"n\":{n}}}");
                        let signed =
                            sign("standard", &secret, body.as_bytes(), now(), &new_id(), "");
                        let mut request = http.post(&url).body(signed.body);
                        for (name, value) in signed.headers {
                            request = request.header(name, value);
                        }
                        let Ok(response) = request.send().await else {
                            sent.push(Sent {
                                status: 0,
                                delivery_id: None,
                                retry_after: false,
                            });
                            break;
                        };
                        let status = response.status().as_u16();
                        let retry_after = response.headers().contains_key("retry-after");
                        let body: serde_json::Value =
                            response.json().await.unwrap_or(serde_json::Value::Null);
                        let delivery_id = body["delivery_id"].as_str().map(str::to_owned);
                        if (200..300).contains(&status) {
                            accepted.fetch_add(1, Ordering::SeqCst);
                        } else {
                            // Back off a little, as a provider would.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        sent.push(Sent {
                            status,
                            delivery_id,
                            retry_after,
                        });
                    }
                    sent
                })
            })
            .collect();
        Self {
            stop,
            accepted,
            tasks,
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits until `count` deliveries in all were accepted.
    pub async fn wait_accepted(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.accepted() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} deliveries accepted",
                self.accepted()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the senders; everything they sent.
    pub async fn finish(self) -> Vec<Sent> {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Vec::new();
        for task in self.tasks {
            all.extend(task.await.expect("sender"));
        }
        all
    }
}

/// What a watcher saw: each event's seq, and the delivery of each
/// `webhook_received`.
#[derive(Default, Clone)]
pub struct Seen {
    pub seqs: Vec<i64>,
    pub deliveries: Vec<String>,
}

/// A watcher of project `acme` that records every event until its stream
/// ends.
pub struct Watcher {
    /// The seq it started after: the snapshot's, or `resume_from`.
    pub start: i64,
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<Option<tonic::Status>>,
}

impl Watcher {
    /// Watches on `replica` from `resume_from`, or from the snapshot.
    pub async fn start(
        deployment: &Deployment,
        replica: &Replica,
        resume_from: Option<i64>,
    ) -> Self {
        let token = deployment.token("watcher", "acme", Role::Viewer);
        let mut stream: Streaming<StatusUpdate> = replica
            .status(&token)
            .watch_project_status(watch_request(resume_from, Duration::from_secs(1)))
            .await
            .expect("watch")
            .into_inner();
        let start = match resume_from {
            Some(seq) => seq,
            None => loop {
                let update = stream
                    .message()
                    .await
                    .expect("a snapshot")
                    .expect("the stream is open");
                if let Some(Event::SnapshotEnd(_)) = update.event {
                    break update.seq;
                }
            },
        };
        let seen = Arc::new(Mutex::new(Seen::default()));
        let recorded = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let update = match stream.message().await {
                    Ok(Some(update)) => update,
                    Ok(None) => return None,
                    Err(status) => return Some(status),
                };
                let mut seen = recorded.lock().unwrap_or_else(PoisonError::into_inner);
                match update.event {
                    Some(Event::Heartbeat(_)) | None => continue,
                    Some(Event::WebhookReceived(received)) => {
                        seen.deliveries.push(received.delivery);
                    }
                    Some(_) => {}
                }
                seen.seqs.push(update.seq);
            }
        });
        Self { start, seen, task }
    }

    pub fn seen(&self) -> Seen {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until it has seen the event at `seq` (or a later one).
    pub async fn wait_for(&self, seq: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.seen().seqs.last().is_none_or(|last| *last < seq) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the watcher never reached seq {seq}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the stream to end: how it ended (`None`: cleanly).
    pub async fn ended(self) -> (Seen, Option<tonic::Status>) {
        let end = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the stream ends")
            .expect("watcher task");
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        (seen, end)
    }
}

/// The project's events in the log after `seq`, by kind.
pub async fn logged_events(deployment: &Deployment, after: i64) -> BTreeMap<i64, String> {
    deployment
        .db()
        .await
        .query(
            "SELECT seq, kind FROM status_events WHERE project = 'acme' AND seq > $1 ORDER BY seq",
            &[&after],
        )
        .await
        .expect("read the event log")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// Waits until no delivery is waiting for its first processing.
pub async fn wait_processed(deployment: &Deployment) {
    let db = deployment.db().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: i64 = db
            .query_one(
                "SELECT count(*) FROM webhook_delivery_states WHERE state <> 'processed'",
                &[],
            )
            .await
            .expect("count")
            .get(0);
        if waiting == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{waiting} deliveries never processed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
