#!/usr/bin/env bash
# skiff mount against `rclone mount --vfs-cache-mode full` on the same Azurite,
# and direct reads of a local file (the limit), in the same run.
#
#   bench/mount_throughput.sh [BIG_MIB (1024)] [SMALL_FILES (2000)] [LIST_ENTRIES (5000)]
#
# Cases: sequential read of BIG_MIB cold (fresh mount) and warm (again),
# reading SMALL_FILES x 64 KiB, `ls -l` of LIST_ENTRIES entries, writing
# BIG_MIB (until it is in the store). Prints times, ratios and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
big_mib=${1:-1024}
small_files=${2:-2000}
list_entries=${3:-5000}
source bench/lib.sh
require rclone bc fusermount3
start_azurite

echo "preparing data in $work"
mkdir -p "$work/data/small" "$work/data/list"
head -c "$((big_mib << 20))" /dev/urandom >"$work/data/big.bin"
for i in $(seq -w 1 "$small_files"); do head -c 65536 /dev/urandom >"$work/data/small/f$i.bin"; done
for i in $(seq -w 1 "$list_entries"); do : >"$work/data/list/e$i"; done
build/skiff blob cp -q -r "$work/data" "az://$account/bench"

skiff_pid=
mount_skiff() {
  mkdir -p "$work/skiff"
  build/skiff mount "az://$account/bench" "$work/skiff" --foreground --cache-dir "$work/skiff-cache" \
    --cache-size 4Gi >"$work/skiff-mount.log" 2>&1 &
  skiff_pid=$!
  until mountpoint -q "$work/skiff"; do sleep 0.05; done
}
mount_rclone() {
  mkdir -p "$work/rclone"
  rclone mount az:bench "$work/rclone" --vfs-cache-mode full --cache-dir "$work/rclone-cache" \
    --vfs-write-back 0s -q >"$work/rclone-mount.log" 2>&1 &
  until mountpoint -q "$work/rclone"; do sleep 0.05; done
}
unmount_all() {
  local peak
  peak=$(awk '/VmHWM/ {print $2}' /proc/"$skiff_pid"/status)
  build/skiff unmount "$work/skiff"
  fusermount3 -u "$work/rclone"
  wait
  rm -rf "$work/skiff-cache" "$work/rclone-cache"
  echo "$peak"
}
cleanup_hooks+=("mountpoint -q $work/skiff && umount -l $work/skiff" "mountpoint -q $work/rclone && umount -l $work/rclone")

read_all() { cat "$@" >/dev/null; }
report() {  # NAME SKIFF_SECONDS PEER_SECONDS PEER_NAME [MIB]
  local rate=""
  [ -n "${5:-}" ] && rate=$(printf '  (skiff %s MB/s, %s %s MB/s)' "$(mbps "$5" "$2")" "$4" "$(mbps "$5" "$3")")
  printf '%-34s skiff %7.3fs  %-6s %7.3fs  ratio %5sx%s\n' "$1" "$2" "$4" "$3" "$(ratio "$3" "$2")" "$rate"
}

echo "ratio = peer time / skiff time (above 1: skiff is faster)"
sync; echo 3 >/proc/sys/vm/drop_caches
local_cold=$(seconds read_all "$work/data/big.bin")
local_warm=$(seconds read_all "$work/data/big.bin")

mount_skiff; mount_rclone
s_cold=$(seconds read_all "$work/skiff/big.bin")
r_cold=$(seconds read_all "$work/rclone/big.bin")
s_warm=$(seconds read_all "$work/skiff/big.bin")
r_warm=$(seconds read_all "$work/rclone/big.bin")
cmp "$work/skiff/big.bin" "$work/data/big.bin"
report "read ${big_mib} MiB cold" "$s_cold" "$r_cold" rclone "$big_mib"
report "read ${big_mib} MiB warm" "$s_warm" "$r_warm" rclone "$big_mib"
report "read ${big_mib} MiB warm vs local file" "$s_warm" "$local_warm" local "$big_mib"
peak_read=$(unmount_all)

mount_skiff; mount_rclone
s_small=$(seconds read_all "$work/skiff/small/"*)
r_small=$(seconds read_all "$work/rclone/small/"*)
report "read ${small_files} x 64 KiB" "$s_small" "$r_small" rclone $((small_files / 16))
s_list=$(seconds ls -l "$work/skiff/list")
r_list=$(seconds ls -l "$work/rclone/list")
report "ls -l of ${list_entries} entries" "$s_list" "$r_list" rclone
[ "$(ls "$work/skiff/list" | wc -l)" = "$list_entries" ]
# Each its own name: the wait below must not see the blob skiff wrote.
s_write=$(seconds cp "$work/data/big.bin" "$work/skiff/written-by-skiff.bin")
r_start=$(now)
cp "$work/data/big.bin" "$work/rclone/written-by-rclone.bin"
# rclone uploads after close: the write is done when the blob is in the store.
until [ "$(rclone lsf --format s az:bench/written-by-rclone.bin 2>/dev/null)" = "$((big_mib << 20))" ]; do
  sleep 0.1
done
r_write=$(echo "$(now) - $r_start" | bc -l)
report "write ${big_mib} MiB (until stored)" "$s_write" "$r_write" rclone "$big_mib"
peak_small=$(unmount_all)
echo "skiff mount peak RSS: $((peak_read / 1024)) MiB (big file), $((peak_small / 1024)) MiB (small files, list, write)"
echo "local file read: cold $(mbps "$big_mib" "$local_cold") MB/s, warm $(mbps "$big_mib" "$local_warm") MB/s"
