//! Sends N checks through a `RedisStore` (over a redis-server started here), 16 at a time so
//! that each 16 go as one batch, for counting the store's own instructions per check with
//! callgrind, which gives the same count on every run whatever else the machine does (the
//! load bench's throughput moves by more than a few hundred instructions):
//!
//! ```text
//! cargo build --release -p jwt-revoke-redis --example per_check
//! for n in 0 16000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/per_check $n 2>&1 | grep Collected
//! done
//! ```
//!
//! (count at 16,000 − count at 0) / 16,000 is the instructions of one check in this process:
//! the store, redis-rs and Tokio, not the kernel's work nor redis-server's (another process,
//! which valgrind does not follow).

use futures_util::future::join_all;
use jwt_revoke_core::{RevocationStore, SessionId, TokenId, TokenKeys, UserId};
use jwt_revoke_redis::RedisStore;
use jwt_revoke_redis::test_support::RedisServer;

const ISSUER: &str = "https://idp.example";
/// Checks sent together: one batch.
const AT_ONCE: usize = 16;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("usage: per_check <checks, a multiple of 16>");
    let keys: Vec<TokenKeys> = (0..1_000)
        .map(|i| {
            let user = format!("user-{}", i % 100);
            TokenKeys::new(
                TokenId::from_jti(ISSUER, &user, format!("t-{i}")).denylist_key(),
                UserId::new(ISSUER, &user).key(),
                Some(SessionId::new(ISSUER, format!("s-{i}")).key()),
            )
        })
        .collect();
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = RedisStore::connect(&server.url()).await.expect("connects");
        // The first check places the data-loss marker: counted at n = 0 too.
        assert!(!store.check(&keys[0]).await.expect("check").token_listed);
        for round in 0..n / AT_ONCE {
            let start = round * AT_ONCE % keys.len();
            let batch = keys.iter().cycle().skip(start).take(AT_ONCE);
            for reply in join_all(batch.map(|keys| store.check(keys))).await {
                assert!(!reply.expect("check").token_listed);
            }
        }
    });
}
