#!/usr/bin/env bash
# A pod reading a blob through skiff's CSI driver, against the same read
# through `skiff mount` on the host, from the same Azurite in the same run.
# Both reads are cold (a new mount with an empty cache). Prints each MiB/s
# and the pod's ratio to the host's.
#
#   scripts/kube-cluster up      # as root, once (docs/k8s.md)
#   bench/csi_read.sh [MIB (1024)]
#
# Needs the cluster of scripts/kube-cluster ($SKIFF_CLUSTER_DIR, else
# /tmp/skiff-cluster), build/skiff and node_modules (scripts/setup --for-tests).
# It installs the driver (skiff csi install --push localhost:5000/skiff), and
# removes what else it made.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_options "$@"
set -- "${positional[@]}"
mib=${1:-1024}
cluster=${SKIFF_CLUSTER_DIR:-/tmp/skiff-cluster}
require bc
[ -f "$cluster/kubeconfig" ] || {
  echo "no cluster in $cluster: run scripts/kube-cluster up (or set SKIFF_CLUSTER_DIR)" >&2
  exit 1
}
export KUBECONFIG=$cluster/kubeconfig
kubectl=$HOME/.cache/skiff/kubernetes-1.20.2/bin/kubectl
[ -x "$kubectl" ] || kubectl=kubectl
start_azurite

build/skiff csi install --target k8s --push localhost:5000/skiff --kubelet-dir "$cluster/kubelet" \
  --timeout 240 | tail -n 1
container=bench-csi-$$
echo "preparing ${mib} MiB of random data in az://$account/$container"
head -c "$((mib << 20))" /dev/urandom >"$work/big.bin"
build/skiff blob cp "$work/big.bin" "az://$account/$container/big.bin" >/dev/null
rm "$work/big.bin"

# The host: a fresh skiff mount, one cold read.
mkdir -p "$work/mnt"
build/skiff mount "az://$account/$container" "$work/mnt" --read-only --cache-dir "$work/cache" \
  --cache-size "$((mib * 2))Mi" --foreground >"$work/mount.log" 2>&1 &
mount_pid=$!
cleanup_hooks+=("mountpoint -q $work/mnt && umount -l $work/mnt; kill $mount_pid 2>/dev/null")
for _ in $(seq 100); do mountpoint -q "$work/mnt" && break; sleep 0.1; done
host_seconds=$(seconds cat "$work/mnt/big.bin")
build/skiff unmount "$work/mnt"

# The pod: the same read through the driver, timed inside the container.
ns=skiff-bench-csi-$$
"$kubectl" create namespace "$ns" >/dev/null
cleanup_hooks+=("$kubectl delete namespace $ns --wait=false >/dev/null")
"$kubectl" -n "$ns" create secret generic store \
  --from-literal=AZURE_STORAGE_CONNECTION_STRING="$AZURE_STORAGE_CONNECTION_STRING" >/dev/null
cat >"$work/pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: reader, namespace: $ns}
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: busybox
      command: [sh, -c, 'time cat /data/big.bin >/dev/null']
      volumeMounts: [{name: data, mountPath: /data}]
  volumes:
    - name: data
      csi:
        driver: csi.skiff.dev
        readOnly: true
        volumeAttributes: {uri: "az://$account/$container", cacheSize: "$((mib * 2))Mi"}
        nodePublishSecretRef: {name: store}
EOF
"$kubectl" apply -f "$work/pod.yaml" >/dev/null
phase=
for _ in $(seq 600); do
  phase=$("$kubectl" -n "$ns" get pod reader -o jsonpath='{.status.phase}')
  [ "$phase" = Succeeded ] || [ "$phase" = Failed ] && break
  sleep 0.5
done
log=$("$kubectl" -n "$ns" logs reader)
[ "$phase" = Succeeded ] || {
  echo "the pod did not succeed ($phase): $log" >&2
  exit 1
}
# busybox time: "real	0m 2.34s" (or "1m 2.34s").
pod_seconds=$(echo "$log" | awk '/^real/ { split($2, m, "m"); sub("s", "", $3); print m[1] * 60 + $3 }')

host_rate=$(mbps "$mib" "$host_seconds")
pod_rate=$(mbps "$mib" "$pod_seconds")
printf '%-34s %8.2f s %8s MB/s\n' "host: skiff mount, cat" "$host_seconds" "$host_rate"
printf '%-34s %8.2f s %8s MB/s\n' "pod: csi.skiff.dev, cat" "$pod_seconds" "$pod_rate"
echo "pod / host throughput: $(ratio "$host_seconds" "$pod_seconds")"
