//! The signed identity a component may carry: the wascap JWT `wash` embeds (custom section
//! `wasmcloud_jwt`, legacy `jwt`). As in wasmCloud, unsigned components run; a signature that
//! is present must be valid (signature, dates, and the hash of the component it signs).

use std::collections::BTreeMap;

/// A component's valid embedded signature.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    /// The JWT as embedded, which secrets backends are shown.
    pub(crate) jwt: String,
    /// The component's public key (`M…`), the JWT's subject.
    pub(crate) subject: String,
    /// The claims as wasmCloud's `component_scaled` event carries them.
    pub(crate) event_claims: serde_json::Value,
    /// The claims as wasmCloud's `claims.get` lists them: strings by name.
    pub(crate) listed: BTreeMap<String, String>,
}

const SECTIONS: [&str; 2] = ["wasmcloud_jwt", "jwt"];

/// The signature embedded in `bytes`, if there is one; Err says why one is refused.
pub(crate) fn embedded(bytes: &[u8]) -> Result<Option<Signed>, String> {
    // Checking a signature hashes the whole component; most carry none, so look first.
    if !has_signature_section(bytes) {
        return Ok(None);
    }
    let token = match wascap::wasm::extract_claims(bytes) {
        Ok(Some(token)) => token,
        Ok(None) => return Ok(None),
        Err(e) => return Err(format!("its embedded signature is invalid: {e}")),
    };
    let validation = wascap::jwt::validate_token::<wascap::jwt::Component>(&token.jwt).map_err(|e| format!("its embedded signature is invalid: {e}"))?;
    let refused = |why: String| Err(format!("its embedded signature (subject {}) {why}", token.claims.subject));
    if !validation.signature_valid {
        return refused("does not verify against its issuer".into());
    }
    if validation.expired {
        return refused(format!("expired at {}", validation.expires_human));
    }
    if validation.cannot_use_yet {
        return refused(format!("is not valid before {}", validation.not_before_human));
    }
    let event_claims = event_claims(&token.claims);
    let listed = listed(&token.claims);
    Ok(Some(Signed { subject: token.claims.subject, jwt: token.jwt, event_claims, listed }))
}

/// wasmCloud's `claims.get` entry: every value a string, with its old short names beside the
/// new ones (`iss`/`issuer`, `sub`/`subject`, `rev`/`revision`), tags comma-joined.
fn listed(claims: &wascap::jwt::Claims<wascap::jwt::Component>) -> BTreeMap<String, String> {
    let meta = claims.metadata.clone().unwrap_or_default();
    let revision = meta.rev.unwrap_or_default().to_string();
    [
        ("call_alias", meta.call_alias.unwrap_or_default()),
        ("iss", claims.issuer.clone()),
        ("issuer", claims.issuer.clone()),
        ("name", meta.name.unwrap_or_default()),
        ("rev", revision.clone()),
        ("revision", revision),
        ("sub", claims.subject.clone()),
        ("subject", claims.subject.clone()),
        ("tags", meta.tags.unwrap_or_default().join(",")),
        ("version", meta.ver.unwrap_or_default()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// wasmCloud's rendering of claims in events: dates as seconds since the epoch, or "never".
fn event_claims(claims: &wascap::jwt::Claims<wascap::jwt::Component>) -> serde_json::Value {
    let date = |stamp: Option<u64>| stamp.map_or_else(|| "never".to_owned(), |s| s.to_string());
    let mut rendered = serde_json::json!({
        "issuer": claims.issuer,
        "not_before_human": date(claims.not_before),
        "expires_human": date(claims.expires),
    });
    if let Some(meta) = &claims.metadata {
        let fields = serde_json::json!({
            "call_alias": meta.call_alias,
            "tags": meta.tags,
            "name": meta.name,
            "version": meta.ver,
            "revision": meta.rev,
        });
        rendered.as_object_mut().expect("an object").extend(fields.as_object().expect("an object").clone());
    }
    rendered
}

/// Whether the component has a top-level signature section, found without reading into its
/// modules or code.
fn has_signature_section(bytes: &[u8]) -> bool {
    use wasmparser::{Chunk, Payload};
    let mut parser = wasmparser::Parser::new(0);
    let mut at = 0;
    while at < bytes.len() {
        let Ok(Chunk::Parsed { consumed, payload }) = parser.parse(&bytes[at..], true) else { return false };
        at += consumed;
        match payload {
            Payload::CustomSection(section) if SECTIONS.contains(&section.name()) => return true,
            Payload::ModuleSection { unchecked_range, .. } | Payload::ComponentSection { unchecked_range, .. } => at = unchecked_range.end,
            Payload::CodeSectionStart { range, .. } => {
                parser.skip_section();
                at = range.end;
            }
            Payload::End(_) => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(bytes: &[u8], expires_in_days: Option<u64>) -> (Vec<u8>, String) {
        let (account, module) = (nkeys::KeyPair::new_account(), nkeys::KeyPair::new_module());
        let signed =
            wascap::wasm::sign_buffer_with_claims("t".into(), bytes, &module, &account, expires_in_days, None, vec![], false, None, None, None).unwrap();
        (signed, module.public_key())
    }

    #[test]
    fn unsigned_components_run_and_signed_ones_are_checked() {
        let bytes = std::fs::read(trellis_test_guests::HELLO).unwrap();
        assert!(embedded(&bytes).unwrap().is_none());

        let (signed, subject) = sign(&bytes, None);
        let found = embedded(&signed).unwrap().unwrap();
        assert_eq!(found.subject, subject);
        assert_eq!((&found.event_claims["name"], &found.event_claims["expires_human"]), (&serde_json::json!("t"), &serde_json::json!("never")));
        assert_eq!((found.listed["sub"].as_str(), found.listed["name"].as_str(), found.listed["revision"].as_str()), (subject.as_str(), "t", "0"));
        assert_eq!(found.jwt.split('.').count(), 3);

        // A signature moved onto another component does not match its hash.
        let mut other = std::fs::read(trellis_test_guests::KV).unwrap();
        let section = wasm_encoder::CustomSection { name: "wasmcloud_jwt".into(), data: found.jwt.as_bytes().into() };
        wasm_encoder::Section::append_to(&section, &mut other);
        let err = embedded(&other).unwrap_err();
        assert!(err.contains("signature is invalid"), "{err}");
    }
}
