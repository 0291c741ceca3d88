//! Latency percentiles from an HDR histogram (microsecond resolution, 3 significant digits).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub struct Latencies(Histogram<u64>);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latencies {
    pub fn new() -> Self {
        // One microsecond to one minute: anything longer is a timeout, not a latency.
        Self(Histogram::new_with_bounds(1, 60_000_000, 3).expect("the bounds are valid"))
    }

    pub fn record(&mut self, elapsed: Duration) {
        self.0.saturating_record(elapsed.as_micros() as u64);
    }

    pub fn merge(&mut self, other: &Latencies) {
        self.0.add(&other.0).expect("same bounds");
    }

    pub fn summary(&self) -> Summary {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Summary {
            count: self.0.len(),
            p50_ms: ms(self.0.value_at_quantile(0.50)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            max_ms: ms(self.0.max()),
        }
    }
}
