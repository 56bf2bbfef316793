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
    --skipApiVersionCheck --loose --disableTelemetry >"$work/azurite.log" 2>&1 &
  azurite_pid=$!
  cleanup_hooks+=("kill $azurite_pid 2>/dev/null; wait $azurite_pid 2>/dev/null")
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
# CPU time (clock ticks) Azurite has used, all its threads.
azurite_ticks() { awk '{print $14 + $15}' /proc/"$azurite_pid"/stat; }
# measure CMD...: runs CMD; prints its wall seconds and the CPU Azurite used
# meanwhile, in percent of one core. On these 2-core machines the emulator
# and the client share the CPU: at 100% and more, the emulator takes at
# least half the machine, and it, not the client, sets the pace.
measure() {
  local start ticks elapsed
  ticks=$(azurite_ticks); start=$(now)
  "$@" >/dev/null
  elapsed=$(echo "$(now) - $start" | bc -l)
  echo "$elapsed $(echo "($(azurite_ticks) - $ticks) * 100 / $(getconf CLK_TCK) / $elapsed" | bc -l | xargs printf '%.0f')"
}
# seconds CMD...: runs CMD and prints the wall time it took.
seconds() { local start; start=$(now); "$@" >/dev/null; echo "$(now) - $start" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
mbps() { echo "scale=1; $1 * 1.048576 / $2" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }
