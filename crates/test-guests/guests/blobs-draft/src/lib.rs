//! The `blobs` guest (see its crate for the routes), built against the upstream
//! `wasi:blobstore@0.2.0-draft` shape instead of wasmCloud's.

wit_bindgen::generate!({
    path: "wit",
    world: "trellis:guests-draft/blobs",
    with: {
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
    },
    generate_all,
});

include!("../../blobs/src/routes.rs");
