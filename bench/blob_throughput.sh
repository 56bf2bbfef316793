#!/usr/bin/env bash
# Blob throughput: skiff blob cp against Debian's rclone copy, both talking to
# the same Azurite in the same run. Prints MB/s per case and skiff/rclone ratios.
#
#   bench/blob_throughput.sh [BIG_MIB (1024)] [SMALL_FILES (2000)]
#
# Cases: one BIG_MIB file in 8 MiB blocks, and SMALL_FILES files of 64 KiB,
# uploaded and downloaded. Needs build/skiff, node_modules (scripts/setup) and rclone.
# Also prints the CPU Azurite used: a ratio near 1 with Azurite at 100% of a
# core or more in both runs measures the emulator more than the clients.
set -euo pipefail
cd "$(dirname "$0")/.."
big_mib=${1:-1024}
small_files=${2:-2000}
source bench/lib.sh
require rclone bc
start_azurite
# --ignore-times: every trial transfers everything, as skiff blob cp does.
rclone_flags=(--azureblob-chunk-size 8M --azureblob-upload-cutoff 8M --ignore-times -q)

echo "preparing ${big_mib} MiB and ${small_files} x 64 KiB of random data in $work"
mkdir -p "$work/big" "$work/small"
head -c "$((big_mib << 20))" /dev/urandom >"$work/big/data.bin"
for i in $(seq -w 1 "$small_files"); do head -c 65536 /dev/urandom >"$work/small/f$i.bin"; done
small_mib=$((small_files * 64 / 1024))

trials=${SKIFF_BENCH_TRIALS:-3}

# run_case NAME MIB CLEAN_DIR SKIFF_CMD... -- RCLONE_CMD...: alternates the two
# tools $trials times (CLEAN_DIR emptied before each) and compares median times.
run_case() {
  local name=$1 mib=$2 clean=$3; shift 3
  local skiff_cmd=() rclone_cmd=() s=() r=() s_busy=() r_busy=() seconds busy
  while [ "$1" != -- ]; do skiff_cmd+=("$1"); shift; done; shift
  rclone_cmd=("$@")
  for _ in $(seq "$trials"); do
    rm -rf "$clean"; read -r seconds busy < <(measure "${skiff_cmd[@]}"); s+=("$seconds"); s_busy+=("$busy")
    rm -rf "$clean"; read -r seconds busy < <(measure "${rclone_cmd[@]}"); r+=("$seconds"); r_busy+=("$busy")
  done
  local sm rm_
  sm=$(median "${s[@]}"); rm_=$(median "${r[@]}")
  printf '%-30s skiff %7s MB/s   rclone %7s MB/s   ratio %5sx   Azurite CPU %3s%% / %3s%%\n' "$name" \
    "$(mbps "$mib" "$sm")" "$(mbps "$mib" "$rm_")" "$(ratio "$rm_" "$sm")" "$(median "${s_busy[@]}")" \
    "$(median "${r_busy[@]}")"
}

echo "median of $trials trials each; MB/s = 10^6 bytes/s; ratio = skiff speed / rclone speed;"
echo "Azurite CPU = the emulator's CPU use during skiff's / rclone's runs, in % of one core"
echo "(of the 2 this machine has: at 100% and more the emulator sets the pace, not the client)"
run_case "upload ${big_mib} MiB, 8 MiB blocks" "$big_mib" "$work/none" \
  build/skiff blob cp -q "$work/big/data.bin" "az://$account/skiff-big/data.bin" -- \
  rclone copy "${rclone_flags[@]}" "$work/big" az:rclone-big
run_case "download ${big_mib} MiB" "$big_mib" "$work/down" \
  build/skiff blob cp -q "az://$account/skiff-big/data.bin" "$work/down/" -- \
  rclone copy "${rclone_flags[@]}" az:rclone-big "$work/down"
cmp "$work/big/data.bin" "$work/down/data.bin"
run_case "upload ${small_files} x 64 KiB" "$small_mib" "$work/none" \
  build/skiff blob cp -q -r "$work/small" "az://$account/skiff-small" -- \
  rclone copy "${rclone_flags[@]}" "$work/small" az:rclone-small
run_case "download ${small_files} x 64 KiB" "$small_mib" "$work/small-down" \
  build/skiff blob cp -q -r "az://$account/skiff-small" "$work/small-down" -- \
  rclone copy "${rclone_flags[@]}" az:rclone-small "$work/small-down"
[ "$(ls "$work/small-down" | wc -l)" = "$small_files" ]
echo "checked: the last downloads match the originals"
