# Gatehouse container image: a static binary on a distroless base, run as a non-root
# user, with the data on a volume. docs/deploy.md ("A container") shows how to run it.
#
#   docker build -t gatehouse \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#
# The root file system can be read-only (docker run --read-only): the engine writes
# only to /var/lib/gatehouse. Give it a tmpfs on /tmp for SQLite's temporary files.

ARG GO_IMAGE=golang:1.26
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG COMMIT=""
ARG DATE=""
# CGO_ENABLED=0: the SQLite driver is pure Go, so the binary is static and runs on an
# image without a C library. -buildvcs=false: the build context has no .git; the
# version comes from the build arguments (an empty one reads "devel"/"unknown").
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w \
        -X github.com/gatehouse-id/gatehouse/internal/version.Version=${VERSION} \
        -X github.com/gatehouse-id/gatehouse/internal/version.Commit=${COMMIT} \
        -X github.com/gatehouse-id/gatehouse/internal/version.Date=${DATE}" \
      -o /out/gatehouse ./cmd/gatehouse \
 && /out/gatehouse version \
 && mkdir -p /out/data /out/config

FROM ${BASE_IMAGE}
ARG VERSION=""
ARG COMMIT=""
LABEL org.opencontainers.image.title="Gatehouse" \
      org.opencontainers.image.description="Identity engine speaking Okta IDX and OpenID Connect" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
# The data folder belongs to the image's non-root user (65532, "nonroot" in
# distroless), so a new named volume mounted here inherits that owner.
COPY --from=build --chown=65532:65532 --chmod=0700 /out/data /var/lib/gatehouse
COPY --from=build --chmod=0755 /out/config /etc/gatehouse
USER 65532:65532
WORKDIR /var/lib/gatehouse
VOLUME ["/var/lib/gatehouse"]
# 8080: the engine (listen); 9090: metrics (metrics_listen), if you publish them.
EXPOSE 8080 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/gatehouse", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml"]
