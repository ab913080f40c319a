//! Fixtures shared by the Redis store's tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use jwt_revoke_core::{Clock, SessionId, SystemClock, Timestamp, TokenId, TokenKeys, UserId};

pub const ISSUER: &str = "https://idp.example";

/// The keys of token `jti` of `user`, in session `sid` when given.
pub fn keys(user: &str, jti: &str, sid: Option<&str>) -> TokenKeys {
    TokenKeys::new(
        TokenId::from_jti(ISSUER, user, jti).denylist_key(),
        UserId::new(ISSUER, user).key(),
        sid.map(|sid| SessionId::new(ISSUER, sid).key()),
    )
}

/// `duration` from now by the system clock, which Redis TTLs follow.
pub fn from_now(duration: Duration) -> Timestamp {
    SystemClock.now().saturating_add(duration)
}
