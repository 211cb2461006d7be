#!/usr/bin/env bash
# Debian packages tsoci's demo and tests need: runc (runtime), docker-registry (the CNCF distribution registry the
# tests talk to), busybox-static (runnable test images), skopeo/umoci/oci-image-tool (interop checks and benchmarks),
# apache2-utils (htpasswd for the auth tests), openssl (test certificates and token keys), util-linux (flock).
set -euo pipefail
PKGS=(runc docker-registry busybox-static skopeo umoci oci-image-tool apache2-utils openssl util-linux attr zstd curl jq time golang-github-opencontainers-specs-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y "${missing[@]}"
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<18)) { console.error("tsoci needs Node.js >= 20.18.1, found "+process.versions.node); process.exit(1) }'
