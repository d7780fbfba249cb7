//! The link config keys of wasmCloud's sqldb-postgres provider.

/// Where and how to connect: `POSTGRES_HOST`, `POSTGRES_PORT`, `POSTGRES_USERNAME`,
/// `POSTGRES_PASSWORD`, `POSTGRES_DATABASE`, `POSTGRES_TLS_REQUIRED`, `POSTGRES_POOL_SIZE`, and
/// Trellis' `POSTGRES_TLS_CA`.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) database: String,
    pub(crate) pool_size: usize,
    pub(crate) tls: Tls,
}

/// Whether connections are encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tls {
    /// Plain TCP, as the provider does without `POSTGRES_TLS_REQUIRED`.
    Off,
    /// TLS, the server's certificate checked against the system's roots and these PEM
    /// certificates (`POSTGRES_TLS_CA`), for servers with a private CA.
    Required { extra_roots_pem: Option<String> },
}

/// Connections per link when `POSTGRES_POOL_SIZE` is not set.
const DEFAULT_POOL_SIZE: usize = 8;

impl PostgresConfig {
    /// Reads the keys through `get` (the host's case-insensitive lookup). The error names the
    /// key and what is wrong with it.
    pub fn from_link<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<PostgresConfig, String> {
        let required = |key: &str| get(key).map(str::to_owned).ok_or_else(|| format!("{key} is missing from the link's config"));
        let port = match get("POSTGRES_PORT") {
            Some(p) => p.parse().map_err(|_| format!("POSTGRES_PORT `{p}` is not a port number"))?,
            None => 5432,
        };
        let pool_size = match get("POSTGRES_POOL_SIZE") {
            Some(n) => n.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("POSTGRES_POOL_SIZE `{n}` is not a positive number"))?,
            None => DEFAULT_POOL_SIZE,
        };
        let tls = match get("POSTGRES_TLS_REQUIRED").map(str::to_ascii_lowercase).as_deref() {
            None | Some("false" | "0" | "no") => Tls::Off,
            Some("true" | "1" | "yes") => Tls::Required { extra_roots_pem: get("POSTGRES_TLS_CA").map(read_pem).transpose()? },
            Some(other) => return Err(format!("POSTGRES_TLS_REQUIRED `{other}` is not true or false")),
        };
        if tls == Tls::Off && get("POSTGRES_TLS_CA").is_some() {
            return Err("POSTGRES_TLS_CA is set but POSTGRES_TLS_REQUIRED is not true; set both to connect over TLS".into());
        }
        Ok(PostgresConfig {
            host: required("POSTGRES_HOST")?,
            port,
            username: required("POSTGRES_USERNAME")?,
            password: get("POSTGRES_PASSWORD").unwrap_or_default().to_owned(),
            database: required("POSTGRES_DATABASE")?,
            pool_size,
            tls,
        })
    }

    /// `user@host:port/database`, for errors and logs: never the password.
    pub fn describe(&self) -> String {
        format!("{}@{}:{}/{}", self.username, self.host, self.port, self.database)
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tls = if self.tls == Tls::Off { "" } else { ", TLS" };
        write!(f, "PostgresConfig({}, pool {}{tls})", self.describe(), self.pool_size)
    }
}

/// `POSTGRES_TLS_CA`: PEM certificates, given as the text itself or as the path of a file.
fn read_pem(value: &str) -> Result<String, String> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.to_owned());
    }
    std::fs::read_to_string(value).map_err(|e| format!("POSTGRES_TLS_CA: neither PEM text nor a readable file `{value}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&'static str, &'static str)]) -> Result<PostgresConfig, String> {
        PostgresConfig::from_link(|k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v))
    }

    #[test]
    fn the_providers_keys_are_read_and_checked() {
        let base = [("POSTGRES_HOST", "db"), ("POSTGRES_USERNAME", "app"), ("POSTGRES_PASSWORD", "s3cret"), ("POSTGRES_DATABASE", "shop")];
        let config = read(&base).unwrap();
        assert_eq!((config.port, config.pool_size), (5432, DEFAULT_POOL_SIZE));
        assert_eq!(format!("{config:?}"), "PostgresConfig(app@db:5432/shop, pool 8)", "the password never shows");
        assert_eq!(read(&base[1..]).unwrap_err(), "POSTGRES_HOST is missing from the link's config");
        let bad_port = [base[0], base[1], base[3], ("POSTGRES_PORT", "x")];
        assert_eq!(read(&bad_port).unwrap_err(), "POSTGRES_PORT `x` is not a port number");
        let tls = [base[0], base[1], base[3], ("POSTGRES_TLS_REQUIRED", "true")];
        assert_eq!(read(&tls).unwrap().tls, Tls::Required { extra_roots_pem: None });
        let ca = [base[0], base[1], base[3], ("POSTGRES_TLS_REQUIRED", "TRUE"), ("POSTGRES_TLS_CA", "-----BEGIN CERTIFICATE-----\n")];
        assert!(matches!(read(&ca).unwrap().tls, Tls::Required { extra_roots_pem: Some(_) }));
        let missing = [base[0], base[1], base[3], ("POSTGRES_TLS_REQUIRED", "true"), ("POSTGRES_TLS_CA", "/nonexistent/ca.pem")];
        assert!(read(&missing).unwrap_err().starts_with("POSTGRES_TLS_CA: neither PEM text nor a readable file `/nonexistent/ca.pem`"));
        let stray = [base[0], base[1], base[3], ("POSTGRES_TLS_CA", "-----BEGIN CERTIFICATE-----\n")];
        assert!(read(&stray).unwrap_err().contains("POSTGRES_TLS_REQUIRED is not true"));
        let pool = [base[0], base[1], base[3], ("POSTGRES_POOL_SIZE", "0")];
        assert_eq!(read(&pool).unwrap_err(), "POSTGRES_POOL_SIZE `0` is not a positive number");
    }
}
