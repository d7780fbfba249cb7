//! End-to-end tests: the real `trellis` binary, real components built from source, real HTTP.

mod util;

mod blobstore;
mod cache;
mod chart;
mod dashboard;
mod dev;
mod calls;
mod capabilities;
mod faults;
mod health;
mod hello_world;
mod kube;
mod lattice;
mod links;
mod manager;
mod manifests;
mod oci;
mod operator;
mod messaging;
mod observability;
mod outbound;
mod postgres;
mod providers;
mod routing;
mod secrets;
mod secrets_nats;
mod unmanaged;
mod upstream_wadm;
