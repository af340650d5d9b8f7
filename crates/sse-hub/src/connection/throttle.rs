//! Adaptive flush interval: a connection under pressure flushes less often,
//! an idle one more often.
//!
//! | saturation | interval |
//! | --- | --- |
//! | < 10 % | base / 4 |
//! | 10 – 50 % | base |
//! | 50 – 80 % | base × 2 |
//! | > 80 % | base × 4 |
//!
//! Saturation is measured over the window that just ended (see
//! `Lanes::saturation`), so the next window's length reacts to the publish
//! rate the connection actually saw.

use std::time::Duration;

/// The flush interval for a connection at `saturation` (`0.0..=1.0`).
pub(crate) fn flush_interval(base: Duration, saturation: f64) -> Duration {
    if saturation < 0.10 {
        base / 4
    } else if saturation < 0.50 {
        base
    } else if saturation < 0.80 {
        base * 2
    } else {
        base * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands() {
        let base = Duration::from_millis(2000);
        assert_eq!(flush_interval(base, 0.0), Duration::from_millis(500));
        assert_eq!(flush_interval(base, 0.099), Duration::from_millis(500));
        assert_eq!(flush_interval(base, 0.10), base);
        assert_eq!(flush_interval(base, 0.49), base);
        assert_eq!(flush_interval(base, 0.50), base * 2);
        assert_eq!(flush_interval(base, 0.79), base * 2);
        assert_eq!(flush_interval(base, 0.80), base * 4);
        assert_eq!(flush_interval(base, 1.0), base * 4);
    }
}
