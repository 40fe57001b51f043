//! How long to wait before the next reconnection attempt.

use std::time::Duration;

/// Exponential backoff from 50 ms to 2 s: a bus that comes back is found within 2 s, and one
/// that stays away costs one attempt every 2 s.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    attempts: u32,
}

impl Backoff {
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = Duration::from_millis(50u64.saturating_mul(1 << self.attempts.min(6))).min(Duration::from_secs(2));
        self.attempts = self.attempts.saturating_add(1);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_two_seconds_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..8).map(|_| backoff.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(50));
    }
}
