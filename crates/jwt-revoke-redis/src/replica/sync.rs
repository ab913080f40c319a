//! The replica's task: a subscription, a complete copy, then every change and heartbeat
//! applied in order until something breaks; then again, from a new copy.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt as _;
use jwt_revoke_core::{StoreError, Timestamp};
use jwt_revoke_memory::MemoryStore;
use redis::{AsyncCommands as _, Msg};
use tokio::time::Instant;

use super::records::{Generation, apply_cutoff, apply_deletion, apply_token};
use super::wire::{self, Change, parse_change};
use super::{Observation, Shared};
use crate::direct::Direct;
use crate::keys::{KeyPrefix, Record};

/// Why a replica session ended.
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the subscription was closed")]
    Closed,
    #[error("no heartbeat came back for {0:?}")]
    Silent(Duration),
    #[error("unreadable change message {0:?}")]
    Unreadable(String),
    #[error("Redis lost acknowledged records: the copy is made anew")]
    DataLoss,
    #[error("a revocation this store wrote did not fit in the local replica")]
    Overflowed,
}

/// The replica's task: sessions, each from a new subscription and a new copy, until aborted.
pub(crate) async fn run(shared: Arc<Shared>, client: redis::Client, direct: Direct) {
    const FIRST_RETRY: Duration = Duration::from_millis(50);
    const LAST_RETRY: Duration = Duration::from_secs(5);
    let mut retry = FIRST_RETRY;
    loop {
        let started = shared.resyncs.load(Ordering::Relaxed);
        let end = session(&shared, &client, &direct).await;
        shared.lease.end();
        shared.observe(Observation::SessionEnded);
        // A session that got as far as a copy starts the back-off afresh.
        if shared.resyncs.load(Ordering::Relaxed) > started {
            retry = FIRST_RETRY;
        }
        if let SessionEnd::Store(_) | SessionEnd::Overflowed = end {
            tracing::error!(
                error = %end,
                capacity = shared.config.capacity,
                retry_in = ?retry,
                "the local replica cannot hold the store's records; checks go to Redis"
            );
        } else {
            tracing::warn!(
                error = %end,
                retry_in = ?retry,
                "the local replica stopped; checks go to Redis until it has a new copy"
            );
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// One subscription: copy, then apply changes and heartbeats until something breaks.
async fn session(shared: &Shared, client: &redis::Client, direct: &Direct) -> SessionEnd {
    match try_session(shared, client, direct).await {
        Ok(never) => match never {},
        Err(end) => end,
    }
}

async fn try_session(
    shared: &Shared,
    client: &redis::Client,
    direct: &Direct,
) -> Result<std::convert::Infallible, SessionEnd> {
    let limit = direct.timeout.max(Duration::from_secs(1));
    let mut connection = direct.handle().await?;
    let channel = direct
        .prefix
        .channel(redis::aio::ConnectionLike::get_db(&connection));
    let mut pubsub = bounded(limit, client.get_async_pubsub()).await??;
    bounded(limit, pubsub.subscribe(&channel)).await??;
    let mut messages = pubsub.into_on_message();
    shared.observe(Observation::CopyBegun);

    // The data-loss marker first: a copy of a server that lost its data must not be used
    // before the loss is known (and recorded for every store).
    bounded(limit, direct.read_markers()).await??;
    let cutoff_at_copy = direct.health.cutoff();

    // Everything under the prefix, into a new set of records. Messages published meanwhile
    // wait in the subscription's queue.
    let generation = Arc::new(Generation::new(&shared.config));
    let records = &generation.store;
    copy_all(&mut connection, &direct.prefix, records, limit).await?;
    shared.records.store(Arc::clone(&generation));
    shared.resyncs.fetch_add(1, Ordering::Relaxed);
    crate::observe::replica_resynced();

    let config = &shared.config;
    let silence_limit = config.max_staleness.saturating_mul(3);
    let mut ticker = tokio::time::interval(config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Heartbeats in flight: (number, sent at), oldest first.
    let mut in_flight: std::collections::VecDeque<(u64, Instant)> = Default::default();
    let mut last_back = Instant::now();
    loop {
        let send = tokio::select! {
            message = messages.next() => {
                let message = message.ok_or(SessionEnd::Closed)?;
                if let Some(number) = apply(records, direct, shared.nonce, &message)? {
                    while let Some(&(sent_number, sent)) = in_flight.front() {
                        if sent_number > number {
                            break;
                        }
                        in_flight.pop_front();
                        if sent_number == number {
                            shared.renew(number, sent);
                            last_back = Instant::now();
                        }
                    }
                }
                false
            }
            _ = ticker.tick() => true,
            () = shared.heartbeat_now.notified() => true,
        };
        if send {
            // A write of this store that did not fit (`Shared::overflowed`, which asks for
            // this turn at once): the copy is not used again, so a new one is made, which
            // fits once enough revocations have expired. Its own change message would end
            // the session too, but not if it never arrives.
            if generation.overflowed.load(Ordering::SeqCst) {
                return Err(SessionEnd::Overflowed);
            }
            if last_back.elapsed() > silence_limit {
                return Err(SessionEnd::Silent(silence_limit));
            }
            // A flush announces nothing on the channel: the marker, read with every
            // heartbeat, tells. After a loss the copy is made anew (the store-wide cut-off
            // covers what it held meanwhile).
            bounded(limit, direct.read_markers()).await??;
            if direct.health.cutoff() != cutoff_at_copy {
                return Err(SessionEnd::DataLoss);
            }
            let number = shared.lease.next_heartbeat();
            let sent = Instant::now();
            let text = wire::heartbeat(shared.nonce, number);
            bounded(limit, connection.publish::<_, _, ()>(&channel, text)).await??;
            in_flight.push_back((number, sent));
        }
    }
}

/// `future`, failing after `limit`.
async fn bounded<T>(
    limit: Duration,
    future: impl std::future::Future<Output = T>,
) -> Result<T, SessionEnd> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| SessionEnd::Timeout(limit))
}

/// Copies every record under `prefix` into `records`.
async fn copy_all(
    connection: &mut crate::connection::Handle,
    prefix: &KeyPrefix,
    records: &MemoryStore,
    limit: Duration,
) -> Result<(), SessionEnd> {
    let pattern = prefix.scan_pattern();
    let mut cursor: u64 = 0;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1_000);
        let (next, keys): (u64, Vec<Vec<u8>>) =
            bounded(limit, scan.query_async(&mut *connection)).await??;
        let parsed: Vec<(Record, &Vec<u8>)> = keys
            .iter()
            .filter_map(|key| prefix.parse(key).map(|record| (record, key)))
            .collect();
        if !parsed.is_empty() {
            let mut pipe = redis::pipe();
            for (_, key) in &parsed {
                pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
            }
            let values: Vec<(Option<i64>, i64)> =
                bounded(limit, pipe.query_async(&mut *connection)).await??;
            for ((record, _), (value, ttl)) in parsed.iter().zip(values) {
                // -2: gone since the scan (expired or deleted; a deletion's message follows).
                match (record, value) {
                    _ if ttl == -2 => {}
                    (Record::Token(token), _) => apply_token(records, *token, ttl)?,
                    (Record::Cutoff(key), Some(at)) => {
                        apply_cutoff(records, *key, Timestamp::from_micros(at), ttl)?;
                    }
                    (Record::Cutoff(_), None) => {}
                }
            }
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Applies one message of the change channel; the number of this replica's own heartbeat
/// when it is one.
///
/// A message that does not parse ends the session: it may have been a revocation, and only a
/// new copy is sure to hold it.
fn apply(
    records: &MemoryStore,
    direct: &Direct,
    nonce: u64,
    message: &Msg,
) -> Result<Option<u64>, SessionEnd> {
    let text = message.get_payload_bytes();
    match parse_change(&direct.prefix, text) {
        Some(Change::Marker(marker)) => direct.learn_marker(&marker)?,
        Some(Change::Token { token, ttl }) => apply_token(records, token, ttl)?,
        Some(Change::Cutoff { key, at, ttl }) => apply_cutoff(records, key, at, ttl)?,
        Some(Change::Deleted { token }) => apply_deletion(records, token),
        Some(Change::Heartbeat {
            nonce: from,
            number,
        }) => {
            return Ok((from == nonce).then_some(number));
        }
        None => {
            return Err(SessionEnd::Unreadable(
                String::from_utf8_lossy(text).into_owned(),
            ));
        }
    }
    Ok(None)
}
