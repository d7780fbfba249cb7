//! The routing table of one listener: an immutable snapshot swapped whole on every change, so
//! the request path reads it without a lock.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

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
}

/// One listener's routes. Cloned and modified on change, never mutated in place.
#[derive(Clone, Default)]
pub(crate) enum Table {
    #[default]
    Empty,
    // Entries behind `Arc`: a request clones one pointer out of the table, not the entry.
    Address(Arc<Entry>),
    Path(HashMap<String, Arc<Entry>>),
    Host { header: String, hosts: HashMap<String, Arc<Entry>> },
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
            Table::Address(e) => Some(&e.owner),
            Table::Path(m) | Table::Host { hosts: m, .. } => m.values().next().map(|e| &e.owner),
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
        match (self, route) {
            (Table::Empty, Route::Address(_)) => Ok(Table::Address(entry)),
            (Table::Empty, Route::Path { path, .. }) => Ok(Table::Path(HashMap::from([(path.clone(), entry)]))),
            (Table::Empty, Route::Host { header, host, .. }) => {
                Ok(Table::Host { header: header.clone(), hosts: HashMap::from([(host.clone(), entry)]) })
            }
            (Table::Address(existing), Route::Address(address)) => Err(RouteError::AddressTaken {
                address: *address,
                existing: existing.owner.clone(),
                requested,
            }),
            (Table::Path(paths), Route::Path { path, .. }) => {
                if let Some(existing) = paths.get(path) {
                    return Err(RouteError::RouteTaken { route: route.to_string(), existing: existing.owner.clone(), requested });
                }
                let mut paths = paths.clone();
                paths.insert(path.clone(), entry);
                Ok(Table::Path(paths))
            }
            (Table::Host { header, hosts }, Route::Host { header: h, host, .. }) if header == h => {
                if let Some(existing) = hosts.get(host) {
                    return Err(RouteError::RouteTaken { route: route.to_string(), existing: existing.owner.clone(), requested });
                }
                let mut hosts = hosts.clone();
                hosts.insert(host.clone(), entry);
                Ok(Table::Host { header: header.clone(), hosts })
            }
            (table, _) => Err(conflict(table.any_owner().expect("a non-empty table has an owner"), requested)),
        }
    }

    /// This table without `route` (if `owner` holds it).
    pub(crate) fn without(&self, route: &Route, owner: &Owner) -> Table {
        match (self, route) {
            (Table::Address(e), Route::Address(_)) if e.owner == *owner => Table::Empty,
            (Table::Path(paths), Route::Path { path, .. }) => {
                let mut paths = paths.clone();
                if paths.get(path).is_some_and(|e| e.owner == *owner) {
                    paths.remove(path);
                }
                Table::Path(paths)
            }
            (Table::Host { header, hosts }, Route::Host { host, .. }) => {
                let mut hosts = hosts.clone();
                if hosts.get(host).is_some_and(|e| e.owner == *owner) {
                    hosts.remove(host);
                }
                Table::Host { header: header.clone(), hosts }
            }
            (table, _) => table.clone(),
        }
    }

    /// The component that serves `request`, if any.
    pub(crate) fn route<B>(&self, request: &http::Request<B>) -> Option<&Arc<Entry>> {
        match self {
            Table::Empty => None,
            Table::Address(e) => Some(e),
            Table::Path(paths) => paths.get(request.uri().path()),
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
                hosts.get(&value).or_else(|| {
                    // `Host: a.example:8000` still matches a route for `a.example`.
                    let bare = value.rsplit_once(':').map(|(h, _)| h)?;
                    hosts.get(bare)
                })
            }
        }
    }
}
