//! Registry credentials from a Docker `config.json`, the format of a Kubernetes
//! `kubernetes.io/dockerconfigjson` Secret, `docker login` and `podman login`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use crate::Credentials;

/// A `config.json` that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DockerConfigError {
    /// The field at fault, e.g. `auths["ghcr.io"].auth`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
    registrytoken: Option<String>,
}

/// `https://index.docker.io/v1/` → `index.docker.io`: the `host[:port]` pulls are keyed on.
fn registry_of(key: &str) -> &str {
    let without_scheme = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    without_scheme.split('/').next().unwrap_or(without_scheme)
}

/// Every registry's credentials in `text`, keyed by `host[:port]`.
pub fn docker_config_credentials(text: &str) -> Result<Vec<(String, Credentials)>, DockerConfigError> {
    let file: File = serde_json::from_str(text).map_err(|e| DockerConfigError { field: "auths".into(), message: format!("not a Docker config.json: {e}") })?;
    let mut out = Vec::new();
    for (key, entry) in file.auths {
        let field = |name: &str| format!("auths[\"{key}\"].{name}");
        let credentials = if let Some(token) = entry.registrytoken.or(entry.identitytoken) {
            Credentials::Token(token)
        } else if let (Some(username), Some(password)) = (entry.username, entry.password) {
            Credentials::Basic { username, password }
        } else if let Some(auth) = entry.auth {
            let bad = |message: &str| DockerConfigError { field: field("auth"), message: message.to_owned() };
            let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| bad("not base64"))?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad("not UTF-8 once decoded"))?;
            let (username, password) = decoded.split_once(':').ok_or_else(|| bad("not base64 of `user:password`"))?;
            Credentials::Basic { username: username.to_owned(), password: password.to_owned() }
        } else {
            return Err(DockerConfigError { field: field("auth"), message: "no `auth`, `username`/`password` or token".into() });
        };
        out.push((registry_of(&key).to_owned(), credentials));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_kubectl_create_secret_docker_registry_writes() {
        // `kubectl create secret docker-registry r --docker-server=https://ghcr.io/ --docker-username=u --docker-password=p`
        let text = r#"{"auths":{"https://ghcr.io/":{"username":"u","password":"p","auth":"dTpw"},"localhost:5000":{"auth":"YTpiOmM="}}}"#;
        let found = docker_config_credentials(text).unwrap();
        let shown: Vec<_> = found.iter().map(|(r, c)| format!("{r} {c:?}")).collect();
        assert_eq!(shown, ["ghcr.io Basic(u, ***)", "localhost:5000 Basic(a, ***)"]);
        let Credentials::Basic { password, .. } = &found[1].1 else { panic!() };
        assert_eq!(password, "b:c", "only the first colon separates user from password");
    }

    #[test]
    fn bad_entries_are_named() {
        let err = docker_config_credentials(r#"{"auths":{"ghcr.io":{"auth":"%%%"}}}"#).unwrap_err();
        assert_eq!(err.to_string(), r#"auths["ghcr.io"].auth: not base64"#);
        let err = docker_config_credentials(r#"{"auths":{"ghcr.io":{}}}"#).unwrap_err();
        assert!(err.to_string().starts_with(r#"auths["ghcr.io"].auth: no"#), "{err}");
        assert!(docker_config_credentials("{auths").unwrap_err().message.contains("not a Docker config.json"));
    }
}
