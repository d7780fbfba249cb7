//! Every capability backend this binary serves, registered once: a new backend is its crate
//! and one line here.

use std::sync::{Arc, LazyLock};

use trellis_host::Capabilities;

/// The registry every host of the process shares (so its in-process broker is one, as a NATS
/// server would be).
pub(crate) fn registry() -> Arc<Capabilities> {
    static REGISTRY: LazyLock<Arc<Capabilities>> = LazyLock::new(|| {
        Arc::new(
            Capabilities::default()
                .keyvalue(trellis_cap_keyvalue::RedbBackend)
                .keyvalue(trellis_cap_keyvalue::MemoryBackend)
                .keyvalue(trellis_cap_keyvalue_redis::RedisBackend)
                .keyvalue(trellis_cap_keyvalue_nats::NatsKvBackend)
                .keyvalue(trellis_cap_keyvalue_postgres::PostgresKvBackend)
                .blobstore(trellis_cap_blobstore::FsBackend)
                .blobstore(trellis_cap_blobstore::MemoryBackend)
                .blobstore(trellis_cap_blobstore_nats::NatsBlobBackend)
                .messaging(trellis_cap_messaging::InProcessBackend::default())
                .messaging(trellis_cap_messaging_nats::NatsMessagingBackend)
                .postgres(trellis_cap_postgres::PostgresBackend),
        )
    });
    REGISTRY.clone()
}
