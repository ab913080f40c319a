//! A fault-injecting TCP proxy for the soak: the demo instances reach Redis through it, and the
//! fault injector switches its mode to cut, slow down or black-hole their connections without
//! touching the server.
//!
//! | mode | new connections | existing connections |
//! |---|---|---|
//! | [`ProxyMode::Pass`] | forwarded | forwarded |
//! | [`ProxyMode::Partition`] | accepted and closed at once (the client reads EOF) | closed at once |
//! | [`ProxyMode::Delay`] | forwarded, each chunk held for the delay, in each direction | the same |
//! | [`ProxyMode::HalfOpen`] | accepted, held open, nothing forwarded | held open, nothing forwarded |
//!
//! A half-open connection never carries a byte again: when the mode leaves
//! [`ProxyMode::HalfOpen`], it is closed, as a peer that lost the connection's state answers a
//! reset once reachable again. (Resuming it would forward a stream with bytes missing, which no
//! TCP connection ever does.)
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does to the traffic (see the module's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward everything.
    Pass,
    /// Refuse new connections and cut existing ones.
    Partition,
    /// Hold every chunk this long before forwarding it (a round trip gains twice this).
    Delay(Duration),
    /// Keep every socket open and forward nothing: a black hole.
    HalfOpen,
}

/// How long the proxy tries to reach its upstream for a new connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Counts {
    live: AtomicUsize,
    peak: AtomicUsize,
    accepted: AtomicUsize,
}

/// Counts a connection as live for as long as it exists.
struct LiveGuard(Arc<Counts>);

impl LiveGuard {
    fn new(counts: &Arc<Counts>) -> Self {
        let live = counts.live.fetch_add(1, Ordering::SeqCst) + 1;
        counts.peak.fetch_max(live, Ordering::SeqCst);
        counts.accepted.fetch_add(1, Ordering::SeqCst);
        LiveGuard(counts.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A proxy on a free loopback port in front of `upstream`; stopped when dropped (its
/// connections end with it).
pub struct FaultProxy {
    address: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    counts: Arc<Counts>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts forwarding to `upstream` (`127.0.0.1:<port>`), in [`ProxyMode::Pass`].
    pub async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream.parse().expect("a socket address");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let address = listener.local_addr().expect("a bound listener");
        let (mode, receiver) = watch::channel(ProxyMode::Pass);
        let counts = Arc::new(Counts::default());
        let accept = tokio::spawn(accept_loop(listener, upstream, receiver, counts.clone()));
        FaultProxy {
            address,
            mode,
            counts,
            accept,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.address)
    }

    /// Switches the mode; existing connections follow at once.
    pub fn set(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }

    /// Connections open now (client side accepted and not yet closed).
    pub fn live_connections(&self) -> usize {
        self.counts.live.load(Ordering::SeqCst)
    }

    /// The most connections that were ever open at once.
    pub fn peak_connections(&self) -> usize {
        self.counts.peak.load(Ordering::SeqCst)
    }

    /// Connections accepted since the start.
    pub fn accepted_connections(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The connections' tasks end when the mode's sender goes (`changed` fails).
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<ProxyMode>,
    counts: Arc<Counts>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of file descriptors, most likely: try again shortly rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let guard = LiveGuard::new(&counts);
        tokio::spawn(connection(client, upstream, mode.clone(), guard));
    }
}

async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<ProxyMode>,
    _guard: LiveGuard,
) {
    let _ = client.set_nodelay(true);
    let current = *mode.borrow_and_update();
    match current {
        ProxyMode::Partition => return,
        ProxyMode::HalfOpen => {
            hold(&mut mode).await;
            return;
        }
        ProxyMode::Pass | ProxyMode::Delay(_) => {}
    }
    let upstream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
        Ok(Ok(stream)) => stream,
        // Upstream down: the client sees its connection closed, as if refused.
        _ => return,
    };
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    tokio::select! {
        () = pump(client_read, upstream_write, mode.clone()) => {}
        () = pump(upstream_read, client_write, mode.clone()) => {}
        () = cut_when_told(&mut mode) => {}
    }
}

/// Waits until the mode leaves [`ProxyMode::HalfOpen`] (or the proxy is gone).
async fn hold(mode: &mut watch::Receiver<ProxyMode>) {
    loop {
        let current = *mode.borrow_and_update();
        if current != ProxyMode::HalfOpen || mode.changed().await.is_err() {
            return;
        }
    }
}

/// Completes when the connection must close: a partition, the end of a half-open spell, or
/// the proxy dropped.
async fn cut_when_told(mode: &mut watch::Receiver<ProxyMode>) {
    loop {
        if mode.changed().await.is_err() {
            return;
        }
        let current = *mode.borrow_and_update();
        match current {
            ProxyMode::Partition => return,
            ProxyMode::HalfOpen => {
                hold(mode).await;
                return;
            }
            ProxyMode::Pass | ProxyMode::Delay(_) => {}
        }
    }
}

/// Copies one direction, applying the mode to every chunk.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mode: watch::Receiver<ProxyMode>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        let current = *mode.borrow();
        match current {
            ProxyMode::Pass => {}
            ProxyMode::Delay(delay) => tokio::time::sleep(delay).await,
            // Nothing is forwarded any more; `cut_when_told` closes the connection.
            ProxyMode::Partition | ProxyMode::HalfOpen => std::future::pending::<()>().await,
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
