# syntax=docker/dockerfile:1
# The Go of go.mod's go line: the official images set GOTOOLCHAIN=local, so
# an older one would refuse to build, and a newer one would build with a Go
# nobody tested. cmd/easel's TestDockerfileGoVersion keeps the two equal.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Which build this is, for easel version, easel serve's start-up log and
# easel_build_info: the context leaves .git out (.dockerignore), so Go
# records no version or commit of its own. Unset, easel version says
# (devel). Declared late, so that changing them redoes no module download:
#   docker build --build-arg VERSION=v1.4.0 --build-arg REVISION=$(git rev-parse HEAD) .
ARG VERSION
ARG REVISION
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags="-s -w -X github.com/easelhq/easel/internal/buildinfo.version=${VERSION} -X github.com/easelhq/easel/internal/buildinfo.revision=${REVISION}" \
    -o /out/easel ./cmd/easel

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION
ARG REVISION
LABEL org.opencontainers.image.title="easel" \
      org.opencontainers.image.source="https://github.com/easelhq/easel" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/easel /usr/local/bin/easel
# Reachable through a published port (docker run -p 8080:8080), where
# easel serve's default, 127.0.0.1, would be the container's own loopback.
# easel healthcheck still probes 127.0.0.1:8080.
ENV EASEL_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["easel"]
CMD ["serve"]
