//! Reads from PostgreSQL hot standbys, and the consistency token that keeps every
//! client from reading older data than it has already seen.
//!
//! A query operation is answered from a standby in rotation; mutations, sessions, the
//! outbox, housekeeping and migrations use the primary. Every response carries a
//! token: a position in the primary's write-ahead log at or past everything the
//! request wrote or read. A request that sends a token back is answered only by a
//! standby that has replayed up to it; when none has within a short wait, by the
//! primary. Positions are the primary's, so the guarantee holds whichever instance
//! and whichever standby answers (docs/scaling.md).
//!
//! Infrastructure, like `delivery` and `live`: the domain never knows where it reads.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use tokio::sync::watch;

use crate::db::Db;
use crate::db::{self, PoolOptions, StatementCounter};

/// A position in the primary's write-ahead log (`pg_lsn`), which only grows: a
/// standby that has replayed up to it shows every commit before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(u64);

impl Lsn {
    /// PostgreSQL's text form, `16/B374D848`: the high and low 32 bits in hex.
    pub fn parse(text: &str) -> Option<Self> {
        let (high, low) = text.trim().split_once('/')?;
        let valid = |part: &str| {
            !part.is_empty() && part.len() <= 8 && part.chars().all(|c| c.is_ascii_hexdigit())
        };
        if !valid(high) || !valid(low) {
            return None;
        }
        let high = u64::from_str_radix(high, 16).ok()?;
        let low = u64::from_str_radix(low, 16).ok()?;
        Some(Self(high << 32 | low))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// Where a standby stands, as the last check found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandbyState {
    /// Not checked yet: out of rotation until the first check.
    Starting,
    /// In rotation.
    Healthy,
    /// Answering, but further behind than the lag limit: out of rotation.
    Lagging,
    /// Not answering, or not in recovery (promoted): out of rotation.
    Down,
}

impl StandbyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Lagging => "lagging",
            Self::Down => "down",
        }
    }
}

/// One standby as `/health` and `/metrics` show it.
#[derive(Debug, Clone)]
pub struct StandbyReport {
    /// Host, port and database; never the URL's credentials.
    pub name: String,
    pub state: StandbyState,
    /// How far behind the primary it was at the last check; `None` before the first
    /// answer.
    pub lag: Option<Duration>,
    /// Query operations it answered.
    pub reads: u64,
    /// SQL statements run on its pool.
    pub statements: u64,
}

/// One standby: its pool and what the checks learnt of it.
pub struct Standby {
    name: String,
    db: Db,
    statements: StatementCounter,
    health: Mutex<Health>,
    /// The highest position it was seen to have replayed (0: unknown).
    replayed: AtomicU64,
    reads: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Health {
    state: StandbyState,
    lag: Option<Duration>,
}

impl Standby {
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn health(&self) -> Health {
        *self
            .health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_health(&self, health: Health) {
        if health.state == StandbyState::Down {
            // Started again, it may show less than it did; the next check says what.
            self.replayed.store(0, Ordering::Relaxed);
        }
        let mut current = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if current.state != health.state {
            tracing::warn!(
                standby = %self.name,
                from = current.state.as_str(),
                to = health.state.as_str(),
                lag_ms = health.lag.map(|lag| lag.as_millis() as u64),
                "standby state changed"
            );
        }
        *current = health;
    }

    fn in_rotation(&self) -> bool {
        self.health().state == StandbyState::Healthy
    }

    /// Takes the standby out of rotation at once (a request found it unreachable);
    /// the next check puts it back when it answers again.
    pub fn mark_down(&self) {
        let lag = self.health().lag;
        self.set_health(Health {
            state: StandbyState::Down,
            lag,
        });
    }

    fn replayed(&self) -> Lsn {
        Lsn(self.replayed.load(Ordering::Relaxed))
    }

    /// Asks the standby how far it has replayed (one statement on its pool).
    pub async fn replay_position(&self) -> Result<Lsn, DbErr> {
        let lsn = lsn_of(&self.db, "SELECT pg_last_wal_replay_lsn()::text AS lsn").await?;
        self.replayed.fetch_max(lsn.0, Ordering::Relaxed);
        Ok(lsn)
    }

    pub fn count_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }
}

/// The standbys of this instance, in rotation or not.
pub struct Standbys {
    members: Vec<Arc<Standby>>,
    next: AtomicUsize,
    primary_reads: AtomicU64,
    max_lag: Duration,
    read_wait: Duration,
    check_interval: Duration,
}

/// How often a query waiting for a standby to reach its token asks again.
const WAIT_STEP: Duration = Duration::from_millis(5);

impl Standbys {
    /// Opens a pool on each standby (lazily: a standby that is down at start-up
    /// does not stop the server; it joins the rotation when a check finds it).
    pub async fn open(
        urls: &[String],
        pool: PoolOptions,
        max_lag: Duration,
        read_wait: Duration,
        check_interval: Duration,
    ) -> Result<Self, String> {
        let mut members = Vec::new();
        for url in urls
            .iter()
            .map(|url| url.trim())
            .filter(|url| !url.is_empty())
        {
            if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
                return Err(
                    "--standby-urls: standbys are PostgreSQL URLs (postgres://…)".to_owned(),
                );
            }
            let (db, statements) = db::connect_lazy(url, pool)
                .await
                .map_err(|error| format!("--standby-urls: {}: {error}", display_name(url)))?;
            members.push(Arc::new(Standby {
                name: display_name(url),
                db,
                statements,
                health: Mutex::new(Health {
                    state: StandbyState::Starting,
                    lag: None,
                }),
                replayed: AtomicU64::new(0),
                reads: AtomicU64::new(0),
            }));
        }
        Ok(Self {
            members,
            next: AtomicUsize::new(0),
            primary_reads: AtomicU64::new(0),
            max_lag,
            read_wait,
            check_interval,
        })
    }

    /// Whether any standby is configured (and so whether tokens are worth their
    /// statement).
    pub fn configured(&self) -> bool {
        !self.members.is_empty()
    }

    /// The standby to answer a query whose client has seen `token`: one in rotation
    /// that has replayed up to it, taken in turn. When none has, the standbys are
    /// asked again until the wait is over; `None` means the primary answers.
    pub async fn pick(&self, token: Option<Lsn>) -> Option<Arc<Standby>> {
        let candidates: Vec<&Arc<Standby>> =
            self.members.iter().filter(|s| s.in_rotation()).collect();
        if candidates.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let turn = (0..candidates.len()).map(|i| candidates[(start + i) % candidates.len()]);
        let Some(token) = token else {
            return turn.clone().next().cloned();
        };
        if let Some(ready) = turn.clone().find(|s| s.replayed() >= token) {
            return Some(ready.clone());
        }
        let deadline = Instant::now() + self.read_wait;
        loop {
            for standby in turn.clone() {
                match standby.replay_position().await {
                    Ok(replayed) if replayed >= token => return Some(standby.clone()),
                    Ok(_) => {}
                    Err(_) => standby.mark_down(),
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            tokio::time::sleep(left.min(WAIT_STEP)).await;
        }
    }

    /// The token to give the client after its request: the position the standby
    /// that answered has replayed, read after the request (so at or past every row
    /// it showed), or the primary's position (at or past every commit,
    /// the request's own included). Never older than the token the client sent.
    /// One statement.
    pub async fn token_after(
        &self,
        primary: &Db,
        answered_by: Option<Arc<Standby>>,
        reads_only: bool,
        seen: Option<Lsn>,
    ) -> Option<Lsn> {
        let position = match answered_by {
            Some(standby) => {
                standby.count_read();
                match standby.replay_position().await {
                    Ok(position) => Ok(position),
                    Err(_) => primary_position(primary).await,
                }
            }
            None => {
                if reads_only {
                    self.primary_reads.fetch_add(1, Ordering::Relaxed);
                }
                primary_position(primary).await
            }
        };
        match position {
            Ok(position) => Some(seen.map_or(position, |seen| seen.max(position))),
            Err(error) => {
                tracing::warn!(%error, "no consistency token: the WAL position is unreadable");
                seen
            }
        }
    }

    /// Query operations the primary answered because no standby could.
    pub fn primary_reads(&self) -> u64 {
        self.primary_reads.load(Ordering::Relaxed)
    }

    pub fn reports(&self) -> Vec<StandbyReport> {
        self.members
            .iter()
            .map(|standby| {
                let health = standby.health();
                StandbyReport {
                    name: standby.name.clone(),
                    state: health.state,
                    lag: health.lag,
                    reads: standby.reads.load(Ordering::Relaxed),
                    statements: standby.statements.get(),
                }
            })
            .collect()
    }

    /// Checks every standby each interval until `stop`: whether it answers, is still
    /// a standby, and how far behind the primary it is. `primary` is a pool of the
    /// background work, so the checks stay out of the request pool and its counter.
    pub async fn watch(self: Arc<Self>, primary: Db, stop: watch::Receiver<bool>) {
        if self.members.is_empty() {
            return;
        }
        let mut stop = stop;
        let mut history = PrimaryHistory::new(self.max_lag);
        loop {
            match lsn_of(&primary, "SELECT pg_current_wal_lsn()::text AS lsn").await {
                Ok(position) => history.record(Instant::now(), position),
                Err(error) => tracing::warn!(%error, "standby check: primary unreachable"),
            }
            for standby in &self.members {
                let health = match check(standby).await {
                    Ok(replayed) => {
                        let lag = history.lag_of(replayed, Instant::now());
                        let state = if lag > self.max_lag {
                            StandbyState::Lagging
                        } else {
                            StandbyState::Healthy
                        };
                        Health {
                            state,
                            lag: Some(lag),
                        }
                    }
                    Err(why) => {
                        tracing::debug!(standby = %standby.name, %why, "standby check failed");
                        Health {
                            state: StandbyState::Down,
                            lag: standby.health().lag,
                        }
                    }
                };
                standby.set_health(health);
            }
            tokio::select! {
                () = tokio::time::sleep(self.check_interval) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// One check of a standby: its replay position, or why it is out.
async fn check(standby: &Standby) -> Result<Lsn, String> {
    let row = standby
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_is_in_recovery() AS recovering, \
             pg_last_wal_replay_lsn()::text AS lsn",
        ))
        .await
        .map_err(|error| error.to_string())?
        .ok_or("no row")?;
    let recovering: bool = row.try_get("", "recovering").map_err(|e| e.to_string())?;
    if !recovering {
        return Err("not in recovery: promoted, or not a standby".to_owned());
    }
    let text: Option<String> = row.try_get("", "lsn").map_err(|e| e.to_string())?;
    let lsn = text
        .as_deref()
        .and_then(Lsn::parse)
        .ok_or("no replay position yet")?;
    // Stored, not maxed: a standby that restarted may replay from an earlier point
    // again, and must not be taken for further along than it is.
    standby.replayed.store(lsn.0, Ordering::Relaxed);
    Ok(lsn)
}

/// The primary's position at each recent check. A standby's lag is how long ago the
/// primary first stood past what the standby has replayed: zero when it has replayed
/// everything the primary had, and never inflated by a quiet primary (as
/// `now() - pg_last_xact_replay_timestamp()` is after an idle hour).
struct PrimaryHistory {
    seen: VecDeque<(Instant, Lsn)>,
    keep: Duration,
}

impl PrimaryHistory {
    fn new(max_lag: Duration) -> Self {
        Self {
            seen: VecDeque::new(),
            // Enough to measure any lag up to twice the limit.
            keep: max_lag * 2 + Duration::from_secs(1),
        }
    }

    fn record(&mut self, at: Instant, position: Lsn) {
        self.seen.push_back((at, position));
        while let Some(&(first, _)) = self.seen.front() {
            if at.duration_since(first) > self.keep && self.seen.len() > 1 {
                self.seen.pop_front();
            } else {
                break;
            }
        }
    }

    fn lag_of(&self, replayed: Lsn, now: Instant) -> Duration {
        // Behind even the oldest position kept, the lag is at least its age, which
        // is past the limit: out of rotation either way.
        self.seen
            .iter()
            .find(|(_, position)| *position > replayed)
            .map_or(Duration::ZERO, |&(at, _)| now.duration_since(at))
    }
}

/// The primary's position for a token: at or past every commit that has returned or
/// that any reader can see, and every row any standby shows. One statement.
///
/// That is the position flushed to disk while commits are synchronous (the default):
/// a commit is flushed before it returns or becomes visible. The insert position
/// would be past it, and can stay past it: WAL that no commit has flushed yet (a
/// read pruning a page, a transaction still open) reaches no standby until the next
/// commit, so a token there kept every later read of the client on the primary
/// (a test with no writes after its first saw that, one run in eight). With
/// `synchronous_commit = off` a commit is visible before it is flushed, and the
/// insert position is the one at or past it.
pub async fn primary_position(primary: &Db) -> Result<Lsn, DbErr> {
    lsn_of(
        primary,
        "SELECT (CASE WHEN current_setting('synchronous_commit') = 'off'
                 THEN pg_current_wal_insert_lsn()
                 ELSE pg_current_wal_flush_lsn() END)::text AS lsn",
    )
    .await
}

async fn lsn_of(db: &Db, sql: &str) -> Result<Lsn, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("lsn".to_owned()))?;
    let text: Option<String> = row.try_get("", "lsn")?;
    text.as_deref()
        .and_then(Lsn::parse)
        .ok_or_else(|| DbErr::Custom("no WAL position (not a PostgreSQL standby?)".to_owned()))
}

/// `postgres://user:secret@host:5433/shop` shows as `host:5433/shop`.
fn display_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split('?').next().unwrap_or(rest).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_and_print_as_postgres_does() {
        let lsn = Lsn::parse("16/B374D848").unwrap();
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert!(Lsn::parse("0/3000148").unwrap() < Lsn::parse("1/0").unwrap());
        for bad in ["", "16", "/1", "1/", "G/1", "123456789/0", "1/2/3"] {
            assert_eq!(Lsn::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lag_is_how_long_ago_the_primary_passed_the_replay_position() {
        let start = Instant::now();
        let mut history = PrimaryHistory::new(Duration::from_secs(2));
        let at = |ms| start + Duration::from_millis(ms);
        history.record(at(0), Lsn(100));
        history.record(at(500), Lsn(200));
        history.record(at(1000), Lsn(300));
        // Replayed everything the primary had: no lag, however old the last write.
        assert_eq!(history.lag_of(Lsn(300), at(9000)), Duration::ZERO);
        // Behind the position first seen at 500 ms.
        assert_eq!(
            history.lag_of(Lsn(150), at(1200)),
            Duration::from_millis(700)
        );
    }

    #[test]
    fn names_never_show_credentials() {
        assert_eq!(
            display_name("postgres://app:secret@db2.internal:5433/shop?sslmode=require"),
            "db2.internal:5433/shop"
        );
    }
}
