#!/usr/bin/env bash
# A Debian 13 (trixie) root with another Mesa's lavapipe, to measure gan-wgpu on it beside the host's
# (the development machines run Debian 12, whose Mesa 22.3 is what CI installs). Needs root, network
# to deb.debian.org and ~600 MB. Usage:
#   scripts/mesa_root.sh DIR [backports|stable]   # backports: trixie-backports' Mesa (26.x); stable: 25.0 (a new DIR)
# then `MESA_ROOT=DIR scripts/bench_host.sh` runs the comparison with gan-wgpu inside DIR, or by hand:
#   cp target/release/gan-wgpu DIR/opt/ && chroot DIR /opt/gan-wgpu bench
# (chroot keeps the environment, so GALLIUM_OVERRIDE_CPU_CAPS reaches that Mesa too. The root keeps /proc
# mounted, where gan-wgpu reads the CPU model for its tuning record: `umount DIR/proc` before removing it.)
set -euo pipefail
dir=${1:?usage: scripts/mesa_root.sh DIR [backports|stable]}
mesa=${2:-backports}
case "$mesa" in
backports | stable) ;;
*)
  echo "mesa_root.sh: the second argument is backports or stable, not '$mesa'" >&2
  exit 2
  ;;
esac
command -v debootstrap >/dev/null || apt-get install -y debootstrap
if [ ! -x "$dir/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase --include=libvulkan1 trixie "$dir" http://deb.debian.org/debian
fi
echo "deb http://deb.debian.org/debian trixie-backports main" >"$dir/etc/apt/sources.list.d/backports.list"
mountpoint -q "$dir/proc" || mount -t proc proc "$dir/proc"
target=()
[ "$mesa" = backports ] && target=(-t trixie-backports)
chroot "$dir" apt-get update -q
chroot "$dir" apt-get install -y -q "${target[@]}" mesa-vulkan-drivers
mkdir -p "$dir/opt"
chroot "$dir" dpkg-query -W mesa-vulkan-drivers
