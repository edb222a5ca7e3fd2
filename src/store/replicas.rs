//! The `replicas` table: every running server, with a heartbeat.

use deadpool_postgres::Pool;
use uuid::Uuid;

use super::StoreError;

/// What a server says about itself when it registers.
#[derive(Debug, Clone)]
pub struct ReplicaInfo {
    pub id: Uuid,
    pub hostname: String,
    pub version: String,
    pub grpc_addr: String,
    pub http_addr: String,
}

pub async fn register(pool: &Pool, replica: &ReplicaInfo) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO replicas (id, hostname, version, grpc_addr, http_addr)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
            &[
                &replica.id,
                &replica.hostname,
                &replica.version,
                &replica.grpc_addr,
                &replica.http_addr,
            ],
        )
        .await?;
    Ok(())
}

/// Marks the replica alive; returns false if its row is gone (for example
/// after the database was restored), so the caller can register again.
pub async fn heartbeat(pool: &Pool, id: Uuid) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let updated = client
        .execute(
            "UPDATE replicas SET heartbeat_at = now() WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(updated == 1)
}

pub async fn deregister(pool: &Pool, id: Uuid) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute("DELETE FROM replicas WHERE id = $1", &[&id])
        .await?;
    Ok(())
}
