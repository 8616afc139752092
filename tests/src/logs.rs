//! Captures what the servers under test log, with the server's default filter, so
//! tests can assert that no secret ever reaches a log line.

use std::io::Write;
use std::sync::{Mutex, Once};

static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

struct Capture;

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber once per test binary.
pub fn capture() {
    INSTALL.call_once(|| {
        let filter = api::config::Settings::defaults()
            .expect("default settings")
            .log_filter;
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(|| Capture)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Installs a subscriber that writes nowhere, once per test binary, before any server
/// starts: for the load test, whose memory check must see the server's memory and
/// not this module's copy of a minute of request logs (tens of megabytes). The
/// subscriber still formats every line, as the server's would.
pub fn discard() {
    INSTALL.call_once(|| {
        let filter = api::config::Settings::defaults()
            .expect("default settings")
            .log_filter;
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(std::io::sink)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Everything logged so far by every server in this test binary.
pub fn captured() -> String {
    let bytes = CAPTURED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    String::from_utf8_lossy(&bytes).into_owned()
}
