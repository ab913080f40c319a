//! Direct access to Redis: what every call of a store needs (the connection, the key layout,
//! the per-call time limit, the clock of TTLs, the calls in flight) and the data-loss markers
//! read and written through it.
//!
//! A [`RedisStore`](crate::RedisStore) is a `Direct` plus what only checks need (the batcher,
//! the local replica, the background task); the local replica reads Redis through a `Direct`
//! of its store, sharing its markers (a loss the replica notices is the store's), never
//! through a second store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use jwt_revoke_core::{Clock, StoreError};
use redis::{FromRedisValue, RedisError, Value};

use crate::connection::{Connection, Handle};
use crate::data_loss::{Health, Seen, UnreadableMarker, Verdict, Watch, new_epoch};
use crate::error::store_error;
use crate::in_flight::InFlight;
use crate::keys::{KeyPrefix, tag_in};
use crate::scripts::{CREATE_MARKER, DECLARE_LOSS};

/// Redis, as every call of one store reaches it. Cloning is cheap: clones share the
/// connection, the calls in flight and the markers.
#[derive(Clone)]
pub(crate) struct Direct {
    pub(crate) connection: Connection,
    pub(crate) prefix: KeyPrefix,
    pub(crate) timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    /// The calls in flight, shared by clones.
    pub(crate) in_flight: Arc<InFlight>,
    /// What the store knows of data losses and of the eviction policy, shared by clones.
    pub(crate) health: Arc<Health>,
}

impl Direct {
    pub(crate) fn is_cluster(&self) -> bool {
        self.connection.is_cluster()
    }

    /// A connection for a call of its own.
    pub(crate) async fn handle(&self) -> Result<Handle, StoreError> {
        self.connection.handle().await
    }

    /// Runs one call within the time limit.
    ///
    /// A plain function around `timeout`, not an `async fn` taking the call: that would store
    /// the call's future twice in every check's future.
    pub(crate) fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> impl Future<Output = Result<T, StoreError>> {
        let limit = self.timeout;
        tokio::time::timeout(limit, call)
            .map(move |outcome| outcome.unwrap_or(Err(StoreError::Timeout(limit))))
    }

    pub(crate) fn fail(&self, err: RedisError) -> StoreError {
        self.connection.report(&err);
        store_error(err)
    }

    /// Where this store's writes are announced: nowhere on a cluster, where no replica
    /// listens (a cluster-wide `PUBLISH` per revocation would buy nothing).
    pub(crate) fn channel(&self) -> Channel {
        if self.connection.is_cluster() {
            Channel::None
        } else {
            Channel::Prefix(self.prefix.clone())
        }
    }

    /// The single server's marker (placed on first use; after that, a lookup).
    pub(crate) fn single_watch(&self) -> &Watch {
        let watches = match self.health.watches() {
            Some(watches) => watches,
            None => self.health.place(vec![self.prefix.marker_key("0")]),
        };
        // A single server's markers are placed here only, always one.
        watches
            .first()
            .expect("a single server's store places exactly one marker")
    }

    /// Places the markers: one on a single server; on a cluster, one in each slot range of
    /// `CLUSTER SLOTS`. Once per store.
    pub(crate) async fn place_markers(&self) -> Result<(), StoreError> {
        if self.health.watches().is_some() {
            return Ok(());
        }
        if !self.is_cluster() {
            self.single_watch();
            return Ok(());
        }
        let slots: Value = self
            .bounded(async {
                let mut handle = self.connection.handle().await?;
                redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async(&mut handle)
                    .await
                    .map_err(|err| self.fail(err))
            })
            .await?;
        let mut ranges = slot_ranges(&slots);
        ranges.sort_unstable();
        ranges.dedup();
        let keys: Vec<String> = ranges
            .into_iter()
            .filter_map(|(start, end)| tag_in(start, end))
            .map(|tag| self.prefix.marker_key(&tag))
            .collect();
        if keys.is_empty() {
            return Err(StoreError::backend(NoSlots));
        }
        self.health.place(keys);
        Ok(())
    }

    /// Reads every marker now and acts on what it finds: at build, by the replica, and by a
    /// cluster's background task.
    pub(crate) async fn read_markers(&self) -> Result<(), StoreError> {
        self.place_markers().await?;
        let Some(watches) = self.health.watches() else {
            return Ok(());
        };
        let reads = watches.iter().map(|watch| async move {
            let before = watch.seen();
            let value: Option<Vec<u8>> = self
                .bounded(async {
                    let mut handle = self.connection.handle().await?;
                    redis::cmd("GET")
                        .arg(watch.key())
                        .query_async(&mut handle)
                        .await
                        .map_err(|err| self.fail(err))
                })
                .await?;
            self.settle(watch, value, Some(before)).await
        });
        let outcomes = futures_util::future::join_all(reads).await;
        outcomes.into_iter().collect()
    }

    /// A marker's new value announced on the change channel (to the replica): learnt, never
    /// judged as a rollback (its order against the store's reads is unknown).
    pub(crate) fn learn_marker(&self, marker: &[u8]) -> Result<(), StoreError> {
        match self.health.observe(self.single_watch(), Some(marker), None) {
            Verdict::Unreadable(bytes) => Err(StoreError::backend(UnreadableMarker {
                key: self.single_watch().key().to_owned(),
                value: String::from_utf8_lossy(&bytes).into_owned(),
            })),
            // The message says a loss was recorded or cleared: nothing to write.
            Verdict::Known | Verdict::Create | Verdict::Declare(_) => Ok(()),
        }
    }

    /// Acts on a marker as read (`before`: what the store had seen before sending the read):
    /// creates it at a first start, records a loss, learns one recorded elsewhere. Costs a
    /// round trip only when something is to be written.
    pub(crate) async fn settle(
        &self,
        watch: &Watch,
        mut value: Option<Vec<u8>>,
        before: Option<Seen>,
    ) -> Result<(), StoreError> {
        for _ in 0..4 {
            match self.health.observe(watch, value.as_deref(), before) {
                Verdict::Known => return Ok(()),
                Verdict::Unreadable(bytes) => {
                    return Err(StoreError::backend(UnreadableMarker {
                        key: watch.key().to_owned(),
                        value: String::from_utf8_lossy(&bytes).into_owned(),
                    }));
                }
                Verdict::Create => {
                    let (created, marker): (i64, Vec<u8>) = self
                        .marker_script(|handle| {
                            let mut call = CREATE_MARKER.key(watch.key());
                            call.arg(new_epoch());
                            let _ = handle;
                            call
                        })
                        .await?;
                    if created == 1 {
                        tracing::warn!(
                            marker = watch.key(),
                            "created the data-loss marker: this is the first start of this deployment, or Redis \
                             lost its data while no store was running (the two cannot be told apart)"
                        );
                    }
                    value = Some(marker);
                }
                Verdict::Declare(expected) => {
                    let now = self.clock.now();
                    let (written, marker): (i64, Vec<u8>) = self
                        .marker_script(|handle| {
                            let mut call = DECLARE_LOSS.key(watch.key());
                            call.arg(expected.as_deref().unwrap_or_default())
                                .arg(now.as_micros())
                                .arg(new_epoch())
                                .arg(channel_of(&self.channel(), handle));
                            call
                        })
                        .await?;
                    if written == 1 {
                        tracing::error!(
                            marker = watch.key(),
                            noticed_at = %now,
                            "this store noticed that Redis lost acknowledged revocations and recorded the loss \
                             for every store"
                        );
                    }
                    value = non_empty(marker);
                }
            }
        }
        Err(StoreError::backend(MarkerUnsettled))
    }

    /// Runs a marker script within the time limit.
    pub(crate) async fn marker_script<T: FromRedisValue>(
        &self,
        invocation: impl FnOnce(&Handle) -> redis::ScriptInvocation<'static>,
    ) -> Result<T, StoreError> {
        self.bounded(async {
            let mut handle = self.connection.handle().await?;
            let call = invocation(&handle);
            call.invoke_async(&mut handle)
                .await
                .map_err(|err| self.fail(err))
        })
        .await
    }

    /// The background task's round on a cluster: every marker read (or tried).
    pub(crate) async fn read_cluster_markers(&self) {
        if let Err(err) = self.read_markers().await {
            tracing::debug!(%err, "a data-loss marker could not be read this round");
        }
        // Tried every marker: a node that did not answer fails its checks too.
        if self.health.watches().is_some() {
            self.health.round_done();
        }
    }

    /// The background task's policy check.
    pub(crate) async fn recheck_policy(&self) {
        match self.eviction_policies().await {
            Ok(policies) => self
                .health
                .set_evicting(policies.into_iter().find(|policy| policy != "noeviction")),
            Err(err) => tracing::debug!(%err, "the eviction policy could not be read"),
        }
    }

    /// The servers' `maxmemory-policy` values (one per node on a cluster).
    ///
    /// Anything but `noeviction` lets Redis drop keys with a TTL (all of this store's) under
    /// memory pressure, and a dropped revocation is a resurrected token.
    /// [`RedisStoreConfig::build`](crate::RedisStoreConfig::build) refuses such a server
    /// unless told otherwise; call this yourself when you build a store from a pool or a
    /// connection.
    pub(crate) async fn eviction_policies(&self) -> Result<Vec<String>, StoreError> {
        self.bounded(async {
            let mut handle = self.connection.handle().await?;
            let info: Value = redis::cmd("INFO")
                .arg("memory")
                .query_async(&mut handle)
                .await
                .map_err(|err| self.fail(err))?;
            let mut texts = Vec::new();
            collect_text(&info, &mut texts);
            Ok(texts
                .iter()
                .flat_map(|text| text.lines())
                .filter_map(|line| line.strip_prefix("maxmemory_policy:"))
                .map(|policy| policy.trim().to_owned())
                .collect())
        })
        .await
    }
}

#[derive(Debug, thiserror::Error)]
#[error("CLUSTER SLOTS named no slot range to place the data-loss markers in")]
struct NoSlots;

/// The marker kept changing while the store acted on it.
#[derive(Debug, thiserror::Error)]
#[error("the data-loss marker kept changing; try again")]
struct MarkerUnsettled;

/// The `(start, end)` slot ranges of a `CLUSTER SLOTS` reply.
fn slot_ranges(reply: &Value) -> Vec<(u16, u16)> {
    let Value::Array(ranges) = reply else {
        return Vec::new();
    };
    ranges
        .iter()
        .filter_map(|range| match range {
            Value::Array(fields) => match (fields.first(), fields.get(1)) {
                (Some(Value::Int(start)), Some(Value::Int(end))) => {
                    Some((u16::try_from(*start).ok()?, u16::try_from(*end).ok()?))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A marker as a script returned it: `''` means absent.
pub(crate) fn non_empty(marker: Vec<u8>) -> Option<Vec<u8>> {
    (!marker.is_empty()).then_some(marker)
}

/// The change channel of the database `handle` is on, when `channel` says writes are
/// announced (see [`Direct::channel`]).
pub(crate) fn channel_of(channel: &Channel, handle: &Handle) -> String {
    match channel {
        Channel::None => String::new(),
        Channel::Prefix(prefix) => prefix.channel(redis::aio::ConnectionLike::get_db(handle)),
    }
}

/// Where a store announces its writes.
pub(crate) enum Channel {
    /// Nowhere (a cluster).
    None,
    /// On the prefix's channel of the connection's database.
    Prefix(KeyPrefix),
}

/// Every piece of text in a reply: `INFO` on a cluster answers a map of node to text.
fn collect_text(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::BulkString(bytes) => out.push(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(text) => out.push(text.clone()),
        Value::VerbatimString { text, .. } => out.push(text.clone()),
        Value::Array(items) | Value::Set(items) => {
            items.iter().for_each(|item| collect_text(item, out));
        }
        Value::Map(pairs) => pairs.iter().for_each(|(_, item)| collect_text(item, out)),
        _ => {}
    }
}
