//! A real `redis-server` for one test (or bench): its own loopback port and data directory,
//! killed and removed on drop.
//!
//! Without `redis-server` on PATH the caller gets `None` and a loud notice, so `cargo test`
//! works on a machine without Redis; with `DISCORD_GATEWAY_REQUIRE_REDIS=1` (CI) it panics.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How the server keeps its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Memory only (`--save '' --appendonly no`).
    None,
    /// An append-only file fsynced on every write, so a restart (even after SIGKILL) keeps
    /// every acknowledged write.
    AppendAlways,
    /// An append-only file fsynced once a second: Redis's default when AOF is on, what most
    /// deployments run.
    AppendEverySec,
}

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    persistence: Persistence,
    /// A one-node Redis Cluster holding every slot: it refuses, with CROSSSLOT, any command or
    /// script whose keys are in different slots, as a real cluster does.
    cluster: bool,
}

const REQUIRE: &str = "DISCORD_GATEWAY_REQUIRE_REDIS";

/// Whether `redis-server` can be run here; panics if it cannot and CI requires it.
pub fn redis_available() -> bool {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("redis-server").is_file())
    });
    if found {
        return true;
    }
    if std::env::var(REQUIRE).as_deref() == Ok("1") {
        panic!(
            "redis-server is not on PATH, and {REQUIRE}=1 says these tests must run against it \
             (install it: apt-get install redis-server)"
        );
    }
    // Straight to the process's stderr: the test harness captures `eprintln!` of passing
    // tests, and this notice must be seen. Once per test binary is enough.
    static NOTICE: std::sync::Once = std::sync::Once::new();
    NOTICE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\n\
             ************************************************************************\n\
             * SKIPPED: redis-server is not on PATH, so the Redis tests did not run. *\n\
             * Install it (apt-get install redis-server) or set {REQUIRE}=1  *\n\
             * to make its absence an error.                                        *\n\
             ************************************************************************\n"
        );
    });
    false
}

impl RedisServer {
    /// A memory-only server, or `None` (with a notice) when Redis is not installed.
    pub fn start() -> Option<Self> {
        Self::start_with(Persistence::None)
    }

    /// A server started with `persistence`, or `None` when Redis is not installed.
    pub fn start_with(persistence: Persistence) -> Option<Self> {
        Self::launch_new(persistence, false)
    }

    /// A memory-only one-node Redis Cluster that holds all 16384 slots (so every key is served
    /// here, and keys of different slots in one command or script are refused with CROSSSLOT),
    /// or `None` when Redis is not installed.
    pub fn start_cluster() -> Option<Self> {
        Self::launch_new(Persistence::None, true)
    }

    fn launch_new(persistence: Persistence, cluster: bool) -> Option<Self> {
        if !redis_available() {
            return None;
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "discord-gateway-redis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a data directory for redis-server");
        // A few tries: another process may take the free port between our look and Redis's bind.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                child: None,
                port,
                dir: dir.clone(),
                persistence,
                cluster,
            };
            if server.launch() {
                return Some(server);
            }
        }
        panic!("redis-server did not start after 5 tries");
    }

    /// The server process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("a Redis URL")
    }

    /// A connection of the test's own, to read and plant keys beside the code under test.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        self.client()
            .get_multiplexed_async_connection()
            .await
            .expect("a connection to the test's redis-server")
    }

    /// Kills the server without warning (SIGKILL, as a crash would) and leaves it down.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory; panics if it cannot.
    pub fn start_again(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.launch() {
            assert!(Instant::now() < deadline, "redis-server did not restart");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts redis-server and waits for it to answer PING; `false` if it exited.
    fn launch(&mut self) -> bool {
        let mut command = Command::new("redis-server");
        command
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--save")
            .arg("")
            .arg("--daemonize")
            .arg("no")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            command
                .arg("--cluster-enabled")
                .arg("yes")
                .arg("--cluster-config-file")
                .arg(self.dir.join("nodes.conf"));
        }
        match self.persistence {
            Persistence::None => {
                command.arg("--appendonly").arg("no");
            }
            Persistence::AppendAlways => {
                command
                    .arg("--appendonly")
                    .arg("yes")
                    .arg("--appendfsync")
                    .arg("always");
            }
            Persistence::AppendEverySec => {
                command
                    .arg("--appendonly")
                    .arg("yes")
                    .arg("--appendfsync")
                    .arg("everysec");
            }
        }
        let mut child = command.spawn().expect("redis-server runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if ping(self.port) {
                self.child = Some(child);
                if self.cluster {
                    self.take_every_slot();
                }
                return true;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Assigns every slot to this node and waits for the cluster to say it is up.
    fn take_every_slot(&self) {
        let mut connection = self
            .client()
            .get_connection()
            .expect("the cluster node answers");
        let _: redis::RedisResult<()> = redis::cmd("CLUSTER")
            .arg("ADDSLOTSRANGE")
            .arg(0)
            .arg(16383)
            .query(&mut connection);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query(&mut connection)
                .expect("CLUSTER INFO");
            if info.contains("cluster_state:ok") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the one-node cluster never came up: {info}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// Whether a server on `port` answers PING with PONG (not LOADING, not refused).
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}
