//! Which manager of a lattice acts: the one holding the lease, a key in the JetStream bucket
//! `trellis_leader_<lattice>` written by compare-and-set. The holder renews it every third of a
//! term; a standby that sees it unchanged for a whole term (by its own clock, so clocks need not
//! agree) takes it over with a compare-and-set on the revision it saw, which fails if the holder
//! renewed meanwhile. A holder that cannot renew for two thirds of a term steps down before
//! anyone may take over, so two managers never act at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::kv;
use tokio::time::Instant;

use crate::StoreError;

const KEY: &str = "manager";

/// The right to act for one lattice.
pub struct Lease {
    kv: kv::Store,
    /// Who this manager is, as written into the key: unique per process.
    holder: String,
    term: Duration,
    /// The revision this manager last wrote, while it holds the lease.
    held: AtomicU64,
}

impl Lease {
    /// Opens lattice `lattice`'s lease bucket (creating it if needed). `term` is how long a
    /// silent holder keeps the lease; a standby takes over within about 1⅓ terms of its death.
    pub async fn jetstream(client: async_nats::Client, lattice: &str, term: Duration) -> Result<Lease, StoreError> {
        let js = async_nats::jetstream::new(client);
        let name = format!("trellis_leader_{lattice}");
        let kv = crate::store::open_bucket(&js, &name).await?;
        let holder = format!("{}@{}", ulid::Ulid::new(), hostname());
        Ok(Lease { kv, holder, term, held: AtomicU64::new(0) })
    }

    /// This manager's name in the lease.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub(crate) fn term(&self) -> Duration {
        self.term
    }

    fn renew_every(&self) -> Duration {
        self.term / 3
    }

    /// Takes the lease if it is free right now; true if this manager holds it.
    pub(crate) async fn acquire_if_free(&self) -> bool {
        match self.try_acquire(&mut None).await {
            Ok(Some(revision)) => {
                self.held.store(revision, Ordering::Release);
                true
            }
            _ => false,
        }
    }

    /// Waits until this manager holds the lease.
    pub(crate) async fn acquire(&self) {
        // The revision last seen and since when, by this process's clock.
        let mut seen: Option<(u64, Instant)> = None;
        loop {
            match self.try_acquire(&mut seen).await {
                Ok(Some(revision)) => {
                    self.held.store(revision, Ordering::Release);
                    return;
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "cannot read the manager lease; retrying"),
            }
            tokio::time::sleep(self.renew_every()).await;
        }
    }

    async fn try_acquire(&self, seen: &mut Option<(u64, Instant)>) -> Result<Option<u64>, String> {
        let entry = self.kv.entry(KEY).await.map_err(|e| e.to_string())?;
        let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
            return Ok(self.kv.create(KEY, self.holder.clone().into()).await.ok());
        };
        // Released (empty), or ours from before a reconnect: take it at once.
        let free = entry.value.is_empty() || entry.value == self.holder.as_bytes();
        let expired = match *seen {
            Some((revision, since)) if revision == entry.revision => since.elapsed() >= self.term,
            _ => {
                *seen = Some((entry.revision, Instant::now()));
                false
            }
        };
        if !(free || expired) {
            return Ok(None);
        }
        Ok(self.kv.update(KEY, self.holder.clone().into(), entry.revision).await.ok())
    }

    /// Renews the lease until it is lost; says why.
    pub(crate) async fn hold(&self) -> String {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(self.renew_every()).await;
            let revision = self.held.load(Ordering::Acquire);
            match self.kv.update(KEY, self.holder.clone().into(), revision).await {
                Ok(next) => {
                    self.held.store(next, Ordering::Release);
                    renewed = Instant::now();
                }
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => return "another manager holds the lease".into(),
                Err(e) if renewed.elapsed() >= self.term * 2 / 3 => {
                    return format!("the lease could not be renewed for {} ms ({e})", renewed.elapsed().as_millis());
                }
                Err(e) => tracing::warn!(error = %e, "cannot renew the manager lease; retrying"),
            }
        }
    }

    /// Gives the lease up, so a standby takes over at once instead of after a term.
    pub(crate) async fn release(&self) {
        let revision = self.held.swap(0, Ordering::AcqRel);
        if revision != 0 {
            let _ = self.kv.update(KEY, bytes::Bytes::new(), revision).await;
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "unknown".into())
}
