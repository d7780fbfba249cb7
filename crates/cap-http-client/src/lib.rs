//! Outbound HTTP for Trellis components: `wasi:http/outgoing-handler`, denied unless the
//! component links to the http-client capability (`ghcr.io/wasmcloud/http-client`, or
//! `wasmcloud+builtin://http-client`). The link is the grant, as in wasmCloud, so manifests
//! keep working; an `allowed_hosts` list in the link or capability config narrows it.
//!
//! **Owns** the allowlist: its pattern syntax, its parsing (a malformed pattern is a deploy
//! error naming the pattern) and its matching. **Must not** send requests (wasmtime-wasi-http
//! does, through the runtime's policy seam) or know which component asked beyond the grant.
//!
//! ## Patterns
//! `[scheme://]host[:port]`, separated by commas or spaces:
//! - scheme: `http`, `https` or `*`; left out, either.
//! - host: a name or IP (`api.example.com`, `127.0.0.1`, `[::1]`), `*` for any host, or
//!   `*.example.com` for any subdomain of `example.com` (not `example.com` itself).
//! - port: a number or `*`; left out, the scheme's default port (80 or 443).

use std::sync::Arc;

use trellis_runtime::{Grants, OutboundHttp};

/// A pattern that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{pattern}` is not a host pattern: {reason} (expected [scheme://]host[:port], e.g. https://*.example.com or http://127.0.0.1:8080)")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Scheme {
    Any,
    Http,
    Https,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Any,
    Exact(String),
    SubdomainOf(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Port {
    Any,
    Default,
    Exact(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    scheme: Scheme,
    host: Host,
    port: Port,
}

/// Where a component may send requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    rules: Vec<Rule>,
    text: String,
}

impl AllowList {
    /// Parses a comma- or space-separated list of patterns; at least one.
    pub fn parse(text: &str) -> Result<AllowList, PatternError> {
        let rules = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .map(parse_rule)
            .collect::<Result<Vec<_>, _>>()?;
        if rules.is_empty() {
            return Err(PatternError { pattern: text.to_owned(), reason: "the list is empty" });
        }
        Ok(AllowList { rules, text: text.to_owned() })
    }

    /// Whether a request to `uri` may leave.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https");
        let Some(host) = uri.host() else { return false };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let default_port = if scheme == "http" { 80 } else { 443 };
        let port = uri.port_u16().unwrap_or(default_port);
        self.rules.iter().any(|r| {
            let scheme_ok = match r.scheme {
                Scheme::Any => scheme == "http" || scheme == "https",
                Scheme::Http => scheme == "http",
                Scheme::Https => scheme == "https",
            };
            let host_ok = match &r.host {
                Host::Any => true,
                Host::Exact(h) => *h == host,
                Host::SubdomainOf(d) => host.len() > d.len() + 1 && host.ends_with(d.as_str()) && host.as_bytes()[host.len() - d.len() - 1] == b'.',
            };
            let port_ok = match r.port {
                Port::Any => true,
                Port::Default => port == default_port,
                Port::Exact(p) => port == p,
            };
            scheme_ok && host_ok && port_ok
        })
    }
}

fn parse_rule(pattern: &str) -> Result<Rule, PatternError> {
    let bad = |reason| PatternError { pattern: pattern.to_owned(), reason };
    let (scheme, rest) = match pattern.split_once("://") {
        Some(("*", rest)) => (Scheme::Any, rest),
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        Some(_) => return Err(bad("the scheme must be http, https or *")),
        None => (Scheme::Any, pattern),
    };
    if rest.contains('/') || rest.contains('?') || rest.contains('@') {
        return Err(bad("a pattern names a host, not a path, query or user"));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(|| bad("an IPv6 address needs a closing `]`"))?;
        (addr.to_owned(), after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (rest.to_owned(), None),
        }
    };
    let port = match port {
        None => Port::Default,
        Some("*") => Port::Any,
        Some(p) => Port::Exact(p.parse().map_err(|_| bad("the port must be a number from 1 to 65535, or *"))?),
    };
    let host = host.to_ascii_lowercase();
    let host = if host == "*" {
        Host::Any
    } else if let Some(domain) = host.strip_prefix("*.") {
        if domain.is_empty() || domain.contains('*') {
            return Err(bad("a wildcard may only be the whole host or its first label (*.example.com)"));
        }
        Host::SubdomainOf(domain.to_owned())
    } else if host.is_empty() {
        return Err(bad("the host is missing"));
    } else if host.contains('*') {
        return Err(bad("a wildcard may only be the whole host or its first label (*.example.com)"));
    } else {
        Host::Exact(host)
    };
    Ok(Rule { scheme, host, port })
}

/// The grant: a component's outbound HTTP, narrowed by an allowlist or not.
struct Egress {
    allow: Option<AllowList>,
}

impl OutboundHttp for Egress {
    fn check(&self, uri: &http::Uri) -> Result<(), String> {
        match &self.allow {
            Some(list) if !list.allows(uri) => Err(format!("{} is not in the link's allowed_hosts ({})", authority(uri), list.text)),
            _ => Ok(()),
        }
    }
}

fn authority(uri: &http::Uri) -> String {
    format!("{}://{}", uri.scheme_str().unwrap_or("https"), uri.authority().map(|a| a.as_str()).unwrap_or(""))
}

/// Grants outbound HTTP: to the hosts `allow` lists, or anywhere when it is `None`.
pub fn grant(grants: &mut Grants, allow: Option<AllowList>) {
    grants.outbound_http(Arc::new(Egress { allow }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(list: &str, uri: &str) -> bool {
        AllowList::parse(list).unwrap().allows(&uri.parse().unwrap())
    }

    #[test]
    fn patterns_match_as_documented() {
        assert!(allows("api.example.com", "https://api.example.com/v1"));
        assert!(allows("api.example.com", "http://api.example.com/"));
        assert!(!allows("api.example.com", "https://api.example.com:8443/"));
        assert!(!allows("api.example.com", "https://other.example.com/"));
        assert!(allows("https://*.example.com", "https://a.b.example.com/"));
        assert!(!allows("https://*.example.com", "https://example.com/"));
        assert!(!allows("https://*.example.com", "https://evilexample.com/"));
        assert!(!allows("https://*.example.com", "http://a.example.com/"));
        assert!(allows("http://127.0.0.1:8080", "http://127.0.0.1:8080/x"));
        assert!(!allows("http://127.0.0.1:8080", "http://127.0.0.1:8081/x"));
        assert!(allows("*://localhost:*", "http://localhost:1234/"));
        assert!(allows("[::1]:9000", "http://[::1]:9000/"));
        assert!(allows("a.example, b.example:8080", "http://b.example:8080/"));
        assert!(allows("*", "https://anything.example/"));
    }

    #[test]
    fn malformed_patterns_are_named() {
        for (pattern, reason) in [
            ("ftp://x.example", "the scheme must be"),
            ("x.example/path", "not a path"),
            ("x.example:http", "the port must be a number"),
            ("a*b.example", "a wildcard may only be"),
            ("*.", "a wildcard may only be"),
            ("https://", "the host is missing"),
            ("", "the list is empty"),
        ] {
            let e = AllowList::parse(pattern).unwrap_err();
            assert!(e.to_string().contains(reason), "{pattern}: {e}");
        }
    }

    #[test]
    fn a_denied_request_names_the_host_and_the_list() {
        let egress = Egress { allow: Some(AllowList::parse("https://api.example.com").unwrap()) };
        let err = egress.check(&"http://127.0.0.1:9/x".parse().unwrap()).unwrap_err();
        assert_eq!(err, "http://127.0.0.1:9 is not in the link's allowed_hosts (https://api.example.com)");
        assert!(Egress { allow: None }.check(&"http://anywhere.example/".parse().unwrap()).is_ok());
    }
}
