//! The end-to-end load bench: what revocation costs an HTTP service, measured with `wrk` over
//! loopback, each configuration against a JWT-verification-only baseline of the same run.
//!
//! ```text
//! apt-get install wrk        # Debian's package; the bench says so if it is missing
//! cargo bench -p jwt-revoke-examples --no-default-features --bench load
//! LOAD_SECONDS=4 LOAD_ROUNDS=5 LOAD_CONNECTIONS=32 cargo bench -p jwt-revoke-examples --no-default-features --bench load
//! LOAD_ONLY="HS256 jwt,HS256 layer + memory" cargo bench -p jwt-revoke-examples --no-default-features --bench load   # a subset
//! LOAD_TOKENS=10000 cargo bench -p jwt-revoke-examples --no-default-features --bench load   # many distinct tokens
//! LOAD_ONLY="HS256 jwt,HS256 layer + redis" LOAD_TOKENS=10000 cargo bench -p jwt-revoke-examples --no-default-features --bench load   # the Redis floors
//! ```
//!
//! `--no-default-features` leaves out the library's metrics (the examples' `metrics` feature),
//! as every figure in BENCHMARKS.md was measured; with them, and no recorder installed, the
//! layer does about 1,560 more instructions a request (BENCHMARKS.md, "Metrics").
//!
//! Every configuration is an Axum server with one route, `GET /me`, on a Tokio runtime with
//! ONE worker thread pinned to the first core; `wrk` (one thread) and redis-server are pinned
//! to the second (`LOAD_PIN=0` leaves them to the scheduler). Rounds interleave the
//! configurations (every other round in reverse order) so that drift on a shared machine hits
//! them alike; medians are reported, and each ratio is the median of the per-round ratios to
//! the same round's baseline, with the middle half of those ratios (the noise) beside it.
//!
//! | configuration | per request |
//! |---|---|
//! | no auth | nothing |
//! | jwt only | `jsonwebtoken::decode` into a claims struct, put into the request's extensions (the baseline) |
//! | jwt + redis check, no layer | the baseline, then one `RedisStore::check` of the token's keys: a floor for any layer over Redis (HS256 only) |
//! | jwt + raw redis-rs MGET, no layer | the baseline, then one `MGET` of three keys through redis-rs's multiplexed connection (HS256 only) |
//! | layer + memory | the revocation layer over a `MemoryStore` with 10,000 revocations |
//! | layer + redis | the revocation layer over a `RedisStore` (a redis-server started here) |
//! | layer + redis replica | the same store with its local replica (`ReplicaConfig::default()`) |
//! | layer + memory + cache | the same with the verified-token cache (RS256) |
//!
//! for HS256 and for RS256. By default wrk sends one token on every request: for the
//! verified-token cache and the claims memo that is the best case (every request after the
//! first is a hit). `LOAD_TOKENS=<n>` makes wrk send n distinct tokens in turn (n users' worth,
//! through a Lua script), which with n larger than the cache and memo hold is their worst case.
//!
//! Prints a table (requests/s, p50, p99, ratio to `jwt only` of the same algorithm) and writes
//! a chart to `target/load-bench/throughput.svg`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::get;
use jwt_revoke_core::{
    Clock, Policy, RevocationStore, Revocations, SessionId, SystemClock, TokenId, TokenKeys, UserId,
};
use jwt_revoke_memory::MemoryStore;
use jwt_revoke_redis::test_support::RedisServer;
use jwt_revoke_redis::{RedisStore, RedisStoreConfig, ReplicaConfig};
use jwt_revoke_tower::jsonwebtoken::{
    self, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use jwt_revoke_tower::{DecodingKeys, RevocationLayer};
use serde_json::json;

const ISSUER: &str = "https://load.test";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Keys {
    alg: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

fn keys(alg: Algorithm) -> Keys {
    if alg == Algorithm::HS256 {
        return Keys {
            alg,
            encoding: EncodingKey::from_secret(b"load bench secret"),
            decoding: DecodingKey::from_secret(b"load bench secret"),
        };
    }
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("a key pair");
    Keys {
        alg,
        encoding: EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).expect("pkcs8"),
        decoding: DecodingKey::from_rsa_pem(pair.public_key_pem().as_bytes()).expect("spki"),
    }
}

fn token(keys: &Keys, n: u64) -> String {
    let now = SystemClock.now().as_secs_floor();
    let claims = json!({
        "iss": ISSUER, "sub": format!("user-{}", n % 1_000), "jti": format!("load-{n}"),
        "sid": format!("s-{n}"), "iat": now, "exp": now + 3600,
    });
    jsonwebtoken::encode(&Header::new(keys.alg), &claims, &keys.encoding).expect("signs")
}

/// A wrk script that sends `tokens` in turn, one per request, for LOAD_TOKENS > 1.
fn token_script(alg: Algorithm, tokens: &[String]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/load-bench");
    std::fs::create_dir_all(&dir).expect("creates the output directory");
    let path = dir.join(format!("tokens-{alg:?}.lua"));
    let mut script = String::from("local tokens = {\n");
    for token in tokens {
        script.push_str(&format!("  \"Bearer {token}\",\n"));
    }
    script.push_str(
        "}\nlocal i = 0\nrequest = function()\n  i = i % #tokens + 1\n  \
         return wrk.format(nil, nil, { [\"Authorization\"] = tokens[i] })\nend\n",
    );
    std::fs::write(&path, script).expect("writes the wrk script");
    path
}

async fn me() -> &'static str {
    "ok"
}

/// The baseline: verification only, with the settings the layer gives jsonwebtoken.
/// What a service without revocation decodes: the registered claims it uses, as a struct.
#[derive(Clone, serde::Deserialize)]
#[allow(dead_code)] // read by handlers in a real service; here only decoded and stored
struct BaselineClaims {
    iss: String,
    sub: String,
    exp: u64,
    iat: Option<u64>,
    jti: Option<String>,
    sid: Option<String>,
}

fn jwt_only(keys: &Keys) -> Router {
    with_jwt(Router::new().route("/me", get(me)), keys)
}

/// `app` behind the baseline's middleware.
fn with_jwt(app: Router, keys: &Keys) -> Router {
    let mut validation = Validation::new(keys.alg);
    validation.set_issuer(&[ISSUER]);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let verifier = Arc::new((keys.decoding.clone(), validation));
    app.layer(middleware::from_fn(
        move |mut request: Request, next: Next| {
            let verifier = Arc::clone(&verifier);
            async move {
                let claims = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .and_then(|t| {
                        jsonwebtoken::decode::<BaselineClaims>(t, &verifier.0, &verifier.1).ok()
                    });
                match claims {
                    Some(claims) => {
                        // As an authentication middleware does: the claims go to the handler.
                        request.extensions_mut().insert(claims.claims);
                        next.run(request).await
                    }
                    None => axum::http::StatusCode::UNAUTHORIZED.into_response(),
                }
            }
        },
    ))
}

/// The baseline plus one check of the token's records in `store`, asked directly (no layer):
/// the least any layer that asks this store on every request can cost. The keys are those
/// the layer computes (token, user, session); a listed token or a failure is refused.
fn jwt_then_store(keys: &Keys, store: Arc<dyn RevocationStore>) -> Router {
    let checked = Router::new()
        .route("/me", get(me))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let store = Arc::clone(&store);
            async move {
                let keys = request.extensions().get::<BaselineClaims>().map(|claims| {
                    let jti = claims.jti.as_deref().unwrap_or_default();
                    TokenKeys::new(
                        TokenId::from_jti(&claims.iss, &claims.sub, jti).denylist_key(),
                        UserId::new(&claims.iss, &claims.sub).key(),
                        claims
                            .sid
                            .as_ref()
                            .map(|sid| SessionId::new(&claims.iss, sid).key()),
                    )
                });
                let Some(keys) = keys else {
                    return axum::http::StatusCode::UNAUTHORIZED.into_response();
                };
                match store.check(&keys).await {
                    Ok(reply) if !reply.token_listed => next.run(request).await,
                    Ok(_) => axum::http::StatusCode::UNAUTHORIZED.into_response(),
                    Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
                }
            }
        }));
    with_jwt(checked, keys)
}

/// The baseline plus one `MGET` of the token's three keys through redis-rs's multiplexed
/// connection, as a service would write it by hand: what redis-rs alone costs per request.
fn jwt_then_raw_mget(keys: &Keys, connection: redis::aio::MultiplexedConnection) -> Router {
    let checked = Router::new()
        .route("/me", get(me))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let mut connection = connection.clone();
            async move {
                let Some(claims) = request.extensions().get::<BaselineClaims>() else {
                    return axum::http::StatusCode::UNAUTHORIZED.into_response();
                };
                let jti = claims.jti.as_deref().unwrap_or_default();
                let mut mget = redis::cmd("MGET");
                mget.arg(format!("raw:t:{}:{jti}", claims.sub))
                    .arg(format!("raw:u:{}", claims.sub))
                    .arg(format!(
                        "raw:s:{}",
                        claims.sid.as_deref().unwrap_or_default()
                    ));
                match mget
                    .query_async::<Vec<Option<Vec<u8>>>>(&mut connection)
                    .await
                {
                    Ok(values) if values.first().is_some_and(Option::is_none) => {
                        next.run(request).await
                    }
                    Ok(_) => axum::http::StatusCode::UNAUTHORIZED.into_response(),
                    Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
                }
            }
        }));
    with_jwt(checked, keys)
}

async fn memory_store() -> Arc<dyn RevocationStore> {
    let store = Arc::new(MemoryStore::new());
    revoke_others(store.as_ref()).await;
    store
}

/// 10,000 revocations of other tokens: the checked token is looked up among them.
async fn revoke_others(store: &dyn RevocationStore) {
    let until = SystemClock.now().saturating_add(Duration::from_secs(3600));
    for n in 0..10_000 {
        let keys = TokenKeys::new(
            TokenId::from_jti(ISSUER, format!("user-{n}"), format!("revoked-{n}")).denylist_key(),
            UserId::new(ISSUER, format!("user-{n}")).key(),
            None,
        );
        store.insert_token(&keys, until).await.expect("insert");
    }
}

fn layered(keys: &Keys, store: Arc<dyn RevocationStore>, cache: bool) -> Router {
    let mut builder = RevocationLayer::verifying(
        Revocations::new(store, Policy::new(Duration::from_secs(3600))),
        DecodingKeys::new(keys.decoding.clone()),
        &[keys.alg],
    )
    .issuers([ISSUER]);
    if cache {
        builder = builder.cache_verified_tokens(100_000);
    }
    Router::new()
        .route("/me", get(me))
        .layer(builder.build().expect("builds"))
}

struct Config {
    name: String,
    alg: Option<Algorithm>,
    addr: SocketAddr,
    token: Option<String>,
    /// A wrk script sending many tokens in turn (LOAD_TOKENS > 1), instead of `token`.
    script: Option<PathBuf>,
}

#[derive(Clone, Copy, Default)]
struct Sample {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

fn run_wrk(config: &Config, seconds: u64, connections: u64) -> Sample {
    let mut command = Command::new("wrk");
    command.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(script) = &config.script {
        command.arg("-s").arg(script);
    } else if let Some(token) = &config.token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    command.arg(format!("http://{}/me", config.addr));
    let output = command.output().expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "{}: the server refused requests:\n{text}",
        config.name
    );
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find(|line| line.starts_with(prefix))?
            .split_whitespace()
            .nth(1)
    };
    Sample {
        rps: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50_us: field("50%").map(micros).unwrap_or(f64::NAN),
        p99_us: field("99%").map(micros).unwrap_or(f64::NAN),
    }
}

/// wrk's durations: `812.00us`, `1.23ms`, `2.01s`.
fn micros(text: &str) -> f64 {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => number,
        "ms" => number * 1_000.0,
        "s" => number * 1_000_000.0,
        _ => f64::NAN,
    }
}

/// A configuration's ratio to its baseline: the median of the per-round ratios, then the first
/// and third quartiles.
type Ratio = (f64, f64, f64);

fn median(values: Vec<f64>) -> f64 {
    quantile(values, 0.5)
}

/// The value below which a fraction `q` of `values` lie (nearest rank).
fn quantile(mut values: Vec<f64>, q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() - 1) as f64 * q).round() as usize;
    values[rank]
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("the load bench needs wrk: apt-get install wrk (Debian/Ubuntu)");
        std::process::exit(1);
    }
    let seconds = env_number("LOAD_SECONDS", 4);
    let rounds = env_number("LOAD_ROUNDS", 5) as usize;
    let connections = env_number("LOAD_CONNECTIONS", 32);
    // LOAD_TOKENS=<n>: wrk sends n distinct tokens in turn (a Lua script) instead of one.
    let token_count = env_number("LOAD_TOKENS", 1).max(1);

    // Cores: the servers' worker gets one to itself; this thread, and so the processes it
    // starts (wrk, redis-server), the other. Left to the scheduler, they wander and take
    // turns on the server's core, and the ratios move by more than the layer costs.
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let pin = std::env::var("LOAD_PIN").map_or(true, |v| v != "0") && cores.len() >= 2;
    let (server_core, load_core) = if pin {
        (Some(cores[0]), Some(cores[1]))
    } else {
        (None, None)
    };
    if let Some(core) = load_core {
        assert!(
            core_affinity::set_for_current(core),
            "pins the bench's thread"
        );
        eprintln!(
            "server worker on core {}, wrk and redis-server on core {} (LOAD_PIN=0: unpinned)",
            cores[0].id, core.id
        );
    }
    let redis = RedisServer::start();
    // The servers: one runtime, one worker thread, every configuration on its own port.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(move || {
            if let Some(core) = server_core {
                core_affinity::set_for_current(core);
            }
        })
        .enable_all()
        .build()
        .expect("runtime");
    let configs: Vec<Config> = server.block_on(async {
        let mut configs = Vec::new();
        let mut serve = |name: String,
                         alg: Option<Algorithm>,
                         token: Option<String>,
                         script: Option<PathBuf>,
                         app: Router| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
            listener.set_nonblocking(true).expect("nonblocking");
            let addr = listener.local_addr().expect("addr");
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            tokio::spawn(async move { axum::serve(listener, app).await });
            configs.push(Config {
                name,
                alg,
                addr,
                token,
                script,
            });
        };
        serve(
            "no auth".into(),
            None,
            None,
            None,
            Router::new().route("/me", get(me)),
        );
        for alg in [Algorithm::HS256, Algorithm::RS256] {
            let keys = keys(alg);
            let tokens: Vec<String> = (0..token_count).map(|n| token(&keys, n)).collect();
            let script = (token_count > 1).then(|| token_script(alg, &tokens));
            let token = Some(tokens[0].clone());
            let redis_store = RedisStore::connect(&redis.url()).await.expect("redis");
            revoke_others(&redis_store).await;
            serve(
                format!("{alg:?} jwt only"),
                Some(alg),
                token.clone(),
                script.clone(),
                jwt_only(&keys),
            );
            // The Redis floors, for HS256 only: next to RS256's verification a round trip is
            // small, and the default run stays shorter.
            if alg == Algorithm::HS256 {
                serve(
                    format!("{alg:?} jwt + redis check, no layer"),
                    Some(alg),
                    token.clone(),
                    script.clone(),
                    jwt_then_store(&keys, Arc::new(redis_store.clone())),
                );
                let raw = redis::Client::open(redis.url())
                    .expect("redis url")
                    .get_multiplexed_async_connection()
                    .await
                    .expect("redis");
                serve(
                    format!("{alg:?} jwt + raw redis-rs MGET, no layer"),
                    Some(alg),
                    token.clone(),
                    script.clone(),
                    jwt_then_raw_mget(&keys, raw),
                );
            }
            serve(
                format!("{alg:?} layer + memory"),
                Some(alg),
                token.clone(),
                script.clone(),
                layered(&keys, memory_store().await, false),
            );
            serve(
                format!("{alg:?} layer + redis"),
                Some(alg),
                token.clone(),
                script.clone(),
                layered(&keys, Arc::new(redis_store), false),
            );
            let replicated = RedisStoreConfig::from_url(redis.url())
                .with_local_replica(ReplicaConfig::default())
                .build()
                .await
                .expect("redis with a local replica");
            assert_eq!(
                replicated.replica_status().map(|status| status.fresh),
                Some(true),
                "the replica has its first copy"
            );
            serve(
                format!("{alg:?} layer + redis replica"),
                Some(alg),
                token.clone(),
                script.clone(),
                layered(&keys, Arc::new(replicated), false),
            );
            if alg == Algorithm::RS256 {
                serve(
                    format!("{alg:?} layer + memory + cache"),
                    Some(alg),
                    token.clone(),
                    script.clone(),
                    layered(&keys, memory_store().await, true),
                );
            }
        }
        configs
    });

    // LOAD_ONLY=<text>[,<text>…]: run only the configurations whose name contains one of them
    // (an empty part, as after a trailing comma, names none: before, it matched every one).
    let only = std::env::var("LOAD_ONLY").unwrap_or_default();
    let parts: Vec<&str> = only
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect();
    let configs: Vec<Config> = configs
        .into_iter()
        .filter(|config| parts.is_empty() || parts.iter().any(|part| config.name.contains(part)))
        .collect();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); configs.len()];
    for round in 0..rounds {
        // Every other round in reverse order, so that drift within a round favours no one.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..configs.len()).collect()
        } else {
            (0..configs.len()).rev().collect()
        };
        for index in order {
            let config = &configs[index];
            let sample = run_wrk(config, seconds, connections);
            eprintln!(
                "round {}: {:<32} {:>10.0} req/s",
                round + 1,
                config.name,
                sample.rps
            );
            samples[index].push(sample);
        }
    }

    // The machine's speed drifts between rounds (a shared VM): each configuration's ratio is
    // taken to the baseline of the SAME round, and the median of those ratios is reported.
    let baseline_index = |alg: Option<Algorithm>| {
        configs
            .iter()
            .position(|config| config.alg == alg && config.name.ends_with("jwt only"))
    };
    let results: Vec<(String, Option<Algorithm>, Sample, Option<Ratio>)> = configs
        .iter()
        .zip(&samples)
        .map(|(config, own)| {
            let sample = Sample {
                rps: median(own.iter().map(|s| s.rps).collect()),
                p50_us: median(own.iter().map(|s| s.p50_us).collect()),
                p99_us: median(own.iter().map(|s| s.p99_us).collect()),
            };
            // The median of the per-round ratios, and their middle half (the noise).
            let ratio = baseline_index(config.alg).map(|base| {
                let ratios: Vec<f64> = own
                    .iter()
                    .zip(&samples[base])
                    .map(|(mine, theirs)| mine.rps / theirs.rps)
                    .collect();
                (
                    median(ratios.clone()),
                    quantile(ratios.clone(), 0.25),
                    quantile(ratios, 0.75),
                )
            });
            (config.name.clone(), config.alg, sample, ratio)
        })
        .collect();
    println!(
        "\n{connections} connections, {rounds} rounds x {seconds} s, medians; ratios are medians of \
         per-round ratios to the same round's jwt only; server: 1 Tokio worker; load: wrk -t1; \
         {token_count} distinct token(s) per algorithm; cores {}\n",
        if pin { "pinned" } else { "unpinned" }
    );
    println!("| configuration | requests/s | p50 | p99 | × jwt only | middle half of the rounds |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, _, sample, ratio) in &results {
        let (ratio, spread) = ratio
            .map_or(("—".to_owned(), "—".to_owned()), |(m, low, high)| {
                (format!("{m:.2}"), format!("{low:.2}–{high:.2}"))
            });
        println!(
            "| {name} | {:.0} | {:.0} µs | {:.0} µs | {ratio} | {spread} |",
            sample.rps, sample.p50_us, sample.p99_us
        );
    }
    let results: Vec<(String, Option<Algorithm>, Sample)> = results
        .into_iter()
        .map(|(name, alg, sample, _)| (name, alg, sample))
        .collect();
    let chart = chart(&results);
    println!("\nchart: {}", chart.display());
    drop(redis);
}

/// A bar chart of requests per second per configuration.
fn chart(results: &[(String, Option<Algorithm>, Sample)]) -> PathBuf {
    use plotters::prelude::*;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/load-bench");
    std::fs::create_dir_all(&dir).expect("the chart's directory");
    let path = dir.join("throughput.svg");
    let top = results.iter().map(|(_, _, s)| s.rps).fold(0.0, f64::max) * 1.15;
    let file = path.clone();
    let root = SVGBackend::new(&file, (960, 540)).into_drawing_area();
    root.fill(&WHITE).expect("draws");
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "jwt-revoke: requests per second (wrk, loopback, 1 server worker)",
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(260)
        .build_cartesian_2d(0.0..top, (0..results.len()).into_segmented())
        .expect("a chart");
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(results.len())
        .y_label_formatter(&|segment| match segment {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => results
                .get(*i)
                .map(|(name, _, _)| name.clone())
                .unwrap_or_default(),
            SegmentValue::Last => String::new(),
        })
        .x_label_formatter(&|rps| format!("{:.0}k", rps / 1_000.0))
        .x_desc("requests per second")
        .draw()
        .expect("draws");
    chart
        .draw_series(results.iter().enumerate().map(|(i, (_, alg, sample))| {
            let color = match alg {
                None => BLACK.mix(0.6),
                Some(Algorithm::HS256) => BLUE.mix(0.7),
                Some(_) => RED.mix(0.7),
            };
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (sample.rps, SegmentValue::Exact(i + 1)),
                ],
                color.filled(),
            );
            bar.set_margin(6, 6, 0, 0);
            bar
        }))
        .expect("draws");
    root.present().expect("writes the chart");
    path
}
