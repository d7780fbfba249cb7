//! Exercises `wasi:blobstore` over HTTP, streaming bodies both ways.
//!
//! `PUT /o/<container>/<object>` stores the request body, calling `write-data` first so every
//! chunk streams to the backend; `PUT /buffered/<c>/<o>` writes the body first, then calls
//! `write-data`. `GET /o/<c>/<o>[?start=S&end=E]` streams the object (or the inclusive range)
//! back; `GET /sync/<c>/<o>` reads it with `consume-sync`. `GET /info/<c>/<o>`, `/has/<c>/<o>`,
//! `/list/<c>` (sorted, comma-separated), `/exists/<c>`, `/container-info/<c>`;
//! `DELETE /o/<c>/<o>`; `POST /create/<c>`, `/clear/<c>`, `/delete-container/<c>`,
//! `/copy/<c>/<o>/<c2>/<o2>`, `/move/<c>/<o>/<c2>/<o2>`.

wit_bindgen::generate!({
    path: "../wit",
    world: "trellis:guests/blobs",
    with: {
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
    },
    generate_all,
});

include!("routes.rs");
