//! Command-line flags with `PATCHBAY_*` environment fallbacks, validated once
//! into settings the rest of the process uses.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{auth::Role, secret::Secret};

mod actions;
mod alerts;
mod automations;
mod grpc;
mod retention;
mod status;
mod webhooks;

pub use actions::ActionArgs;
pub use alerts::AlertArgs;
pub use automations::AutomationArgs;
pub use grpc::GrpcArgs;
pub use retention::RetentionArgs;
pub use status::StatusArgs;
pub use webhooks::WebhookArgs;

/// Patchbay: the integrations control plane.
///
/// Every option can also be set through the environment variable named in
/// brackets. With no DATABASE_URL, Patchbay runs its own PostgreSQL from the
/// system's binaries, with data under --data-dir.
#[derive(Debug, Parser)]
#[command(name = "patchbay", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// Log output: human-readable text or one JSON object per line.
    #[arg(long, env = "PATCHBAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Log filter in tracing's EnvFilter syntax, e.g. `info,patchbay=debug`.
    #[arg(
        long,
        env = "PATCHBAY_LOG",
        default_value = "info,tokio_postgres=warn,refinery_core=warn",
        global = true
    )]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server and the HTTP bridge.
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate(MigrateArgs),
    /// Mint a development JWT with the configured HS256 secret; the token is
    /// printed alone on the last line.
    Token(TokenArgs),
    /// Re-encrypt every stored secret under the first key of
    /// PATCHBAY_ENCRYPTION_KEYS. Safe beside running servers.
    RotateKeys(RotateKeysArgs),
    /// Ask a running server what is wrong: a project's diagnosis, or the
    /// service's health without --project. Exits 1 when there are critical
    /// issues.
    Doctor(DoctorArgs),
    /// Show a project's status live: a table redrawn in place on a
    /// terminal, one line per change when piped. Resumes after disconnects
    /// and says so; Ctrl-C quits.
    Watch(WatchArgs),
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The project to watch.
    #[arg(long)]
    pub project: String,

    /// The server's gRPC address.
    #[arg(
        long,
        env = "PATCHBAY_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,

    /// A bearer token the server accepts; without it, one is minted as
    /// `patchbay token` would, afresh at each reconnect.
    #[arg(long, env = "PATCHBAY_TOKEN", hide_env_values = true)]
    pub token: Option<Secret<String>>,

    /// How often the server sends a heartbeat; a stream silent for twice
    /// this long is treated as lost and resumed.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub heartbeat: Duration,

    #[command(flatten)]
    pub data_dir: DataDirArg,

    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The project to diagnose; without it, the service's health.
    #[arg(long)]
    pub project: Option<String>,

    /// The server's gRPC address.
    #[arg(
        long,
        env = "PATCHBAY_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,

    /// A bearer token the server accepts; without it, one is minted as
    /// `patchbay token` would (the development secret in --data-dir, or
    /// --jwt-secret).
    #[arg(long, env = "PATCHBAY_TOKEN", hide_env_values = true)]
    pub token: Option<Secret<String>>,

    #[command(flatten)]
    pub data_dir: DataDirArg,

    #[command(flatten)]
    pub auth: AuthArgs,
}

#[derive(Debug, Args)]
pub struct RotateKeysArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub encryption: EncryptionArgs,
}

#[derive(Debug, Clone, Args)]
pub struct EncryptionArgs {
    /// Keys that seal credentials and webhook secrets at rest, as
    /// `id:base64-32-bytes,...`: the first encrypts, all decrypt. Required
    /// with DATABASE_URL; with the embedded database a generated key is kept
    /// in --data-dir.
    #[arg(long, env = "PATCHBAY_ENCRYPTION_KEYS", hide_env_values = true)]
    pub encryption_keys: Option<Secret<String>>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the gRPC (and gRPC-Web) server.
    #[arg(long, env = "PATCHBAY_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,

    /// Address of the HTTP bridge (webhooks, /healthz, /readyz, /metrics).
    #[arg(long, env = "PATCHBAY_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,

    /// The bridge's public base URL as providers reach it (behind a proxy, for
    /// example); defaults to `http://<http-addr>`.
    #[arg(long, env = "PATCHBAY_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Another deployment's gRPC address (`host:port`) that
    /// CompareDeployments may call; repeat for several. No other target is
    /// ever dialled.
    #[arg(long = "deployment-peer", env = "PATCHBAY_DEPLOYMENT_PEERS", value_delimiter = ',', value_parser = parse_peer)]
    pub deployment_peers: Vec<String>,

    /// How often the database is checked for health reporting.
    #[arg(long, env = "PATCHBAY_HEALTH_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub health_interval: Duration,

    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    #[arg(long, env = "PATCHBAY_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// How long a rotated webhook secret keeps verifying deliveries.
    #[arg(long, env = "PATCHBAY_WEBHOOK_SECRET_GRACE", default_value = "24h", value_parser = parse_duration)]
    pub webhook_secret_grace: Duration,

    /// Serve Prometheus metrics at `GET /metrics` on the bridge, and record
    /// them; `false` records nothing (and `/metrics` answers 404).
    #[arg(long, env = "PATCHBAY_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub encryption: EncryptionArgs,

    #[command(flatten)]
    pub status: StatusArgs,

    #[command(flatten)]
    pub webhooks: WebhookArgs,

    #[command(flatten)]
    pub actions: ActionArgs,

    #[command(flatten)]
    pub grpc: GrpcArgs,

    #[command(flatten)]
    pub retention: RetentionArgs,

    #[command(flatten)]
    pub alerts: AlertArgs,

    #[command(flatten)]
    pub automations: AutomationArgs,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL. Unset: an embedded PostgreSQL under --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret<String>>,

    #[command(flatten)]
    pub data_dir: DataDirArg,

    /// Directory holding initdb/postgres/pg_ctl for the embedded database.
    /// Default: PATH, then `/usr/lib/postgresql/<newest>/bin`.
    #[arg(long, env = "PATCHBAY_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,

    /// Maximum database connections in the pool.
    #[arg(long, env = "PATCHBAY_DB_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub db_pool_size: u16,
}

#[derive(Debug, Clone, Args)]
pub struct DataDirArg {
    /// Where Patchbay keeps local state: the embedded database and generated
    /// development secrets.
    #[arg(long, env = "PATCHBAY_DATA_DIR", default_value = ".patchbay")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Shared HS256 secret for JWTs. With neither this nor --jwt-public-key, a
    /// development secret is generated and kept in --data-dir.
    #[arg(long, env = "PATCHBAY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret<String>>,

    /// PEM public key for RS256, ES256 or EdDSA tokens (see --jwt-algorithm).
    #[arg(long, env = "PATCHBAY_JWT_PUBLIC_KEY", conflicts_with = "jwt_secret")]
    pub jwt_public_key: Option<PathBuf>,

    /// The algorithm of --jwt-public-key.
    #[arg(
        long,
        env = "PATCHBAY_JWT_ALGORITHM",
        value_enum,
        requires = "jwt_public_key"
    )]
    pub jwt_algorithm: Option<KeyAlgorithm>,

    /// Required `iss` claim, when set.
    #[arg(long, env = "PATCHBAY_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim, when set.
    #[arg(long, env = "PATCHBAY_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyAlgorithm {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token's subject (user id).
    #[arg(long)]
    pub sub: String,

    /// A project role, as PROJECT=ROLE (owner, admin, editor, viewer); repeat
    /// for several projects.
    #[arg(long = "project", value_parser = parse_project_role)]
    pub projects: Vec<(String, Role)>,

    /// Make the subject a platform admin (catalog writes).
    #[arg(long)]
    pub admin: bool,

    /// How long the token is valid.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,

    #[command(flatten)]
    pub data_dir: DataDirArg,

    #[command(flatten)]
    pub auth: AuthArgs,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_peer(s: &str) -> Result<String, String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("expected HOST:PORT, got {s:?}"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("expected HOST:PORT, got {s:?}"));
    }
    Ok(s.to_owned())
}

fn parse_project_role(s: &str) -> Result<(String, Role), String> {
    let (project, role) = s
        .split_once('=')
        .ok_or_else(|| format!("expected PROJECT=ROLE, got {s:?}"))?;
    let role = Role::parse(role)
        .ok_or_else(|| format!("unknown role {role:?}: expected owner, admin, editor or viewer"))?;
    Ok((project.to_owned(), role))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn project_roles_parse() {
        assert_eq!(
            parse_project_role("acme=editor"),
            Ok(("acme".to_owned(), Role::Editor))
        );
        assert!(parse_project_role("acme").is_err());
        assert!(parse_project_role("acme=boss").is_err());
    }
}
