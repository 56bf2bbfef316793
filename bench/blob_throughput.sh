#!/usr/bin/env bash
# Blob throughput: skiff blob cp against Debian's rclone copy, with its
# default concurrency and raised to skiff's, all talking to the same Azurite
# in the same run. Prints per case each tool's time, CPU and peak RSS, and
# skiff's ratios against each rclone.
#
#   bench/blob_throughput.sh [--rtt 10ms] [--replay] [BIG_MIB (1024)] [SMALL_FILES (2000)] [NAMES (20000)]
#
# Cases: one BIG_MIB file in 8 MiB blocks, and SMALL_FILES files of 64 KiB,
# uploaded and downloaded; NAMES empty blobs listed (`blob ls -r` / `rclone
# lsf -R`) and downloaded (0 skips them). The large download also times curl
# fetching the blob in one GET: the floor of a download's CPU. --rtt puts
# bench/latency_proxy.py between the clients and Azurite: each request pays
# that round trip, as in a cloud region (0, the default, reaches Azurite
# directly).
# Needs build/skiff, node_modules (scripts/setup), rclone, curl and GNU time.
# The servers' CPU (Azurite and the proxy) is printed beside each figure: a
# ratio near 1 with the servers at 100% of a core or more in every run
# measures the emulator more than the clients.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_options "$@"
set -- "${positional[@]}"
big_mib=${1:-1024}
small_files=${2:-2000}
names=${3:-20000}
require rclone bc curl /usr/bin/time
start_azurite
# --ignore-times: every trial transfers everything, as skiff blob cp does.
rclone_flags=(--azureblob-chunk-size 8M --azureblob-upload-cutoff 8M --ignore-times -q)
# rclone with its concurrency raised (issue 16): skiff moves 8 files, 8 blocks
# each, at a time; rclone defaults to 4 transfers and 8 checkers.
rclone16_flags=(--transfers 16 --checkers 16)

echo "preparing ${big_mib} MiB and ${small_files} x 64 KiB of random data in $work"
mkdir -p "$work/big" "$work/small"
head -c "$((big_mib << 20))" /dev/urandom >"$work/big/data.bin"
for i in $(seq -w 1 "$small_files"); do head -c 65536 /dev/urandom >"$work/small/f$i.bin"; done
small_mib=$((small_files * 64 / 1024))
# Downloads land in a tmpfs when it has room. This machine's ext4 runs without
# a journal, and there a file created soon after many deletes (each trial
# empties the last one's copy) scans the recently deleted inodes first
# (ext4's recently_deleted): 0.3-1 ms a file, for every client, more than
# either client's own work on a small file, and varying from run to run.
landing=$work
if [ -w /dev/shm ] && [ "$(df -m --output=avail /dev/shm | tail -n 1)" -gt $((big_mib * 2 + 1024)) ]; then
  landing=$(mktemp -d /dev/shm/skiff-bench-XXXXXX)
  cleanup_hooks+=("rm -rf $landing")
fi
echo "downloads land in $landing"

trials=${SKIFF_BENCH_TRIALS:-3}
floor_cmd=()

# run_case NAME MIB CLEAN_DIR SKIFF_CMD... -- RCLONE_ARGS...: alternates skiff,
# rclone and rclone-16 (rclone with RCLONE_ARGS), and floor_cmd if set, $trials
# times (after a trial unrecorded with --replay), CLEAN_DIR emptied before each
# (none: ""), and reports the medians.
run_case() {
  local name=$1 mib=$2 clean=$3
  shift 3
  local skiff_cmd=() rclone_args=()
  while [ "$1" != -- ]; do skiff_cmd+=("$1"); shift; done
  shift
  rclone_args=("$@")
  # trial TOOL CMD...: one recorded run of CMD, in an emptied CLEAN_DIR.
  trial() {
    [ -z "$clean" ] || rm -rf "$clean"
    record "$name" "$1" "$(measure "${@:2}")"
  }
  local round
  for round in $(seq "$(warm_up_first)" "$trials"); do
    warming_up=$([ "$round" != 0 ] || echo 1)
    trial skiff "${skiff_cmd[@]}"
    trial rclone rclone "${rclone_args[@]}" "${rclone_flags[@]}"
    trial rclone-16 rclone "${rclone_args[@]}" "${rclone_flags[@]}" "${rclone16_flags[@]}"
    [ ${#floor_cmd[@]} = 0 ] || trial curl "${floor_cmd[@]}"
  done
  report "$name" "$name" "$mib"
}

echo "median of $trials trials each; MB/s = 10^6 bytes/s; CPU = the client's user+sys; RSS = its peak;"
echo "servers = Azurite's (and the proxy's) CPU meanwhile, in % of one core (of the 2 this machine has)"
run_case "upload ${big_mib} MiB, 8 MiB blocks" "$big_mib" "" \
  build/skiff blob cp -q "$work/big/data.bin" "az://$account/skiff-big/data.bin" -- \
  copy "$work/big" az:rclone-big
# The floor of a download's CPU: curl fetching the blob in one GET (no ranges,
# no threads) into the same landing, through the same proxy. Most of it is the
# kernel's, copying socket to process and process to page cache; what a client
# spends above it is its own.
echo "curl: one GET of the whole blob, the floor of a download's CPU"
floor_cmd=(curl -sSf --create-dirs -K "$(curl_config "skiff-big/data.bin" "$landing/down/data.bin")")
run_case "download ${big_mib} MiB" "$big_mib" "$landing/down" \
  build/skiff blob cp -q "az://$account/skiff-big/data.bin" "$landing/down/" -- \
  copy az:rclone-big "$landing/down"
floor_cmd=()
cmp "$work/big/data.bin" "$landing/down/data.bin"
run_case "upload ${small_files} x 64 KiB" "$small_mib" "" \
  build/skiff blob cp -q -r "$work/small" "az://$account/skiff-small" -- \
  copy "$work/small" az:rclone-small
run_case "download ${small_files} x 64 KiB" "$small_mib" "$landing/small-down" \
  build/skiff blob cp -q -r "az://$account/skiff-small" "$landing/small-down" -- \
  copy az:rclone-small "$landing/small-down"
[ "$(find "$landing/small-down" -type f | wc -l)" = "$small_files" ]

if [ "$names" -gt 0 ]; then
  echo "preparing $names empty blobs (straight to Azurite, not timed)"
  mkdir -p "$work/names"
  (cd "$work/names" && seq -f 'n%06g' 1 "$names" | xargs touch)
  direct build/skiff blob cp -q -r "$work/names" "az://$account/names"
  run_case "list ${names} names (ls -r / lsf -R)" "" "" \
    build/skiff blob ls -r "az://$account/names" -- lsf -R az:names
  run_case "download ${names} empty blobs" "" "$landing/names-down" \
    build/skiff blob cp -q -r "az://$account/names" "$landing/names-down" -- copy az:names "$landing/names-down"
  [ "$(find "$landing/names-down" -type f | wc -l)" = "$names" ]
fi
echo "checked: the last downloads match the originals"
