//! The Lua scripts that make writes atomic and announce them.
//!
//! Each runs on the server in one step, so no other client can interleave between its read
//! and its write; in a cluster each touches one key, so it runs on that key's node.
//! redis-rs sends them with `EVALSHA` and loads them on `NOSCRIPT` (after a restart or on a
//! node that has not seen them), so the script text crosses the network only once per node.
//!
//! Each also publishes what it left behind on the store's change channel (its last argument;
//! empty: publish nothing), in the same atomic step as the write, so that a subscriber sees
//! the writes in the order Redis made them. Local replicas
//! ([`ReplicaConfig`](crate::ReplicaConfig)) are kept current by these messages; their
//! format, the Lua expressions that write them (spliced in here) and their parser are in
//! `replica/wire.rs`, with the full table.
//!
//! On one server each write also takes the store's data-loss marker as `KEYS[2]` and counts
//! itself in it (see `data_loss.rs`): the marker's write count moves with every acknowledged
//! write, in the same atomic step, so a server that comes back with fewer writes than a store
//! has seen has lost some. Each write returns `{its result, the marker after it}` (`''`: no
//! marker, or none given).

use std::sync::LazyLock;

use redis::Script;

use crate::replica::wire::{
    lua_cutoff_message, lua_deletion_message, lua_marker_message, lua_token_message,
};

/// The Lua function `count_write()` of the write scripts: counts the write in the data-loss
/// marker `KEYS[2]`, if given and present, and returns the marker (see `data_loss.rs`).
macro_rules! lua_count_write {
    () => {
        r"-- Counts this write in the data-loss marker KEYS[2], if given and present; returns the marker.
local function count_write()
  if not KEYS[2] then return '' end
  local marker = redis.call('GET', KEYS[2])
  if not marker then return '' end
  local epoch, writes, rest = string.match(marker, '^(%d+) (%d+) (.+)$')
  if not epoch then return marker end
  marker = epoch .. ' ' .. string.format('%d', tonumber(writes) + 1) .. ' ' .. rest
  redis.call('SET', KEYS[2], marker)
  return marker
end
"
    };
}

/// The Lua function `later(a, b)`: whether the decimal integer `a` is later than `b`, exactly
/// for every `i64` (compared as text, not as Lua's doubles).
macro_rules! lua_later {
    () => {
        r"local function later(a, b)
  if a == b then return false end
  local a_negative, b_negative = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if a_negative ~= b_negative then return b_negative end
  local larger
  if #a ~= #b then larger = #a > #b else larger = a > b end
  if a_negative then return not larger end
  return larger
end
"
    };
}

/// Writes a token record that lives at least `ARGV[1]` milliseconds from now.
///
/// A record that exists already keeps the later of its expiry and the new one; a record
/// found without a TTL (written by hand) gets one: no key of this store lives forever.
pub(crate) static INSERT_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"
-- KEYS[1]: a token record. ARGV[1]: how long it must live from now, in ms (> 0).
-- ARGV[2]: the change channel ('': do not announce).
",
        lua_count_write!(),
        r"if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
if ARGV[2] ~= '' then
  redis.call('PUBLISH', ARGV[2], ",
        lua_token_message!(),
        r")
end
return {1, count_write()}
",
    ))
});

/// Deletes a token record (an allowlist registration) and returns how many keys went.
pub(crate) static REMOVE_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"
-- KEYS[1]: a token record. ARGV[1]: the change channel ('': do not announce).
",
        lua_count_write!(),
        r"local removed = redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' then
  redis.call('PUBLISH', ARGV[1], ",
        lua_deletion_message!(),
        r")
end
return {removed, count_write()}
",
    ))
});

/// Raises a cut-off to `ARGV[1]` unless it holds a later one, keeps it alive at least
/// `ARGV[2]` milliseconds from now (0: write nothing), and returns the cut-off in force.
///
/// Instants are compared as decimal integers, not as Lua numbers (doubles), so the order is
/// exact for every `i64`.
pub(crate) static RAISE_CUTOFF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"
-- KEYS[1]: a cut-off record. ARGV[1]: the new cut-off, decimal microseconds since the epoch.
-- ARGV[2]: how long the record must live from now, in ms (0: nothing to write).
-- ARGV[3]: the change channel ('': do not announce).
",
        lua_count_write!(),
        lua_later!(),
        r"-- Announces the record as it now stands, if it stands at all.
local function announce(value)
  if ARGV[3] == '' then return end
  local left = redis.call('PTTL', KEYS[1])
  if left ~= -2 then
    redis.call('PUBLISH', ARGV[3], ",
        lua_cutoff_message!(),
        r")
  end
end
local current = redis.call('GET', KEYS[1])
local at, ttl = ARGV[1], tonumber(ARGV[2])
if current and not later(at, current) then
  if ttl > 0 and redis.call('PTTL', KEYS[1]) < ttl then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  announce(current)
  return {current, count_write()}
end
-- ARGV[1] is later than any live cut-off. A live record keeps the longer of its life and
-- ARGV[2]; with nothing live and nothing to keep (ARGV[2] = 0), nothing is written.
if current then
  if ttl > 0 and redis.call('PTTL', KEYS[1]) < ttl then
    redis.call('SET', KEYS[1], at, 'PX', ARGV[2])
  else
    redis.call('SET', KEYS[1], at, 'KEEPTTL')
  end
elseif ttl > 0 then
  redis.call('SET', KEYS[1], at, 'PX', ARGV[2])
end
announce(at)
return {at, count_write()}
",
    ))
});

/// Reads the data-loss marker `KEYS[1]`, creating it as `ARGV[1] 0 ok` when it is absent (the
/// first start of a deployment, as far as anyone can tell); returns `{1 if created, marker}`.
pub(crate) static CREATE_MARKER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local marker = redis.call('GET', KEYS[1])
if marker then return {0, marker} end
marker = ARGV[1] .. ' 0 ok'
redis.call('SET', KEYS[1], marker)
return {1, marker}
",
    )
});

/// Records a data loss in the marker `KEYS[1]` if it still holds `ARGV[1]` (`''`: absent), so
/// that of many stores noticing one loss at once, one writes and all agree on its instant.
/// The marker becomes `ARGV[3] 0 lost <instant>`, the instant being `ARGV[2]` (the noticing
/// store's clock, decimal µs) or a later one the marker held already; announced on `ARGV[4]`.
/// Returns `{1 if written, the marker now}`.
pub(crate) static DECLARE_LOSS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"
",
        lua_later!(),
        r"local current = redis.call('GET', KEYS[1])
if not ((current == false and ARGV[1] == '') or current == ARGV[1]) then
  return {0, current or ''}
end
local at = ARGV[2]
if current then
  local before = string.match(current, '^%d+ %d+ %a+ (%-?%d+)$')
  if before and later(before, at) then at = before end
end
local marker = ARGV[3] .. ' 0 lost ' .. at
redis.call('SET', KEYS[1], marker)
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ",
        lua_marker_message!(),
        r") end
return {1, marker}
",
    ))
});

/// Clears a recorded loss in the marker `KEYS[1]`: `… lost <instant>` becomes
/// `… cleared <instant>` (the cut-off stays); announced on `ARGV[1]`. Returns the marker now
/// (`''`: absent).
pub(crate) static CLEAR_LOSS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        r"
local marker = redis.call('GET', KEYS[1])
if not marker then return '' end
local head, at = string.match(marker, '^(%d+ %d+) lost (%-?%d+)$')
if not head then return marker end
marker = head .. ' cleared ' .. at
redis.call('SET', KEYS[1], marker)
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ",
        lua_marker_message!(),
        r") end
return marker
",
    ))
});
