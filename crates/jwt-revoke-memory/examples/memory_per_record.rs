//! Process memory per record: inserts one million token records (denylist keys of distinct
//! `jti`s, expiring in an hour) into an unbounded [`MemoryStore`], and the same keys into a
//! plain `HashMap<u128, i64>` for comparison, and prints the growth of the resident set
//! (`VmRSS` in `/proc/self/status`) divided by the number of records.
//!
//! Each measurement runs in a child process of its own (this program started again with
//! `--child`), so that memory one of them freed cannot flatter the other. Linux only.
//!
//! ```text
//! cargo run --release -p jwt-revoke-memory --example memory_per_record [RECORDS]
//! ```
//!
//! `RECORDS` defaults to 1,000,000. The figures are in the crate's `MEASUREMENTS.md`.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use jwt_revoke_core::{RevocationStore, SessionId, TokenId, TokenKeys, UserId};
use jwt_revoke_memory::MemoryStore;

const ISSUER: &str = "https://idp.example";
const DEFAULT_RECORDS: usize = 1_000_000;

/// What a child measures.
#[derive(Clone, Copy)]
enum Subject {
    Store,
    HashMap,
}

impl Subject {
    fn name(self) -> &'static str {
        match self {
            Subject::Store => "store",
            Subject::HashMap => "hashmap",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "store" => Some(Subject::Store),
            "hashmap" => Some(Subject::HashMap),
            _ => None,
        }
    }
}

/// The resident set of this process, in bytes, from `/proc/self/status`.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux: /proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("VmRSS is a number of kB");
    kib * 1024
}

/// The keys of token `n`. Only the token key is written; the user and session keys are what
/// a check would carry alongside it.
fn keys(n: usize) -> TokenKeys {
    TokenKeys::new(
        TokenId::from_jti(ISSUER, "alice", format!("token-{n}")).denylist_key(),
        UserId::new(ISSUER, "alice").key(),
        Some(SessionId::new(ISSUER, "session").key()),
    )
}

/// Fills one subject with `records` token records and prints one line of results.
fn measure(subject: Subject, records: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let before = rss_bytes();
    let held = match subject {
        Subject::Store => {
            let store = MemoryStore::builder().unbounded().build();
            let expires_at = store
                .clock()
                .now()
                .saturating_add(Duration::from_secs(3_600));
            runtime.block_on(async {
                for n in 0..records {
                    store
                        .insert_token(&keys(n), expires_at)
                        .await
                        .expect("an unbounded store has room");
                }
            });
            assert_eq!(store.len(), records);
            let after = rss_bytes();
            drop(store);
            after
        }
        Subject::HashMap => {
            let expires_at = 0x7fff_0000_0000_i64;
            let mut map: HashMap<u128, i64> = HashMap::new();
            for n in 0..records {
                map.insert(prefix(&keys(n).token), expires_at);
            }
            assert_eq!(map.len(), records);
            let after = rss_bytes();
            drop(map);
            after
        }
    };
    let grown = held.saturating_sub(before);
    // Precision loss is irrelevant at these magnitudes.
    let per_record = grown as f64 / records as f64;
    println!(
        "{:<8} {records:>10} records  RSS {:>8.1} MiB -> {:>8.1} MiB  (+{:>8.1} MiB)  {per_record:>6.1} bytes/record",
        subject.name(),
        before as f64 / 1_048_576.0,
        held as f64 / 1_048_576.0,
        grown as f64 / 1_048_576.0,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, subject, records] = args.as_slice()
        && flag == "--child"
    {
        let subject = Subject::parse(subject).expect("--child store|hashmap RECORDS");
        let records = records.parse().expect("RECORDS is a number");
        measure(subject, records);
        return;
    }
    let records = match args.first() {
        Some(records) => records.parse().expect("usage: memory_per_record [RECORDS]"),
        None => DEFAULT_RECORDS,
    };
    println!(
        "token records (denylist keys, distinct jti, expiring in an hour), VmRSS growth per record:"
    );
    let this = std::env::current_exe().expect("the path of this program");
    for subject in [Subject::Store, Subject::HashMap] {
        let status = Command::new(&this)
            .args(["--child", subject.name(), &records.to_string()])
            .status()
            .expect("start a child measurement");
        assert!(
            status.success(),
            "the {} measurement failed",
            subject.name()
        );
    }
    println!("store: MemoryStore::builder().unbounded().build() (64 shards, hashbrown + foldhash)");
    println!("hashmap: one std::collections::HashMap<u128, i64> (SipHash), no lock");
}

/// The first 16 bytes of a key as an integer, as the store keeps it.
fn prefix(key: &jwt_revoke_core::RecordKey) -> u128 {
    let mut half = [0u8; 16];
    half.copy_from_slice(&key.as_bytes()[..16]);
    u128::from_le_bytes(half)
}
