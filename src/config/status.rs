//! Flags of probes and the event log.

use std::time::Duration;

use clap::Args;

use super::parse_duration;

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Shortest time between two probes of a connection.
    #[arg(long, env = "PATCHBAY_PROBE_TTL_MIN", default_value = "10s", value_parser = parse_duration)]
    pub probe_ttl_min: Duration,

    /// Longest time between two probes (each wait is random in between).
    #[arg(long, env = "PATCHBAY_PROBE_TTL_MAX", default_value = "45s", value_parser = parse_duration)]
    pub probe_ttl_max: Duration,

    /// Time limit of one probe.
    #[arg(long, env = "PATCHBAY_PROBE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    /// Probes running at once in this process.
    #[arg(long, env = "PATCHBAY_PROBE_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub probe_concurrency: u16,

    /// Consecutive failed probes that open a connection's circuit.
    #[arg(long, env = "PATCHBAY_CIRCUIT_FAILURES", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    pub circuit_failures: u16,

    /// How long an open circuit waits before a trial probe.
    #[arg(long, env = "PATCHBAY_CIRCUIT_COOL_DOWN", default_value = "60s", value_parser = parse_duration)]
    pub circuit_cool_down: Duration,

    /// How long status events are kept for watchers resuming with resume_from.
    #[arg(long, env = "PATCHBAY_EVENT_RETENTION", default_value = "24h", value_parser = parse_duration)]
    pub event_retention: Duration,

    /// A provider API base URL for every connection of a type, as TYPE=URL
    /// (a proxy, or a fake provider); repeat for several types. Overrides
    /// the type's own api_base_uri.
    #[arg(long = "provider-base-url", env = "PATCHBAY_PROVIDER_BASE_URLS", value_delimiter = ',', value_parser = parse_base_url)]
    pub provider_base_urls: Vec<(String, String)>,
}

fn parse_base_url(s: &str) -> Result<(String, String), String> {
    let (type_id, url) = s
        .split_once('=')
        .ok_or_else(|| format!("expected TYPE=URL, got {s:?}"))?;
    url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    Ok((
        type_id.trim().to_owned(),
        url.trim_end_matches('/').to_owned(),
    ))
}
