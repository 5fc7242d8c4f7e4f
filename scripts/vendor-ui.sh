#!/usr/bin/env bash
# Fetches the web UI's third-party files (xterm.js and its fit addon) from
# the npm registry, as pinned in crates/car-server/ui/vendor/manifest.json:
# each package's tarball is checked against its `integrity` (the registry's
# sha512), then the listed files and the package's LICENSE are written under
# crates/car-server/ui/vendor/<dir>/ and each is checked against its sha256.
# The files are committed: building car needs neither the network nor Node.
#
#   scripts/vendor-ui.sh           fetch, check, write (fails on any mismatch)
#   scripts/vendor-ui.sh --rehash  after changing a version and its integrity
#                                  in the manifest: write the new files and
#                                  record their sha256 in the manifest
#
# Needs curl, tar and python3. The test `vendored_files_match_their_manifest`
# (cargo nextest run -p car-server) checks the committed files.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/crates/car-server/ui/vendor"
manifest="$vendor/manifest.json"
rehash=0
case "${1:-}" in
  --rehash) rehash=1 ;;
  "") ;;
  *) echo "usage: $0 [--rehash]" >&2; exit 2 ;;
esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

python3 - "$manifest" "$vendor" "$tmp" "$rehash" <<'PY'
import base64, hashlib, json, os, subprocess, sys, tarfile

manifest_path, vendor, tmp, rehash = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
with open(manifest_path) as f:
    manifest = json.load(f)

def fail(msg):
    print(f"vendor-ui: {msg}", file=sys.stderr)
    sys.exit(1)

for pkg in manifest["packages"]:
    name, version = pkg["name"], pkg["version"]
    base = name.split("/")[-1]
    url = f"https://registry.npmjs.org/{name}/-/{base}-{version}.tgz"
    tgz = os.path.join(tmp, f"{base}-{version}.tgz")
    subprocess.run(["curl", "-fsSL", "--retry", "3", "-o", tgz, url], check=True)
    algo, want = pkg["integrity"].split("-", 1)
    got = base64.b64encode(hashlib.new(algo, open(tgz, "rb").read()).digest()).decode()
    if got != want:
        fail(f"{url}: integrity {algo}-{got}, manifest says {pkg['integrity']}")
    out = os.path.join(vendor, pkg["dir"])
    os.makedirs(out, exist_ok=True)
    with tarfile.open(tgz) as tar:
        for entry in pkg["files"]:
            member = tar.extractfile("package/" + entry["from"])
            if member is None:
                fail(f"{name}@{version} has no file {entry['from']}")
            data = member.read()
            sha = hashlib.sha256(data).hexdigest()
            if rehash:
                entry["sha256"] = sha
            elif sha != entry["sha256"]:
                fail(f"{name}@{version} {entry['from']}: sha256 {sha}, manifest says {entry['sha256']}")
            dest = os.path.join(out, entry["to"])
            with open(dest + ".tmp", "wb") as f:
                f.write(data)
            os.replace(dest + ".tmp", dest)
            print(f"{pkg['dir']}/{entry['to']}  {sha}")

if rehash:
    with open(manifest_path + ".tmp", "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    os.replace(manifest_path + ".tmp", manifest_path)
PY
