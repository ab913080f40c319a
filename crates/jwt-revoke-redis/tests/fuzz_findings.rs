//! Inputs the fuzz targets found (FUZZING.md), each kept as a regular test that failed
//! before its fix.

use jwt_revoke_redis::RedisStoreConfig;
use jwt_revoke_redis::redis::IntoConnectionInfo as _;

/// Found by the `redis_config` fuzz target: the URL parser redis-rs uses drops tabs and
/// newlines anywhere in a URL, so `redis:\t//user:secret@host` is a URL with a password
/// that a redaction looking for the text `://` missed.
#[test]
fn credentials_are_redacted_where_redis_finds_them_not_where_the_text_shows_them() {
    for url in [
        "redis:\t//default:longpassword@localhost:6379",
        "redis:/\n/default:longpassword@localhost:6379",
        "redis://default:long\tpassword@localhost:6379",
        "redis://default:longpassword@local@host:6379",
        "unix:///tmp/redis.sock?pass=longpassword",
        "redis+unix:///tmp/redis.sock?PASS=x&pass=longpassword",
    ] {
        let info = url.into_connection_info().expect(url);
        let password = info.redis_settings().password().expect(url);
        assert!(
            password.starts_with("longpassword"),
            "{url:?}: {password:?}"
        );
        let shown = format!("{:?}", RedisStoreConfig::from_url(url));
        assert!(!shown.contains("longpassword"), "{url:?} shows {shown}");
        assert!(!shown.contains("long\tpassword"), "{url:?} shows {shown}");
    }
}
