//! A session store in Redis, so that any process of a bot can resume any shard, and shard
//! leases, so that no two processes run one shard.

use std::time::Duration;

use discord_gateway_driver::discord_gateway::{ShardId, Token};
use discord_gateway_driver::{Claim, SealedSession, SessionStore, StoreError, StoreFuture};
use redis::{Client, Script};

use crate::keys;
use crate::link::Link;

/// Default time a lease outlives its last renewal.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// Takes or keeps the lease of each shard.
///
/// KEYS: the leases. ARGV: this process's name, the lease's time to live (ms). Returns, per
/// key, `""` when this process holds the lease now, or the name of the process that does.
const CLAIM: &str = r"
local held = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if not holder or holder == ARGV[1] then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    held[i] = ''
  else
    held[i] = holder
  end
end
return held
";

/// Gives up the leases this process holds. KEYS: the leases. ARGV: this process's name.
const RELEASE: &str = r"
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
  end
end
return 0
";

/// A [`SessionStore`] in Redis, shared by every process of a bot.
///
/// Sessions: one key per shard, `{PREFIX}:session:{count}:{id}`, holding the shard's
/// [`SealedSession`] (JSON, bound to the bot and the shard by a MAC under a key derived from the
/// token: the [`ShardManager`](discord_gateway_driver::ShardManager) resumes nothing it did not
/// seal itself, so a writer of this Redis without the token can delete sessions but not plant
/// one). Loads are one `MGET`; takes one `MULTI` of `GETDEL`s, so two processes never both take
/// a session; saves and clears one atomic pipeline, whatever the number of shards.
///
/// Leases: `{PREFIX}:lease:{count}:{id}`, set with `NX`-like semantics by one script, naming the
/// process that holds it (`pid … on HOST`), expiring after [`RedisSessionStore::lease_ttl`]
/// unless renewed. The manager claims its shards' leases at start (a shard held by another
/// process is logged with its holder and not run), renews them while it runs, and releases them
/// on shutdown, after saving the sessions.
///
/// `PREFIX` is `discord-gateway:{bot id}` by default ([`RedisSessionStore::prefix`] replaces
/// it), and the braces make it every key's hash tag: on Redis Cluster all of a bot's keys live
/// in one slot. The key names the shard count as well as the id: a session of shard 3 of 16
/// says nothing about shard 3 of 32.
#[derive(Debug)]
pub struct RedisSessionStore {
    link: Link,
    prefix: String,
    expire_after: Option<Duration>,
    lease_ttl: Duration,
    /// This process, as the leases it holds name it.
    owner: String,
    claim: Script,
    release: Script,
}

impl RedisSessionStore {
    /// A store on the Redis `client` points at, for the bot `token` belongs to: keys under
    /// `discord-gateway:{bot id}` (the token itself is not kept).
    #[must_use]
    pub fn new(client: Client, token: &Token) -> Self {
        Self {
            link: Link::new(client),
            prefix: keys::bot_prefix(token),
            expire_after: None,
            lease_ttl: DEFAULT_LEASE_TTL,
            owner: owner(),
            claim: Script::new(CLAIM),
            release: Script::new(RELEASE),
        }
    }

    /// Replaces the prefix of every key (default `discord-gateway:{bot id}`). Every process of
    /// one bot must use the same; two bots must never.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = keys::prefix(prefix.into());
        self
    }

    /// Lets Redis forget a saved session after `ttl` (default: kept until taken or cleared).
    /// Discord keeps a disconnected session resumable for minutes, not days: an expiry keeps a
    /// process that starts much later from trying a Resume that can only fail.
    #[must_use]
    pub fn expire_after(mut self, ttl: Duration) -> Self {
        self.expire_after = Some(ttl);
        self
    }

    /// How long a shard's lease outlives its last renewal (default [`DEFAULT_LEASE_TTL`]); it
    /// is renewed every third of that. A process that stops without releasing its leases (a
    /// crash) keeps its shards from running elsewhere for at most this long.
    #[must_use]
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(3));
        self
    }

    /// The prefix every key of this store is under.
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, shard: ShardId) -> String {
        keys::key(
            &self.prefix,
            format_args!("session:{}:{}", shard.count(), shard.id()),
        )
    }

    fn lease_key(&self, shard: ShardId) -> String {
        keys::key(
            &self.prefix,
            format_args!("lease:{}:{}", shard.count(), shard.id()),
        )
    }
}

/// How this process names itself in the leases it holds: its pid, its host, and a random part
/// (two processes of one pid on one host, in containers).
fn owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "an unnamed host".to_owned());
    format!(
        "pid {} on {host} ({:08x})",
        std::process::id(),
        discord_gateway_driver::os_seed() as u32
    )
}

impl SessionStore for RedisSessionStore {
    fn load<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Option<SealedSession>>> {
        Box::pin(async move {
            if shards.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = shards.iter().map(|&shard| self.key(shard)).collect();
            let values: Vec<Option<String>> = self
                .link
                .run(|mut connection| async move {
                    redis::cmd("MGET")
                        .arg(&keys)
                        .query_async(&mut connection)
                        .await
                })
                .await
                .map_err(|error| StoreError::new("loading sessions from Redis", error))?;
            Ok(values
                .into_iter()
                .map(|value| value.map(SealedSession::from_stored))
                .collect())
        })
    }

    fn take<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Option<SealedSession>>> {
        Box::pin(async move {
            if shards.is_empty() {
                return Ok(Vec::new());
            }
            let mut pipe = redis::pipe();
            pipe.atomic();
            for &shard in shards {
                pipe.cmd("GETDEL").arg(self.key(shard));
            }
            let values: Vec<Option<String>> = self
                .link
                .run(|mut connection| async move { pipe.query_async(&mut connection).await })
                .await
                .map_err(|error| StoreError::new("taking sessions from Redis", error))?;
            Ok(values
                .into_iter()
                .map(|value| value.map(SealedSession::from_stored))
                .collect())
        })
    }

    fn save<'a>(&'a self, sessions: &'a [(ShardId, SealedSession)]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if sessions.is_empty() {
                return Ok(());
            }
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (shard, sealed) in sessions {
                let set = pipe.cmd("SET").arg(self.key(*shard)).arg(sealed.as_str());
                if let Some(ttl) = self.expire_after {
                    set.arg("PX")
                        .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
                }
                set.ignore();
            }
            self.link
                .run(|mut connection| async move { pipe.query_async::<()>(&mut connection).await })
                .await
                .map_err(|error| StoreError::new("saving sessions to Redis", error))
        })
    }

    fn clear<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if shards.is_empty() {
                return Ok(());
            }
            let keys: Vec<String> = shards.iter().map(|&shard| self.key(shard)).collect();
            self.link
                .run(|mut connection| async move {
                    redis::cmd("DEL")
                        .arg(&keys)
                        .query_async::<()>(&mut connection)
                        .await
                })
                .await
                .map_err(|error| StoreError::new("clearing sessions in Redis", error))
        })
    }

    fn claim<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Claim>> {
        Box::pin(async move {
            if shards.is_empty() {
                return Ok(Vec::new());
            }
            let mut invocation = self.claim.prepare_invoke();
            for &shard in shards {
                invocation.key(self.lease_key(shard));
            }
            invocation
                .arg(&self.owner)
                .arg(u64::try_from(self.lease_ttl.as_millis()).unwrap_or(u64::MAX));
            let held: Vec<String> = self
                .link
                .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
                .await
                .map_err(|error| StoreError::new("claiming shard leases in Redis", error))?;
            Ok(held
                .into_iter()
                .map(|holder| {
                    if holder.is_empty() {
                        Claim::Granted
                    } else {
                        Claim::HeldBy(holder)
                    }
                })
                .collect())
        })
    }

    fn lease_renewal(&self) -> Option<Duration> {
        Some(self.lease_ttl / 3)
    }

    fn release<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if shards.is_empty() {
                return Ok(());
            }
            let mut invocation = self.release.prepare_invoke();
            for &shard in shards {
                invocation.key(self.lease_key(shard));
            }
            invocation.arg(&self.owner);
            self.link
                .run(|mut connection| async move {
                    invocation.invoke_async::<()>(&mut connection).await
                })
                .await
                .map_err(|error| StoreError::new("releasing shard leases in Redis", error))
        })
    }
}
