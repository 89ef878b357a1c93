#!/usr/bin/env bash
# Builds the server's container image as an OCI/Docker archive on a machine that cannot reach a
# container registry and has no container engine (docs/container.md, "Offline"):
#   1. a runtime-deps base image from Debian packages (debootstrap minbase + ca-certificates, libssl3,
#      tzdata; user app, uid 1654, home /home/app, as Microsoft's images),
#   2. written as an OCI layout and served by Debian's docker-registry on a loopback port (skopeo copies it in),
#   3. `dotnet publish -t:PublishContainer`, self-contained, onto that base, into an archive.
# Needs root and: apt-get install debootstrap docker-registry skopeo
# Usage: deploy/container/build-offline.sh [output directory, default artifacts/container]
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$repo/artifacts/container}")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}
work=$(mktemp -d /tmp/m2m-image.XXXXXX)
registry_pid=
cleanup() {
  [[ -n "$registry_pid" ]] && kill "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$out"

echo "== base root file system ($suite, minbase)"
debootstrap --variant=minbase --include=ca-certificates,libssl3,tzdata,libstdc++6,zlib1g "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log"
chroot "$work/rootfs" groupadd --gid 1654 app
chroot "$work/rootfs" useradd --uid 1654 --gid 1654 --create-home --home-dir /home/app --shell /bin/false app
rm -rf "$work/rootfs"/var/cache/apt/* "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/log/*

echo "== OCI layout"
oci="$work/oci"
mkdir -p "$oci/blobs/sha256"
tar --numeric-owner --sort=name --mtime='2020-01-01' -C "$work/rootfs" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -6 "$work/layer.tar"
layer_digest=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$oci/blobs/sha256/$layer_digest"
cat >"$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP_UID=1654"]},"rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]}}
JSON
config_digest=$(sha256sum "$work/config.json" | cut -d' ' -f1)
config_size=$(stat -c %s "$work/config.json")
mv "$work/config.json" "$oci/blobs/sha256/$config_digest"
cat >"$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config_digest","size":$config_size},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer_digest","size":$layer_size}]}
JSON
manifest_digest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$work/manifest.json")
mv "$work/manifest.json" "$oci/blobs/sha256/$manifest_digest"
echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
cat >"$oci/index.json" <<JSON
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest_digest","size":$manifest_size,"annotations":{"org.opencontainers.image.ref.name":"$suite"}}]}
JSON

echo "== local registry"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 5999)
cat >"$work/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.2; done
base="localhost:$port/m2m/runtime-deps:$suite"
skopeo copy --dest-tls-verify=false "oci:$oci:$suite" "docker://$base" >/dev/null

echo "== dotnet publish onto $base"
dotnet publish "$repo/src/M2M.Server/M2M.Server.csproj" -c Release -r linux-x64 --self-contained true \
  -t:PublishContainer -p:ContainerBaseImage="$base" -p:ContainerImageTag=latest \
  -p:ContainerArchiveOutputPath="$out/m2m-server.tar.gz" -nologo -v:minimal
echo "== $out/m2m-server.tar.gz"
ls -l "$out/m2m-server.tar.gz"
