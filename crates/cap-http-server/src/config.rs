//! The provider's and the links' configuration keys, read as wasmCloud's http-server reads them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// How a listener picks the component for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingMode {
    /// One component per listening address.
    Address,
    /// Exact match on the request path.
    Path,
    /// Match on a request header, `Host` by default.
    Host {
        /// Header to match, lower-case.
        header: String,
    },
}

/// The capability's own configuration (its named config in the manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The routing mode.
    pub mode: RoutingMode,
    /// Listener for path and host routing, and for address links that name none.
    pub default_address: SocketAddr,
}

/// wasmCloud's default listener.
const DEFAULT_ADDRESS: &str = "0.0.0.0:8000";

/// Link config keys that wasmCloud's provider reads and Trellis does not act on yet. They are
/// reported, not ignored silently: a user who set `tls_cert_file` must know it has no effect.
const UNSUPPORTED_KEYS: &[&str] = &[
    "tls_cert_file",
    "tls_priv_key_file",
    "cors_allowed_origins",
    "cors_allowed_headers",
    "cors_allowed_methods",
    "cors_exposed_headers",
    "cors_max_age_secs",
    "disable_keepalive",
    "config_json",
    "config_b64",
    "max_content_len",
];

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The config key at fault.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { key: key.to_owned(), message: message.into() }
}

/// Keys are case-insensitive, as in wasmCloud's provider.
fn get<'a>(config: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    config.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

fn parse_address(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| err(key, format!("`{value}` is not an IP:PORT address (e.g. 127.0.0.1:8080)")))
}

impl ServerConfig {
    /// Reads the capability's merged config (`routing_mode`, `default_address`, `header`).
    pub fn from_config(config: &BTreeMap<String, String>) -> Result<ServerConfig, ConfigError> {
        let default_address = parse_address("default_address", get(config, "default_address").unwrap_or(DEFAULT_ADDRESS))?;
        let mode = match get(config, "routing_mode").map(str::to_ascii_lowercase).as_deref() {
            None | Some("address") => RoutingMode::Address,
            Some("path") => RoutingMode::Path,
            Some("host") => RoutingMode::Host { header: get(config, "header").unwrap_or("host").to_ascii_lowercase() },
            Some(other) => return Err(err("routing_mode", format!("`{other}` is not a routing mode; expected address, path or host"))),
        };
        Ok(ServerConfig { mode, default_address })
    }
}

/// Where one link's component is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Everything that arrives on this address.
    Address(SocketAddr),
    /// Requests to exactly this path on the address.
    Path {
        /// The listener.
        address: SocketAddr,
        /// The exact request path.
        path: String,
    },
    /// Requests whose header `header` equals `host` on the address.
    Host {
        /// The listener.
        address: SocketAddr,
        /// Header matched, lower-case.
        header: String,
        /// Value matched, case-insensitively.
        host: String,
    },
}

/// Per-link behaviour of wasmCloud's provider that Trellis applies to each request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkSettings {
    /// `readonly_mode`: only GET and HEAD; anything else gets 405.
    pub readonly: bool,
    /// `timeout_ms`: a response not ready by then gets 408.
    pub timeout: Option<Duration>,
    /// `cache_control`: set as the `Cache-Control` header of every response.
    pub cache_control: Option<http::HeaderValue>,
}

impl LinkSettings {
    /// Reads `readonly_mode`, `timeout_ms` and `cache_control`.
    pub fn from_link_config(link: &BTreeMap<String, String>) -> Result<LinkSettings, ConfigError> {
        let readonly = match get(link, "readonly_mode").map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(err("readonly_mode", format!("`{other}` is not true or false"))),
        };
        let timeout = get(link, "timeout_ms")
            .map(|v| v.parse::<u64>().ok().filter(|ms| *ms > 0).map(Duration::from_millis).ok_or_else(|| err("timeout_ms", format!("`{v}` is not a positive number of milliseconds"))))
            .transpose()?;
        let cache_control = get(link, "cache_control")
            .map(|v| http::HeaderValue::from_str(v).map_err(|_| err("cache_control", format!("`{v}` is not a valid header value"))))
            .transpose()?;
        Ok(LinkSettings { readonly, timeout, cache_control })
    }
}

impl Route {
    /// The route a link asks for, read from the link's source config under `server`'s mode.
    /// Also returns the keys that were set but have no effect yet.
    pub fn from_link_config(
        server: &ServerConfig,
        link: &BTreeMap<String, String>,
    ) -> Result<(Route, Vec<String>), ConfigError> {
        let ignored = link
            .keys()
            .filter(|k| UNSUPPORTED_KEYS.iter().any(|u| k.eq_ignore_ascii_case(u)))
            .cloned()
            .collect();
        let route = match &server.mode {
            RoutingMode::Address => match (get(link, "address"), get(link, "port")) {
                (Some(a), _) => Route::Address(parse_address("address", a)?),
                (None, Some(p)) => {
                    let port: u16 = p.parse().map_err(|_| err("port", format!("`{p}` is not a port number")))?;
                    Route::Address(SocketAddr::new(server.default_address.ip(), port))
                }
                (None, None) => Route::Address(server.default_address),
            },
            RoutingMode::Path => {
                let path = get(link, "path").ok_or_else(|| err("path", "required when routing_mode is path"))?;
                if !path.starts_with('/') {
                    return Err(err("path", format!("`{path}` must start with `/`")));
                }
                Route::Path { address: server.default_address, path: path.to_owned() }
            }
            RoutingMode::Host { header } => {
                let host = get(link, "host").ok_or_else(|| err("host", "required when routing_mode is host"))?;
                Route::Host { address: server.default_address, header: header.clone(), host: host.to_ascii_lowercase() }
            }
        };
        Ok((route, ignored))
    }

    /// The listening address.
    pub fn address(&self) -> SocketAddr {
        match self {
            Route::Address(a) | Route::Path { address: a, .. } | Route::Host { address: a, .. } => *a,
        }
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Address(a) => write!(f, "http://{a}/"),
            Route::Path { address, path } => write!(f, "http://{address}{path}"),
            Route::Host { address, header, host } => write!(f, "http://{address}/ ({header}: {host})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn address_mode_is_the_default() {
        let server = ServerConfig::from_config(&map(&[])).unwrap();
        assert_eq!(server.mode, RoutingMode::Address);
        let (route, _) = Route::from_link_config(&server, &map(&[("ADDRESS", "127.0.0.1:9000")])).unwrap();
        assert_eq!(route, Route::Address("127.0.0.1:9000".parse().unwrap()));
        let (route, _) = Route::from_link_config(&server, &map(&[("port", "9001")])).unwrap();
        assert_eq!(route, Route::Address("0.0.0.0:9001".parse().unwrap()));
    }

    #[test]
    fn path_mode_requires_a_path() {
        let server = ServerConfig::from_config(&map(&[("routing_mode", "path"), ("default_address", "127.0.0.1:9100")])).unwrap();
        let e = Route::from_link_config(&server, &map(&[])).unwrap_err();
        assert_eq!(e.to_string(), "path: required when routing_mode is path");
        let (route, _) = Route::from_link_config(&server, &map(&[("path", "/api")])).unwrap();
        assert_eq!(route.to_string(), "http://127.0.0.1:9100/api");
    }

    #[test]
    fn host_mode_reads_its_header() {
        let server = ServerConfig::from_config(&map(&[("routing_mode", "host"), ("header", "X-Tenant")])).unwrap();
        let (route, _) = Route::from_link_config(&server, &map(&[("host", "A.example")])).unwrap();
        assert!(matches!(route, Route::Host { ref header, ref host, .. } if header == "x-tenant" && host == "a.example"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = ServerConfig::from_config(&map(&[("routing_mode", "magic")])).unwrap_err();
        assert_eq!(e.key, "routing_mode");
        let e = ServerConfig::from_config(&map(&[("default_address", "localhost")])).unwrap_err();
        assert!(e.to_string().starts_with("default_address: `localhost` is not an IP:PORT"), "{e}");
    }

    #[test]
    fn link_settings() {
        let s = LinkSettings::from_link_config(&map(&[("READONLY_MODE", "true"), ("timeout_ms", "250"), ("cache_control", "max-age=60")])).unwrap();
        assert!(s.readonly);
        assert_eq!(s.timeout, Some(Duration::from_millis(250)));
        assert_eq!(s.cache_control.unwrap(), "max-age=60");
        assert_eq!(LinkSettings::from_link_config(&map(&[("timeout_ms", "soon")])).unwrap_err().key, "timeout_ms");
        assert_eq!(LinkSettings::from_link_config(&map(&[("readonly_mode", "yes")])).unwrap_err().key, "readonly_mode");
    }

    #[test]
    fn unsupported_keys_are_reported() {
        let server = ServerConfig::from_config(&map(&[])).unwrap();
        let (_, ignored) = Route::from_link_config(&server, &map(&[("address", "127.0.0.1:1"), ("tls_cert_file", "x")])).unwrap();
        assert_eq!(ignored, vec!["tls_cert_file".to_string()]);
    }
}
