#!/usr/bin/env bash
# The README's main job, end to end on this machine: put the iris data into
# blob storage (file://, the embedded store), train a new model version with
# `skiff run` (job + model server), wait until the server serves that
# version, and ask it for a prediction.
#
#   examples/iris/run.sh            # again: trains version N+1, served with no downtime
#   skiff status examples/iris      # runs, metrics, endpoints
#   skiff down examples/iris        # stop the server and the notebook
#
#   examples/iris/run.sh --target k8s   # the same on the kubeconfig's cluster
#                                       # (docs/k8s.md; scripts/kube-cluster makes one)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
skiff=${SKIFF:-$here/../../build/skiff}
target=local
case "${1:-}" in
--target) target=${2:?--target needs local or k8s} ;;
--target=*) target=${1#--target=} ;;
"") ;;
*) echo "usage: $0 [--target local|k8s]" >&2 && exit 2 ;;
esac
# Where the example keeps its storage (file://, or az:// with the store's
# credentials in the environment), and the server's port (from skiff.yaml).
data_uri=$(sed -n 's|^ *uri: \([a-z]*://.*/data\)$|\1|p' "$here/skiff.yaml")
port=$(sed -n 's/^ *port: \([0-9]*\)$/\1/p' "$here/skiff.yaml" | head -1)

echo "== seeding $data_uri with iris.csv"
"$skiff" blob cp "$here/data/iris.csv" "$data_uri/iris.csv"

echo "== skiff run --target $target: train a new version and serve it"
"$skiff" run --target "$target" "$here"

if [ "$target" = k8s ]; then
  # The server is inside the cluster: reach it through the API server.
  proxy_out=$(mktemp -d)
  "$skiff" proxy classifier "$here" --target k8s >"$proxy_out/url" 2>"$proxy_out/log" &
  proxy=$!
  trap 'kill $proxy 2>/dev/null; rm -rf "$proxy_out"' EXIT
  for _ in $(seq 1 300); do
    [ -s "$proxy_out/url" ] || ! kill -0 $proxy 2>/dev/null && break
    sleep 0.1
  done
  server=$(head -1 "$proxy_out/url")
  [ -n "$server" ] || { echo "run.sh: skiff proxy did not start: $(cat "$proxy_out/log")" >&2 && exit 1; }
  # The job's last `skiff:metric version=N` line.
  version=$("$skiff" logs train "$here" --target k8s | sed -n 's/^skiff:metric version=//p' | tail -1)
else
  server=http://127.0.0.1:$port
  version=$("$skiff" status "$here" --json | /usr/bin/python3 -c \
    'import json,sys; runs={r["name"]: r for r in json.load(sys.stdin)["runs"]}; print(int(runs["train"]["metrics"]["version"]))')
fi
echo "== waiting for the server to load version $version"
for _ in $(seq 1 120); do
  curl -sf "$server/v2/models/iris/versions/$version/ready" >/dev/null && break
  sleep 0.5
done
curl -sf "$server/v2/models/iris/versions/$version/ready" >/dev/null || {
  echo "run.sh: the server did not load version $version within 60s; see: $skiff logs classifier $here --target $target" >&2
  exit 1
}

echo "== prediction from $server/v2/models/iris/infer"
request='{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2, 6.7,3.0,5.2,2.3]}]}'
curl -sf -H 'Content-Type: application/json' -d "$request" \
  "$server/v2/models/iris/infer" | /usr/bin/python3 -c '
import json, sys
reply = json.load(sys.stdin)
classes = ["setosa", "versicolor", "virginica"]
outputs = {o["name"]: o["data"] for o in reply["outputs"]}
for i, flower in enumerate(["5.1,3.5,1.4,0.2", "6.7,3.0,5.2,2.3"]):
    label = outputs["label"][i]
    p = outputs["probabilities"][3 * i + label]
    model, version = reply["model_name"], reply.get("model_version", "?")
    print(f"  {flower} -> {classes[label]} (p={p:.3f}, model {model} version {version})")
'
