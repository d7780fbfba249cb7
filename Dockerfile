# The `trellis` image (manager, operator and hosts are one binary), for `docker build` and
# `podman build`:
#
#   docker build -t registry.example.com/trellis:0.1.0 . && docker push registry.example.com/trellis:0.1.0
#
# Without a daemon, scripts/image.py makes the same image from a binary you built:
#   cargo build --release --bin trellis && scripts/image.py trellis:0.1.0 trellis.tar target/release/trellis --strip
FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN rustup target add wasm32-wasip2 \
 && cargo build --release --locked --bin trellis \
 && cp target/release/trellis /trellis

# glibc, libgcc and CA certificates, no shell; runs as user 65532 (nonroot).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /trellis /usr/local/bin/trellis
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/trellis"]
