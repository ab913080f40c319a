//! The soak's figures: process samples, percentiles, the printed table and the bounds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::model::{Judge, Violation};
use crate::{
    FD_GROWTH_AT_END, FD_GROWTH_PEAK, Fault, PROXY_CONNECTIONS_AT_END, PROXY_CONNECTIONS_PEAK,
    RECOVERY_BOUND, RSS_GROWTH_AT_END, RSS_GROWTH_PEAK,
};

/// The test process's resident memory and open descriptors at one moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcessSample {
    /// `VmRSS` of /proc/self/status, KiB.
    pub(crate) rss_kib: u64,
    /// Entries of /proc/self/fd.
    pub(crate) fds: i64,
    /// Connections open through the proxies.
    pub(crate) proxy_connections: usize,
}

impl ProcessSample {
    pub(crate) fn now(proxy_connections: usize) -> Self {
        let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
        let rss_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .expect("VmRSS in /proc/self/status");
        let fds = std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .count() as i64;
        ProcessSample {
            rss_kib,
            fds,
            proxy_connections,
        }
    }
}

/// One variant's figures.
pub(crate) struct VariantReport {
    pub(crate) name: &'static str,
    pub(crate) wall: Duration,
    pub(crate) requests: u64,
    pub(crate) acknowledged: [u64; 4],
    pub(crate) violations: u64,
    pub(crate) violation_list: Vec<Violation>,
    pub(crate) unavailable_during: u64,
    pub(crate) unavailable_outside: u64,
    pub(crate) refused_after_loss: u64,
    pub(crate) stale_within_bound: u64,
    pub(crate) accepted_before_loss_noticed: u64,
    pub(crate) grpc_checks: u64,
    pub(crate) grpc_unavailable: u64,
    pub(crate) covered_by_unacknowledged: u64,
    pub(crate) p99_during: Option<Duration>,
    pub(crate) p99_outside: Option<Duration>,
    pub(crate) max_latency: Duration,
    pub(crate) requests_during: usize,
    pub(crate) recoveries: BTreeMap<Fault, Vec<Duration>>,
    pub(crate) baseline: ProcessSample,
    pub(crate) rss_peak_kib: u64,
    pub(crate) fd_peak: i64,
    pub(crate) end: ProcessSample,
    pub(crate) proxy_peak: usize,
    pub(crate) proxy_accepted: usize,
    /// RSS (KiB) after each round of faults: bounded memory levels off.
    pub(crate) rss_by_round: Vec<u64>,
}

fn percentile(sorted: &[u32], fraction: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    Some(Duration::from_micros(u64::from(sorted[index])))
}

impl VariantReport {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: &'static str,
        wall: Duration,
        judge: &Judge,
        recoveries: BTreeMap<Fault, Vec<Duration>>,
        baseline: ProcessSample,
        samples: &[ProcessSample],
        end: ProcessSample,
        proxy_peak: usize,
        proxy_accepted: usize,
        rss_by_round: Vec<u64>,
    ) -> Self {
        let counters = &judge.counters;
        let (mut during, mut outside) = judge.latencies_split();
        during.sort_unstable();
        outside.sort_unstable();
        let max_latency = Duration::from_micros(u64::from(
            during
                .last()
                .copied()
                .unwrap_or(0)
                .max(outside.last().copied().unwrap_or(0)),
        ));
        VariantReport {
            name,
            wall,
            requests: counters.requests.load(Ordering::SeqCst),
            acknowledged: std::array::from_fn(|kind| {
                counters.acknowledged[kind].load(Ordering::SeqCst)
            }),
            violations: counters.violations.load(Ordering::SeqCst),
            violation_list: judge.violations(),
            unavailable_during: counters.unavailable_during.load(Ordering::SeqCst),
            unavailable_outside: counters.unavailable_outside.load(Ordering::SeqCst),
            refused_after_loss: counters.refused_after_loss.load(Ordering::SeqCst),
            stale_within_bound: counters.stale_within_bound.load(Ordering::SeqCst),
            grpc_checks: counters.grpc_checks.load(Ordering::SeqCst),
            grpc_unavailable: counters.grpc_unavailable.load(Ordering::SeqCst),
            accepted_before_loss_noticed: counters
                .accepted_before_loss_noticed
                .load(Ordering::SeqCst),
            covered_by_unacknowledged: counters.covered_by_unacknowledged.load(Ordering::SeqCst),
            p99_during: percentile(&during, 0.99),
            p99_outside: percentile(&outside, 0.99),
            max_latency,
            requests_during: during.len(),
            recoveries,
            baseline,
            rss_peak_kib: samples
                .iter()
                .map(|s| s.rss_kib)
                .chain([end.rss_kib])
                .max()
                .unwrap_or(0),
            fd_peak: samples
                .iter()
                .map(|s| s.fds)
                .chain([end.fds])
                .max()
                .unwrap_or(0),
            end,
            proxy_peak,
            proxy_accepted,
            rss_by_round,
        }
    }

    /// Fails the test, with every figure and violation, if a bound is broken.
    pub(crate) fn assert_within_bounds(&self) {
        let name = self.name;
        assert_eq!(
            self.violations, 0,
            "{name}: {} violations; the first ones:\n{:#?}",
            self.violations, self.violation_list
        );
        for (fault, times) in &self.recoveries {
            let worst = times.iter().max().copied().unwrap_or_default();
            assert!(
                worst <= RECOVERY_BOUND,
                "{name}: recovery from {} took {worst:?}, past the {RECOVERY_BOUND:?} bound",
                fault.label()
            );
        }
        let rss_end = self.end.rss_kib.saturating_sub(self.baseline.rss_kib);
        let rss_peak = self.rss_peak_kib.saturating_sub(self.baseline.rss_kib);
        assert!(
            rss_end <= RSS_GROWTH_AT_END && rss_peak <= RSS_GROWTH_PEAK,
            "{name}: resident memory grew by {rss_end} KiB at the end, {rss_peak} KiB at the \
             peak (bounds {RSS_GROWTH_AT_END} and {RSS_GROWTH_PEAK} KiB)"
        );
        let fd_end = self.end.fds - self.baseline.fds;
        let fd_peak = self.fd_peak - self.baseline.fds;
        assert!(
            fd_end <= FD_GROWTH_AT_END && fd_peak <= FD_GROWTH_PEAK,
            "{name}: open descriptors grew by {fd_end} at the end, {fd_peak} at the peak \
             (bounds {FD_GROWTH_AT_END} and {FD_GROWTH_PEAK})"
        );
        assert!(
            self.proxy_peak <= PROXY_CONNECTIONS_PEAK
                && self.end.proxy_connections <= PROXY_CONNECTIONS_AT_END,
            "{name}: connections to Redis: peak {}, {} at the end (bounds \
             {PROXY_CONNECTIONS_PEAK} and {PROXY_CONNECTIONS_AT_END})",
            self.proxy_peak,
            self.end.proxy_connections
        );
        assert!(self.requests > 0 && self.acknowledged.iter().sum::<u64>() > 0);
    }
}

fn ms(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.1}", d.as_secs_f64() * 1000.0),
    )
}

/// The table the soak prints.
pub(crate) fn table(reports: &[VariantReport], wall: Duration, seconds: Option<u64>) -> String {
    let mut out = String::new();
    let mode = match seconds {
        Some(seconds) => format!("SOAK_SECONDS={seconds}"),
        None => "short (one round of faults per variant)".to_owned(),
    };
    let _ = writeln!(
        out,
        "\nfault soak, {mode}: {:.1} s wall in all\n",
        wall.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| variant | wall s | requests | revocations acknowledged (token/session/RFC 7009/user) | violations | 503 during faults | 503 outside faults | refused by design after data loss | stale within replica bound | p99 outside faults ms | p99 during faults ms | max ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in reports {
        let [token, session, rfc7009, user] = r.acknowledged;
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {} ({token}/{session}/{rfc7009}/{user}) | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.wall.as_secs_f64(),
            r.requests,
            token + session + rfc7009 + user,
            r.violations,
            r.unavailable_during,
            r.unavailable_outside,
            r.refused_after_loss,
            r.stale_within_bound,
            ms(r.p99_outside),
            ms(r.p99_during),
            ms(Some(r.max_latency)),
        );
    }
    let _ = writeln!(
        out,
        "\nrecovery (fault end → a check succeeds on every instance), ms: count, median / max; bound {} ms\n",
        RECOVERY_BOUND.as_millis()
    );
    let mut header = "| fault |".to_owned();
    let mut rule = "|---|".to_owned();
    for r in reports {
        let _ = write!(header, " {} |", r.name);
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for fault in Fault::ALL {
        let mut row = format!("| {} |", fault.label());
        for r in reports {
            match r.recoveries.get(&fault) {
                Some(times) if !times.is_empty() => {
                    let mut sorted = times.clone();
                    sorted.sort_unstable();
                    let median = sorted[sorted.len() / 2];
                    let max = sorted[sorted.len() - 1];
                    let _ = write!(
                        row,
                        " {} × {:.0} / {:.0} |",
                        sorted.len(),
                        median.as_secs_f64() * 1000.0,
                        max.as_secs_f64() * 1000.0
                    );
                }
                _ => row.push_str(" - |"),
            }
        }
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(
        out,
        "\nbounded resources (test process: both instances, the proxies and the clients)\n"
    );
    let _ = writeln!(
        out,
        "| variant | RSS after warm-up MiB | RSS peak MiB | RSS at end MiB | fds after warm-up | fds peak | fds at end | Redis connections peak / at end / accepted in all |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} / {} / {} |",
            r.name,
            r.baseline.rss_kib as f64 / 1024.0,
            r.rss_peak_kib as f64 / 1024.0,
            r.end.rss_kib as f64 / 1024.0,
            r.baseline.fds,
            r.fd_peak,
            r.end.fds,
            r.proxy_peak,
            r.end.proxy_connections,
            r.proxy_accepted,
        );
    }
    for r in reports {
        // At most 16 values, evenly spread, the last round always shown.
        let rounds = &r.rss_by_round;
        let step = rounds.len().div_ceil(16).max(1);
        let shown: Vec<String> = rounds
            .iter()
            .enumerate()
            .filter(|(n, _)| n % step == 0 || *n + 1 == rounds.len())
            .map(|(n, kib)| format!("{}: {:.1}", n + 1, *kib as f64 / 1024.0))
            .collect();
        let _ = writeln!(
            out,
            "\n{} RSS after round (MiB): {}",
            r.name,
            shown.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nchecks sent as gRPC calls (of the requests) / answered 14 UNAVAILABLE: {}\n\nrequests during faults: {}; tokens covered by an unacknowledged cut-off (a 503 logout-all, or a login within the replica's bound): {}; revoked tokens accepted on a cluster after a node came back empty, before the loss was noticed (the stated window): {}",
        reports
            .iter()
            .map(|r| format!("{} {} / {}", r.name, r.grpc_checks, r.grpc_unavailable))
            .collect::<Vec<_>>()
            .join(", "),
        reports
            .iter()
            .map(|r| format!("{} {}", r.name, r.requests_during))
            .collect::<Vec<_>>()
            .join(", "),
        reports
            .iter()
            .map(|r| format!("{} {}", r.name, r.covered_by_unacknowledged))
            .collect::<Vec<_>>()
            .join(", "),
        reports
            .iter()
            .map(|r| format!("{} {}", r.name, r.accepted_before_loss_noticed))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}
