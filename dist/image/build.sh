#!/usr/bin/env bash
# Builds the container image of ctrail from built binaries, with no registry and no image
# builder: a root filesystem of both binaries and the shared libraries they load (as the
# kernel matrix does), wrapped by make-oci.py into one tarball that `docker load`, `podman
# load` and `ctr images import` all accept.
#
#   dist/image/build.sh BIN_DIR OUT_DIR [NAME]    (cargo xtask image: BIN_DIR=target/release)
#
# NAME defaults to docker.io/ctrail/ctrail:VERSION. Prints the tarball's path.
set -euo pipefail
bin=$(cd "${1:?usage: build.sh BIN_DIR OUT_DIR [NAME]}" && pwd)
out=${2:?usage: build.sh BIN_DIR OUT_DIR [NAME]}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
name=${3:-docker.io/ctrail/ctrail:$version}
fs=$out/rootfs
rm -rf "$fs"
mkdir -p "$fs"/{usr/bin,etc,tmp,proc,sys,dev,run,var/lib/ctrail,etc/ctrail}
install -m 0755 "$bin/ctrail" "$bin/ctrail-recorder" "$fs/usr/bin/"
if command -v strip >/dev/null; then strip --strip-debug "$fs/usr/bin/ctrail" "$fs/usr/bin/ctrail-recorder"; fi
# The binaries are dynamic: take the libraries (and the loader) they name along.
for b in ctrail ctrail-recorder; do
    for lib in $(ldd "$fs/usr/bin/$b" | grep -o '/[^ ]*'); do
        mkdir -p "$fs$(dirname "$lib")"
        cp -L "$lib" "$fs$lib"
    done
done
echo 'root:x:0:0:root:/root:/sbin/nologin' >"$fs/etc/passwd"
echo 'root:x:0:' >"$fs/etc/group"
install -m 0644 "$root/dist/recorder.toml" "$fs/etc/ctrail/recorder.toml"
chmod 1777 "$fs/tmp"
chmod 0700 "$fs/var/lib/ctrail"
mkdir -p "$out"
tar --owner=0 --group=0 --numeric-owner -C "$fs" -cf "$out/rootfs.tar" .
python3 "$here/make-oci.py" "$out/rootfs.tar" "$out/ctrail-image.tar" "$name" \
    '["run", "--data-dir", "/var/lib/ctrail"]' '["/usr/bin/ctrail-recorder"]' >/dev/null
rm -rf "$fs" "$out/rootfs.tar"
echo "$out/ctrail-image.tar"
