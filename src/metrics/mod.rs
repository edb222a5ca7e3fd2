//! Prometheus metrics, one registry per server: tests run many servers in
//! one process, so there is no global recorder. RPCs, probes, actions,
//! webhooks and watch streams are counted where they happen; queue depths,
//! circuits, the event log's lag and the database pool are read when
//! `/metrics` is scraped ([`scrape`]).
//!
//! [`Metrics::off`] records nothing, for the benchmark that prices the rest.

pub mod scrape;

use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// The handle every recording part holds; cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Families>>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RpcLabels {
    pub method: Arc<str>,
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    provider: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CircuitLabels {
    provider: String,
    state: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

pub(crate) struct Families {
    registry: Registry,
    pub rpc: Histograms<RpcLabels>,
    probes: Family<ProbeLabels, Counter>,
    probe_seconds: Histograms<ProviderLabel>,
    circuits: Family<CircuitLabels, Gauge>,
    actions_ended: Family<OutcomeLabel, Counter>,
    action_queue: Family<StateLabel, Gauge>,
    webhooks_answered: Family<ReasonLabel, Counter>,
    webhooks_processed: Family<OutcomeLabel, Counter>,
    webhook_backlog: Family<StateLabel, Gauge>,
    watch_streams: Gauge,
    event_log_lag: Gauge,
    event_log_following: Gauge,
    pool_connections: Family<StateLabel, Gauge>,
    pool_waiting: Gauge,
}

fn rpc_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

fn probe_histogram() -> Histogram {
    // 5 ms to about 10 s: providers' own latency.
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

impl Families {
    fn new() -> Self {
        let mut families = Self {
            registry: Registry::with_prefix("patchbay"),
            rpc: Family::new_with_constructor(rpc_histogram),
            probes: Family::default(),
            probe_seconds: Family::new_with_constructor(probe_histogram),
            circuits: Family::default(),
            actions_ended: Family::default(),
            action_queue: Family::default(),
            webhooks_answered: Family::default(),
            webhooks_processed: Family::default(),
            webhook_backlog: Family::default(),
            watch_streams: Gauge::default(),
            event_log_lag: Gauge::default(),
            event_log_following: Gauge::default(),
            pool_connections: Family::default(),
            pool_waiting: Gauge::default(),
        };
        let r = &mut families.registry;
        r.register(
            "rpc_duration_seconds",
            "gRPC calls by method and status code, and how long each took (streams: until they end)",
            families.rpc.clone(),
        );
        r.register(
            "probes",
            "Status probes by provider and outcome",
            families.probes.clone(),
        );
        r.register(
            "probe_duration_seconds",
            "How long providers took to answer a probe",
            families.probe_seconds.clone(),
        );
        r.register(
            "circuits",
            "Active connections by their provider and circuit state, over the fleet",
            families.circuits.clone(),
        );
        r.register(
            "actions_ended",
            "Action attempts this replica ended, by outcome",
            families.actions_ended.clone(),
        );
        r.register(
            "action_queue",
            "Actions waiting or running, over the fleet",
            families.action_queue.clone(),
        );
        r.register(
            "webhooks_answered",
            "Webhook deliveries answered by the bridge, by outcome or refusal reason",
            families.webhooks_answered.clone(),
        );
        r.register(
            "webhooks_processed",
            "Stored webhook deliveries processed, by outcome",
            families.webhooks_processed.clone(),
        );
        r.register(
            "webhook_backlog",
            "Webhook deliveries not yet processed, retrying or dead-lettered, over the fleet",
            families.webhook_backlog.clone(),
        );
        r.register(
            "watch_streams",
            "Status watch streams open on this replica",
            families.watch_streams.clone(),
        );
        r.register(
            "event_log_lag",
            "Events committed to the log that this replica has not read yet",
            families.event_log_lag.clone(),
        );
        r.register(
            "event_log_following",
            "1 while this replica follows the event log, 0 while it cannot",
            families.event_log_following.clone(),
        );
        r.register(
            "db_pool_connections",
            "Database pool connections by state (in_use, idle) and the pool's maximum (max)",
            families.pool_connections.clone(),
        );
        r.register(
            "db_pool_waiting",
            "Requests waiting for a database connection",
            families.pool_waiting.clone(),
        );
        families
    }
}

/// How a probe ended, by what it means for the status.
#[derive(Debug, Clone, Copy)]
pub enum ProbeOutcome {
    Answered,
    Definitive,
    Transient,
    RateLimited,
}

impl ProbeOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Definitive => "definitive_failure",
            Self::Transient => "transient_failure",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// How an action's attempt ended.
#[derive(Debug, Clone, Copy)]
pub enum ActionOutcome {
    Succeeded,
    Failed,
    Retrying,
    Cancelled,
}

impl ActionOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Retrying => "retrying",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A batch's processed deliveries, by outcome.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessedCounts {
    pub processed: u64,
    pub retrying: u64,
    pub dead_lettered: u64,
}

impl Metrics {
    pub fn new() -> Self {
        Self(Some(Arc::new(Families::new())))
    }

    /// Records nothing, and `/metrics` answers 404.
    pub fn off() -> Self {
        Self(None)
    }

    pub(crate) fn families(&self) -> Option<&Arc<Families>> {
        self.0.as_ref()
    }

    pub fn probe(&self, provider: &'static str, outcome: ProbeOutcome, latency: Duration) {
        if let Some(f) = &self.0 {
            f.probes
                .get_or_create(&ProbeLabels {
                    provider,
                    outcome: outcome.as_str(),
                })
                .inc();
            f.probe_seconds
                .get_or_create(&ProviderLabel { provider })
                .observe(latency.as_secs_f64());
        }
    }

    pub fn action_ended(&self, outcome: ActionOutcome) {
        if let Some(f) = &self.0 {
            f.actions_ended
                .get_or_create(&OutcomeLabel {
                    outcome: outcome.as_str(),
                })
                .inc();
        }
    }

    /// `reason` is `ACCEPTED`, `DUPLICATE` or the refusal's error reason.
    pub fn webhook_answered(&self, reason: &'static str) {
        if let Some(f) = &self.0 {
            f.webhooks_answered
                .get_or_create(&ReasonLabel { reason })
                .inc();
        }
    }

    pub fn webhooks_processed(&self, counts: ProcessedCounts) {
        let Some(f) = &self.0 else { return };
        for (outcome, n) in [
            ("processed", counts.processed),
            ("retrying", counts.retrying),
            ("dead_lettered", counts.dead_lettered),
        ] {
            if n > 0 {
                f.webhooks_processed
                    .get_or_create(&OutcomeLabel { outcome })
                    .inc_by(n);
            }
        }
    }

    /// Counts a watch stream as open until the guard is dropped.
    pub fn watch_opened(&self) -> WatchGuard {
        if let Some(f) = &self.0 {
            f.watch_streams.inc();
        }
        WatchGuard(self.clone())
    }
}

/// Held by an open watch stream.
pub struct WatchGuard(Metrics);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Some(f) = &self.0.0 {
            f.watch_streams.dec();
        }
    }
}
