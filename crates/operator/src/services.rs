//! Services for HTTP applications: every wildcard listener of an application's HTTP server
//! (the built-in one or wasmCloud's `http-server` image, under any scaler) becomes a port of a
//! Service named after the application, selecting exactly the host pods its scaler places the
//! server on. Addresses a Service cannot reach are reported, not skipped silently.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use trellis_cap_http_server::{Route, ServerConfig};
use trellis_types::image::ImageRef;
use trellis_types::manifest::{ComponentKind, Configs, Manifest};

use crate::hosts::{HOST_LABEL_PREFIX, POD_NAME_LABEL};

/// Host labels every host has (`hostcore.os`, ...) and no pod label repeats: they select nothing.
const BUILTIN_LABEL_PREFIX: &str = "hostcore.";

/// What the application's HTTP servers need from Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct HttpExposure {
    /// Ports a Service can reach (wildcard listeners), each with the pod selector of its server.
    pub ports: Vec<(u16, BTreeMap<String, String>)>,
    /// Why some listener has no Service, for the `ServiceReachable` condition.
    pub unreachable: Vec<String>,
}

impl HttpExposure {
    /// Whether the application has an HTTP server at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.ports.is_empty() && self.unreachable.is_empty()
    }

    /// One selector for the Service: the pods that serve every port. Servers on different host
    /// sets cannot share a Service; that is reported.
    pub(crate) fn selector(&mut self) -> Option<BTreeMap<String, String>> {
        let (_, first) = self.ports.first()?;
        let first = first.clone();
        if self.ports.iter().any(|(_, s)| *s != first) {
            self.unreachable.push("the HTTP servers of this application are placed on different hosts, which one Service cannot select; the Service selects the first server's hosts".into());
        }
        Some(first)
    }
}

/// The pod selector of hosts that satisfy a scaler's requirements.
fn pod_selector(requirements: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut selector = BTreeMap::from([(POD_NAME_LABEL.0.to_owned(), POD_NAME_LABEL.1.to_owned())]);
    for (key, value) in requirements.iter().filter(|(k, _)| !k.starts_with(BUILTIN_LABEL_PREFIX)) {
        selector.insert(format!("{HOST_LABEL_PREFIX}{key}"), value.clone());
    }
    selector
}

/// Reads every HTTP listener of `manifest`.
pub(crate) fn http_exposure(manifest: &Manifest) -> HttpExposure {
    let none = BTreeMap::new();
    let configs = Configs::of(manifest, &none);
    let mut exposure = HttpExposure::default();
    for (i, component) in manifest.spec.components.iter().enumerate() {
        let image = component.properties.image.as_deref().unwrap_or_default();
        if component.kind != ComponentKind::Capability || !trellis_cap_http_server::is_server_image(&ImageRef::parse(image, Path::new("/"))) {
            continue;
        }
        let field = format!("spec.components[{i}]");
        let server = match configs.merge(&component.properties.config, &format!("{field}.properties.config")) {
            Ok(own) => match ServerConfig::from_config(&own) {
                Ok(server) => server,
                Err(e) => {
                    exposure.unreachable.push(format!("{field}.properties.config: {e}"));
                    continue;
                }
            },
            Err(e) => {
                exposure.unreachable.push(format!("{e} (the operator reads only config defined in the manifest)"));
                continue;
            }
        };
        // Requirements every spread shares: a Service selects with equality only.
        let requirements = component.scaler().map(|(_, s)| {
            let mut spreads = s.spread.iter().map(|sp| &sp.requirements);
            let first = spreads.next().cloned().unwrap_or_default();
            let shared: BTreeMap<String, String> = first.into_iter().filter(|(k, v)| s.spread.iter().all(|sp| sp.requirements.get(k) == Some(v))).collect();
            shared
        });
        let selector = pod_selector(&requirements.unwrap_or_default());
        for (t, link) in component.links().enumerate() {
            let source = link.source.as_ref().map(|s| s.config.as_slice()).unwrap_or_default();
            let route = configs.merge(source, &format!("{field}.traits[{t}].properties.source.config")).map_err(|e| e.to_string()).and_then(|c| Route::from_link_config(&server, &c).map_err(|e| e.to_string()));
            let address: SocketAddr = match route {
                Ok((route, _)) => route.address(),
                Err(e) => {
                    exposure.unreachable.push(format!("the link to {}: {e}", link.target.name));
                    continue;
                }
            };
            if address.ip().is_unspecified() {
                if !exposure.ports.iter().any(|(p, _)| *p == address.port()) {
                    exposure.ports.push((address.port(), selector.clone()));
                }
            } else {
                let wildcard = SocketAddr::new(if address.is_ipv4() { "0.0.0.0".parse().unwrap() } else { "::".parse().unwrap() }, address.port());
                exposure.unreachable.push(format!("{} listens on {address}, which only the host pod itself reaches: use {wildcard} for a Service", link.target.name));
            }
        }
    }
    exposure
}

/// Whether `name` can name a Service (an RFC 1035 label).
pub(crate) fn is_service_name(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure(server: &str, address: &str) -> HttpExposure {
        let text = format!(
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{name: hello}}
spec:
  components:
    - name: hello
      type: component
      properties: {{image: ghcr.io/acme/hello:1.0.0}}
      traits: [{{type: spreadscaler, properties: {{instances: 1}}}}]
    - name: httpserver
      type: capability
      properties: {{image: {server}}}
      traits:
        - type: link
          properties:
            target: {{name: hello}}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: {{config: [{{name: default-http, properties: {{address: "{address}"}}}}]}}
        - type: spreadscaler
          properties:
            instances: 1
            spread:
              - {{name: east, requirements: {{zone: east, hostcore.os: linux}}}}
"#
        );
        http_exposure(&Manifest::parse("test", &text).unwrap())
    }

    #[test]
    fn wildcard_listeners_of_either_server_become_ports_selecting_their_hosts() {
        for server in ["ghcr.io/wasmcloud/http-server:0.23.2", "wasmcloud+builtin://http-server"] {
            let found = exposure(server, "0.0.0.0:8000");
            let selector = BTreeMap::from([("app.kubernetes.io/name".to_owned(), "wasmcloud".to_owned()), ("host-label.k8s.wasmcloud.dev/zone".to_owned(), "east".to_owned())]);
            assert_eq!(found, HttpExposure { ports: vec![(8000, selector)], unreachable: vec![] }, "{server}");
        }
        assert_eq!(exposure("wasmcloud+builtin://http-server", "[::]:8080").ports[0].0, 8080);
    }

    #[test]
    fn loopback_is_reported() {
        let found = exposure("wasmcloud+builtin://http-server", "127.0.0.1:8000");
        assert!(found.ports.is_empty());
        assert_eq!(found.unreachable, ["hello listens on 127.0.0.1:8000, which only the host pod itself reaches: use 0.0.0.0:8000 for a Service"]);
    }

    #[test]
    fn service_names() {
        assert!(is_service_name("hello-world"));
        assert!(!is_service_name("rust_hello") && !is_service_name("9lives") && !is_service_name("Hello"));
    }
}
