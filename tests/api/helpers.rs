//! `spawn_app()`: the real server, in-process, on ephemeral ports, against a
//! fresh database; with typed clients and a token minter.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use patchbay::{
    actions::ActionConfig,
    alerts::delivery::AlertConfig,
    app::{self, AppError, ServerConfig, StatusConfig},
    auth::{KeySource, Role, TokenMinter},
    automations::AutomationConfig,
    crypto::Keyring,
    grpc::{BrowserOrigin, GrpcLimits, GrpcPolicy},
    proto::v1::{
        action_service_client::ActionServiceClient, alert_service_client::AlertServiceClient,
        automation_service_client::AutomationServiceClient, diagnostics_client::DiagnosticsClient,
        integration_registry_client::IntegrationRegistryClient,
        status_service_client::StatusServiceClient,
    },
    retention::RetentionConfig,
    webhooks::WebhookConfig,
};
use rand::RngCore as _;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{database, log_scan, secret_tap::SecretTap};

pub type Authed = InterceptedService<SecretTap, Bearer>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(Option<String>);

impl Bearer {
    pub fn new(token: &str) -> Self {
        log_scan::secret(token);
        Self(Some(token.to_owned()))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            let value: MetadataValue<_> = format!("Bearer {token}")
                .parse()
                .map_err(|_| Status::internal("token is not a header value"))?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

/// Knobs a test may turn; everything else is the production default.
pub struct TestOptions {
    pub database: Option<tokio_postgres::Config>,
    pub keys: Option<KeySource>,
    pub keyring: Option<Arc<Keyring>>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub health_interval: Duration,
    pub webhook_secret_grace: Duration,
    pub status: StatusConfig,
    pub webhooks: WebhookConfig,
    pub actions: ActionConfig,
    pub grpc_limits: GrpcLimits,
    pub browser_origins: Vec<BrowserOrigin>,
    pub deployment_peers: Vec<String>,
    pub public_url: Option<String>,
    pub metrics: bool,
    /// Where to serve gRPC, e.g. a stopped server's address to stand in for
    /// it; an ephemeral port by default.
    pub grpc_addr: Option<SocketAddr>,
    pub retention: RetentionConfig,
    /// Private outbound on by default (the fake receivers listen on
    /// 127.0.0.1), with quick retries and polls.
    pub alerts: AlertConfig,
    /// Runs looked at every 50 ms.
    pub automations: AutomationConfig,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            database: None,
            keys: None,
            keyring: None,
            jwt_issuer: None,
            jwt_audience: None,
            health_interval: Duration::from_millis(200),
            webhook_secret_grace: Duration::from_secs(24 * 3600),
            status: StatusConfig::default(),
            webhooks: WebhookConfig::default(),
            actions: ActionConfig::default(),
            grpc_limits: GrpcLimits::default(),
            browser_origins: Vec::new(),
            deployment_peers: Vec::new(),
            public_url: None,
            metrics: true,
            grpc_addr: None,
            retention: RetentionConfig::default(),
            alerts: AlertConfig {
                allow_private_outbound: true,
                retry_base: Duration::from_millis(200),
                timeout: Duration::from_secs(5),
                poll: Duration::from_millis(200),
                ..AlertConfig::default()
            },
            automations: AutomationConfig {
                poll: Duration::from_millis(50),
                ..AutomationConfig::default()
            },
        }
    }
}

pub struct TestApp {
    /// The server's database, for tests that look at what it stored.
    pub database: tokio_postgres::Config,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub channel: Channel,
    /// What replicas sharing this one's database need: its JWT and sealing keys.
    pub keys: KeySource,
    pub keyring: Arc<Keyring>,
    minter: Option<TokenMinter>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), AppError>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestOptions::default()).await
}

pub fn random_secret() -> KeySource {
    let mut secret = vec![0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    jwt_keys(&secret)
}

/// HS256 keys from `secret`, recorded for the log scan.
pub fn jwt_keys(secret: &[u8]) -> KeySource {
    log_scan::secret_bytes(secret);
    KeySource::from_secret(secret.to_vec()).expect("long enough")
}

/// A keyring of one fresh key named `id`, recorded for the log scan.
pub fn random_keyring(id: &str) -> Arc<Keyring> {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    log_scan::secret_bytes(&key);
    Arc::new(Keyring::from_keys(vec![(id.to_owned(), key)]).expect("one key"))
}

pub async fn spawn_app_with(options: TestOptions) -> TestApp {
    log_scan::capture();
    let database = match options.database {
        Some(db) => db,
        None => database::fresh_database().await,
    };
    let keys = options.keys.unwrap_or_else(random_secret);
    // A public key verifies only: such a server's tests mint their own.
    let minter = TokenMinter::new(&keys, None, None).ok();
    let keyring = options.keyring.unwrap_or_else(|| random_keyring("test"));
    let grpc = TcpListener::bind(
        options
            .grpc_addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
    )
    .await
    .expect("bind gRPC");
    let http = TcpListener::bind("127.0.0.1:0").await.expect("bind HTTP");
    let grpc_addr = grpc.local_addr().expect("gRPC address");
    let http_addr = http.local_addr().expect("HTTP address");
    let config = ServerConfig {
        database: database.clone(),
        pool_size: 4,
        keys: keys.clone(),
        jwt_issuer: options.jwt_issuer,
        jwt_audience: options.jwt_audience,
        public_url: options.public_url,
        deployment_peers: options.deployment_peers,
        health_interval: options.health_interval,
        shutdown_grace: Duration::from_secs(5),
        keyring: keyring.clone(),
        webhook_secret_grace: options.webhook_secret_grace,
        status: options.status,
        webhooks: options.webhooks,
        actions: options.actions,
        grpc: GrpcPolicy {
            limits: options.grpc_limits,
            browser_origins: options.browser_origins,
        },
        metrics: options.metrics,
        retention: options.retention,
        alerts: options.alerts,
        automations: options.automations,
    };
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app::run(config, grpc, http, async {
        let _ = rx.await;
    }));
    let channel = Channel::from_shared(format!("http://{grpc_addr}"))
        .expect("valid URI")
        .connect_lazy();
    let app = TestApp {
        database,
        grpc_addr,
        http_addr,
        channel,
        keys,
        keyring,
        minter,
        shutdown: Some(tx),
        task: Some(task),
    };
    app.wait_for_health("", ServingStatus::Serving).await;
    app
}

impl TestApp {
    /// A valid token for `sub` with these roles.
    pub fn token(&self, sub: &str, projects: &[(&str, Role)]) -> String {
        let projects: Vec<(String, Role)> = projects
            .iter()
            .map(|(p, r)| ((*p).to_owned(), *r))
            .collect();
        self.minter()
            .mint(sub, &projects, false, Duration::from_secs(3600))
            .inspect(|token| log_scan::secret(token))
            .expect("mint token")
    }

    /// A platform admin's token (the `admin` claim), with no project roles.
    pub fn admin_token(&self, sub: &str) -> String {
        self.minter()
            .mint(sub, &[], true, Duration::from_secs(3600))
            .inspect(|token| log_scan::secret(token))
            .expect("mint token")
    }

    /// A direct connection to the server's database.
    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, connection) = self
            .database
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        client
    }

    pub fn minter(&self) -> &TokenMinter {
        self.minter.as_ref().expect("this server's keys can mint")
    }

    fn bearer(&self, token: Option<&str>) -> Bearer {
        token.map_or(Bearer(None), Bearer::new)
    }

    /// The channel, recording the secrets its calls carry.
    fn tapped(&self) -> SecretTap {
        SecretTap::new(self.channel.clone())
    }

    pub fn registry(&self, token: Option<&str>) -> IntegrationRegistryClient<Authed> {
        IntegrationRegistryClient::with_interceptor(self.tapped(), self.bearer(token))
    }

    pub fn status(&self, token: Option<&str>) -> StatusServiceClient<Authed> {
        StatusServiceClient::with_interceptor(self.tapped(), self.bearer(token))
    }

    pub fn actions(&self, token: Option<&str>) -> ActionServiceClient<Authed> {
        ActionServiceClient::with_interceptor(self.tapped(), self.bearer(token))
    }

    pub fn diagnostics(&self, token: Option<&str>) -> DiagnosticsClient<Authed> {
        DiagnosticsClient::with_interceptor(self.tapped(), self.bearer(token))
    }

    pub fn alerts(&self, token: Option<&str>) -> AlertServiceClient<Authed> {
        AlertServiceClient::with_interceptor(self.tapped(), self.bearer(token))
    }

    pub fn automations(&self, token: Option<&str>) -> AutomationServiceClient<Authed> {
        AutomationServiceClient::with_interceptor(self.tapped(), self.bearer(token))
    }

    pub fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel.clone())
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    pub async fn health_status(&self, service: &str) -> Option<ServingStatus> {
        let response = self
            .health()
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .ok()?;
        ServingStatus::try_from(response.into_inner().status).ok()
    }

    /// Polls the health service until `service` reports `wanted`.
    pub async fn wait_for_health(&self, service: &str, wanted: ServingStatus) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.health_status(service).await;
            if status == Some(wanted) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "health of {service:?} stayed {status:?}, wanted {wanted:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Graceful shutdown; returns how the server ended.
    pub async fn stop(mut self) -> Result<(), AppError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A tool the test command installs; `None` when absent and not required.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() && std::env::var_os("PATCHBAY_REQUIRE_TOOLS").is_some() {
        panic!("{name} is required (PATCHBAY_REQUIRE_TOOLS is set) but not on PATH");
    }
    if found.is_none() {
        eprintln!("skipping the {name} part: {name} is not on PATH (scripts/test installs it)");
    }
    found
}

/// The ErrorInfo reason of an error status.
pub fn reason(status: &Status) -> String {
    use tonic_types::StatusExt as _;
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

/// The BadRequest violation fields of an error status, sorted.
pub fn violations(status: &Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    let mut fields: Vec<String> = status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    fields.sort();
    fields
}

/// Asserts `result` failed with `code` and ErrorInfo `reason`.
#[track_caller]
pub fn assert_error<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: tonic::Code,
    wanted: &str,
) -> Status {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason(&status), wanted, "{status:?}");
    status
}
