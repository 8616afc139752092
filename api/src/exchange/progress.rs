//! How an import tells its progress: a bar on a terminal, plain lines otherwise (a
//! log, a CI job), so the output of a long import is readable wherever it goes.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use super::ImportSummary;

/// Rows between two plain progress lines.
const ROWS_PER_LINE: u64 = 10_000;
/// And at most this long between two, for slow imports.
const LINE_INTERVAL: Duration = Duration::from_secs(10);

pub enum Progress {
    /// indicatif's bar, over the file's bytes.
    Bar(indicatif::ProgressBar),
    /// A line every 10,000 rows (or 10 s) to `out`.
    Lines {
        out: Box<dyn Write + Send>,
        last_rows: u64,
        last_at: Instant,
    },
    Silent,
}

impl Progress {
    /// A bar when stderr is a terminal, else plain lines on stderr.
    pub fn for_stderr(total_bytes: Option<u64>) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = match total_bytes {
                Some(total) => indicatif::ProgressBar::new(total),
                None => indicatif::ProgressBar::no_length(),
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {percent:>3}% {bytes}/{total_bytes} {msg} ({eta} left)",
            ) {
                bar.set_style(style);
            }
            Self::Bar(bar)
        } else {
            Self::lines(Box::new(std::io::stderr()))
        }
    }

    pub fn lines(out: Box<dyn Write + Send>) -> Self {
        Self::Lines {
            out,
            last_rows: 0,
            last_at: Instant::now(),
        }
    }

    pub(super) fn advance(&mut self, bytes: u64, summary: &ImportSummary) {
        match self {
            Self::Bar(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!(
                    "{} rows, {} rejected",
                    summary.rows, summary.rejected
                ));
            }
            Self::Lines {
                out,
                last_rows,
                last_at,
            } => {
                if summary.rows >= *last_rows + ROWS_PER_LINE || last_at.elapsed() >= LINE_INTERVAL
                {
                    let _ = writeln!(out, "import: {summary}");
                    *last_rows = summary.rows;
                    *last_at = Instant::now();
                }
            }
            Self::Silent => {}
        }
    }

    pub(super) fn finish(&mut self, summary: &ImportSummary) {
        match self {
            Self::Bar(bar) => bar.finish_with_message(summary.to_string()),
            Self::Lines { out, .. } => {
                let _ = writeln!(out, "import finished: {summary}");
            }
            Self::Silent => {}
        }
    }
}
