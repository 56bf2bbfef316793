#!/usr/bin/env bash
# Model serving latency and throughput: skiff serve against a minimal
# onnxruntime-node HTTP server (the peer: the same ONNX Runtime library, the
# same intra-op threads) on the same models and requests, with wrk on
# loopback. The limit beside them: ONNX Runtime's own Run in process
# (`skiff bench-engine`, the C API call skiff makes, no HTTP). Prints, per
# model and connection count, requests/s, p50 and p99 of both servers and
# the skiff/peer ratio; skiff's overhead over the in-process Run (end to end
# through wrk and loopback, and inside the server from its own metrics); and
# the resident memory of both servers once every model has run.
#
#   bench/serve_latency.sh [SECONDS_PER_RUN (5)]
#
# Models: the MLP and the small CNN of tests/serve/make_models.py, resnet18
# (3x64x64) and the transformer encoder of tests/serve/make_real_models.py;
# batch 1, at 1 and 8 connections. Needs build/skiff, wrk, node and
# node_modules/onnxruntime-node (scripts/setup), /usr/bin/python3 with
# onnx and torch. INTRA_OP_THREADS (default: skiff's default, the cores)
# sets the intra-op threads of both servers. BATCH_DELAY=1ms turns on
# skiff's dynamic batching (max_batch_size 8, that max_queue_delay, 8 HTTP
# threads so 8 requests can share a run).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
source bench/lib.sh
require wrk node bc curl
[ -d node_modules/onnxruntime-node ] || { echo "node_modules/onnxruntime-node is missing: run scripts/setup" >&2; exit 1; }
intra=${INTRA_OP_THREADS:-$(nproc)}
models=(mlp cnn resnet18 transformer)

echo "generating models and requests in $work"
/usr/bin/python3 tests/serve/make_models.py "$work/models" >/dev/null
/usr/bin/python3 tests/serve/make_real_models.py "$work/models" resnet18 transformer >/dev/null
for model in "${models[@]}"; do
  mkdir -p "$work/repo/$model/1"
  cp "$work/models/$model.onnx" "$work/repo/$model/1/model.onnx"
  if [ -n "${BATCH_DELAY:-}" ]; then
    printf 'max_batch_size: 8\ndynamic_batching: {max_queue_delay: %s}\n' \
      "$BATCH_DELAY" >"$work/repo/$model/config.yaml"
  fi
  # Batch 1: the first row of the reference input, as a KServe v2 request.
  /usr/bin/python3 - "$work/models/$model.json" >"$work/$model.request.json" <<'PY'
import json, sys
reference = json.load(open(sys.argv[1]))
inputs = []
for name, tensor in reference["inputs"].items():
    shape = [1] + tensor["shape"][1:]
    size = len(tensor["data"]) // tensor["shape"][0]
    inputs.append({"name": name, "shape": shape, "datatype": "FP32", "data": tensor["data"][:size]})
print(json.dumps({"inputs": inputs}))
PY
done

skiff_port=$(free_port)
skiff_threads=$(nproc)
[ -n "${BATCH_DELAY:-}" ] && skiff_threads=8
build/skiff serve --model-repository "$work/repo" --http-port "$skiff_port" --threads "$skiff_threads" \
  --intra-op-threads "$intra" --cache-dir "$work/cache" 2>"$work/skiff.log" &
skiff_pid=$!
cleanup_hooks+=("kill $skiff_pid 2>/dev/null")
peer_port=$(free_port)
peer_models=()
for model in "${models[@]}"; do peer_models+=("$model=$work/repo/$model/1/model.onnx"); done
INTRA_OP_THREADS=$intra node bench/serve_ort_peer.js "$peer_port" "${peer_models[@]}" 2>"$work/peer.log" &
peer_pid=$!
cleanup_hooks+=("kill $peer_pid 2>/dev/null")
wait_port "$skiff_port"
wait_port "$peer_port"
for model in "${models[@]}"; do
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$skiff_port/v2/models/$model/ready" >/dev/null && break; sleep 0.1; done
done

# run_wrk PORT MODEL CONNECTIONS: prints "requests/s p50_us p99_us".
run_wrk() {
  local body=$work/$2.request.json
  cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$body"); wrk.body = f:read("*a"); f:close()
LUA
  local threads=$(( $3 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$3" -d"${duration}s" --latency -s "$work/post.lua" \
    "http://127.0.0.1:$1/v2/models/$2/infer" >"$work/wrk.out"
  # wrk prints latencies as 52.00us, 1.20ms or 1.00s.
  awk '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return v*1000; if (v ~ /s$/) return v*1000000; return v }
    /Requests\/sec/ { rps = $2 } / 50%/ { p50 = us($2) } / 99%/ { p99 = us($2) }
    /Non-2xx/ { bad = $NF }
    END { if (bad) { print "wrk saw non-2xx responses" > "/dev/stderr"; exit 1 } printf "%.0f %.1f %.1f\n", rps, p50, p99 }
  ' "$work/wrk.out"
}
rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' /proc/"$1"/status; }

echo "each run ${duration}s, intra-op threads $intra; latencies in microseconds; ratio = skiff requests/s / peer requests/s"
printf '%-11s %5s | %-24s | %-24s | %6s | %s\n' model conns "skiff req/s p50 p99" "peer req/s p50 p99" ratio \
  "Run p50 / skiff overhead p50"
inside=()
for model in "${models[@]}"; do
  engine=$(build/skiff bench-engine "$work/repo/$model/1/model.onnx" "$work/$model.request.json" \
    --intra-op-threads "$intra" --iterations "$([ "$model" = resnet18 ] && echo 300 || echo 3000)")
  engine_p50=$(echo "$engine" | sed -E 's/.*p50_us=([0-9.]+).*/\1/')
  for connections in 1 8; do
    read -r s_rps s_p50 s_p99 < <(run_wrk "$skiff_port" "$model" "$connections")
    read -r p_rps p_p50 p_p99 < <(run_wrk "$peer_port" "$model" "$connections")
    overhead=$(echo "$s_p50 - $engine_p50" | bc -l)
    printf '%-11s %5s | %7s %7s %8s | %7s %7s %8s | %5sx | %s / %.1f\n' "$model" "$connections" \
      "$s_rps" "$s_p50" "$s_p99" "$p_rps" "$p_p50" "$p_p99" "$(ratio "$s_rps" "$p_rps")" \
      "$engine_p50" "$overhead"
  done
  # Inside the server, without TCP and wrk: parse + queue + engine + encode, per request.
  inside+=("$(curl -sf "http://127.0.0.1:$skiff_port/metrics" | awk -v model="$model" '
    index($0, "model=\"" model "\"") == 0 { next }
    /^skiff_serve_request_duration_seconds_sum/ { rs = $2 } /^skiff_serve_request_duration_seconds_count/ { rc = $2 }
    /^skiff_serve_inference_duration_seconds_sum/ { is = $2 } /^skiff_serve_inference_duration_seconds_count/ { ic = $2 }
    END { printf "%-11s in the server, mean per request: %.1f us, of which Run %.1f us (overhead %.1f us)\n",
          model, rs / rc * 1e6, is / ic * 1e6, (rs / rc - is / ic) * 1e6 }')")
done
printf '%s\n' "${inside[@]}"
echo "resident memory with the four models loaded and run: skiff $(rss_mib "$skiff_pid") MiB, peer (node) $(rss_mib "$peer_pid") MiB"

# Serving resnet18 alone: each server fresh, one model, after 8 connections of traffic.
kill "$skiff_pid" "$peer_pid"; wait "$skiff_pid" "$peer_pid" 2>/dev/null || true
mkdir -p "$work/resnet/resnet18/1" && cp "$work/repo/resnet18/1/model.onnx" "$work/resnet/resnet18/1/"
skiff_port=$(free_port)
build/skiff serve --model-repository "$work/resnet" --http-port "$skiff_port" --threads "$skiff_threads" \
  --intra-op-threads "$intra" --cache-dir "$work/cache2" 2>>"$work/skiff.log" &
skiff_pid=$!
cleanup_hooks+=("kill $skiff_pid 2>/dev/null")
peer_port=$(free_port)
INTRA_OP_THREADS=$intra node bench/serve_ort_peer.js "$peer_port" "resnet18=$work/resnet/resnet18/1/model.onnx" 2>>"$work/peer.log" &
peer_pid=$!
cleanup_hooks+=("kill $peer_pid 2>/dev/null")
wait_port "$skiff_port"; wait_port "$peer_port"
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$skiff_port/v2/models/resnet18/ready" >/dev/null && break; sleep 0.1; done
run_wrk "$skiff_port" resnet18 8 >/dev/null
run_wrk "$peer_port" resnet18 8 >/dev/null
echo "resident memory serving resnet18 alone: skiff $(rss_mib "$skiff_pid") MiB, peer (node) $(rss_mib "$peer_pid") MiB"
