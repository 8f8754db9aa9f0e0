#!/bin/bash
# The Python packages havirt runs on, as wheels for the lab's machines: they have no
# way to PyPI (their only network is the lab's), so tools/bootstrap.sh installs havirt
# inside them from this folder (HAVIRT_WHEELHOUSE). Built with Debian 12's python3 and
# against Debian 12's libvirt headers, as the box has them; cached by pyproject.toml.
#
#   vagrant/box/wheels.sh [DIR]        default DIR: vagrant/.wheels of this checkout
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
out=${1:-$src/vagrant/.wheels}
py=/usr/bin/python3
log() { printf 'havirt wheels: %s\n' "$*" >&2; }

[ -x "$py" ] || { log "error: $py not found (Debian's python3, as in the box)"; exit 1; }
pkg-config --exists libvirt 2>/dev/null \
    || { log "error: libvirt's headers are missing (apt-get install libvirt-dev pkg-config)"; exit 1; }
stamp="$(sha256sum "$src/pyproject.toml" | cut -c1-64) $("$py" -V 2>&1) libvirt $(pkg-config --modversion libvirt)"
if [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi
log "building wheels for the lab's machines into $out"
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
venv=$(mktemp -d)
trap 'rm -rf "$venv" "$out.tmp"' EXIT
"$py" -m venv "$venv"
# The runtime dependencies pyproject.toml names, and what building havirt itself needs.
mapfile -t deps < <("$py" - "$src/pyproject.toml" <<'PYEOF'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))
print(*project["project"]["dependencies"], sep="\n")
print(*project["build-system"]["requires"], sep="\n")
PYEOF
)
"$venv/bin/pip" wheel -q --disable-pip-version-check --wheel-dir "$out.tmp" "${deps[@]}" wheel
echo "$stamp" >"$out.tmp/.stamp"
rm -rf "$out"
mv "$out.tmp" "$out"
log "$(find "$out" -name '*.whl' | wc -l) wheels in $out"
