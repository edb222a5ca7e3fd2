//! Group commit for accepted deliveries. Requests queue their delivery and
//! wait; a few writers each take everything queued (up to a batch) and
//! store it with one statement, so one commit acknowledges the whole batch.
//! Batches commit one at a time (in `seq` order, which processing follows),
//! so two writers are enough: while one commits, the next has its batch
//! gathered and its statement waiting; batches grow with load.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use crate::{
    error::ApiError,
    store::{
        self,
        deliveries::{NewDelivery, Stored},
    },
};

/// Deliveries waiting for a writer before requests wait to queue.
const QUEUE: usize = 8192;

type Reply = oneshot::Sender<Result<Stored, ()>>;

/// The bridge's side of the writers. Cheap to clone; the writers stop once
/// every clone is gone and the queue is drained.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::Sender<(NewDelivery, Reply)>,
}

impl Ingest {
    /// Starts `writers` writers storing batches of up to `max_batch`;
    /// `stored` is notified after each committed batch.
    pub fn start(pool: Pool, writers: usize, max_batch: usize, stored: Arc<Notify>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            tokio::spawn(write_loop(
                receiver.clone(),
                pool.clone(),
                max_batch.max(1),
                stored.clone(),
            ));
        }
        Self { queue }
    }

    /// Stores `delivery`, returning once its batch has committed.
    pub async fn submit(&self, delivery: NewDelivery) -> Result<Stored, ApiError> {
        let unavailable =
            || ApiError::unavailable("DATABASE_UNAVAILABLE", "the delivery could not be stored");
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((delivery, reply))
            .await
            .map_err(|_| unavailable())?;
        answer
            .await
            .map_err(|_| unavailable())?
            .map_err(|()| unavailable())
    }
}

async fn write_loop(
    receiver: Arc<Mutex<mpsc::Receiver<(NewDelivery, Reply)>>>,
    pool: Pool,
    max_batch: usize,
    stored: Arc<Notify>,
) {
    loop {
        let mut batch = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < max_batch {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        let (deliveries, replies): (Vec<NewDelivery>, Vec<Reply>) = batch.into_iter().unzip();
        let result = async {
            let client = pool.get().await?;
            store::deliveries::insert_batch(&client, &deliveries).await
        }
        .await;
        match result {
            Ok(stored_rows) => {
                for (reply, row) in replies.into_iter().zip(stored_rows) {
                    let _ = reply.send(Ok(row));
                }
                stored.notify_one();
            }
            Err(e) => {
                tracing::warn!(
                    error = %crate::error::ErrorChain(&e),
                    deliveries = deliveries.len(),
                    "storing a batch of webhook deliveries failed; none was stored"
                );
                for reply in replies {
                    let _ = reply.send(Err(()));
                }
            }
        }
    }
}
