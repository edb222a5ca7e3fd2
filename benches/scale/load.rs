//! The benchmark's data, written straight into the database: `size`
//! connections cloned (by SQL) from one template made through the API, in
//! a 20-connection project `p20`, a large project `big` and projects of
//! ten; and `size / 10` finished actions in `big`.

/// How the connections are laid out.
pub struct Layout {
    pub size: i64,
    /// Connections in `big`.
    pub big: i64,
    pub projects: i64,
    /// Connections whose probes are due (the rest next in a day).
    pub due: i64,
}

impl Layout {
    pub fn for_size(size: i64) -> Self {
        let big = (size / 50).max(100);
        let rest = size - 20 - big;
        Self {
            size,
            big,
            projects: 2 + rest.div_euclid(10),
            due: size.min(10_000),
        }
    }
}

/// Clones the template connection `tpl/tpl` (and its status row) into the
/// layout, adds the actions, and removes the template.
pub async fn populate(
    client: &tokio_postgres::Client,
    layout: &Layout,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "CREATE TEMP TABLE layout AS \
             SELECT g, CASE WHEN g < 20 THEN 'p20' WHEN g < 20 + $2::bigint THEN 'big' \
                       ELSE 'proj-' || ((g - 20 - $2::bigint) / 10) END AS project, \
                    'c-' || lpad(g::text, 7, '0') AS id \
             FROM generate_series(0, $1::bigint - 1) g",
            &[&layout.size, &layout.big],
        )
        .await?;
    client
        .batch_execute(
            "INSERT INTO connections (project, id, type_id, display_name, settings, state, \
                 webhook_key, webhook_secret, webhook_secret_key_id, webhook_secret_fingerprint, etag) \
             SELECT l.project, l.id, c.type_id, c.display_name, c.settings, c.state, \
                 md5(l.project || '/' || l.id), c.webhook_secret, c.webhook_secret_key_id, \
                 c.webhook_secret_fingerprint, c.etag \
             FROM layout l, connections c WHERE c.project = 'tpl' AND c.id = 'tpl'; \
             INSERT INTO connection_status (project, id, item, next_probe_at) \
             SELECT l.project, l.id, \
                 jsonb_set(s.item, '{connection}', to_jsonb('projects/' || l.project || '/connections/' || l.id)), \
                 now() + interval '1 day' \
             FROM layout l, connection_status s WHERE s.project = 'tpl' AND s.id = 'tpl'; \
             DELETE FROM connections WHERE project = 'tpl'; \
             DROP TABLE layout;",
        )
        .await?;
    client
        .execute(
            "INSERT INTO actions (project, id, connection_id, action, state, max_attempts, \
                 requested_by, request_id, request_hash, start_time, end_time, progress_percent) \
             SELECT 'big', 'act-' || lpad(g::text, 7, '0'), 'c-0000020', 'sync', 'succeeded', 5, \
                 'bench', gen_random_uuid(), '\\x00'::bytea, now(), now(), 100 \
             FROM generate_series(1, $1::bigint) g",
            &[&(layout.size / 10)],
        )
        .await?;
    client.batch_execute("ANALYZE").await
}

/// Makes `layout.due` connections (every n-th) due within 10 s; until then
/// none is, so the reads are measured without probes beside them.
pub async fn make_due(
    client: &tokio_postgres::Client,
    layout: &Layout,
) -> Result<u64, tokio_postgres::Error> {
    let every = (layout.size / layout.due).max(1);
    client
        .execute(
            "UPDATE connection_status SET next_probe_at = now() + random() * interval '10 seconds' \
             WHERE substring(id from 3)::bigint % $1::bigint = 0",
            &[&every],
        )
        .await
}
