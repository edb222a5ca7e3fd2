//! The scale benchmark's figures: one size's, a value per round, and the
//! table that sets each beside the baseline's.

use std::time::Instant;

use crate::load;

/// One size's figures, a value per round.
pub struct Report {
    pub layout: load::Layout,
    pub start_to_ready_s: Vec<f64>,
    pub rss_kib: u64,
    pub status_p50_ms: Vec<f64>,
    pub status_p99_ms: Vec<f64>,
    pub connections_first_ms: Vec<f64>,
    pub connections_deep_ms: Vec<f64>,
    pub actions_first_ms: Vec<f64>,
    pub actions_deep_ms: Vec<f64>,
    pub cpu_us_per_probe: Vec<f64>,
    pub probes_per_s: Vec<f64>,
}

pub fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let at = ((values.len() as f64 - 1.0) * p).round() as usize;
    values.get(at).copied().unwrap_or(0.0)
}

fn median(values: &[f64]) -> f64 {
    percentile(&mut values.to_vec(), 0.5)
}

pub fn print(reports: &[Report]) {
    let Some(base) = reports.first() else { return };
    let rounds = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for report in reports {
        let l = &report.layout;
        println!(
            "\nscale: {} connections in {} projects ({} in `big`, {} due probes, {} actions in `big`)",
            l.size,
            l.projects,
            l.big,
            l.due,
            l.size / 10
        );
        println!(
            "{:<34} {:>10} {:>10} {:>7}  rounds",
            "figure", "baseline", "this", "ratio"
        );
        let line = |what: &str, base: &[f64], this: &[f64]| {
            let (b, t) = (median(base), median(this));
            println!(
                "{what:<34} {b:>10.3} {t:>10.3} {:>7.2}  {}",
                t / b,
                rounds(this)
            );
        };
        line(
            "start to ready, s",
            &base.start_to_ready_s,
            &report.start_to_ready_s,
        );
        let per_connection = |r: &Report| r.rss_kib as f64 * 1024.0 / r.layout.size as f64;
        println!(
            "{:<34} {:>10} {:>10}",
            "resident memory, MiB",
            base.rss_kib / 1024,
            report.rss_kib / 1024
        );
        println!(
            "{:<34} {:>10.0} {:>10.0}",
            "resident bytes per connection",
            per_connection(base),
            per_connection(report)
        );
        if report.layout.size > base.layout.size {
            let marginal = (report.rss_kib as f64 - base.rss_kib as f64) * 1024.0
                / (report.layout.size - base.layout.size) as f64;
            println!(
                "{:<34} {:>10} {marginal:>10.0}",
                "  marginal bytes per connection", ""
            );
        }
        line(
            "GetProjectStatus p50, ms",
            &base.status_p50_ms,
            &report.status_p50_ms,
        );
        line(
            "GetProjectStatus p99, ms",
            &base.status_p99_ms,
            &report.status_p99_ms,
        );
        line(
            "ListConnections first pages, ms",
            &base.connections_first_ms,
            &report.connections_first_ms,
        );
        line(
            "ListConnections deepest pages, ms",
            &base.connections_deep_ms,
            &report.connections_deep_ms,
        );
        line(
            "ListActions first pages, ms",
            &base.actions_first_ms,
            &report.actions_first_ms,
        );
        line(
            "ListActions deepest pages, ms",
            &base.actions_deep_ms,
            &report.actions_deep_ms,
        );
        line(
            "prober CPU per probe, µs",
            &base.cpu_us_per_probe,
            &report.cpu_us_per_probe,
        );
        line(
            "probes per second",
            &base.probes_per_s,
            &report.probes_per_s,
        );
    }
}
