//! How often one caller may use the chain relay: per signing key and per
//! network address, so that neither a key nor an address (a script trying
//! keys) can keep the gateway's node busy for everyone else. Behind a
//! reverse proxy every caller has the proxy's address: the per-address
//! limit then bounds them all together (docs/gateway.md).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use ehr_ledger::crypto::Address;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Calls a second, and how many may come at once, for one key or one address.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Quota {
        let one = NonZeroU32::MIN;
        Quota::per_second(NonZeroU32::new(self.per_second).unwrap_or(one))
            .allow_burst(NonZeroU32::new(self.burst).unwrap_or(one))
    }
}

pub struct RelayLimits {
    per_key: DefaultKeyedRateLimiter<Address>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
}

/// A call refused for its rate: when the next one would be taken.
#[derive(Debug)]
pub struct Slow {
    pub retry_after: Duration,
    pub by_key: bool,
}

impl RelayLimits {
    pub fn new(per_key: Rate, per_address: Rate) -> Self {
        Self {
            per_key: RateLimiter::keyed(per_key.quota()),
            per_address: RateLimiter::keyed(per_address.quota()),
        }
    }

    pub fn address(&self, ip: IpAddr) -> Result<(), Slow> {
        self.per_address.check_key(&ip).map_err(|n| Slow {
            retry_after: n.wait_time_from(DefaultClock::default().now()),
            by_key: false,
        })
    }

    pub fn key(&self, caller: &Address) -> Result<(), Slow> {
        self.per_key.check_key(caller).map_err(|n| Slow {
            retry_after: n.wait_time_from(DefaultClock::default().now()),
            by_key: true,
        })
    }

    /// Forgets keys and addresses that have been quiet (their buckets full
    /// again), so that the tables do not grow with every key ever seen.
    pub fn forget_quiet(&self) {
        self.per_key.retain_recent();
        self.per_address.retain_recent();
        self.per_key.shrink_to_fit();
        self.per_address.shrink_to_fit();
    }
}
