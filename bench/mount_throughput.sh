#!/usr/bin/env bash
# skiff mount against `rclone mount --vfs-cache-mode full`, with rclone's
# default concurrency and raised, on the same Azurite, and direct reads of a
# local file (the limit), in the same run.
#
#   bench/mount_throughput.sh [--rtt 10ms] [--replay] [BIG_MIB (1024)] [SMALL_FILES (2000)] [LIST_ENTRIES (5000)]
#                             [ROUNDS (3)] [TREE (100x200)] [STORE_NAMES (1000000)]
#
# Cases: sequential read of BIG_MIB cold (fresh mount) and warm (again); one
# reader reading SMALL_FILES x 64 KiB one after another (a data loader's
# pattern, listing included); `ls -l` of LIST_ENTRIES entries; writing BIG_MIB
# (until it is in the store), beside `skiff blob cp` uploading it (the store's speed); `find` and `ls -lR` of a tree of TREE
# directories x files (0 skips it); each on fresh mounts and caches, ROUNDS
# times. Then, once, a file:// store of STORE_NAMES empty files (half in one
# directory) mounted by skiff and rclone: `ls` of the big directory, `find`
# of all, and the mount's RSS per name (0 skips it).
# --rtt puts bench/latency_proxy.py between the mounts and Azurite (0, the
# default, reaches Azurite directly). CPU and RSS are the mount process's:
# its CPU during the case and its peak RSS since it was mounted.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_options "$@"
set -- "${positional[@]}"
big_mib=${1:-1024}
small_files=${2:-2000}
list_entries=${3:-5000}
rounds=${4:-3}
tree=${5:-100x200}
store_names=${6:-1000000}
require rclone bc fusermount3 /usr/bin/time
start_azurite

echo "preparing data in $work"
mkdir -p "$work/data/small" "$work/data/list"
head -c "$((big_mib << 20))" /dev/urandom >"$work/data/big.bin"
for i in $(seq -w 1 "$small_files"); do head -c 65536 /dev/urandom >"$work/data/small/f$i.bin"; done
(cd "$work/data/list" && seq -f 'e%06g' 1 "$list_entries" | xargs touch)
if [ "$tree" != 0 ]; then
  tree_dirs=${tree%x*} tree_files=${tree#*x}
  for d in $(seq -f 'd%03g' 1 "$tree_dirs"); do
    mkdir -p "$work/data/tree/$d"
    (cd "$work/data/tree/$d" && seq -f 'f%04g' 1 "$tree_files" | xargs touch)
  done
fi
direct build/skiff blob cp -q -r "$work/data" "az://$account/bench"

mount_tools=(skiff rclone rclone-16)
rclone_mount_flags=(--vfs-cache-mode full --vfs-write-back 0s -q)
# Concurrency raised to skiff's (issue 16), and a larger read buffer per file.
rclone16_flags=(--transfers 16 --checkers 16 --buffer-size 32M)
declare -A mount_pid
# mount_one TOOL SKIFF_URI RCLONE_REMOTE: mounts the store at $work/m-TOOL.
mount_one() {
  local tool=$1 dir="$work/m-$1"
  mkdir -p "$dir"
  local cmd=(rclone mount "$3" "$dir" "${rclone_mount_flags[@]}" --cache-dir "$work/cache-$tool")
  [ "$tool" != rclone-16 ] || cmd+=("${rclone16_flags[@]}")
  [ "$tool" != skiff ] ||
    cmd=(build/skiff mount "$2" "$dir" --foreground --cache-dir "$work/cache-$tool" --cache-size 4Gi)
  # Run directly, not in a subshell: $! must be the mount process itself.
  "${cmd[@]}" >"$work/mount-$tool.log" 2>&1 &
  mount_pid[$tool]=$!
  until mountpoint -q "$dir"; do
    kill -0 "${mount_pid[$tool]}" 2>/dev/null || { cat "$work/mount-$tool.log" >&2; exit 1; }
    sleep 0.05
  done
  cleanup_hooks+=("mountpoint -q $dir && umount -l $dir")
}
mount_all() { local tool; for tool in "${mount_tools[@]}"; do mount_one "$tool" "az://$account/bench" az:bench; done; }
unmount_all() {
  local tool
  for tool in "${mount_tools[@]}"; do
    if [ "$tool" = skiff ]; then build/skiff unmount "$work/m-$tool"; else fusermount3 -u "$work/m-$tool"; fi
    wait "${mount_pid[$tool]}" || true
    rm -rf "$work/cache-$tool"
  done
}
# on_each CASE CMD... ARG: runs CMD ARG for each mount in turn, ARG's "@"
# replaced by the mount's directory, and records the mount's figures.
on_each() {
  local case=$1 tool
  shift
  for tool in "${mount_tools[@]}"; do
    record "$case" "$tool" "$(measure_daemon "${mount_pid[$tool]}" "${@:1:$#-1}" "${!#//@/$work/m-$tool}")"
  done
}
read_dir() { cat "$1"/* >/dev/null; }
# write_through DIR: copies the big file into the mount DIR and returns once
# it is in the store (rclone uploads after close; skiff before close returns).
write_through() {
  local name
  name="written-by-$(basename "$1")-$round.bin"
  cp "$work/data/big.bin" "$1/$name"
  until [ "$(direct rclone lsf --format s "az:bench/$name" 2>/dev/null)" = "$((big_mib << 20))" ]; do sleep 0.1; done
}

echo "median of $rounds rounds; MB/s = 10^6 bytes/s; CPU = the mount process's during the case;"
echo "RSS = its peak since mounted; servers = Azurite's (and the proxy's) CPU, in % of one core (of 2)"
sync; echo 3 >/proc/sys/vm/drop_caches
local_cold=$(seconds cat "$work/data/big.bin")
for round in $(seq "$(warm_up_first)" "$rounds"); do
  warming_up=$([ "$round" != 0 ] || echo 1)
  echo "round $round of $rounds${warming_up:+ (warm-up, not recorded: the requests of every tool reach the proxy once)}"
  sync  # warm reads with no writeback under way, for all
  record warm-local local "$(measure cat "$work/data/big.bin")"
  mount_all
  on_each cold cat @/big.bin
  sync
  on_each warm cat @/big.bin
  cmp "$work/m-skiff/big.bin" "$work/data/big.bin"
  unmount_all

  mount_all
  on_each small read_dir @/small
  on_each list ls -l @/list
  [ "$(find "$work/m-skiff/list" -type f | wc -l)" = "$list_entries" ]
  on_each write write_through @
  # The store's own speed for the same bytes: what a write through the mount
  # (streamed while written, close waiting for the last blocks) is held to.
  record upload blob-cp "$(measure build/skiff blob cp -q "$work/data/big.bin" "az://$account/bench/up-$round.bin")"
  unmount_all

  if [ "$tree" != 0 ]; then
    mount_all
    on_each find find @/tree
    [ "$(find "$work/m-skiff/tree" -type f | wc -l)" = $((tree_dirs * tree_files)) ]
    unmount_all
    mount_all
    on_each lsR ls -lR @/tree
    unmount_all
  fi
done

report cold "read ${big_mib} MiB cold" "$big_mib"
report warm "read ${big_mib} MiB warm" "$big_mib"
report warm-local "read ${big_mib} MiB warm, local file (cold: $(mbps "$big_mib" "$local_cold") MB/s)" "$big_mib"
report small "one reader, ${small_files} x 64 KiB (listing included)" $((small_files / 16))
report list "ls -l of ${list_entries} entries"
report write "write ${big_mib} MiB (until stored)" "$big_mib"
report upload "upload ${big_mib} MiB (the store's speed)" "$big_mib"
echo "  skiff's write until stored / the upload: $(ratio "$(median_of "${fig_wall[write/skiff]}")" \
  "$(median_of "${fig_wall[upload/blob-cp]}")")x (1: the write costs no more than uploading the file)"
if [ "$tree" != 0 ]; then
  report find "find of ${tree_dirs} x ${tree_files} files"
  report lsR "ls -lR of ${tree_dirs} x ${tree_files} files"
fi

if [ "$store_names" -gt 0 ]; then
  echo "preparing a file:// store of $store_names empty files (half in big/, the rest in 5 directories)"
  python3 - "$work/store" "$store_names" <<'PY'
import os, sys
root, names = sys.argv[1], int(sys.argv[2])
for i in range(names):
    d = "big" if i < names // 2 else f"d{i % 5}"
    if i in (0, names // 2) or (i >= names // 2 and i < names // 2 + 5):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.close(os.open(os.path.join(root, d, f"n{i:07d}"), os.O_CREAT | os.O_WRONLY, 0o644))
PY
  mount_tools=(skiff rclone)
  for tool in "${mount_tools[@]}"; do mount_one "$tool" "file://$work/store" "$work/store"; done
  declare -A start_rss
  for tool in "${mount_tools[@]}"; do start_rss[$tool]=$(awk '/VmHWM/ {print $2}' /proc/"${mount_pid[$tool]}"/status); done
  on_each store-ls ls @/big
  on_each store-find find @
  report store-ls "ls of $((store_names / 2)) names (file:// store)"
  report store-find "find of $store_names names (file:// store)"
  for tool in "${mount_tools[@]}"; do
    peak=$(awk '/VmHWM/ {print $2}' /proc/"${mount_pid[$tool]}"/status)
    echo "  $tool mount RSS per name: $((peak * 1024 / store_names)) bytes (peak $((peak / 1024)) MiB)," \
      "$(((peak - start_rss[$tool]) * 1024 / store_names)) bytes above its peak when mounted"
  done
  unmount_all
fi
