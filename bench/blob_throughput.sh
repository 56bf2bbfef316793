#!/usr/bin/env bash
# Blob throughput: skiff blob cp against Debian's rclone copy, both talking to
# the same Azurite in the same run. Prints MB/s per case and skiff/rclone ratios.
#
#   bench/blob_throughput.sh [BIG_MIB (1024)] [SMALL_FILES (2000)]
#
# Cases: one BIG_MIB file in 8 MiB blocks, and SMALL_FILES files of 64 KiB,
# uploaded and downloaded. Needs build/skiff, node_modules (scripts/setup) and rclone.
set -euo pipefail
cd "$(dirname "$0")/.."
big_mib=${1:-1024}
small_files=${2:-2000}
command -v rclone >/dev/null || { echo "rclone is missing: apt-get install rclone" >&2; exit 1; }
[ -x build/skiff ] || { echo "build/skiff is missing: run scripts/setup" >&2; exit 1; }

work=$(mktemp -d /tmp/skiff-bench-XXXXXX)
azurite_pid=
cleanup() {
  [ -n "$azurite_pid" ] && kill "$azurite_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$port" --location "$work/azurite" \
  --skipApiVersionCheck --loose --disableTelemetry >"$work/azurite.log" 2>&1 &
azurite_pid=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

account=devstoreaccount1
key=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
endpoint="http://127.0.0.1:$port/$account"
export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=$endpoint;"
# rclone reads its remote from the environment; AWS_CA_BUNDLE breaks it here.
unset AWS_CA_BUNDLE
export RCLONE_CONFIG_AZ_TYPE=azureblob RCLONE_CONFIG_AZ_ACCOUNT=$account RCLONE_CONFIG_AZ_KEY=$key
export RCLONE_CONFIG_AZ_ENDPOINT=$endpoint RCLONE_CONFIG_AZ_USE_EMULATOR=true
# --ignore-times: every trial transfers everything, as skiff blob cp does.
rclone_flags=(--azureblob-chunk-size 8M --azureblob-upload-cutoff 8M --ignore-times -q)

echo "preparing ${big_mib} MiB and ${small_files} x 64 KiB of random data in $work"
mkdir -p "$work/big" "$work/small"
head -c "$((big_mib << 20))" /dev/urandom >"$work/big/data.bin"
for i in $(seq -w 1 "$small_files"); do head -c 65536 /dev/urandom >"$work/small/f$i.bin"; done
small_mib=$((small_files * 64 / 1024))

trials=${SKIFF_BENCH_TRIALS:-3}
now() { date +%s.%N; }
# seconds CMD...: runs CMD and prints the wall time it took.
seconds() { local start; start=$(now); "$@" >/dev/null; echo "$(now) - $start" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
mbps() { echo "scale=1; $1 * 1.048576 / $2" | bc -l; }

# run_case NAME MIB CLEAN_DIR SKIFF_CMD... -- RCLONE_CMD...: alternates the two
# tools $trials times (CLEAN_DIR emptied before each) and compares median times.
run_case() {
  local name=$1 mib=$2 clean=$3; shift 3
  local skiff_cmd=() rclone_cmd=() s=() r=()
  while [ "$1" != -- ]; do skiff_cmd+=("$1"); shift; done; shift
  rclone_cmd=("$@")
  for _ in $(seq "$trials"); do
    rm -rf "$clean"; s+=("$(seconds "${skiff_cmd[@]}")")
    rm -rf "$clean"; r+=("$(seconds "${rclone_cmd[@]}")")
  done
  local sm rm_
  sm=$(median "${s[@]}"); rm_=$(median "${r[@]}")
  printf '%-30s skiff %7s MB/s   rclone %7s MB/s   ratio %5sx\n' "$name" "$(mbps "$mib" "$sm")" \
    "$(mbps "$mib" "$rm_")" "$(echo "scale=2; $rm_ / $sm" | bc -l)"
}

echo "median of $trials trials each; MB/s = 10^6 bytes/s; ratio = skiff speed / rclone speed"
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
