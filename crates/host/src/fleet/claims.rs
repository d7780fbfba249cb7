//! `claims.get`: the claims of every signed component on the lattice. wasmCloud hosts keep them
//! in the lattice's KV bucket; Trellis hosts keep their own, so the host that takes the request
//! (one of the `claims` queue group) gathers them from all hosts and answers for the lattice.

use std::collections::BTreeMap;
use std::time::Duration;

use trellis_lattice::{Lattice, Message, gather, respond};
use trellis_types::ctl::CtlReply;

use super::LocalFleet;

/// Claims entries, as `claims.get` lists them.
type Listed = Vec<BTreeMap<String, String>>;

/// How long the gathering host waits: under wasmCloud's client timeout (2 s) even when the
/// last host answers late, and no longer than a short pause once answers stop coming.
const LIMIT: Duration = Duration::from_millis(1000);
const QUIET: Duration = Duration::from_millis(100);

impl LocalFleet {
    /// The claims of this process's hosts, merged.
    async fn own_claims(&self) -> Listed {
        let mut listed = Vec::new();
        for host in self.hosts() {
            listed.extend(host.claims().await);
        }
        listed
    }

    /// Answers a `<placement>.claims` request with this process's claims.
    pub(super) async fn share_claims(&self, lattice: &dyn Lattice, message: &Message) {
        let listed = self.own_claims().await;
        let _ = respond(lattice, message, serde_json::to_vec(&listed).expect("claims serialize")).await;
    }

    /// Answers `claims.get` with every host's claims, one entry per component key.
    pub(super) async fn claims_get(&self, lattice: &dyn Lattice, placement: &str, message: &Message) {
        let gathered = gather(lattice, Message::new(format!("{placement}.claims"), Vec::new()), QUIET, LIMIT).await.unwrap_or_default();
        let mut by_subject: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for reply in gathered {
            for entry in serde_json::from_slice::<Listed>(&reply.payload).unwrap_or_default() {
                by_subject.insert(entry.get("sub").cloned().unwrap_or_default(), entry);
            }
        }
        let reply = CtlReply::ok(by_subject.into_values().collect::<Listed>());
        let _ = respond(lattice, message, serde_json::to_vec(&reply).expect("replies serialize")).await;
    }
}
