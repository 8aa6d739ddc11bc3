//! Per-device request rate limit: a token bucket per key, in this process.
//! Behind a load balancer each instance limits separately, so the effective
//! limit is per instance; that is enough to stop one device from starving
//! the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; `false` when the bucket is empty.
    pub fn allow(&self, key: &str) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return false;
        };
        let now = Instant::now();
        if buckets.len() > 100_000 {
            // Bound memory: forget buckets that have refilled completely.
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let entry = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        let refilled =
            (entry.0 + now.duration_since(entry.1).as_secs_f64() * self.per_second).min(self.burst);
        if refilled >= 1.0 {
            *entry = (refilled - 1.0, now);
            true
        } else {
            *entry = (refilled, now);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused() {
        let l = RateLimiter::new(1, 3);
        assert!(l.allow("d"));
        assert!(l.allow("d"));
        assert!(l.allow("d"));
        assert!(!l.allow("d"));
        assert!(l.allow("other"));
    }
}
