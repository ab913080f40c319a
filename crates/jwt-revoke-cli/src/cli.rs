//! The command line: what each command and option means.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  done (check: the token is not refused)
  1  an operation failed or the store is unreachable (bulk: some subjects not revoked)
  2  bad usage or bad input: an option, a token that cannot be read, a file, a store URL
  3  check: the token is refused (revoked, or its claims are refused)

With --json, each command prints one JSON object on stdout; an error is one JSON object
with an `error` member on stderr. Tokens and Redis passwords are never printed.";

/// Server-side JWT revocation, by hand: revoke a leaked token, a user, a session, every token
/// of a client app; check whether a token is refused and why; report a store's state.
///
/// The store is the services' own: `--store redis://…` (or REVOCATION_STORE), or the services'
/// settings file (`--config`, whose [store] and [policy] are used). Without a settings file,
/// give the services' longest token lifetime (`--max-token-lifetime`): a user's cut-off is
/// kept that long, and a shorter value would let revoked tokens work again before they expire.
#[derive(Debug, Parser)]
#[command(name = "jwt-revoke", version, after_help = EXIT_CODES, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the store is and what policy the services have.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The store: `redis://[user:password@]host[:port][/db]`, `rediss://…` (feature `tls`), a comma-separated
    /// list of Redis Cluster nodes, or `memory` (check and status only). Overrides the
    /// settings file's [store].
    #[arg(long, env = "REVOCATION_STORE", global = true, hide_env_values = true)]
    pub(crate) store: Option<String>,
    /// The services' settings file (TOML, or JSON when it ends in `.json`): its [store] and
    /// [policy] are used; its issuers and keys are not read.
    #[arg(long, env = "JWT_REVOKE_CONFIG", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// The Redis key prefix of the services (default `jwt-revoke:`), without a settings file.
    #[arg(long, global = true)]
    pub(crate) key_prefix: Option<String>,
    #[command(flatten)]
    pub(crate) policy: PolicyArgs,
    /// Print one JSON object per command, for scripts.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// The policy, when there is no settings file: the services' own values.
#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    /// The longest token lifetime the services accept (`15m`, `24h`, `900s`). Required
    /// without --config: cut-offs are kept this long plus the leeway.
    #[arg(long, env = "REVOCATION_MAX_TOKEN_LIFETIME", global = true)]
    pub(crate) max_token_lifetime: Option<String>,
    /// The services' leeway for `exp` and `nbf` (default 60s; `0` allowed).
    #[arg(long, global = true)]
    pub(crate) leeway: Option<String>,
    /// How far ahead of the clock an `iat` may be (default 2s; `0` allowed).
    #[arg(long, global = true)]
    pub(crate) issued_at_skew: Option<String>,
    /// `denylist` (default) or `allowlist`.
    #[arg(long, value_enum, global = true)]
    pub(crate) mode: Option<Mode>,
    /// Claims the services give cut-offs (`azp`, a tenant claim); repeat for each.
    #[arg(long = "claim-cutoff", global = true)]
    pub(crate) claim_cutoffs: Vec<String>,
    /// Tokens without `jti` are refused by the services (`require_jti`).
    #[arg(long, global = true)]
    pub(crate) require_jti: bool,
    /// The services accept tokens without `exp`, counting them as living this long.
    #[arg(long, global = true)]
    pub(crate) tokens_without_exp: Option<String>,
}

impl PolicyArgs {
    /// Whether any policy option was given (they contradict a settings file).
    pub(crate) fn any(&self) -> bool {
        self.max_token_lifetime.is_some()
            || self.leeway.is_some()
            || self.issued_at_skew.is_some()
            || self.mode.is_some()
            || !self.claim_cutoffs.is_empty()
            || self.require_jti
            || self.tokens_without_exp.is_some()
    }
}

/// The list mode.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Mode {
    /// Valid unless revoked.
    Denylist,
    /// Valid only while registered.
    Allowlist,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Revoke a token, a user, a session, a claim value, or many users.
    #[command(subcommand)]
    Revoke(Revoke),
    /// Whether the store refuses a token, and why: which record, which cut-off, until when.
    Check(CheckArgs),
    /// The store: reachable, its kind, its records, its data-loss marker, its replicas.
    Status,
}

/// What to revoke.
#[derive(Debug, Subcommand)]
pub(crate) enum Revoke {
    /// A token, pasted as it is: its iss, sub, jti (or payload digest) and exp are read from
    /// it without checking its signature (a forged token can only revoke itself), unless
    /// --verify-with is given.
    Token(TokenArgs),
    /// A token known by its jti: refused until --expires-at (or --for; default: as long as
    /// any token the policy accepts now lives).
    Jti(JtiArgs),
    /// Every token of a user issued up to now ("log out everywhere"): one cut-off.
    User(UserArgs),
    /// Every token of a session (`sid`) issued up to now.
    Session(SessionArgs),
    /// Every token carrying a claim value (`--claim azp --value mobile-app`) issued up to now;
    /// the policy must give the claim cut-offs (--claim-cutoff, or the settings file).
    Claim(ClaimArgs),
    /// Every token of each subject in a file (one per line; blank lines and `#` comments
    /// skipped), for incident response. Rerunning is harmless (a cut-off never moves back),
    /// and moves each cut-off forward to the time of the rerun.
    Users(UsersArgs),
}

/// A token given on the command line.
#[derive(Debug, Args)]
pub(crate) struct TokenInput {
    /// The token, or `-` to read it from standard input (preferred: an argument stays in the
    /// shell's history and shows in `ps`).
    #[arg(value_name = "TOKEN")]
    pub(crate) token: String,
    /// Check the token's signature first, with a PEM public key file, a JWKS file (JSON), or
    /// a file holding an HMAC secret. The algorithm comes from the key, never from the token.
    #[arg(long, value_name = "FILE")]
    pub(crate) verify_with: Option<PathBuf>,
    /// With --verify-with: the one algorithm accepted (`RS256`, `ES256`, `EdDSA`, `HS256`…);
    /// default: every algorithm of the key's family.
    #[arg(long, requires = "verify_with")]
    pub(crate) algorithm: Option<String>,
}

/// `revoke token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    pub(crate) input: TokenInput,
}

/// `check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub(crate) input: TokenInput,
}

/// `revoke jti`.
#[derive(Debug, Args)]
pub(crate) struct JtiArgs {
    /// The token's issuer (`iss`).
    #[arg(long)]
    pub(crate) iss: String,
    /// The token's subject (`sub`).
    #[arg(long)]
    pub(crate) sub: String,
    /// The token's `jti`.
    #[arg(long)]
    pub(crate) jti: String,
    /// The token's `exp`, in seconds since the epoch.
    #[arg(long, conflicts_with = "for_")]
    pub(crate) expires_at: Option<i64>,
    /// How long from now the token may still live (`15m`, `24h`).
    #[arg(long = "for", id = "for_", value_name = "DURATION")]
    pub(crate) for_: Option<String>,
}

/// `revoke user`.
#[derive(Debug, Args)]
pub(crate) struct UserArgs {
    /// The issuer (`iss`).
    #[arg(long)]
    pub(crate) iss: String,
    /// The subject (`sub`).
    #[arg(long)]
    pub(crate) sub: String,
}

/// `revoke session`.
#[derive(Debug, Args)]
pub(crate) struct SessionArgs {
    /// The issuer (`iss`).
    #[arg(long)]
    pub(crate) iss: String,
    /// The session (`sid`).
    #[arg(long)]
    pub(crate) sid: String,
}

/// `revoke claim`.
#[derive(Debug, Args)]
pub(crate) struct ClaimArgs {
    /// The issuer (`iss`).
    #[arg(long)]
    pub(crate) iss: String,
    /// The claim's name (`azp`, a tenant claim).
    #[arg(long)]
    pub(crate) claim: String,
    /// The claim's value.
    #[arg(long)]
    pub(crate) value: String,
}

/// `revoke users`.
#[derive(Debug, Args)]
pub(crate) struct UsersArgs {
    /// The issuer of every subject.
    #[arg(long)]
    pub(crate) iss: String,
    /// The subjects, one per line.
    #[arg(long)]
    pub(crate) file: PathBuf,
    /// Revocations in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub(crate) concurrency: u16,
    /// Where the subjects not revoked are written, one per line, to rerun with --file
    /// (default: the file's name with `.failed` appended). Removed after a run without
    /// failures.
    #[arg(long, value_name = "FILE")]
    pub(crate) failed_to: Option<PathBuf>,
    /// Stop sending after this many failures (a store that went away): the subjects not
    /// tried are written to the failed file too.
    #[arg(long, default_value_t = 100)]
    pub(crate) stop_after_failures: u64,
}
