#!/usr/bin/env bash
# The README's main job, end to end on this machine: put the iris data into
# blob storage (file://, the embedded store), train a new model version with
# `skiff run` (job + model server), wait until the server serves that
# version, and ask it for a prediction.
#
#   examples/iris/run.sh            # again: trains version N+1, served with no downtime
#   skiff status examples/iris      # runs, metrics, endpoints
#   skiff down examples/iris        # stop the server and the notebook
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
skiff=${SKIFF:-$here/../../build/skiff}
# Where the example keeps its storage, and the server's port (from skiff.yaml).
data_uri=$(sed -n 's|^ *uri: \(file://.*/data\)$|\1|p' "$here/skiff.yaml")
port=$(sed -n 's/^ *port: \([0-9]*\)$/\1/p' "$here/skiff.yaml" | head -1)

echo "== seeding $data_uri with iris.csv"
"$skiff" blob cp "$here/data/iris.csv" "$data_uri/iris.csv"

echo "== skiff run: train a new version and serve it"
"$skiff" run "$here"

version=$("$skiff" status "$here" --json | /usr/bin/python3 -c \
  'import json,sys; runs={r["name"]: r for r in json.load(sys.stdin)["runs"]}; print(int(runs["train"]["metrics"]["version"]))')
echo "== waiting for the server to load version $version"
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/v2/models/iris/versions/$version/ready" >/dev/null && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/v2/models/iris/versions/$version/ready" >/dev/null || {
  echo "run.sh: the server did not load version $version within 60s; see: $skiff logs classifier $here" >&2
  exit 1
}

echo "== prediction from http://127.0.0.1:$port/v2/models/iris/infer"
request='{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2, 6.7,3.0,5.2,2.3]}]}'
curl -sf -H 'Content-Type: application/json' -d "$request" \
  "http://127.0.0.1:$port/v2/models/iris/infer" | /usr/bin/python3 -c '
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
