#!/usr/bin/env bash
# Builds the server's container image as an OCI/Docker archive on a machine that cannot reach a
# container registry and has no container engine (docs/container.md, "Offline"):
#   1. a runtime-deps base image from Debian packages (debootstrap minbase + ca-certificates, libssl3,
#      tzdata; user app, uid 1654, home /home/app, as Microsoft's images),
#   2. written as an OCI layout and served by Debian's docker-registry on a loopback port (skopeo copies it in),
#   3. `dotnet publish -t:PublishContainer`, self-contained, onto that base, into an archive;
#   4. a smoke test without an engine: the image's layers unpacked into a root file system, the
#      entrypoint started in it by chroot as the image's user (uid 1654), /health probed, stopped.
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
  -p:ContainerArchiveOutputPath="$out/m2m-server.tar" -nologo -v:minimal
echo "== $out/m2m-server.tar (an OCI image layout in a tar: docker load -i / podman load -i)"
ls -l "$out/m2m-server.tar"

echo "== smoke test: the image's file system, its entrypoint as user 1654 under chroot, /health"
image="$work/image"
mkdir -p "$image/rootfs"
tar -xf "$out/m2m-server.tar" -C "$image"
manifest=$(python3 -c "import json; print(json.load(open('$image/index.json'))['manifests'][0]['digest'].split(':')[1])")
for layer in $(python3 -c "import json; print(' '.join(l['digest'].split(':')[1] for l in json.load(open('$image/blobs/sha256/$manifest'))['layers']))"); do
  tar -xzf "$image/blobs/sha256/$layer" -C "$image/rootfs"
done
http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
chroot --userspec=1654:1654 "$image/rootfs" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/home/app \
  ASPNETCORE_URLS="http://127.0.0.1:$http_port" M2M__DataDirectory=/home/app/data M2M__Admin__Password=smoke-test-password \
  M2M__Ingest__M2mpPort=0 M2M__Ingest__AlipPort=0 /app/M2M.Server >"$work/smoke.log" 2>&1 &
smoke_pid=$!
healthy=no
for _ in $(seq 1 120); do
  if chroot --userspec=1654:1654 "$image/rootfs" /app/M2M.Server health "http://127.0.0.1:$http_port/health" >/dev/null 2>&1; then healthy=yes; break; fi
  kill -0 "$smoke_pid" 2>/dev/null || break
  sleep 0.5
done
kill "$smoke_pid" 2>/dev/null || true
wait "$smoke_pid" 2>/dev/null || true
if [[ $healthy != yes ]]; then
  echo "the image's server did not become healthy:"; tail -20 "$work/smoke.log"; exit 1
fi
echo "healthy: the entrypoint runs as uid 1654 and writes its data directory ($(ls "$image/rootfs/home/app/data" | tr '\n' ' '))"
