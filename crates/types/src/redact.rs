//! Showing connection strings without the credentials in them.

use std::borrow::Cow;

/// `url` with the password of its userinfo replaced by `***` (`redis://app:***@db:6379/0`), for
/// errors, logs and status. Link config may come from secrets; what it says must not leak
/// through a failed connection's message.
pub fn url(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return Cow::Borrowed(url) };
    let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end].rfind('@').map(|i| scheme_end + i) else { return Cow::Borrowed(url) };
    let shown_user = match url[scheme_end..at].split_once(':') {
        Some((user, _)) => format!("{user}:"),
        // A lone name in a NATS URL is a token; elsewhere it is a user name, not a secret.
        None if url.starts_with("nats") => String::new(),
        None => return Cow::Borrowed(url),
    };
    Cow::Owned(format!("{}{shown_user}***{}", &url[..scheme_end], &url[at..]))
}

/// Every URL of a comma-separated list (as NATS `cluster_uris` are given), each shown by [`url`].
pub fn urls(list: &str) -> String {
    list.split(',').map(|u| url(u.trim()).into_owned()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_and_the_rest_kept() {
        assert_eq!(url("redis://app:hunter2@db:6379/0"), "redis://app:***@db:6379/0");
        assert_eq!(url("redis://:hunter2@db:6379"), "redis://:***@db:6379");
        assert_eq!(url("redis://db:6379/0"), "redis://db:6379/0");
        assert_eq!(url("redis://app@db"), "redis://app@db");
        assert_eq!(url("nats://s3cr3t-token@127.0.0.1:4222"), "nats://***@127.0.0.1:4222");
        assert_eq!(url("postgres://u:p@h/db?sslmode=require"), "postgres://u:***@h/db?sslmode=require");
        assert_eq!(url("not a url"), "not a url");
        assert_eq!(urls("nats://a:b@h1:4222, nats://h2:4222"), "nats://a:***@h1:4222,nats://h2:4222");
    }
}
