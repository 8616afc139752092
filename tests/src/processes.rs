//! Real processes for the tests that need them: the built server binary as a child
//! process, and PostgreSQL clusters of a test's own (a primary, and streaming
//! standbys of it made with `pg_basebackup -R`), each on a free loopback port and
//! removed on drop.

// Test support: an unwrap that fails is a test that fails, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::PASSWORD;

pub fn server_binary() -> PathBuf {
    let path = std::env::var("CLIENTELE_BIN")
        .expect("CLIENTELE_BIN must name the built server (cargo build --bin clientele)");
    let path = PathBuf::from(path);
    assert!(path.exists(), "{} does not exist", path.display());
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PostgreSQL cluster of this test's own, on a free port, so stopping it disturbs
/// nobody else. Removed on drop.
pub struct Cluster {
    dir: PathBuf,
    pub port: u16,
    /// Server settings beyond the defaults (`-c name=value` each).
    settings: String,
}

pub fn pg_bin(name: &str) -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL is installed");
    let version = versions
        .filter_map(Result::ok)
        .map(|e| e.path())
        .max()
        .expect("a PostgreSQL version");
    version.join("bin").join(name)
}

/// Runs a PostgreSQL program as the `postgres` user (the server refuses root).
pub fn as_postgres(program: &str, args: &[&str]) {
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(pg_bin(program))
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("runuser runs");
    assert!(status.success(), "{program} {args:?} failed");
}

/// A directory the `postgres` user owns, for a cluster's data and socket.
fn cluster_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clientele_t_cluster_{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let chown = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(chown.success());
    dir
}

impl Cluster {
    pub fn create() -> Self {
        let dir = cluster_dir();
        let data = dir.join("data");
        as_postgres(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
        );
        let cluster = Self {
            dir,
            port: free_port(),
            settings: String::new(),
        };
        cluster.start();
        cluster
    }

    /// A hot standby of `primary`, streaming from it: `pg_basebackup -R` (which writes
    /// `primary_conninfo` and `standby.signal`), started on a port of its own.
    /// `apply_delay` (`3s`) becomes `recovery_min_apply_delay`: the standby then shows
    /// each commit that much later, as a slow or distant standby would.
    pub fn standby_of(primary: &Cluster, apply_delay: Option<&str>) -> Self {
        let dir = cluster_dir();
        let data = dir.join("data");
        as_postgres(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-D",
                data.to_str().unwrap(),
                "-R",
                "-X",
                "stream",
                // Start at once, not after a spread checkpoint (a minute and more).
                "-c",
                "fast",
            ],
        );
        let settings = apply_delay
            .map(|delay| format!(" -c recovery_min_apply_delay={delay}"))
            .unwrap_or_default();
        let standby = Self {
            dir,
            port: free_port(),
            settings,
        };
        standby.start();
        standby
    }

    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off{}",
            self.port,
            self.dir.display(),
            self.settings
        );
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// `immediate`: the way a crash or a pulled cable ends the server.
    pub fn stop(&self) {
        let data = self.dir.join("data");
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The URL of one of its databases.
    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_bin("pg_ctl"))
            .args(["-D", data.to_str().unwrap_or(""), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server binary as a child process.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// Where its standard error goes (`CLIENTELE_LOG` says how much), for
    /// [`Server::log_tail`] to show when a test fails.
    log: PathBuf,
}

impl Server {
    pub async fn start(database_url: &str, env: &[(&str, String)]) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("clientele-server-{}.log", Uuid::now_v7()));
        let mut command = Command::new(server_binary());
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("CLIENTELE_BIND", format!("127.0.0.1:{port}"))
            .env("CLIENTELE_LOG", "warn")
            .env("CLIENTELE_GUEST_ORDERS_PER_ADDRESS", "100000")
            .env("CLIENTELE_REGISTRATIONS_PER_ADDRESS", "100000")
            .env("CLIENTELE_MAILS_PER_RECIPIENT", "100000")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("the server's log file"));
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("the server starts");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_healthy(Duration::from_secs(60)).await;
        server
    }

    pub async fn wait_healthy(&self, within: Duration) {
        let client = reqwest::Client::new();
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(response) = client.get(format!("{}/health", self.base)).send().await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server at {} never became healthy", self.base);
    }

    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }

    /// The last lines the server wrote to standard error, for a failing test's
    /// message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Posts a GraphQL request to a server at `base`; a transport failure (a server that
/// is gone) is an `Err`, not a panic.
pub async fn gql(
    base: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut request = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    response.json().await.map_err(|e| e.to_string())
}

pub const REGISTER: &str = "mutation($email: String!, $password: String!) {
    registerCustomer(email: $email, password: $password) { token customer { id } } }";

/// Registers a customer through the API; returns their session token.
pub async fn register(base: &str, email: &str) -> String {
    let session = gql(
        base,
        None,
        REGISTER,
        json!({ "email": email, "password": PASSWORD }),
    )
    .await
    .unwrap();
    session["data"]["registerCustomer"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("not registered: {session}"))
        .to_owned()
}
