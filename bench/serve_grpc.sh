#!/usr/bin/env bash
# KServe v2 over gRPC against REST on one skiff serve, as ratios measured in
# one run on one machine: batch-1 infer calls on the MLP of
# tests/serve/make_models.py (16 -> 64 -> 64 -> 4, 64 bytes in, 16 out) at 1
# and 8 clients, from the same client program (`skiff bench-clients`: a
# thread and a connection per client, one call at a time), so the ratio
# measures the protocols and not two load generators. Prints requests/s, p50
# and p99 of each, and gRPC / REST ratios.
#
#   bench/serve_grpc.sh [SECONDS_PER_RUN (5)]
#
# Protocols, one after the other on the same server (HTTP and gRPC ports):
#   rest:       POST /v2/models/mlp/infer, JSON, HTTP/1.1 keep-alive
#   grpc-raw:   ModelInfer with raw_input_contents (as Triton's clients send)
#   grpc-typed: ModelInfer with typed fp32_contents
# Needs build/skiff and /usr/bin/python3 with onnx.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
source bench/lib.sh
require curl bc

/usr/bin/python3 tests/serve/make_models.py "$work/models" >/dev/null
mkdir -p "$work/repo/mlp/1"
cp "$work/models/mlp.onnx" "$work/repo/mlp/1/model.onnx"
mlp_request "$work/models/mlp.json" >"$work/request.json"

http_port=$(free_port)
grpc_port=$(free_port)
build/skiff serve --model-repository "$work/repo" --http-port "$http_port" --grpc-port "$grpc_port" \
  --cache-dir "$work/cache" 2>>"$work/skiff.log" &
pid=$!
cleanup_hooks+=("kill $pid 2>/dev/null")
wait_port "$http_port"
wait_port "$grpc_port"
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$http_port/v2/models/mlp/ready" >/dev/null && break; sleep 0.1; done

# run PROTOCOL CLIENTS: prints "requests/s p50_us p99_us".
run() {
  local protocol=$1 port=$http_port flags=()
  case $protocol in
    grpc-raw) protocol=grpc; port=$grpc_port ;;
    grpc-typed) protocol=grpc; port=$grpc_port; flags=(--typed) ;;
  esac
  build/skiff bench-clients --protocol "$protocol" --address "127.0.0.1:$port" --model mlp \
    --request "$work/request.json" --clients "$2" --seconds "$duration" "${flags[@]}" |
    sed -E 's/rps=([0-9.]+) p50_us=([0-9.]+) p99_us=([0-9.]+).*/\1 \2 \3/'
}

declare -A rps p50 p99
protocols=(rest grpc-raw grpc-typed)
for clients in 1 8; do
  for protocol in "${protocols[@]}"; do
    read -r r a b < <(run "$protocol" "$clients")
    rps[$protocol,$clients]=$r; p50[$protocol,$clients]=$a; p99[$protocol,$clients]=$b
  done
done
kill "$pid"; wait "$pid" 2>/dev/null || true

echo "MLP, batch-1 infer calls, ${duration}s per run, $(nproc) cores, one server (default --threads)"
printf '%-11s %7s | %9s %9s %9s\n' protocol clients "req/s" "p50 us" "p99 us"
for clients in 1 8; do
  for protocol in "${protocols[@]}"; do
    printf '%-11s %7s | %9s %9s %9s\n' "$protocol" "$clients" "${rps[$protocol,$clients]}" \
      "${p50[$protocol,$clients]}" "${p99[$protocol,$clients]}"
  done
done
for clients in 1 8; do
  echo "throughput at $clients client(s), grpc-raw / rest:   $(ratio "${rps[grpc-raw,$clients]}" "${rps[rest,$clients]}")x"
  echo "throughput at $clients client(s), grpc-typed / rest: $(ratio "${rps[grpc-typed,$clients]}" "${rps[rest,$clients]}")x"
  echo "p50 at $clients client(s), grpc-raw / rest:          $(ratio "${p50[grpc-raw,$clients]}" "${p50[rest,$clients]}")x"
done
