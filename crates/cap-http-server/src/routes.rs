//! The routing table of one listener: an immutable snapshot swapped whole on every change, so
//! the request path reads it without a lock.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::Route;
use crate::invoke::HttpTarget;

/// Who claimed a route: reported when someone else wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Application name.
    pub app: String,
    /// Component (manifest name) served there.
    pub component: String,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "component `{}` of app `{}`", self.component, self.app)
    }
}

/// Why a route could not be bound.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The address is already served, and address routing admits one component per address.
    #[error("address {address} is already served by {existing}; {requested} asked for it too")]
    AddressTaken {
        /// The address.
        address: SocketAddr,
        /// Who has it.
        existing: Owner,
        /// Who asked.
        requested: Owner,
    },
    /// The same path or host is already routed on this address.
    #[error("route {route} is already served by {existing}; {requested} asked for it too")]
    RouteTaken {
        /// The route.
        route: String,
        /// Who has it.
        existing: Owner,
        /// Who asked.
        requested: Owner,
    },
    /// The listener routes in another mode (e.g. by path) than the link asks for.
    #[error("address {address} routes by {existing_mode} for {existing}; {requested} asked to route it by {requested_mode}")]
    ModeConflict {
        /// The address.
        address: SocketAddr,
        /// The mode in force.
        existing_mode: &'static str,
        /// Someone routed there.
        existing: Owner,
        /// The mode asked for.
        requested_mode: &'static str,
        /// Who asked.
        requested: Owner,
    },
    /// The address could not be bound.
    #[error("cannot listen on {address} for {requested}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Who asked.
        requested: Owner,
        /// The OS error.
        source: std::io::Error,
    },
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) owner: Owner,
    pub(crate) target: HttpTarget,
    pub(crate) settings: crate::config::LinkSettings,
    /// Tells this binding from another of the same owner on the same route.
    pub(crate) token: u64,
    /// The owner, as the request metrics name it.
    pub(crate) attributes: crate::telemetry::RouteAttributes,
}

/// Everything bound at one route. Only one owner may hold a route, but it may hold it more
/// than once: a new version starting beside the old, or the same component on several hosts
/// of one process. Requests rotate over the entries.
pub(crate) struct Slot {
    // Entries behind `Arc`: a request clones one pointer out of the table, not the entry.
    entries: Vec<Arc<Entry>>,
    next: AtomicUsize,
}

impl Slot {
    fn one(entry: Arc<Entry>) -> Arc<Slot> {
        Arc::new(Slot { entries: vec![entry], next: AtomicUsize::new(0) })
    }

    fn owner(&self) -> &Owner {
        &self.entries[0].owner
    }

    /// This slot plus `entry`, if the owner is the same; else who holds it.
    fn with(&self, entry: Arc<Entry>) -> Result<Arc<Slot>, &Owner> {
        if entry.owner != *self.owner() {
            return Err(self.owner());
        }
        let mut entries = self.entries.clone();
        entries.push(entry);
        Ok(Arc::new(Slot { entries, next: AtomicUsize::new(0) }))
    }

    /// This slot without the binding `token`; `None` when that leaves it empty.
    fn without(self: &Arc<Slot>, token: u64) -> Option<Arc<Slot>> {
        if !self.entries.iter().any(|e| e.token == token) {
            return Some(self.clone());
        }
        let entries: Vec<_> = self.entries.iter().filter(|e| e.token != token).cloned().collect();
        (!entries.is_empty()).then(|| Arc::new(Slot { entries, next: AtomicUsize::new(0) }))
    }

    fn pick(&self) -> &Arc<Entry> {
        match self.entries.len() {
            1 => &self.entries[0],
            n => &self.entries[self.next.fetch_add(1, Ordering::Relaxed) % n],
        }
    }
}

/// One listener's routes. Cloned and modified on change, never mutated in place.
#[derive(Clone, Default)]
pub(crate) enum Table {
    #[default]
    Empty,
    Address(Arc<Slot>),
    Path(HashMap<String, Arc<Slot>>),
    Host { header: String, hosts: HashMap<String, Arc<Slot>> },
}

impl Table {
    fn mode(&self) -> &'static str {
        match self {
            Table::Empty => "nothing",
            Table::Address(_) => "address",
            Table::Path(_) => "path",
            Table::Host { .. } => "host",
        }
    }

    fn any_owner(&self) -> Option<&Owner> {
        match self {
            Table::Empty => None,
            Table::Address(slot) => Some(slot.owner()),
            Table::Path(m) | Table::Host { hosts: m, .. } => m.values().next().map(|slot| slot.owner()),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Table::Empty => true,
            Table::Address(_) => false,
            Table::Path(m) | Table::Host { hosts: m, .. } => m.is_empty(),
        }
    }

    /// This table plus `route`, or why it cannot take it.
    #[expect(clippy::result_large_err, reason = "bound at deploy time, never per request; the error names both owners")]
    pub(crate) fn with(&self, route: &Route, entry: Entry) -> Result<Table, RouteError> {
        let requested_mode = match route {
            Route::Address(_) => "address",
            Route::Path { .. } => "path",
            Route::Host { .. } => "host",
        };
        let conflict = |existing: &Owner, requested: Owner| RouteError::ModeConflict {
            address: route.address(),
            existing_mode: self.mode(),
            existing: existing.clone(),
            requested_mode,
            requested,
        };
        let requested = entry.owner.clone();
        let entry = Arc::new(entry);
        let stack = |slot: &Arc<Slot>, entry: Arc<Entry>| {
            slot.with(entry).map_err(|existing| RouteError::RouteTaken {
                route: route.to_string(),
                existing: existing.clone(),
                requested: requested.clone(),
            })
        };
        match (self, route) {
            (Table::Empty, Route::Address(_)) => Ok(Table::Address(Slot::one(entry))),
            (Table::Empty, Route::Path { path, .. }) => Ok(Table::Path(HashMap::from([(path.clone(), Slot::one(entry))]))),
            (Table::Empty, Route::Host { header, host, .. }) => {
                Ok(Table::Host { header: header.clone(), hosts: HashMap::from([(host.clone(), Slot::one(entry))]) })
            }
            (Table::Address(slot), Route::Address(address)) => match slot.with(entry) {
                Ok(slot) => Ok(Table::Address(slot)),
                Err(existing) => Err(RouteError::AddressTaken { address: *address, existing: existing.clone(), requested }),
            },
            (Table::Path(paths), Route::Path { path, .. }) => {
                let slot = match paths.get(path) {
                    Some(slot) => stack(slot, entry)?,
                    None => Slot::one(entry),
                };
                let mut paths = paths.clone();
                paths.insert(path.clone(), slot);
                Ok(Table::Path(paths))
            }
            (Table::Host { header, hosts }, Route::Host { header: h, host, .. }) if header == h => {
                let slot = match hosts.get(host) {
                    Some(slot) => stack(slot, entry)?,
                    None => Slot::one(entry),
                };
                let mut hosts = hosts.clone();
                hosts.insert(host.clone(), slot);
                Ok(Table::Host { header: header.clone(), hosts })
            }
            (table, _) => Err(conflict(table.any_owner().expect("a non-empty table has an owner"), requested)),
        }
    }

    /// This table without the binding `token` at `route`.
    pub(crate) fn without(&self, route: &Route, token: u64) -> Table {
        let drop_from = |map: &HashMap<String, Arc<Slot>>, key: &str| {
            let mut map = map.clone();
            match map.get(key).map(|slot| slot.without(token)) {
                Some(Some(slot)) => {
                    map.insert(key.to_owned(), slot);
                }
                Some(None) => {
                    map.remove(key);
                }
                None => {}
            }
            map
        };
        match (self, route) {
            (Table::Address(slot), Route::Address(_)) => slot.without(token).map_or(Table::Empty, Table::Address),
            (Table::Path(paths), Route::Path { path, .. }) => Table::Path(drop_from(paths, path)),
            (Table::Host { header, hosts }, Route::Host { host, .. }) => Table::Host { header: header.clone(), hosts: drop_from(hosts, host) },
            (table, _) => table.clone(),
        }
    }

    /// The binding that serves `request`, if any.
    pub(crate) fn route<B>(&self, request: &http::Request<B>) -> Option<&Arc<Entry>> {
        let slot = match self {
            Table::Empty => return None,
            Table::Address(slot) => slot,
            Table::Path(paths) => paths.get(request.uri().path())?,
            Table::Host { header, hosts } => {
                let value = match header.as_str() {
                    // HTTP/1.1 puts the host in the header, HTTP/2 and absolute-form in the URI.
                    "host" => request
                        .headers()
                        .get(http::header::HOST)
                        .and_then(|v| v.to_str().ok())
                        .or_else(|| request.uri().host())?,
                    name => request.headers().get(name)?.to_str().ok()?,
                };
                let value = value.to_ascii_lowercase();
                match hosts.get(&value) {
                    Some(slot) => slot,
                    // `Host: a.example:8000` still matches a route for `a.example`.
                    None => hosts.get(value.rsplit_once(':').map(|(h, _)| h)?)?,
                }
            }
        };
        Some(slot.pick())
    }
}
