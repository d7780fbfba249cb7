//! The client against a backend on the in-process lattice that answers as wasmCloud's do. The
//! end-to-end tests run it against wasmCloud's own `secrets-nats-kv`.

use futures::StreamExt as _;
use trellis_cap_secrets::Asker;
use trellis_lattice::{InProcess, respond};

use super::*;

fn text(value: SecretValue) -> String {
    value.into_text().expect("a text secret")
}

/// A component JWT signed by a fresh account, and the component's public key.
fn signed_component() -> (String, String) {
    let (account, module) = (KeyPair::new_account(), KeyPair::new_module());
    let claims =
        wascap::jwt::Claims::<wascap::jwt::Component>::new("app".into(), account.public_key(), module.public_key(), None, false, None, None, None);
    (claims.encode(&account).unwrap(), module.public_key())
}

/// Serves `backend` under the default prefix: opens each request, checks its JWTs, and
/// answers from `secrets` (key → (version, value)) to the components in `allowed`.
async fn serve(lattice: Arc<dyn Lattice>, backend: &str, secrets: BTreeMap<&'static str, (&'static str, &'static str)>, allowed: Vec<String>) {
    let server = XKey::new();
    let mut requests = lattice.subscribe(&format!("{DEFAULT_PREFIX}.{API_VERSION}.{backend}.>"), None).await.unwrap();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if request.subject.ends_with(".server_xkey") {
                respond(lattice.as_ref(), &request, server.public_key()).await.unwrap();
                continue;
            }
            let host = XKey::from_public_key(request.header(HOST_XKEY_HEADER).unwrap()).unwrap();
            let opened: serde_json::Value = serde_json::from_slice(&server.open(&request.payload, &host).unwrap()).unwrap();
            let context = &opened["context"];
            assert!(wascap::jwt::validate_token::<wascap::jwt::Host>(context["host_jwt"].as_str().unwrap()).unwrap().signature_valid);
            let policy: serde_json::Value = serde_json::from_str(context["application"]["policy"].as_str().unwrap()).unwrap();
            assert_eq!(policy, serde_json::json!({"type": POLICY_TYPE, "properties": {"role": "reader"}}));
            let entity = wascap::jwt::Claims::<wascap::jwt::Component>::decode(context["entity_jwt"].as_str().unwrap()).unwrap();
            let answer = match secrets.get(opened["key"].as_str().unwrap()) {
                _ if !allowed.contains(&entity.subject) => serde_json::json!({"error": "Unauthorized"}),
                Some((version, value)) => serde_json::json!({"secret": {"version": version, "string_secret": value}}),
                None => serde_json::json!({"error": "SecretNotFound"}),
            };
            if answer.get("error").is_some() {
                respond(lattice.as_ref(), &request, answer.to_string()).await.unwrap();
                continue;
            }
            let ours = XKey::new();
            let mut reply = Message::new(request.reply.clone().unwrap(), ours.seal(answer.to_string().as_bytes(), &host).unwrap());
            reply.headers.push((RESPONSE_XKEY_HEADER.to_owned(), ours.public_key()));
            lattice.publish(reply).await.unwrap();
        }
    });
}

fn policy(backend: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("backend".to_owned(), backend.to_owned()), ("role".to_owned(), "reader".to_owned())])
}

fn request<'a>(key: &'a str, policy: &'a BTreeMap<String, String>, entity_jwt: Option<&'a str>) -> SecretRequest<'a> {
    SecretRequest { key, field: None, version: None, application: "shop", policy, asker: Asker { host: "NHOST", entity_jwt } }
}

#[tokio::test]
async fn a_signed_component_gets_what_the_backend_maps_to_it() {
    let lattice: Arc<dyn Lattice> = Arc::new(InProcess::new());
    let (jwt, subject) = signed_component();
    let (stranger, _) = signed_component();
    let secrets = BTreeMap::from([("api-key", ("3", "sk-123")), ("db", ("1", r#"{"user":"app","password":"pw"}"#))]);
    serve(lattice.clone(), "nats-kv", secrets, vec![subject.clone()]).await;
    let client = NatsSecrets::new(lattice, DEFAULT_PREFIX);
    let policy = policy("nats-kv");

    assert_eq!(text(client.get(&request("api-key", &policy, Some(&jwt))).await.unwrap()), "sk-123");
    // A backend that ignores `field` answers with the whole object; the field is taken here.
    let field = SecretRequest { field: Some("password"), ..request("db", &policy, Some(&jwt)) };
    assert_eq!(text(client.get(&field).await.unwrap()), "pw");
    let pinned = SecretRequest { version: Some("2"), ..request("api-key", &policy, Some(&jwt)) };
    let err = client.get(&pinned).await.unwrap_err().to_string();
    assert!(err.contains("is at version 3") && err.contains("not version 2"), "{err}");

    let err = client.get(&request("nope", &policy, Some(&jwt))).await.unwrap_err().to_string();
    assert!(err.contains("secrets backend `nats-kv`") && err.contains("no such secret"), "{err}");
    let err = client.get(&request("api-key", &policy, Some(&stranger))).await.unwrap_err().to_string();
    assert!(err.contains("does not give this secret to the component `M"), "{err}");
    assert!(!err.contains("sk-123"), "{err}");
}

#[tokio::test]
async fn unsigned_components_unknown_backends_and_bad_policies_fail_clearly() {
    let lattice: Arc<dyn Lattice> = Arc::new(InProcess::new());
    let (jwt, _) = signed_component();
    let client = NatsSecrets::new(lattice, DEFAULT_PREFIX);

    let err = client.get(&request("k", &policy("nats-kv"), None)).await.unwrap_err().to_string();
    assert!(err.contains("not signed"), "{err}");
    let err = client.get(&request("k", &policy("vault"), Some(&jwt))).await.unwrap_err().to_string();
    assert!(err.contains("no secrets backend answers on `wasmcloud.secrets.v1alpha1.vault.server_xkey`"), "{err}");
    let err = client.get(&request("k", &policy("a.b"), Some(&jwt))).await.unwrap_err().to_string();
    assert!(err.contains("must name a secrets backend"), "{err}");
}
