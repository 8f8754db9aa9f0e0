#!/bin/bash
# Builds the Vagrant lab's box: Debian 12 for vagrant-libvirt, from Debian's packages
# only (no Vagrant Cloud), with everything the lab's machines need already installed,
# so that provisioning under TCG installs nothing, havirt's venv included. Cached: a
# box built from the same scripts, package list and wheels is reused.
#
#   vagrant/box/build.sh [CACHE_DIR]     prints the path of the .box file
#
# The box boots its kernel directly (libvirt <kernel>/<initrd>, carried in the box and
# named by the box's own Vagrantfile): the disk is one ext4 file system made with
# mkfs.ext4 -d, no partition table and no boot loader, so building needs no loop
# device and no root file system mount. Needs root, mmdebstrap, e2fsprogs and
# qemu-utils (tools/bootstrap.sh vmlab-setup installs them).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${1:-${HAVIRT_BOX_CACHE:-/var/cache/havirt-vmlab/box}}
suite=bookworm
disk_size=20G

# Everything a lab machine runs (storage: the NFS server; hv1..hv3: libvirt, QEMU,
# Pacemaker and havirt's Python dependencies from Debian).
packages=(
    linux-image-amd64 systemd-sysv udev dbus kmod procps iproute2 ifupdown isc-dhcp-client
    openssh-server sudo rsync ca-certificates less bridge-utils e2fsprogs
    nfs-common nfs-kernel-server chrony
    qemu-system-x86 qemu-utils qemu-block-extra libvirt-daemon-system libvirt-clients
    pacemaker pacemaker-cli-utils corosync pcs
    python3 python3-venv python3-libvirt python3-lxml python3-click python3-fabric
    busybox-static
)

log() { printf 'havirt box: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap writes a root file system)"
for tool in mmdebstrap mkfs.ext4 qemu-img tar sha256sum ssh-keygen; do
    command -v "$tool" >/dev/null || die "$tool not found (tools/bootstrap.sh vmlab-setup)"
done

# The mirror this machine's apt uses (deb822 sources first, then sources.list).
mirror=$(awk '$1 == "URIs:" {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' \
    /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list(.d)"

# havirt's venv is built into the box (customize.sh) from the checkout and its wheels
# (box/wheels.sh, run first by prepare.sh): a change of pyproject.toml, and so of the
# wheels' stamp, makes another box.
src=$(cd "$here/../.." && pwd)
wheels=${HAVIRT_BOX_WHEELS:-$src/vagrant/.wheels}
[ -s "$wheels/.stamp" ] || die "no wheels in $wheels (vagrant/box/wheels.sh makes them)"
stamp=$(cat "$here/build.sh" "$here/customize.sh" "$wheels/.stamp" \
    <(printf '%s\n' "$suite" "$disk_size" "${packages[@]}") | sha256sum | cut -c1-12)
box=$cache/havirt-$suite-$stamp.box
if [ -s "$box" ]; then
    log "cached: $box"
    echo "$box"
    exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
began=$SECONDS
log "bootstrapping Debian $suite from $mirror (${#packages[@]} packages and their dependencies)"
# The downloaded packages are kept in $cache/debs: a rebuild (another package list, a
# changed script) downloads only what is new.
mkdir -p "$cache/debs"
# The box's own login key for Vagrant's user, made for this build (not Vagrant's
# well-known insecure key): the box carries its private half and tells Vagrant to use
# it as it is (config.ssh.insert_key = false, in the box's Vagrantfile), which spares
# every machine's first boot Vagrant's key swap (about 40 s of SSH logins under TCG).
mkdir "$work/box"
ssh-keygen -q -t ed25519 -N '' -C "havirt lab box $(date -u +%F)" -f "$work/box/vagrant_key"
HAVIRT_BOX_VAGRANT_KEY=$work/box/vagrant_key.pub HAVIRT_BOX_SRC=$src HAVIRT_BOX_WHEELS=$wheels mmdebstrap --quiet --variant=apt \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --skip=download/empty --skip=cleanup/apt/cache \
    --setup-hook="mkdir -p \"\$1/var/cache/apt/archives\"" \
    --setup-hook="sync-in $cache/debs /var/cache/apt/archives" \
    --customize-hook="sync-out /var/cache/apt/archives $cache/debs" \
    --customize-hook="\"$here/customize.sh\" \"\$1\"" \
    "$suite" "$work/root" "$mirror"
log "root file system ready after $((SECONDS - began)) s ($(du -sh "$work/root" | cut -f1))"

cp "$(readlink -f "$work/root/vmlinuz")" "$work/box/vmlinuz"
cp "$(readlink -f "$work/root/initrd.img")" "$work/box/initrd.img"
truncate -s "$disk_size" "$work/disk.raw"
mkfs.ext4 -q -L havirt-root -d "$work/root" "$work/disk.raw"
rm -rf "$work/root"
qemu-img convert -O qcow2 "$work/disk.raw" "$work/box/box.img"
rm -f "$work/disk.raw"
cat >"$work/box/metadata.json" <<EOT
{"provider": "libvirt", "format": "qcow2", "virtual_size": ${disk_size%G}}
EOT
cat >"$work/box/Vagrantfile" <<'EOT'
# The havirt lab's box (vagrant/box/build.sh): the kernel boots directly, from this box,
# and Vagrant logs in with the key made for this build (no key swap at first boot).
Vagrant.configure("2") do |config|
  config.ssh.private_key_path = File.join(__dir__, "vagrant_key")
  config.ssh.insert_key = false
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = File.join(__dir__, "vmlinuz")
    libvirt.initrd = File.join(__dir__, "initrd.img")
    libvirt.cmd_line = "root=LABEL=havirt-root ro console=ttyS0 net.ifnames=0 quiet"
  end
end
EOT
chmod 0600 "$work/box/vagrant_key"
tar -C "$work/box" -cf "$work/box.tar" metadata.json Vagrantfile box.img vmlinuz initrd.img vagrant_key
mv "$work/box.tar" "$box"
# Earlier builds are of no more use (Vagrant holds its own copy of what it added).
find "$cache" -maxdepth 1 -name "havirt-$suite-*.box" ! -name "$(basename "$box")" -delete
log "box built in $((SECONDS - began)) s: $box ($(du -h "$box" | cut -f1))"
echo "$box"
