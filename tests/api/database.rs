//! One PostgreSQL server for the whole test binary: `DATABASE_URL`'s when set,
//! otherwise an ephemeral embedded cluster started on first use and removed
//! when the process exits. Each test gets a fresh database copied from a
//! template migrated once.

use std::{
    path::PathBuf,
    str::FromStr as _,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use patchbay::store::{
    self,
    embedded::{EmbeddedOptions, EmbeddedPostgres},
    migrate,
};

pub use patchbay::store::conninfo;

struct SharedServer {
    /// Connects to the server's maintenance database.
    admin: tokio_postgres::Config,
    template: String,
    prefix: String,
    embedded: Mutex<Option<EmbeddedPostgres>>,
    embedded_dir: Option<PathBuf>,
}

static SHARED: OnceLock<SharedServer> = OnceLock::new();
static NEXT_DB: AtomicU64 = AtomicU64::new(0);

/// A PostgreSQL of the test's own, so stopping it disturbs no other test;
/// it lives as long as the returned directory.
pub async fn private_postgres() -> (tempfile::TempDir, EmbeddedPostgres) {
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = EmbeddedPostgres::start(&EmbeddedOptions {
        data_dir: dir.path().join("state"),
        bin_dir: None,
        ephemeral: true,
    })
    .await
    .expect("start a private PostgreSQL");
    (dir, pg)
}

/// A fresh, migrated database for one test.
pub async fn fresh_database() -> tokio_postgres::Config {
    create_database(true).await
}

/// A fresh database with no schema at all (for migration tests).
pub async fn empty_database() -> tokio_postgres::Config {
    create_database(false).await
}

async fn create_database(migrated: bool) -> tokio_postgres::Config {
    let shared = shared();
    let name = format!(
        "{}_{}",
        shared.prefix,
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    let admin = store::connect(&shared.admin)
        .await
        .expect("connect to the test server");
    let sql = if migrated {
        format!("CREATE DATABASE {name} TEMPLATE {}", shared.template)
    } else {
        format!("CREATE DATABASE {name}")
    };
    admin
        .batch_execute(&sql)
        .await
        .expect("create test database");
    let mut config = shared.admin.clone();
    config.dbname(&name);
    config
}

fn shared() -> &'static SharedServer {
    SHARED.get_or_init(|| {
        // Start-up needs async, and tests may call this from inside their own
        // runtime: do it on a thread with a runtime of its own.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(start_shared())
        })
        .join()
        .expect("starting the shared test database")
    })
}

async fn start_shared() -> SharedServer {
    let prefix = format!("patchbay_t{}", std::process::id());
    let (admin, embedded, embedded_dir) = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let mut config = tokio_postgres::Config::from_str(&url).expect("valid DATABASE_URL");
            config.dbname("postgres");
            (config, None, None)
        }
        Err(_) => {
            let dir = tempfile::Builder::new()
                .prefix("patchbay-test-pg-")
                .tempdir()
                .expect("temp dir")
                .keep();
            let pg = EmbeddedPostgres::start(&EmbeddedOptions {
                data_dir: dir.clone(),
                bin_dir: None,
                ephemeral: true,
            })
            .await
            .expect("start the ephemeral test cluster");
            (pg.config("postgres"), Some(pg), Some(dir))
        }
    };
    let template = format!("{prefix}_template");
    let client = store::connect(&admin)
        .await
        .expect("connect to test server");
    client
        .batch_execute(&format!("CREATE DATABASE {template}"))
        .await
        .expect("create template database");
    let mut template_config = admin.clone();
    template_config.dbname(&template);
    {
        let mut template_client = store::connect(&template_config)
            .await
            .expect("connect to template");
        migrate::run(&mut template_client)
            .await
            .expect("migrate template");
    }
    // SAFETY: registering a plain `extern "C"` function with no captured state.
    unsafe {
        nix::libc::atexit(cleanup_at_exit);
    }
    SharedServer {
        admin,
        template,
        prefix,
        embedded: Mutex::new(embedded),
        embedded_dir,
    }
}

/// Removes what the run created: the whole ephemeral cluster, or this run's
/// databases on a shared server.
extern "C" fn cleanup_at_exit() {
    let Some(shared) = SHARED.get() else {
        return;
    };
    let embedded = shared.embedded.lock().map(|mut g| g.take()).ok().flatten();
    if let Some(pg) = embedded {
        drop(pg); // immediate shutdown: the data is throwaway
        if let Some(dir) = &shared.embedded_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        return;
    }
    let admin = shared.admin.clone();
    let prefix = shared.prefix.clone();
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            let client = store::connect(&admin).await.ok()?;
            let rows = client
                .query(
                    "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
                    &[&prefix],
                )
                .await
                .ok()?;
            for row in rows {
                let name: String = row.get(0);
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
            Some(())
        })
    })
    .join();
}
