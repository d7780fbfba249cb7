//! wasmCloud's own `blobstore-fs` provider, built from its published crate
//! (`wasmcloud-provider-blobstore-fs` 0.11.1) exactly as wasmCloud's binary runs it: it exports
//! `wrpc:blobstore/blobstore@0.2.0` and keeps objects under the `ROOT` of each link's config.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    wasmcloud_provider_blobstore_fs::run().await
}
