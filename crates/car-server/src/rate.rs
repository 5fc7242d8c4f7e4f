//! The rate limit on state-changing requests: a token bucket per user (a
//! user token's), per token (or per peer address when the server has no
//! token), refilled at
//! `server.rate_limit_per_minute` a minute and holding at most [`BURST`]
//! requests (or the limit, when it is smaller). A request over it gets 429
//! with `Retry-After` (seconds) and is neither done nor audited.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::guard::changes_state;
use crate::state::AppState;

/// The most requests in a burst.
pub const BURST: u32 = 20;

/// The buckets of one server.
#[derive(Debug)]
pub(crate) struct Limiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Limiter {
    /// `per_minute` requests a minute for each key; 0: no limit.
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn capacity(&self) -> f64 {
        f64::from(self.per_minute.min(BURST))
    }

    /// Takes one request for `key` at `now`: `Err(wait)` when there is
    /// none left, `wait` being how long until there is.
    pub(crate) fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let per_sec = f64::from(self.per_minute) / 60.0;
        let cap = self.capacity();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Full buckets hold nothing worth keeping.
        if buckets.len() > 10_000 {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < cap
            });
        }
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: cap,
            at: now,
        });
        let refilled = now.saturating_duration_since(b.at).as_secs_f64() * per_sec;
        b.tokens = (b.tokens + refilled).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_sec))
        }
    }
}

/// Applies the limit to state-changing requests; see the module docs.
pub(crate) async fn rate_limit(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if !changes_state(req.method()) {
        return next.run(req).await;
    }
    // Past the token check: with a token, every request here holds it.
    let caller = req.extensions().get::<crate::guard::Caller>();
    let key = if let Some(crate::guard::Caller::Action(repo)) = caller {
        // A notification's buttons do not use up the token's budget.
        format!("action:{repo}")
    } else if let Some(crate::guard::Caller::User(u)) = caller {
        // Each user has a budget of its own, whatever its tokens.
        format!("user:{}", u.name)
    } else if state.inner.token.is_some() {
        "token".to_string()
    } else {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "peer".to_string(), |c| c.0.ip().to_string())
    };
    match state.inner.limiter.take(&key, Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let secs = wait.as_secs_f64().ceil().max(1.0);
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests that change something (server.rate_limit_per_minute: {}); retry in {secs} s",
                    state.inner.limiter.per_minute
                ),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("{secs}")) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_requests_come_at_the_rate_per_key() {
        let l = Limiter::new(60);
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(l.take("a", t0), Ok(()));
        }
        let wait = l.take("a", t0).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        // Another key has its own bucket.
        assert_eq!(l.take("b", t0), Ok(()));
        // One a second comes back, never more than the burst.
        assert_eq!(l.take("a", t0 + Duration::from_secs(1)), Ok(()));
        assert!(l.take("a", t0 + Duration::from_secs(1)).is_err());
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..BURST {
            assert_eq!(l.take("a", later), Ok(()));
        }
        assert!(l.take("a", later).is_err());
    }

    #[test]
    fn a_small_limit_is_its_own_burst_and_zero_is_no_limit() {
        let l = Limiter::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take("a", t0), Ok(()));
        }
        let wait = l.take("a", t0).unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20));
        let none = Limiter::new(0);
        for _ in 0..1000 {
            assert_eq!(none.take("a", t0), Ok(()));
        }
    }
}
