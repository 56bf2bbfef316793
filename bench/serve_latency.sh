#!/usr/bin/env bash
# Model serving latency: skiff serve against a minimal onnxruntime-node HTTP
# server (the peer) on the same models and requests, with wrk on loopback.
# Also times the engine alone in process (the limit) and prints the server's
# overhead over it (end to end through wrk, and inside the server from its
# own metrics) and the skiff/peer ratios; and onnxruntime-node alone on the
# same models and inputs beside skiff's engine (ratio = onnxruntime / skiff time).
#
#   bench/serve_latency.sh [SECONDS_PER_RUN (5)]
#
# Cases: the MLP and the CNN of tests/serve/make_models.py, batch 1, at 1 and
# 8 connections. Needs build/skiff, wrk, node, /usr/bin/python3 with onnx;
# installs onnxruntime-node into a temp dir (ONNXRUNTIME_NODE_INSTALL=skip).
# BATCH_DELAY=1ms turns on skiff's dynamic batching (max_batch_size 8, that
# max_queue_delay, 2 sessions, 8 HTTP threads so 8 requests can share a run).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
source bench/lib.sh
require wrk node bc curl
repo=$PWD

echo "generating models and requests in $work"
/usr/bin/python3 tests/serve/make_models.py "$work/models" >/dev/null
for model in mlp cnn; do
  mkdir -p "$work/repo/$model/1"
  cp "$work/models/$model.onnx" "$work/repo/$model/1/model.onnx"
  if [ -n "${BATCH_DELAY:-}" ]; then
    printf 'max_batch_size: 8\ninstances: 2\ndynamic_batching: {max_queue_delay: %s}\n' \
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

echo "installing onnxruntime-node (the peer) in $work/peer"
mkdir -p "$work/peer"
(cd "$work/peer" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error \
  onnxruntime-node >/dev/null)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 did not open" >&2; exit 1; }

skiff_port=$(free_port)
skiff_threads=2
[ -n "${BATCH_DELAY:-}" ] && skiff_threads=8
build/skiff serve --model-repository "$work/repo" --http-port "$skiff_port" --threads "$skiff_threads" \
  --cache-dir "$work/cache" 2>"$work/skiff.log" &
cleanup_hooks+=("kill $! 2>/dev/null")
peer_port=$(free_port)
NODE_PATH="$work/peer/node_modules" node "$repo/bench/serve_ort_peer.js" "$peer_port" \
  "mlp=$work/repo/mlp/1/model.onnx" "cnn=$work/repo/cnn/1/model.onnx" 2>"$work/peer.log" &
cleanup_hooks+=("kill $! 2>/dev/null")
wait_port "$skiff_port"
wait_port "$peer_port"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$skiff_port/v2/health/ready" >/dev/null && break; sleep 0.1; done

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

echo "each run ${duration}s; latencies in microseconds; ratio = skiff requests/s / peer requests/s"
printf '%-4s %5s | %-24s | %-24s | %6s | %s\n' model conns "skiff req/s p50 p99" "peer req/s p50 p99" ratio \
  "engine p50 / skiff overhead p50"
engines=()
for model in mlp cnn; do
  engine=$(build/skiff bench-engine "$work/repo/$model/1/model.onnx" "$work/$model.request.json" \
    --iterations 3000)
  engine_p50=$(echo "$engine" | sed -E 's/.*p50_us=([0-9.]+).*/\1/')
  ort=$(NODE_PATH="$work/peer/node_modules" node bench/serve_ort_engine.js \
    "$work/repo/$model/1/model.onnx" "$work/$model.request.json" 3000)
  ort_p50=$(echo "$ort" | sed -E 's/.*p50_us=([0-9.]+).*/\1/')
  engines+=("$(printf '%-4s engine alone, in process, p50: skiff (opencv-dnn) %s us, onnxruntime-node %s us = %sx' \
    "$model" "$engine_p50" "$ort_p50" "$(ratio "$ort_p50" "$engine_p50")")")
  for connections in 1 8; do
    read -r s_rps s_p50 s_p99 < <(run_wrk "$skiff_port" "$model" "$connections")
    read -r p_rps p_p50 p_p99 < <(run_wrk "$peer_port" "$model" "$connections")
    overhead=$(echo "$s_p50 - $engine_p50" | bc -l)
    printf '%-4s %5s | %7s %7s %8s | %7s %7s %8s | %5sx | %s / %.1f\n' "$model" "$connections" \
      "$s_rps" "$s_p50" "$s_p99" "$p_rps" "$p_p50" "$p_p99" "$(ratio "$s_rps" "$p_rps")" \
      "$engine_p50" "$overhead"
  done
  # Inside the server, without TCP and wrk: parse + queue + engine + encode, per request.
  curl -sf "http://127.0.0.1:$skiff_port/metrics" | awk -v model="$model" '
    index($0, "model=\"" model "\"") == 0 { next }
    /^skiff_serve_request_duration_seconds_sum/ { rs = $2 } /^skiff_serve_request_duration_seconds_count/ { rc = $2 }
    /^skiff_serve_inference_duration_seconds_sum/ { is = $2 } /^skiff_serve_inference_duration_seconds_count/ { ic = $2 }
    END { printf "%-4s in the server, mean per request: %.1f us, of which the engine %.1f us (overhead %.1f us)\n",
          model, rs / rc * 1e6, is / ic * 1e6, (rs / rc - is / ic) * 1e6 }'
done
printf '%s\n' "${engines[@]}"
