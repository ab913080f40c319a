//! Throw-away Redis servers for tests and benches: a `redis-server` on a free loopback port,
//! or a three-master Redis Cluster, each in its own temporary directory.
//!
//! Feature `test-support`. Needs `redis-server` and `redis-cli` on `PATH`
//! (`apt-get install redis-server`); without them every function here panics with that advice,
//! so a test that needs Redis fails rather than skips.
//!
//! Each server runs under a small `sh` watchdog that reads its standard input from the test
//! process: when the handle is dropped, or when the test process exits in any way (even
//! killed), the pipe closes and the watchdog kills the server and deletes its directory. The
//! shared instances ([`RedisServer::shared`], [`RedisCluster::shared`]) rely on that, since
//! statics are never dropped.
//!
//! ```no_run
//! use jwt_revoke_redis::test_support::{RedisServer, unique_prefix};
//! use jwt_revoke_redis::RedisStoreConfig;
//!
//! # async fn demo() {
//! let server = RedisServer::start();
//! let store = RedisStoreConfig::from_url(server.url())
//!     .with_key_prefix(unique_prefix())
//!     .build()
//!     .await
//!     .expect("the test server accepts connections");
//! # let _ = store;
//! # }
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::KeyPrefix;

const INSTALL_ADVICE: &str = "install it (Debian/Ubuntu: `apt-get install redis-server`, which \
                              also brings redis-cli) to run jwt-revoke-redis's tests";

/// How long a server may take to answer `PING` after it starts (AOF loading included).
const READY_WITHIN: Duration = Duration::from_secs(15);

/// The watchdog: starts redis-server, prints nothing, and waits on standard input. A line
/// `crash` kills the server and keeps its directory (to restart it on the same data); end of
/// input (the handle dropped, the test process gone) kills it and deletes the directory.
const WATCHDOG: &str = r#"
dir="$1"; shift
redis-server "$@" &
server=$!
read command
kill -9 "$server" 2>/dev/null
wait "$server" 2>/dev/null
if [ "$command" != crash ]; then rm -rf "$dir"; fi
"#;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A key prefix no other test of this process (or another run) uses: tests share servers and
/// isolate their data by prefix.
pub fn unique_prefix() -> KeyPrefix {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    KeyPrefix::new(format!("test:{}:{nanos}:{n}:", std::process::id()))
        .expect("digits and colons are a valid prefix")
}

/// Which kind of server to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// No persistence at all: fastest.
    Ephemeral,
    /// Every write on disk before it is acknowledged (`appendfsync always`), so that a server
    /// killed with SIGKILL and restarted has every acknowledged revocation.
    Persistent,
    /// A Redis Cluster node, persistent like [`Kind::Persistent`] so that a crashed node can
    /// come back with its slots' data.
    ClusterNode,
}

/// One `redis-server` on `127.0.0.1`, stopped and deleted on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    bus_port: Option<u16>,
    dir: PathBuf,
    kind: Kind,
    process: Option<Process>,
    /// The redis-server's process id (not the watchdog's), for [`pause`](Self::pause).
    pid: Option<u32>,
    /// `--replicaof 127.0.0.1 <port>`: started as a replica of that server.
    replica_of: Option<u16>,
}

#[derive(Debug)]
struct Process {
    watchdog: Child,
    stdin: Option<ChildStdin>,
}

impl RedisServer {
    /// A fresh, empty server without persistence.
    pub fn start() -> Self {
        Self::start_kind(Kind::Ephemeral)
    }

    /// A server with `appendonly yes` and `appendfsync always`: what it acknowledged survives
    /// [`crash`](Self::crash) and [`restart`](Self::restart).
    pub fn start_persistent() -> Self {
        Self::start_kind(Kind::Persistent)
    }

    /// One server for the whole test process, started on first use and stopped when the
    /// process exits. Isolate tests on it with [`unique_prefix`].
    pub fn shared() -> &'static RedisServer {
        static SHARED: OnceLock<RedisServer> = OnceLock::new();
        SHARED.get_or_init(RedisServer::start)
    }

    /// A fresh server without persistence that replicates `primary` (`--replicaof`), started
    /// once it reports its link to the primary up (`master_link_status:up`).
    pub fn start_replica_of(primary: &RedisServer) -> Self {
        let server = Self::start_with(Kind::Ephemeral, Some(primary.port));
        let deadline = Instant::now() + READY_WITHIN;
        while !server
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
        {
            assert!(
                Instant::now() < deadline,
                "the replica on port {} did not connect to its primary within {READY_WITHIN:?}",
                server.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn start_kind(kind: Kind) -> Self {
        Self::start_with(kind, None)
    }

    fn start_with(kind: Kind, replica_of: Option<u16>) -> Self {
        require_tools();
        let mut last_error = String::new();
        // A free port found now may be taken by someone else before redis-server binds it:
        // try a few.
        for _attempt in 0..5 {
            let mut server = RedisServer {
                port: free_port(),
                bus_port: (kind == Kind::ClusterNode).then(free_port),
                dir: temp_dir(),
                kind,
                process: None,
                pid: None,
                replica_of,
            };
            server.spawn();
            match server.wait_ready() {
                Ok(()) => return server,
                Err(err) => last_error = err,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its directory (data, AOF, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the server with SIGSTOP: it keeps its connections open and answers nothing, as
    /// a server that hangs (swapping, a stuck disk, a paused VM) does. Undo with
    /// [`resume`](Self::resume); dropping or crashing a paused server works too.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a [`pause`](Self::pause)d server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid.expect("the server runs").to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Kills the server with SIGKILL, as a crash would, keeping its data directory.
    pub fn crash(&mut self) {
        self.pid = None;
        if let Some(mut process) = self.process.take() {
            if let Some(mut stdin) = process.stdin.take() {
                // A watchdog that is gone already has killed the server: nothing to do.
                let _ = stdin.write_all(b"crash\n");
            }
            let _ = process.watchdog.wait();
        }
    }

    /// Starts the server again on the same port and directory, and waits until it answers
    /// (after loading its data, for a persistent one).
    pub fn restart(&mut self) {
        self.crash();
        self.spawn();
        if let Err(err) = self.wait_ready() {
            panic!("redis-server did not restart: {err}");
        }
    }

    /// Kills the server (SIGKILL) and starts it again on the same port with an **empty** data
    /// directory: a server without persistence restarted, as far as its clients can tell. A
    /// cluster node keeps its `nodes.conf` (its membership, not its data), so that it comes back
    /// as the same member with the same slots, and empty.
    pub fn restart_empty(&mut self) {
        self.crash();
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path
                .file_name()
                .is_some_and(|name| name != "redis.log" && name != "nodes.conf")
            {
                let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
            }
        }
        self.spawn();
        if let Err(err) = self.wait_ready() {
            panic!("redis-server did not restart: {err}");
        }
    }

    /// Runs `redis-cli -p <port> <args>` and returns what it printed. Panics when it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let port = self.port.to_string();
        let mut all = vec!["-p", &port];
        all.extend_from_slice(args);
        run_cli(&all)
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.dir).expect("create the server's temporary directory");
        let port = self.port.to_string();
        let dir = self.dir.to_string_lossy().into_owned();
        let mut args: Vec<String> = [
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir,
            "--logfile",
            "redis.log",
            "--save",
            "",
            "--daemonize",
            "no",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        let extra: &[&str] = match self.kind {
            Kind::Ephemeral => &["--appendonly", "no"],
            Kind::Persistent => &["--appendonly", "yes", "--appendfsync", "always"],
            Kind::ClusterNode => &[
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ],
        };
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        if let Some(bus_port) = self.bus_port {
            args.extend(["--cluster-port".to_owned(), bus_port.to_string()]);
        }
        if let Some(primary) = self.replica_of {
            args.extend([
                "--replicaof".to_owned(),
                "127.0.0.1".to_owned(),
                primary.to_string(),
            ]);
        }
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("redis-watchdog")
            .arg(&dir)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sh to run redis-server");
        let stdin = watchdog.stdin.take();
        self.process = Some(Process { watchdog, stdin });
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            match ping(self.port) {
                Ok(reply) if reply.starts_with("+PONG") => {
                    self.pid = self
                        .cli(&["INFO", "server"])
                        .lines()
                        .find_map(|line| line.trim().strip_prefix("process_id:"))
                        .and_then(|pid| pid.parse().ok());
                    return Ok(());
                }
                _ if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.dir.join("redis.log"))
                        .unwrap_or_else(|err| format!("(no log: {err})"));
                    return Err(format!(
                        "no PONG on port {} within {READY_WITHIN:?}; log:\n{log}",
                        self.port
                    ));
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        match self.process.take() {
            Some(mut process) => {
                // End of input: the watchdog kills the server and deletes the directory.
                drop(process.stdin.take());
                let _ = process.watchdog.wait();
            }
            None => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
    }
}

/// A Redis Cluster of three masters (no replicas) on loopback ports, stopped on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them with `redis-cli --cluster create`, and
    /// waits until every node reports `cluster_state:ok`.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::start_kind(Kind::ClusterNode))
            .collect();
        let addresses: Vec<String> = nodes.iter().map(RedisServer::address).collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        run_cli(&args);
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        cluster
    }

    /// One cluster for the whole test process, started on first use and stopped when the
    /// process exits. Isolate tests on it with [`unique_prefix`].
    pub fn shared() -> &'static RedisCluster {
        static SHARED: OnceLock<RedisCluster> = OnceLock::new();
        SHARED.get_or_init(RedisCluster::start)
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// One node, to [`crash`](RedisServer::crash) and [`restart`](RedisServer::restart) it.
    pub fn node_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.nodes[index]
    }

    /// The index of the node that serves `key`'s slot: the one that does not answer `MOVED`.
    pub fn owner_of(&self, key: &str) -> usize {
        self.nodes
            .iter()
            .position(|node| !node.cli(&["EXISTS", key]).contains("MOVED"))
            .expect("some node serves every slot")
    }

    /// `redis://127.0.0.1:<port>` of every node.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The slot of `key`, as the cluster computes it.
    pub fn key_slot(&self, key: &str) -> u16 {
        self.nodes[0]
            .cli(&["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("CLUSTER KEYSLOT answers a number")
    }

    fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &self.nodes {
            loop {
                let info = node.cli(&["CLUSTER", "INFO"]);
                if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not reach cluster_state:ok on {}:\n{info}",
                    node.address()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn require_tools() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        for tool in ["redis-server", "redis-cli"] {
            let found = Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            assert!(found, "`{tool}` is not on PATH: {INSTALL_ADVICE}");
        }
    });
}

fn run_cli(args: &[&str]) -> String {
    require_tools();
    let output = Command::new("redis-cli")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "redis-cli {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Sends `PING` over a plain socket: cheaper than starting redis-cli in a polling loop.
fn ping(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.write_all(b"PING\r\n")?;
    let mut line = String::new();
    BufReader::new(&mut stream).read_line(&mut line)?;
    Ok(line)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the loopback interface has a free port")
}

fn temp_dir() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "jwt-revoke-redis-{}-{n}-{nanos}",
        std::process::id()
    ))
}
