//! How many calls an action keeps in flight at one org: additive increase,
//! multiplicative decrease, as TCP does. It starts small, grows by about
//! one call per round of fast, clean answers, halves when the org pushes
//! back (`REQUEST_LIMIT_EXCEEDED`, 429, 5xx), and never passes the
//! operator's ceiling. Hand-written: the crates that limit concurrency
//! (tower's `ConcurrencyLimit`, semaphores) hold a fixed limit, and the
//! adaptive ones are built around a tower service, which these calls are not.

use std::time::Duration;

/// The window, and what it saw (for the logs and the benchmark).
#[derive(Debug, Clone)]
pub struct Window {
    size: f64,
    ceiling: f64,
    /// The fastest answer seen: answers within twice it (plus a little)
    /// count as fast.
    best: Option<Duration>,
    pub peak: usize,
    in_flight_sum: u64,
    samples: u64,
}

/// Calls in flight at first.
const START: f64 = 2.0;

impl Window {
    pub fn new(ceiling: usize) -> Window {
        let ceiling = ceiling.max(1) as f64;
        Window {
            size: START.min(ceiling),
            ceiling,
            best: None,
            peak: 0,
            in_flight_sum: 0,
            samples: 0,
        }
    }

    /// Calls that may be in flight now.
    pub fn allowed(&self) -> usize {
        self.size.floor().max(1.0) as usize
    }

    /// Notes how many calls are in flight (once per call started).
    pub fn sample(&mut self, in_flight: usize) {
        self.peak = self.peak.max(in_flight);
        self.in_flight_sum += in_flight as u64;
        self.samples += 1;
    }

    /// The mean of the samples, 0 without any.
    pub fn mean(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.in_flight_sum as f64 / self.samples as f64
        }
    }

    /// A clean answer that took `took`: the window grows by about one per
    /// window's worth of fast answers.
    pub fn answered(&mut self, took: Duration) {
        let best = *self.best.get_or_insert(took);
        if took < best {
            self.best = Some(took);
        }
        if took <= best * 2 + Duration::from_millis(20) {
            self.size = (self.size + 1.0 / self.size).min(self.ceiling);
        }
    }

    /// The org pushed back: half as many calls.
    pub fn pushed_back(&mut self) {
        self.size = (self.size / 2.0).max(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(100);

    #[test]
    fn grows_on_fast_answers_up_to_the_ceiling_and_halves_on_pushback() {
        let mut w = Window::new(16);
        assert_eq!(w.allowed(), 2);
        for _ in 0..200 {
            w.answered(FAST);
        }
        assert_eq!(w.allowed(), 16, "never above the ceiling");
        w.pushed_back();
        assert_eq!(w.allowed(), 8);
        for _ in 0..10 {
            w.pushed_back();
        }
        assert_eq!(w.allowed(), 1, "never below one");
    }

    #[test]
    fn slow_answers_do_not_grow_it() {
        let mut w = Window::new(16);
        w.answered(FAST);
        let before = w.allowed();
        for _ in 0..100 {
            w.answered(FAST * 10);
        }
        assert_eq!(w.allowed(), before);
    }

    #[test]
    fn a_ceiling_of_one_is_one() {
        let mut w = Window::new(1);
        for _ in 0..50 {
            w.answered(FAST);
        }
        assert_eq!(w.allowed(), 1);
        w.sample(1);
        assert_eq!((w.peak, w.mean()), (1, 1.0));
    }
}
