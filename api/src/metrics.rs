//! What `GET /metrics` reports, in the Prometheus text format (version 0.0.4).
//!
//! Requests are counted per app (an [`RequestMetrics`] in the HTTP edge); what the
//! domain notices deep inside a request (a throttle refusing, a pool with no free
//! connection) is counted per process, in [`PROCESS`]: one process serves one app.
//! Nothing here names a customer, a caller or a query's text. Labels have bounded
//! values: error codes and throttle scopes are enums, and operation names are capped
//! at [`MAX_OPERATIONS`] distinct names, after which the rest count as `_other`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Distinct operation names kept apart; a client that sends a new name per request
/// cannot grow the scrape without bound.
pub const MAX_OPERATIONS: usize = 200;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Counted per process by the code that notices them.
pub struct ProcessCounters {
    /// Attempts a throttle refused, by scope (`customer_login`, ...).
    throttled: Mutex<BTreeMap<&'static str, u64>>,
    /// Statements that waited past the acquire timeout for a pool connection.
    pub acquire_timeouts: AtomicU64,
    /// Outbox delivery attempts that failed.
    pub delivery_failures: AtomicU64,
}

pub static PROCESS: ProcessCounters = ProcessCounters {
    throttled: Mutex::new(BTreeMap::new()),
    acquire_timeouts: AtomicU64::new(0),
    delivery_failures: AtomicU64::new(0),
};

impl ProcessCounters {
    pub fn throttled(&self, scope: &'static str) {
        let mut counts = self
            .throttled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry(scope).or_default() += 1;
    }

    fn throttled_counts(&self) -> BTreeMap<&'static str, u64> {
        self.throttled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A request series: the operation's label and the outcome.
type SeriesKey = (String, &'static str);

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations at or under each bound of [`BUCKETS`] (not cumulative here).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[bucket] += 1;
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }
}

/// GraphQL requests of one app: how many, how long, how they ended.
#[derive(Debug, Default)]
pub struct RequestMetrics {
    /// Every request received, refused ones included (the benchmark's denominator).
    received: AtomicU64,
    /// By operation name and outcome (`ok` or the first error's code).
    by_operation: Mutex<HashMap<SeriesKey, Histogram>>,
    /// Every error in a response, by code.
    errors: Mutex<BTreeMap<&'static str, u64>>,
}

impl RequestMetrics {
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished request. `operation` is what the client named (`None` for an
    /// anonymous operation); `codes` are its errors' codes.
    pub fn finished(&self, operation: Option<&str>, codes: &[&'static str], took: Duration) {
        let outcome = codes.first().copied().unwrap_or("ok");
        let mut by_operation = self
            .by_operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut key = (operation_label(operation), outcome);
        // A new series: only then is the cap worth counting against.
        if !by_operation.contains_key(&key) {
            let known = by_operation.keys().any(|(known, _)| *known == key.0);
            if !known && distinct_operations(&by_operation) >= MAX_OPERATIONS {
                key.0 = "_other".to_owned();
            }
        }
        by_operation
            .entry(key)
            .or_default()
            .observe(took.as_secs_f64());
        drop(by_operation);
        let mut errors = self
            .errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for code in codes {
            *errors.entry(code).or_default() += 1;
        }
    }

    fn snapshot(&self) -> (Vec<(SeriesKey, Histogram)>, BTreeMap<&'static str, u64>) {
        let mut series: Vec<_> = self
            .by_operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(key, histogram)| (key.clone(), histogram.clone()))
            .collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let errors = self
            .errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (series, errors)
    }
}

fn distinct_operations(by_operation: &HashMap<SeriesKey, Histogram>) -> usize {
    let mut names: Vec<&str> = by_operation.keys().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.len()
}

/// The operation name as a label: a GraphQL name of at most 64 characters as it is,
/// an empty string for an anonymous operation, `_invalid` for anything else (the
/// request names an operation its document cannot have).
fn operation_label(operation: Option<&str>) -> String {
    let Some(name) = operation else {
        return String::new();
    };
    let mut chars = name.chars();
    let valid = name.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    if valid {
        name.to_owned()
    } else {
        "_invalid".to_owned()
    }
}

/// The database pool and the outbox, as read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Each standby, when there are any.
    pub standbys: Vec<StandbyGauge>,
    /// Query operations the primary answered while standbys were configured.
    pub primary_reads: u64,
    pub requests_in_progress: usize,
    pub pool_max: u32,
    pub pool_open: u32,
    pub pool_idle: usize,
    pub sql_statements: u64,
    /// `None` when the database could not be read.
    pub outbox: Option<OutboxBacklog>,
}

/// One standby as the scrape shows it.
#[derive(Debug, Clone)]
pub struct StandbyGauge {
    /// `host:port/db`.
    pub name: String,
    pub in_rotation: bool,
    /// `None` before its first check answered.
    pub lag: Option<Duration>,
    pub reads: u64,
    pub statements: u64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxBacklog {
    /// Messages not delivered yet.
    pub pending: u64,
    /// Of those, the ones whose last attempt failed.
    pub failing: u64,
}

/// The whole scrape: request series, then the process's counters, the pool and the
/// outbox.
pub fn render(requests: &RequestMetrics, gauges: &Gauges) -> String {
    let mut out = String::new();
    render_requests(&mut out, requests, gauges);
    let throttled: Vec<_> = PROCESS
        .throttled_counts()
        .into_iter()
        .map(|(scope, count)| (format!("scope=\"{scope}\""), count.to_string()))
        .collect();
    family(
        &mut out,
        "clientele_throttled_total",
        "counter",
        "Attempts a throttle refused, by scope (silent ones included).",
        &throttled,
    );
    family(
        &mut out,
        "clientele_sql_statements_total",
        "counter",
        "SQL statements run on the request pool.",
        &[plain(gauges.sql_statements)],
    );
    render_pool(&mut out, gauges);
    if !gauges.standbys.is_empty() {
        render_standbys(&mut out, gauges);
    }
    if let Some(outbox) = gauges.outbox {
        let failing = outbox.failing.min(outbox.pending);
        family(
            &mut out,
            "clientele_outbox_pending_messages",
            "gauge",
            "Outbox messages not delivered yet, by whether their last attempt failed.",
            &[
                (
                    "state=\"waiting\"".to_owned(),
                    (outbox.pending - failing).to_string(),
                ),
                ("state=\"failing\"".to_owned(), failing.to_string()),
            ],
        );
    }
    family(
        &mut out,
        "clientele_outbox_delivery_failures_total",
        "counter",
        "Outbox delivery attempts of this process that failed.",
        &[plain(PROCESS.delivery_failures.load(Ordering::Relaxed))],
    );
    out
}

fn render_requests(out: &mut String, requests: &RequestMetrics, gauges: &Gauges) {
    let (series, errors) = requests.snapshot();
    family(
        out,
        "clientele_graphql_requests_total",
        "counter",
        "GraphQL requests received, refused ones included.",
        &[plain(requests.received.load(Ordering::Relaxed))],
    );
    family(
        out,
        "clientele_graphql_requests_in_progress",
        "gauge",
        "GraphQL requests being handled now.",
        &[plain(gauges.requests_in_progress)],
    );
    let mut samples = Vec::new();
    for ((operation, outcome), histogram) in &series {
        let labels = format!("operation=\"{operation}\",outcome=\"{outcome}\"");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
            cumulative += count;
            samples.push((
                format!("_bucket{{{labels},le=\"{bound}\"}}"),
                cumulative.to_string(),
            ));
        }
        samples.push((
            format!("_bucket{{{labels},le=\"+Inf\"}}"),
            histogram.count.to_string(),
        ));
        samples.push((
            format!("_sum{{{labels}}}"),
            histogram.sum_seconds.to_string(),
        ));
        samples.push((format!("_count{{{labels}}}"), histogram.count.to_string()));
    }
    header(
        out,
        "clientele_graphql_request_duration_seconds",
        "histogram",
        "Time to answer a GraphQL request, by operation name and outcome (ok, or the first error's code).",
    );
    for (suffix, value) in samples {
        let _ = writeln!(
            out,
            "clientele_graphql_request_duration_seconds{suffix} {value}"
        );
    }
    let errors: Vec<_> = errors
        .iter()
        .map(|(code, count)| (format!("code=\"{code}\""), count.to_string()))
        .collect();
    family(
        out,
        "clientele_graphql_errors_total",
        "counter",
        "Errors in GraphQL responses, by code.",
        &errors,
    );
}

fn render_standbys(out: &mut String, gauges: &Gauges) {
    let each = |value: &dyn Fn(&StandbyGauge) -> String| {
        gauges
            .standbys
            .iter()
            .map(|s| (format!("standby=\"{}\"", s.name), value(s)))
            .collect::<Vec<_>>()
    };
    let healthy = |s: &StandbyGauge| u8::from(s.in_rotation).to_string();
    family(
        out,
        "clientele_standby_in_rotation",
        "gauge",
        "Whether the standby answers query operations now (1) or is out of rotation (0).",
        &each(&healthy),
    );
    family(
        out,
        "clientele_standby_lag_seconds",
        "gauge",
        "How far behind the primary the standby was at its last check.",
        &each(&|s| {
            s.lag
                .map_or_else(|| "NaN".to_owned(), |lag| lag.as_secs_f64().to_string())
        }),
    );
    family(
        out,
        "clientele_standby_reads_total",
        "counter",
        "Query operations the standby answered.",
        &each(&|s| s.reads.to_string()),
    );
    family(
        out,
        "clientele_standby_sql_statements_total",
        "counter",
        "SQL statements run on the standby's pool.",
        &each(&|s| s.statements.to_string()),
    );
    family(
        out,
        "clientele_primary_reads_total",
        "counter",
        "Query operations the primary answered because no standby could.",
        &[plain(gauges.primary_reads)],
    );
}

fn render_pool(out: &mut String, gauges: &Gauges) {
    let idle = u32::try_from(gauges.pool_idle)
        .unwrap_or(u32::MAX)
        .min(gauges.pool_open);
    family(
        out,
        "clientele_db_pool_connections",
        "gauge",
        "Connections of the request pool, by state.",
        &[
            (
                "state=\"in_use\"".to_owned(),
                (gauges.pool_open - idle).to_string(),
            ),
            ("state=\"idle\"".to_owned(), idle.to_string()),
        ],
    );
    family(
        out,
        "clientele_db_pool_max_connections",
        "gauge",
        "Most connections the request pool opens.",
        &[plain(gauges.pool_max)],
    );
    let waiting = if idle == 0 && gauges.pool_open >= gauges.pool_max {
        gauges
            .requests_in_progress
            .saturating_sub(gauges.pool_open as usize)
    } else {
        0
    };
    family(
        out,
        "clientele_db_pool_waiting_requests",
        "gauge",
        "While every connection is in use: the GraphQL requests in progress beyond them, an upper bound on those waiting for one (sqlx does not expose its queue).",
        &[plain(waiting)],
    );
    family(
        out,
        "clientele_db_pool_acquire_timeouts_total",
        "counter",
        "Statements that found no free connection within the acquire timeout.",
        &[plain(PROCESS.acquire_timeouts.load(Ordering::Relaxed))],
    );
}

/// A sample without labels.
fn plain(value: impl std::fmt::Display) -> (String, String) {
    (String::new(), value.to_string())
}

/// One metric family: its HELP and TYPE lines, then a line per (labels, value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, String)]) {
    header(out, name, kind, help);
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_capped_and_checked() {
        let metrics = RequestMetrics::default();
        for i in 0..MAX_OPERATIONS + 5 {
            metrics.finished(Some(&format!("Op{i}")), &[], Duration::from_millis(1));
        }
        metrics.finished(Some("Op0"), &["BAD_USER_INPUT"], Duration::from_millis(3));
        metrics.finished(Some("x\"} 1\nevil"), &[], Duration::from_millis(1));
        metrics.finished(None, &[], Duration::from_millis(1));
        let (series, errors) = metrics.snapshot();
        let names: std::collections::BTreeSet<&str> =
            series.iter().map(|((name, _), _)| name.as_str()).collect();
        assert_eq!(names.len(), MAX_OPERATIONS + 1, "the cap plus _other");
        assert!(names.contains("_other"));
        assert!(!names.iter().any(|name| name.contains('"')));
        assert_eq!(errors.get("BAD_USER_INPUT"), Some(&1));
        let text = render(&metrics, &Gauges::default());
        assert!(text.contains(
            "clientele_graphql_request_duration_seconds_count{operation=\"Op0\",outcome=\"BAD_USER_INPUT\"} 1"
        ));
    }
}
