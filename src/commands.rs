//! The subcommands: turn validated arguments into running things.

use std::{net::SocketAddr, str::FromStr as _, sync::Arc, time::Duration};

use tokio::net::TcpListener;

use crate::{
    app::{self, AppError, ServerConfig, StatusConfig},
    auth::{KeySource, Role, TokenMinter},
    config::{
        AuthArgs, DatabaseArgs, EncryptionArgs, MigrateArgs, RotateKeysArgs, ServeArgs, StatusArgs,
        TokenArgs,
    },
    crypto::{CryptoError, Keyring},
    registry::rotation::{self, RotationError},
    status::{circuit::ProbePolicy, prober::ProberConfig},
    store::{
        self,
        embedded::{self, EmbeddedError, EmbeddedOptions, EmbeddedPostgres},
        migrate::{self, MigrateError},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("loading JWT keys")]
    Keys(#[from] crate::auth::KeyError),
    #[error("starting the embedded PostgreSQL")]
    Embedded(#[from] EmbeddedError),
    #[error("DATABASE_URL is not a valid PostgreSQL URL")]
    DatabaseUrl(#[source] tokio_postgres::Error),
    #[error("binding {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("minting the token")]
    Mint(#[from] jsonwebtoken::errors::Error),
    #[error("loading encryption keys")]
    Crypto(#[from] CryptoError),
    #[error(
        "PATCHBAY_ENCRYPTION_KEYS is required with DATABASE_URL: every replica must share the keys \
         (generate one with `openssl rand -base64 32` and set PATCHBAY_ENCRYPTION_KEYS=k1:<key>)"
    )]
    EncryptionKeysRequired,
    #[error(transparent)]
    Rotation(#[from] RotationError),
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    #[error("{0} cannot be reached")]
    Unreachable(String),
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("{0} critical issues found")]
    Critical(usize),
}

/// `patchbay serve`.
pub async fn serve(args: Box<ServeArgs>) -> Result<(), CommandError> {
    let keys = KeySource::resolve(&args.auth, &args.database.data_dir.data_dir)?;
    if let Some(dev) = keys.dev_secret() {
        tracing::warn!(
            file = %dev.file.display(),
            "no JWT key configured: using a generated development secret; mint tokens with `patchbay token`"
        );
    }
    let keyring = Arc::new(keyring(&args.encryption, &args.database)?);
    let grpc = bind(args.grpc_addr).await?;
    let http = bind(args.http_addr).await?;
    let (database, mut embedded) = open_database(&args.database).await?;
    let config = ServerConfig {
        database,
        pool_size: usize::from(args.database.db_pool_size),
        keys,
        jwt_issuer: args.auth.jwt_issuer,
        jwt_audience: args.auth.jwt_audience,
        public_url: args.public_url,
        deployment_peers: args.deployment_peers,
        health_interval: args.health_interval,
        shutdown_grace: args.shutdown_grace,
        keyring,
        webhook_secret_grace: args.webhook_secret_grace,
        status: status_config(&args.status)?,
        webhooks: args.webhooks.config(),
        actions: args.actions.config(),
        retention: args.retention.config(),
        alerts: args.alerts.config(),
        automations: args.automations.config(),
        grpc: args.grpc.policy(),
        metrics: args.metrics,
    };
    let result = app::run(config, grpc, http, shutdown_signal()).await;
    if let Some(pg) = embedded.as_mut() {
        tracing::info!("stopping the embedded PostgreSQL");
        pg.stop().await?;
    }
    Ok(result?)
}

fn status_config(args: &StatusArgs) -> Result<StatusConfig, CommandError> {
    if args.probe_ttl_min > args.probe_ttl_max {
        return Err(CommandError::Config(
            "--probe-ttl-min must not exceed --probe-ttl-max",
        ));
    }
    Ok(StatusConfig {
        prober: ProberConfig {
            policy: ProbePolicy {
                ttl: (args.probe_ttl_min, args.probe_ttl_max),
                failure_threshold: i32::from(args.circuit_failures),
                cool_down: args.circuit_cool_down,
            },
            timeout: args.probe_timeout,
            concurrency: usize::from(args.probe_concurrency),
            base_uris: args.provider_base_urls.iter().cloned().collect(),
            ..ProberConfig::default()
        },
        event_retention: args.event_retention,
        ..StatusConfig::default()
    })
}

/// `patchbay migrate`.
pub async fn migrate(args: MigrateArgs) -> Result<(), CommandError> {
    let (database, mut embedded) = open_database(&args.database).await?;
    let result = async {
        let mut client = store::connect(&database).await?;
        let applied = migrate::run(&mut client).await?;
        println!(
            "schema version {} ({} migration(s) applied now)",
            migrate::latest_version(),
            applied.len()
        );
        Ok::<_, CommandError>(())
    }
    .await;
    if let Some(pg) = embedded.as_mut() {
        pg.stop().await?;
    }
    result
}

/// `patchbay rotate-keys`.
pub async fn rotate_keys(args: RotateKeysArgs) -> Result<(), CommandError> {
    let keyring = keyring(&args.encryption, &args.database)?;
    let (database, mut embedded) = open_database(&args.database).await?;
    let result = async {
        let mut client = store::connect(&database).await?;
        migrate::run(&mut client).await?;
        let pool = store::pool(database.clone(), 2)?;
        let count = rotation::reseal_all(&pool, &keyring).await?;
        println!(
            "re-encrypted {count} connection(s) under key {}",
            keyring.current_id()
        );
        Ok::<_, CommandError>(())
    }
    .await;
    if let Some(pg) = embedded.as_mut() {
        pg.stop().await?;
    }
    result
}

/// PATCHBAY_ENCRYPTION_KEYS, or the embedded setup's generated local key.
fn keyring(encryption: &EncryptionArgs, database: &DatabaseArgs) -> Result<Keyring, CommandError> {
    match (&encryption.encryption_keys, &database.database_url) {
        (Some(keys), _) => Ok(Keyring::parse(keys.expose())?),
        (None, None) => Ok(Keyring::load_or_create_local(&database.data_dir.data_dir)?),
        (None, Some(_)) => Err(CommandError::EncryptionKeysRequired),
    }
}

/// `patchbay token`: the token alone on the last line of stdout.
pub fn token(args: TokenArgs) -> Result<(), CommandError> {
    let (token, keys) = mint(
        &args.auth,
        &args.data_dir.data_dir,
        &args.sub,
        &args.projects,
        args.admin,
        args.ttl,
    )?;
    // Which secret signed it, never the secret: a server with another one
    // refuses the token with TOKEN_SIGNATURE_INVALID.
    match keys.dev_secret() {
        Some(dev) if dev.created => eprintln!(
            "warning: {} held no development secret, so a new one was generated in {}; \
             only a server started with --data-dir {} accepts this token (pass the \
             server's --data-dir, or set PATCHBAY_JWT_SECRET for both)",
            args.data_dir.data_dir.display(),
            dev.file.display(),
            args.data_dir.data_dir.display(),
        ),
        Some(dev) => eprintln!(
            "signed with the development secret in {}, as `patchbay serve --data-dir {}` uses",
            dev.file.display(),
            args.data_dir.data_dir.display(),
        ),
        None => eprintln!("signed with the HS256 secret of --jwt-secret (PATCHBAY_JWT_SECRET)"),
    }
    println!("{token}");
    Ok(())
}

/// A token as `patchbay token` mints it, and the keys that signed it.
pub fn mint(
    auth: &AuthArgs,
    data_dir: &std::path::Path,
    sub: &str,
    projects: &[(String, Role)],
    admin: bool,
    ttl: Duration,
) -> Result<(String, KeySource), CommandError> {
    let keys = KeySource::resolve(auth, data_dir)?;
    let minter = TokenMinter::new(&keys, auth.jwt_issuer.clone(), auth.jwt_audience.clone())?;
    let token = minter.mint(sub, projects, admin, ttl)?;
    Ok((token, keys))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, CommandError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| CommandError::Bind { addr, source })
}

/// DATABASE_URL when set; otherwise the embedded server, started here.
async fn open_database(
    args: &DatabaseArgs,
) -> Result<(tokio_postgres::Config, Option<EmbeddedPostgres>), CommandError> {
    if let Some(url) = &args.database_url {
        let config =
            tokio_postgres::Config::from_str(url.expose()).map_err(CommandError::DatabaseUrl)?;
        return Ok((config, None));
    }
    let pg = EmbeddedPostgres::start(&EmbeddedOptions {
        data_dir: args.data_dir.data_dir.clone(),
        bin_dir: args.pg_bin_dir.clone(),
        ephemeral: false,
    })
    .await?;
    Ok((pg.config(embedded::DATABASE), Some(pg)))
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}
