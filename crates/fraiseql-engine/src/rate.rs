//! Token buckets: at most `rate` per second on average, `burst` at once. O(1) per check, and one
//! bucket lives as long as what it limits (a subscription), so memory never grows with the
//! number of clients ever seen.

use std::time::Instant;

use parking_lot::Mutex;

#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    /// Tokens available, and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket (`burst` of at least one token).
    pub fn new(rate: f64, burst: f64) -> Self {
        let burst = burst.max(1.0);
        Self { rate, burst, state: Mutex::new((burst, Instant::now())) }
    }

    /// Takes a token if one is there.
    pub fn try_take(&self) -> bool {
        self.try_take_at(Instant::now())
    }

    pub fn try_take_at(&self, now: Instant) -> bool {
        let mut state = self.state.lock();
        let (tokens, counted) = *state;
        let refilled = (tokens + now.saturating_duration_since(counted).as_secs_f64() * self.rate).min(self.burst);
        if refilled >= 1.0 {
            *state = (refilled - 1.0, now);
            true
        } else {
            *state = (refilled, now);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn allows_a_burst_then_the_rate() {
        let bucket = TokenBucket::new(10.0, 3.0);
        let start = Instant::now();
        let taken = (0..5).filter(|_| bucket.try_take_at(start)).count();
        assert_eq!(taken, 3, "the burst");
        assert!(!bucket.try_take_at(start + Duration::from_millis(50)), "half a token");
        assert!(bucket.try_take_at(start + Duration::from_millis(100)), "one token per 100 ms");
        let later = start + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| bucket.try_take_at(later)).count(), 3, "never more than the burst");
    }
}
