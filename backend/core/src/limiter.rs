//! Failed logins are limited per client IP and per account: past the limit inside the window,
//! every attempt (right password or not) is refused (HTTP 429 with Retry-After, SMTP 454,
//! IMAP NO) until the window ends. A success clears the account's count. Counts live in
//! memory, per process, and are shared by every protocol: guessing over SMTP AUTH counts
//! against the same account as guessing over HTTP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per account, and per client address, within [`WINDOW`].
pub const MAX_PER_ACCOUNT: u32 = 10;
pub const MAX_PER_IP: u32 = 30;
pub const WINDOW: Duration = Duration::from_secs(300);
/// Bounded memory under a flood of distinct keys: past this, the oldest windows go first.
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct FailureLimiter {
    counts: Mutex<HashMap<String, (u32, Instant)>>,
}

impl FailureLimiter {
    fn keys(ip: Option<IpAddr>, account: &str) -> [(String, u32); 2] {
        [
            (
                format!("account:{}", account.trim().to_lowercase()),
                MAX_PER_ACCOUNT,
            ),
            (
                format!("ip:{}", ip.map(|i| i.to_string()).unwrap_or_default()),
                MAX_PER_IP,
            ),
        ]
    }

    /// `Some(wait)` when this IP or account must wait before trying again.
    pub fn blocked(&self, ip: Option<IpAddr>, account: &str) -> Option<Duration> {
        let map = self.counts.lock().expect("limiter lock");
        Self::keys(ip, account)
            .iter()
            .filter_map(|(k, max)| {
                let (n, start) = map.get(k)?;
                let left = WINDOW.checked_sub(start.elapsed())?;
                (*n >= *max).then_some(left)
            })
            .max()
    }

    pub fn failed(&self, ip: Option<IpAddr>, account: &str) {
        let mut map = self.counts.lock().expect("limiter lock");
        if map.len() >= MAX_KEYS {
            map.retain(|_, (_, start)| start.elapsed() < WINDOW);
        }
        for (k, _) in Self::keys(ip, account) {
            let e = map.entry(k).or_insert((0, Instant::now()));
            if e.1.elapsed() >= WINDOW {
                *e = (0, Instant::now());
            }
            e.0 += 1;
        }
    }

    pub fn succeeded(&self, account: &str) {
        let [(k, _), _] = Self::keys(None, account);
        self.counts.lock().expect("limiter lock").remove(&k);
    }
}

/// Messages one account may send per hour, whatever the protocol (SMTP submission, JMAP,
/// REST): a fixed one-hour window per account, started by its first message. Zero: no limit.
pub struct SendLimiter {
    per_hour: u32,
    counts: Mutex<HashMap<i64, (u32, Instant)>>,
}

const HOUR: Duration = Duration::from_secs(3600);

impl SendLimiter {
    pub fn new(per_hour: u32) -> SendLimiter {
        SendLimiter {
            per_hour,
            counts: Mutex::default(),
        }
    }

    /// Counts one message for `account`; `Err(wait)` (and nothing counted) past the limit.
    pub fn take(&self, account: i64) -> Result<(), Duration> {
        if self.per_hour == 0 {
            return Ok(());
        }
        let mut map = self.counts.lock().expect("limiter lock");
        if map.len() >= MAX_KEYS {
            map.retain(|_, (_, start)| start.elapsed() < HOUR);
        }
        let e = map.entry(account).or_insert((0, Instant::now()));
        if e.1.elapsed() >= HOUR {
            *e = (0, Instant::now());
        }
        if e.0 >= self.per_hour {
            return Err(HOUR.saturating_sub(e.1.elapsed()));
        }
        e.0 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn send_limit_per_account() {
        let l = SendLimiter::new(2);
        assert!(l.take(1).is_ok() && l.take(1).is_ok());
        let wait = l.take(1).unwrap_err();
        assert!(wait > Duration::from_secs(3500) && wait <= HOUR);
        assert!(l.take(2).is_ok(), "another account has its own count");
        let none = SendLimiter::new(0);
        assert!((0..10_000).all(|_| none.take(1).is_ok()));
    }

    use super::*;

    #[test]
    fn blocks_an_account_then_an_address() {
        let l = FailureLimiter::default();
        let ip: Option<IpAddr> = Some("192.0.2.1".parse().unwrap());
        for _ in 0..MAX_PER_ACCOUNT {
            assert!(l.blocked(ip, "a@x.test").is_none());
            l.failed(ip, "a@x.test");
        }
        assert!(
            l.blocked(ip, "A@x.test").is_some(),
            "the account is blocked, whatever its case"
        );
        assert!(
            l.blocked(ip, "b@x.test").is_none(),
            "another account from the same address is not"
        );
        for i in 0..MAX_PER_IP {
            l.failed(ip, &format!("u{i}@x.test"));
        }
        assert!(
            l.blocked(ip, "c@x.test").is_some(),
            "the address is blocked for everyone"
        );
        assert!(
            l.blocked(Some("192.0.2.2".parse().unwrap()), "c@x.test")
                .is_none()
        );
        l.succeeded("a@x.test");
        assert!(
            l.blocked(Some("192.0.2.3".parse().unwrap()), "a@x.test")
                .is_none()
        );
    }
}
