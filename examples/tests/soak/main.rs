//! The fault soak (issue 12): two demo instances share one Redis — alone, with each instance
//! keeping a local replica, or a three-master Cluster — while many client tasks log in, check,
//! log out (token, session, everywhere) and revoke through RFC 7009, and a fault injector in
//! turn kills redis-server and restarts it with its data, restarts it empty (a server without
//! persistence), pauses it (SIGSTOP), and partitions, delays and half-opens the instances'
//! connections through a fault-injecting TCP proxy. Every reply is judged from the client's
//! side (see `model.rs`): an acknowledged revocation never comes undone, a valid token is never
//! refused with 401, store trouble is a 503 within the time limits, never a 500 or a hang;
//! memory, descriptors and connections stay bounded; each fault is recovered from by itself
//! within a stated time. A table of figures is printed at the end (`--nocapture`).
//!
//! Always runs, short (one round of every fault per variant, about a minute in all);
//! `SOAK_SECONDS=<n>` runs each variant for at least `n` seconds. `SOAK_VARIANTS=single,replica`
//! picks variants (default: all three). Loopback only; its own redis-servers.

#[path = "../support/proxy.rs"]
mod proxy;

mod load;
mod model;
mod report;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jwt_revoke_examples::config::store_config;
use jwt_revoke_examples::demo::{self, DemoConfig};
use jwt_revoke_redis::test_support::{RedisCluster, RedisServer};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use crate::load::Load;
use crate::model::Judge;
use crate::proxy::{FaultProxy, ProxyMode};
use crate::report::{ProcessSample, VariantReport};

const SECRET: &[u8] = b"soak test secret";
/// How long each fault lasts (the server down, paused, or the proxy misbehaving).
const FAULT_FOR: Duration = Duration::from_millis(1_200);
/// Per chunk and direction: a round trip gains 200 ms, under the 500 ms store timeout.
const SMALL_DELAY: Duration = Duration::from_millis(100);
/// Per chunk and direction: a round trip gains 800 ms, past the store timeout.
const LARGE_DELAY: Duration = Duration::from_millis(400);
/// Between faults, after recovery: the load runs on a healthy store.
const SETTLE: Duration = Duration::from_millis(700);
/// Load tasks, and the pause each takes between two operations.
const TASKS: usize = 12;
const PACE: Duration = Duration::from_millis(8);
/// The stated recovery bound: from the end of a fault until every instance answers a check
/// with success again.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);
/// How long the probe waits for recovery before giving up (and failing the soak).
const RECOVERY_GIVE_UP: Duration = Duration::from_secs(30);
/// The replica's `max_staleness` (ReplicaConfig::default).
const REPLICA_STALENESS: Duration = Duration::from_millis(500);
/// Memory and descriptor bounds, against the figures after the warm-up.
const RSS_GROWTH_AT_END: u64 = 64 * 1024; // KiB
const RSS_GROWTH_PEAK: u64 = 128 * 1024; // KiB
const FD_GROWTH_PEAK: i64 = 256;
const FD_GROWTH_AT_END: i64 = 32;
const PROXY_CONNECTIONS_PEAK: usize = 64;
const PROXY_CONNECTIONS_AT_END: usize = 16;
/// The sweep after each fault checks at most this many tokens (on every instance).
const SWEEP_LIMIT: usize = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Topology {
    Single,
    Replica,
    Cluster,
}

impl Topology {
    fn name(self) -> &'static str {
        match self {
            Topology::Single => "single",
            Topology::Replica => "replica",
            Topology::Cluster => "cluster",
        }
    }

    /// How long after a data loss ends (every instance answers again) a store may not have
    /// noticed it, and so still issue tokens the loss's cut-off will cover (and, on a cluster,
    /// accept tokens whose revocation was lost): one server notices at the first call (a
    /// quarter second of margin for the harness's own clock); a local replica within a
    /// heartbeat and its resync; a cluster within `loss_check_interval` + 2 × `timeout`
    /// (2 s), plus a second.
    fn loss_noticed_within(self) -> Duration {
        match self {
            Topology::Single => Duration::from_millis(250),
            Topology::Replica => Duration::from_millis(1_000),
            Topology::Cluster => Duration::from_millis(3_000),
        }
    }
}

/// What the injector does, in this order, round after round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fault {
    /// SIGKILL, down for [`FAULT_FOR`], restarted on its data (AOF, `appendfsync always`).
    Kill,
    /// SIGKILL and restarted at once without its data: a server without persistence.
    RestartEmpty,
    /// SIGSTOP for [`FAULT_FOR`], then SIGCONT: connections open, nothing answered.
    Pause,
    /// The proxy cuts every connection and refuses new ones.
    Partition,
    /// The proxy delays every chunk by [`SMALL_DELAY`]: slow, within the store's timeout.
    SmallDelay,
    /// The proxy delays every chunk by [`LARGE_DELAY`]: past the store's timeout.
    LargeDelay,
    /// The proxy keeps every socket open and forwards nothing.
    HalfOpen,
}

impl Fault {
    const ALL: [Fault; 7] = [
        Fault::Kill,
        Fault::RestartEmpty,
        Fault::Pause,
        Fault::Partition,
        Fault::SmallDelay,
        Fault::LargeDelay,
        Fault::HalfOpen,
    ];

    /// Its name in the table.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Fault::Kill => "kill + restart (persistent)",
            Fault::RestartEmpty => "restart empty (data loss)",
            Fault::Pause => "pause (SIGSTOP/SIGCONT)",
            Fault::Partition => "partition (proxy)",
            Fault::SmallDelay => "delay 2x100 ms (proxy)",
            Fault::LargeDelay => "delay 2x400 ms (proxy)",
            Fault::HalfOpen => "half-open (proxy)",
        }
    }
}

/// The Redis side of a variant: the server(s) and the proxies the instances reach them by.
struct Backend {
    server: Option<RedisServer>,
    cluster: Option<RedisCluster>,
    proxies: Vec<FaultProxy>,
}

impl Backend {
    fn start(runtime: &Runtime, topology: Topology) -> Self {
        match topology {
            Topology::Single | Topology::Replica => {
                let server = RedisServer::start_persistent();
                let proxy = runtime.block_on(FaultProxy::start(&server.address()));
                Backend {
                    server: Some(server),
                    cluster: None,
                    proxies: vec![proxy],
                }
            }
            Topology::Cluster => {
                let cluster = RedisCluster::start();
                let proxies: Vec<FaultProxy> = cluster
                    .nodes()
                    .iter()
                    .map(|node| runtime.block_on(FaultProxy::start(&node.address())))
                    .collect();
                let backend = Backend {
                    server: None,
                    cluster: Some(cluster),
                    proxies,
                };
                for node in 0..3 {
                    backend.announce_through_proxy(node);
                }
                backend
            }
        }
    }

    /// The store URL the instances use: the proxy (or, for a cluster, every node's proxy).
    fn store_url(&self) -> String {
        self.proxies
            .iter()
            .map(FaultProxy::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Makes cluster node `node` tell clients (in `CLUSTER SLOTS`, `MOVED`) to reach it
    /// through its proxy, and waits until every node says so.
    fn announce_through_proxy(&self, node: usize) {
        let cluster = self.cluster.as_ref().expect("a cluster");
        let port = self.proxies[node].port().to_string();
        cluster.nodes()[node].cli(&["CONFIG", "SET", "cluster-announce-port", &port]);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let everywhere = cluster.nodes().iter().all(|each| {
                each.cli(&["CLUSTER", "NODES"])
                    .contains(&format!("127.0.0.1:{port}@"))
            });
            if everywhere {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not learn node {node}'s proxy port within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Injects `fault` (on cluster node `node`), for [`FAULT_FOR`] where it lasts; returns
    /// once it is over. `judge` hears of data losses.
    fn inject(&mut self, fault: Fault, node: usize, judge: &Judge) {
        let proxy = if self.cluster.is_some() {
            &self.proxies[node]
        } else {
            &self.proxies[0]
        };
        let mode = match fault {
            Fault::Partition => Some(ProxyMode::Partition),
            Fault::SmallDelay => Some(ProxyMode::Delay(SMALL_DELAY)),
            Fault::LargeDelay => Some(ProxyMode::Delay(LARGE_DELAY)),
            Fault::HalfOpen => Some(ProxyMode::HalfOpen),
            Fault::Kill | Fault::RestartEmpty | Fault::Pause => None,
        };
        if let Some(mode) = mode {
            proxy.set(mode);
            std::thread::sleep(FAULT_FOR);
            proxy.set(ProxyMode::Pass);
            return;
        }
        let is_cluster = self.cluster.is_some();
        let server = match (&mut self.server, &mut self.cluster) {
            (Some(server), _) => server,
            (None, Some(cluster)) => cluster.node_mut(node),
            (None, None) => unreachable!("a backend has a server or a cluster"),
        };
        match fault {
            Fault::Kill => {
                server.crash();
                std::thread::sleep(FAULT_FOR);
                server.restart();
            }
            Fault::RestartEmpty => {
                judge.loss_begins(Instant::now());
                // A cluster node comes back as the same member, empty (test_support).
                server.restart_empty();
            }
            Fault::Pause => {
                server.pause();
                std::thread::sleep(FAULT_FOR);
                server.resume();
            }
            _ => unreachable!("proxy faults are handled above"),
        }
        if is_cluster && matches!(fault, Fault::Kill | Fault::RestartEmpty) {
            self.announce_through_proxy(node);
        }
    }
}

/// Probe users per instance: each token's user and session keys land in slots of their own,
/// so that on a cluster the probes touch every master (a node missed by all 2 × 8 keys is a
/// chance of (2/3)^16 < 0.2%).
const PROBES_PER_INSTANCE: usize = 8;

/// A recovery probe: a live token of its own user on one instance.
struct Probe {
    instance: usize,
    user: String,
    token: Option<String>,
}

/// Logs in `user` on `instance` and returns its token (`None` through a fault).
async fn probe_login(load: &Load, instance: usize, user: &str) -> Option<String> {
    let response = load
        .client
        .post(format!("{}/login", load.bases[instance]))
        .json(&json!({ "sub": user }))
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    Some(body["access_token"].as_str()?.to_owned())
}

/// The probes of every instance, logged in.
async fn probes(load: &Load) -> Vec<Probe> {
    let mut probes = Vec::new();
    for instance in 0..load.bases.len() {
        for n in 0..PROBES_PER_INSTANCE {
            let user = format!("probe-{}-{instance}-{n}", load.variant);
            let token = probe_login(load, instance, &user).await;
            assert!(token.is_some(), "the probe {user} logs in");
            probes.push(Probe {
                instance,
                user,
                token,
            });
        }
    }
    probes
}

/// Waits until every probe's check succeeds (each on its instance); returns when the last
/// one did. A probe refused for a data loss logs in again (its token was issued before it).
async fn wait_recovered(load: &Load, probes: &mut [Probe]) -> Instant {
    let give_up = Instant::now() + RECOVERY_GIVE_UP;
    let mut recovered = vec![false; probes.len()];
    while Instant::now() < give_up {
        for (n, probe) in probes.iter_mut().enumerate() {
            if recovered[n] {
                continue;
            }
            let Some(token) = probe.token.clone() else {
                probe.token = probe_login(load, probe.instance, &probe.user).await;
                continue;
            };
            let response = load
                .client
                .get(format!("{}/me", load.bases[probe.instance]))
                .bearer_auth(&token)
                .send()
                .await;
            let Ok(response) = response else { continue };
            match response.status().as_u16() {
                200 => recovered[n] = true,
                401 => {
                    let challenge = response
                        .headers()
                        .get("www-authenticate")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    if !challenge.contains("lost its records") {
                        load.judge.violation(format!(
                            "{}: the recovery probe {}'s live token was refused by instance \
                             {}: {challenge}",
                            load.variant, probe.user, probe.instance
                        ));
                    }
                    probe.token = None;
                }
                _ => {}
            }
        }
        if recovered.iter().all(|done| *done) {
            return Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Instant::now()
}

/// Starts two demo instances on `url`, each with its own store, on loopback ports.
async fn start_instances(
    url: &str,
    local_replica: bool,
) -> (
    Vec<String>,
    Vec<axum::Router>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let mut bases = Vec::new();
    let mut routers = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let store = store_config(url, local_replica)
            .expect("the store's settings")
            .build()
            .await
            .expect("the store builds");
        let app = demo::router(DemoConfig::new(SECRET.to_vec(), store)).expect("the demo builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        bases.push(format!("http://{}", listener.local_addr().expect("bound")));
        routers.push(app.clone());
        servers.push(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }
    (bases, routers, servers)
}

fn run_variant(runtime: &Runtime, topology: Topology, seconds: Option<u64>) -> VariantReport {
    let started = Instant::now();
    let mut backend = Backend::start(runtime, topology);
    let url = backend.store_url();
    let (bases, routers, servers) =
        runtime.block_on(start_instances(&url, topology == Topology::Replica));
    let staleness = if topology == Topology::Replica {
        REPLICA_STALENESS
    } else {
        Duration::ZERO
    };
    let judge = Arc::new(Judge::new(
        staleness,
        topology.loss_noticed_within(),
        topology == Topology::Cluster,
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let load = Arc::new(Load {
        client,
        bases,
        routers,
        judge: judge.clone(),
        stop: AtomicBool::new(false),
        variant: topology.name().to_owned(),
    });
    let mut probes = runtime.block_on(probes(&load));

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| runtime.spawn(load.clone().run_task(task, PACE)))
        .collect();
    let samples = Arc::new(Mutex::new(Vec::<ProcessSample>::new()));
    let sampling = {
        let samples = samples.clone();
        runtime.spawn(async move {
            loop {
                samples
                    .lock()
                    .expect("unpoisoned")
                    .push(ProcessSample::now(0));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    // Warm-up on a healthy store, then the baseline of memory and descriptors.
    // The sweep too, so that the clients' pool holds as many connections as it will after each
    // fault: what the descriptors are compared with is the steady state, not a cold start.
    std::thread::sleep(Duration::from_secs(2));
    runtime.block_on(load.sweep(SWEEP_LIMIT));
    let baseline = ProcessSample::now(proxy_live(&backend));
    let mut proxy_peak_live = 0;

    let mut recoveries: BTreeMap<Fault, Vec<Duration>> = BTreeMap::new();
    let run_for = Duration::from_secs(seconds.unwrap_or(0));
    let mut round = 0;
    let mut rss_by_round = Vec::new();
    loop {
        for fault in Fault::ALL {
            let node = round % 3;
            let start = Instant::now();
            judge.faults.open(start);
            backend.inject(fault, node, &judge);
            let ended = Instant::now();
            let recovered = runtime.block_on(wait_recovered(&load, &mut probes));
            judge.faults.close(recovered);
            if fault == Fault::RestartEmpty {
                judge.loss_ends(recovered);
            }
            eprintln!(
                "soak {}: {} (node {node}) from +{:.3} s to +{:.3} s, recovered at +{:.3} s",
                topology.name(),
                fault.label(),
                judge.since_start(start),
                judge.since_start(ended),
                judge.since_start(recovered),
            );
            recoveries.entry(fault).or_default().push(recovered - ended);
            proxy_peak_live = proxy_peak_live.max(proxy_live(&backend));
            std::thread::sleep(SETTLE);
            runtime.block_on(load.sweep(SWEEP_LIMIT));
            proxy_peak_live = proxy_peak_live.max(proxy_live(&backend));
        }
        round += 1;
        let sample = ProcessSample::now(proxy_live(&backend));
        rss_by_round.push(sample.rss_kib);
        eprintln!(
            "soak {}: round {round} done at +{:.3} s: RSS {:.1} MiB, {} descriptors",
            topology.name(),
            judge.since_start(Instant::now()),
            sample.rss_kib as f64 / 1024.0,
            sample.fds
        );
        if started.elapsed() >= run_for {
            break;
        }
    }
    // A last healthy stretch, then every token followed is checked on every instance.
    std::thread::sleep(Duration::from_secs(2));
    load.stop.store(true, Ordering::SeqCst);
    runtime.block_on(async {
        for task in tasks {
            let _ = task.await;
        }
    });
    runtime.block_on(load.sweep(usize::MAX));
    let end = ProcessSample::now(proxy_live(&backend));
    sampling.abort();
    let samples = samples.lock().expect("unpoisoned").clone();
    let proxy_peak = backend
        .proxies
        .iter()
        .map(FaultProxy::peak_connections)
        .sum::<usize>()
        .max(proxy_peak_live);
    let proxy_accepted = backend
        .proxies
        .iter()
        .map(FaultProxy::accepted_connections)
        .sum::<usize>();
    for server in servers {
        server.abort();
    }
    let report = VariantReport::new(
        topology.name(),
        started.elapsed(),
        &judge,
        recoveries,
        baseline,
        &samples,
        end,
        proxy_peak,
        proxy_accepted,
        rss_by_round,
    );
    runtime.block_on(async { drop(load) });
    drop(backend);
    report
}

fn proxy_live(backend: &Backend) -> usize {
    backend
        .proxies
        .iter()
        .map(FaultProxy::live_connections)
        .sum()
}

#[test]
fn fault_soak() {
    let seconds = std::env::var("SOAK_SECONDS").ok().map(|value| {
        value
            .parse::<u64>()
            .expect("SOAK_SECONDS is a number of seconds")
    });
    let chosen = std::env::var("SOAK_VARIANTS").unwrap_or_else(|_| "single,replica,cluster".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let started = Instant::now();
    let mut reports = Vec::new();
    for topology in [Topology::Single, Topology::Replica, Topology::Cluster] {
        if chosen.split(',').any(|name| name.trim() == topology.name()) {
            reports.push(run_variant(&runtime, topology, seconds));
        }
    }
    assert!(
        !reports.is_empty(),
        "SOAK_VARIANTS chose no variant: {chosen:?}"
    );
    println!("{}", report::table(&reports, started.elapsed(), seconds));
    for report in &reports {
        report.assert_within_bounds();
    }
}
