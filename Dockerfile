# syntax=docker/dockerfile:1
# Build: docker build -t regsync --build-arg VERSION=$(git describe --tags --always) .
# Run:   docker run -p 8080:8080 -v regsync-data:/var/lib/regsync regsync
#        (other commands: docker run --entrypoint regsync regsync check-config)

FROM golang:1.26-bookworm AS build
# Build with the toolchain go.mod's toolchain line names: the golang image sets GOTOOLCHAIN=local,
# which would ignore that line; with this the go command fetches go1.27.3 through the module proxy.
ENV GOTOOLCHAIN=go1.27.3
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/regsync ./cmd/regsync \
 && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/regsync /usr/local/bin/regsync
COPY config.example.yaml /etc/regsync/regsync.yaml
# The state file lives on a volume owned by the non-root user (uid 65532).
COPY --from=build --chown=65532:65532 /out/state /var/lib/regsync
ENV REGSYNC_CONFIG=/etc/regsync/regsync.yaml \
    REGSYNC_STATE_PATH=/var/lib/regsync/regsync.db \
    REGSYNC_SERVER_ADDR=0.0.0.0:8080
VOLUME ["/var/lib/regsync"]
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/regsync", "serve"]
