# Shared by the benchmarks: a private Azurite, rclone settings, timing helpers.
# Source it from a bench script after `set -euo pipefail` and `cd` to the repo root.

work=$(mktemp -d /tmp/skiff-bench-XXXXXX)
cleanup_hooks=()
cleanup() {
  local hook
  for hook in "${cleanup_hooks[@]}"; do eval "$hook" || true; done
  rm -rf "$work"
}
trap cleanup EXIT

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: run scripts/setup (or apt-get install $tool)" >&2; exit 1; }
  done
  [ -x build/skiff ] || { echo "build/skiff is missing: run scripts/setup" >&2; exit 1; }
}

# Starts Azurite on a free loopback port; sets account, key, endpoint and the
# variables skiff and rclone read.
start_azurite() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$port" --location "$work/azurite" \
    --skipApiVersionCheck --loose --disableTelemetry ${AZURITE_EXTRA:-} >"$work/azurite.log" 2>&1 &
  cleanup_hooks+=("kill $! 2>/dev/null")
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
  account=devstoreaccount1
  key=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
  endpoint="http://127.0.0.1:$port/$account"
  export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=$endpoint;"
  # rclone reads its remote "az" from the environment; AWS_CA_BUNDLE breaks it here.
  unset AWS_CA_BUNDLE
  export RCLONE_CONFIG_AZ_TYPE=azureblob RCLONE_CONFIG_AZ_ACCOUNT=$account RCLONE_CONFIG_AZ_KEY=$key
  export RCLONE_CONFIG_AZ_ENDPOINT=$endpoint RCLONE_CONFIG_AZ_USE_EMULATOR=true RCLONE_CONFIG=/dev/null
}

now() { date +%s.%N; }
# seconds CMD...: runs CMD and prints the wall time it took.
seconds() { local start; start=$(now); "$@" >/dev/null; echo "$(now) - $start" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
mbps() { echo "scale=1; $1 * 1.048576 / $2" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
