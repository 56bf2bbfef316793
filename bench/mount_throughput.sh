#!/usr/bin/env bash
# skiff mount against `rclone mount --vfs-cache-mode full` on the same Azurite,
# and direct reads of a local file (the limit), in the same run.
#
#   bench/mount_throughput.sh [BIG_MIB (1024)] [SMALL_FILES (2000)] [LIST_ENTRIES (5000)] [ROUNDS (3)]
#
# Cases: sequential read of BIG_MIB cold (fresh mount) and warm (again),
# reading SMALL_FILES x 64 KiB, `ls -l` of LIST_ENTRIES entries, writing
# BIG_MIB (until it is in the store), each on fresh mounts and caches, ROUNDS
# times. Prints median times, ratios and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
big_mib=${1:-1024}
small_files=${2:-2000}
list_entries=${3:-5000}
rounds=${4:-3}
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
  # Until skiff's mount process has exited (a zombie counts: this subshell cannot reap it).
  while [ -e /proc/"$skiff_pid" ] && ! grep -q '^State:.*Z' /proc/"$skiff_pid"/status 2>/dev/null; do
    sleep 0.05
  done
  rm -rf "$work/skiff-cache" "$work/rclone-cache"
  echo "$peak"
}
cleanup_hooks+=("mountpoint -q $work/skiff && umount -l $work/skiff" "mountpoint -q $work/rclone && umount -l $work/rclone")

read_all() { cat "$@" >/dev/null; }
# timed ARRAY CMD...: appends CMD's seconds to ARRAY and Azurite's CPU use meanwhile to ARRAY_cpu.
timed() {
  local -n times=$1
  local -n cpu=${1}_cpu
  local seconds busy
  shift
  read -r seconds busy < <(measure "$@")
  times+=("$seconds")
  cpu+=("$busy")
}
report() {  # NAME SKIFF_SECONDS PEER_SECONDS PEER_NAME [MIB]
  local rate=""
  [ -n "${5:-}" ] && rate=$(printf '  (skiff %s MB/s, %s %s MB/s)' "$(mbps "$5" "$2")" "$4" "$(mbps "$5" "$3")")
  printf '%-34s skiff %7.3fs  %-6s %7.3fs  ratio %5sx%s\n' "$1" "$2" "$4" "$3" "$(ratio "$3" "$2")" "$rate"
}
# azurite_cpu NAME SKIFF_ARRAY RCLONE_ARRAY: the median CPU Azurite used in each tool's runs.
azurite_cpu() {
  local -n skiff_cpu=${2}_cpu
  local -n rclone_cpu=${3}_cpu
  printf '%-34s Azurite CPU during skiff %3s%%, during rclone %3s%% of one core\n' "  $1" \
    "$(median "${skiff_cpu[@]}")" "$(median "${rclone_cpu[@]}")"
}

echo "ratio = peer time / skiff time (above 1: skiff is faster); each figure the median of $rounds rounds"
sync; echo 3 >/proc/sys/vm/drop_caches
local_cold=$(seconds read_all "$work/data/big.bin")
local_warm=()
s_cold=() r_cold=() s_warm=() r_warm=() s_small=() r_small=() s_list=() r_list=() s_write=() r_write=()
s_cold_cpu=() r_cold_cpu=() s_small_cpu=() r_small_cpu=() s_list_cpu=() r_list_cpu=()
peak_read=0 peak_small=0
for round in $(seq "$rounds"); do
  echo "round $round of $rounds"
  sync  # warm reads with no writeback under way, for all three
  local_warm+=("$(seconds read_all "$work/data/big.bin")")
  mount_skiff; mount_rclone
  timed s_cold read_all "$work/skiff/big.bin"
  timed r_cold read_all "$work/rclone/big.bin"
  sync
  s_warm+=("$(seconds read_all "$work/skiff/big.bin")")
  r_warm+=("$(seconds read_all "$work/rclone/big.bin")")
  cmp "$work/skiff/big.bin" "$work/data/big.bin"
  peak_read=$(max "$peak_read" "$(unmount_all)")

  mount_skiff; mount_rclone
  timed s_small read_all "$work/skiff/small/"*
  timed r_small read_all "$work/rclone/small/"*
  timed s_list ls -l "$work/skiff/list"
  timed r_list ls -l "$work/rclone/list"
  [ "$(ls "$work/skiff/list" | wc -l)" = "$list_entries" ]
  # Each its own name: the wait below must not see the blob skiff wrote.
  s_write+=("$(seconds cp "$work/data/big.bin" "$work/skiff/written-by-skiff-$round.bin")")
  r_start=$(now)
  cp "$work/data/big.bin" "$work/rclone/written-by-rclone-$round.bin"
  # rclone uploads after close: the write is done when the blob is in the store.
  until [ "$(rclone lsf --format s "az:bench/written-by-rclone-$round.bin" 2>/dev/null)" = "$((big_mib << 20))" ]; do
    sleep 0.1
  done
  r_write+=("$(echo "$(now) - $r_start" | bc -l)")
  peak_small=$(max "$peak_small" "$(unmount_all)")
done

report "read ${big_mib} MiB cold" "$(median "${s_cold[@]}")" "$(median "${r_cold[@]}")" rclone "$big_mib"
azurite_cpu "(cold)" s_cold r_cold
report "read ${big_mib} MiB warm" "$(median "${s_warm[@]}")" "$(median "${r_warm[@]}")" rclone "$big_mib"
report "read ${big_mib} MiB warm vs local file" "$(median "${s_warm[@]}")" "$(median "${local_warm[@]}")" local "$big_mib"
report "read ${small_files} x 64 KiB" "$(median "${s_small[@]}")" "$(median "${r_small[@]}")" rclone $((small_files / 16))
azurite_cpu "(small files)" s_small r_small
report "ls -l of ${list_entries} entries" "$(median "${s_list[@]}")" "$(median "${r_list[@]}")" rclone
azurite_cpu "(listing)" s_list r_list
report "write ${big_mib} MiB (until stored)" "$(median "${s_write[@]}")" "$(median "${r_write[@]}")" rclone "$big_mib"
echo "skiff mount peak RSS: $((peak_read / 1024)) MiB (big file), $((peak_small / 1024)) MiB (small files, list, write)"
echo "local file read: cold $(mbps "$big_mib" "$local_cold") MB/s, warm $(mbps "$big_mib" "$(median "${local_warm[@]}")") MB/s"
