#!/usr/bin/env bash
# Dynamic batching of skiff serve, as ratios measured in one run on one
# machine: batch-1 KServe v2 requests through wrk on loopback, at 1 and 64
# connections, with dynamic batching on and off, and against the
# onnxruntime-node peer (bench/serve_ort_peer.js: the same ONNX Runtime, no
# batching). Prints requests/s, p50 and p99 of each, the throughput ratios at
# 64 connections, the p50 cost of batching at 1 connection, and the mean
# batch size from the server's metrics.
#
#   bench/serve_batching.sh [SECONDS_PER_RUN (5)] [MODEL: mlp (default) | resnet18]
#
# mlp is the MLP of tests/serve/make_models.py (16 -> 64 -> 64 -> 4);
# resnet18 is torchvision's on 3x64x64 images (tests/serve/make_real_models.py).
# Three servers, started one after the other (never two at once), then the peer:
#   batched:      --threads 64 (so 64 requests can share a run), config.yaml
#                 max_batch_size 64, dynamic_batching {max_queue_delay: $BATCH_DELAY (2ms)}
#   unbatched-64: the same server settings without dynamic_batching
#   unbatched:    the default --threads (one per core), without dynamic_batching:
#                 the best unbatched configuration, and the baseline of the ratio
# Needs build/skiff, wrk, curl, bc, node with onnxruntime-node (npm) and
# /usr/bin/python3 with onnx (and torch, torchvision for resnet18).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
model=${2:-mlp}
source bench/lib.sh
require wrk curl bc node
delay=${BATCH_DELAY:-2ms}
intra=${INTRA_OP_THREADS:-$(nproc)}

case "$model" in
  mlp) /usr/bin/python3 tests/serve/make_models.py "$work/models" >/dev/null ;;
  resnet18) /usr/bin/python3 tests/serve/make_real_models.py "$work/models" resnet18 >/dev/null ;;
  *) echo "unknown model $model: mlp or resnet18" >&2; exit 2 ;;
esac
onnx=$(find "$work/models" -name "$model.onnx" -o -path "*/$model/*/model.onnx" | head -1)
example=$(find "$work/models" -name "$model.json" | head -1)
for kind in batched unbatched; do
  mkdir -p "$work/$kind/$model/1"
  cp "$onnx" "$work/$kind/$model/1/model.onnx"
done
printf 'max_batch_size: 64\ndynamic_batching: {max_queue_delay: %s}\n' "$delay" \
  >"$work/batched/$model/config.yaml"
# One row of the model's example input: a batch-1 request.
/usr/bin/python3 - "$example" >"$work/request.json" <<'PY'
import json, sys
name, tensor = next(iter(json.load(open(sys.argv[1]))["inputs"].items()))
size = len(tensor["data"]) // tensor["shape"][0]
print(json.dumps({"inputs": [{"name": name, "shape": [1] + tensor["shape"][1:], "datatype": "FP32",
                              "data": tensor["data"][:size]}]}))
PY
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/request.json"); wrk.body = f:read("*a"); f:close()
LUA

port=""
pid=""
# start_server REPOSITORY THREADS
start_server() {
  port=$(free_port)
  build/skiff serve --model-repository "$work/$1" --http-port "$port" --threads "$2" \
    --intra-op-threads "$intra" --cache-dir "$work/cache-$1-$2" 2>>"$work/skiff.log" &
  pid=$!
  cleanup_hooks+=("kill $pid 2>/dev/null")
  wait_port "$port"
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/v2/models/$model/ready" >/dev/null && break; sleep 0.1; done
}
stop_server() { kill "$pid"; wait "$pid" 2>/dev/null || true; }

# run_wrk CONNECTIONS: prints "requests/s p50_us p99_us".
run_wrk() {
  local threads=$(( $1 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$1" -d"${duration}s" --latency -s "$work/post.lua" \
    "http://127.0.0.1:$port/v2/models/$model/infer" >"$work/wrk.out"
  awk '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return v*1000; if (v ~ /s$/) return v*1000000; return v }
    /Requests\/sec/ { rps = $2 } / 50%/ { p50 = us($2) } / 99%/ { p99 = us($2) }
    /Non-2xx/ { bad = $NF }
    END { if (bad) { print "wrk saw non-2xx responses" > "/dev/stderr"; exit 1 } printf "%.0f %.1f %.1f\n", rps, p50, p99 }
  ' "$work/wrk.out"
}
mean_batch() {
  curl -sf "http://127.0.0.1:$port/metrics" | awk -v m="$model" '
    index($0, "skiff_serve_batch_size_sum{model=\"" m "\"") == 1 { s = $2 }
    index($0, "skiff_serve_batch_size_count{model=\"" m "\"") == 1 { c = $2 }
    END { printf "%.1f", c ? s / c : 0 }'
}

declare -A rps p50 p99 batch
for setup in "batched batched 64" "unbatched-64 unbatched 64" "unbatched unbatched $(nproc)"; do
  read -r name repo threads <<<"$setup"
  start_server "$repo" "$threads"
  run_wrk 8 >/dev/null  # warm-up
  for connections in 1 64; do
    read -r r a b < <(run_wrk "$connections")
    rps[$name,$connections]=$r; p50[$name,$connections]=$a; p99[$name,$connections]=$b
  done
  batch[$name]=$(mean_batch)
  stop_server
done

# The peer: one process, as its users run it (node's one event loop).
port=$(free_port)
INTRA_OP_THREADS=$intra node bench/serve_ort_peer.js "$port" "$model=$onnx" 2>>"$work/peer.log" &
pid=$!
cleanup_hooks+=("kill $pid 2>/dev/null")
wait_port "$port"
run_wrk 8 >/dev/null
for connections in 1 64; do
  read -r r a b < <(run_wrk "$connections")
  rps[peer,$connections]=$r; p50[peer,$connections]=$a; p99[peer,$connections]=$b
done
batch[peer]="-"
stop_server

echo "$model, batch-1 requests, ${duration}s per run, $(nproc) cores, intra-op threads $intra, max_queue_delay $delay"
printf '%-13s %7s | %9s %9s %9s | %s\n' server conns "req/s" "p50 us" "p99 us" "mean rows per engine run"
for name in batched unbatched-64 unbatched peer; do
  for connections in 1 64; do
    printf '%-13s %7s | %9s %9s %9s | %s\n' "$name" "$connections" "${rps[$name,$connections]}" \
      "${p50[$name,$connections]}" "${p99[$name,$connections]}" "${batch[$name]}"
  done
done
echo "throughput at 64 connections, batched / unbatched:    $(ratio "${rps[batched,64]}" "${rps[unbatched,64]}")x"
echo "throughput at 64 connections, batched / unbatched-64: $(ratio "${rps[batched,64]}" "${rps[unbatched-64,64]}")x"
echo "throughput at 64 connections, batched / peer:         $(ratio "${rps[batched,64]}" "${rps[peer,64]}")x"
echo "p50 at 1 connection, batched / unbatched:             $(ratio "${p50[batched,1]}" "${p50[unbatched,1]}")x"
echo "p50 at 1 connection, batched / unbatched-64:          $(ratio "${p50[batched,1]}" "${p50[unbatched-64,1]}")x (batching alone)"
echo "p99 at 64 connections, batched / unbatched:           $(ratio "${p99[batched,64]}" "${p99[unbatched,64]}")x"
