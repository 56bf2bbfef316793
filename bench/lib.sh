# shellcheck shell=bash
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

# bench_options "$@": takes `--rtt DURATION` (e.g. 10ms; 0, the default, means
# no proxy at all) and `--replay` (the proxy answers repeated reads itself:
# a service with capacity to spare) out of the arguments and leaves the rest
# in `positional`.
rtt=0
replay=""
positional=()
bench_options() {
  while [ $# -gt 0 ]; do
    case $1 in
      --rtt) rtt=$2; shift 2 ;;
      --rtt=*) rtt=${1#--rtt=}; shift ;;
      --replay) replay=--replay; shift ;;
      *) positional+=("$1"); shift ;;
    esac
  done
}
has_rtt() { [[ ! $rtt =~ ^0*(\.0*)?(us|ms|s)?$ ]]; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 600); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done
  echo "port $1 did not open within 30 s" >&2
  exit 1
}

# The servers whose CPU the benches report: Azurite, and the proxy if any.
server_pids=()
pid_ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }
server_ticks() {
  local pid sum=0
  for pid in "${server_pids[@]}"; do sum=$((sum + $(pid_ticks "$pid"))); done
  echo "$sum"
}

# Starts Azurite on a free loopback port; sets account, key, endpoint and the
# variables skiff and rclone read. With an rtt, both clients reach it through
# bench/latency_proxy.py; `direct CMD...` runs CMD against Azurite itself (to
# prepare data without paying the round trips).
start_azurite() {
  local port
  port=$(free_port)
  node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$port" --location "$work/azurite" \
    --skipApiVersionCheck --loose --disableTelemetry >"$work/azurite.log" 2>&1 &
  azurite_pid=$!
  server_pids+=("$azurite_pid")
  cleanup_hooks+=("kill $azurite_pid 2>/dev/null; wait $azurite_pid 2>/dev/null")
  wait_port "$port"
  account=devstoreaccount1
  key=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
  direct_endpoint="http://127.0.0.1:$port/$account"
  endpoint=$direct_endpoint
  if has_rtt || [ -n "$replay" ]; then
    start_proxy "$port"
    endpoint="http://127.0.0.1:$proxy_port/$account"
  fi
  connection="DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint="
  export AZURE_STORAGE_CONNECTION_STRING="$connection$endpoint;"
  # rclone reads its remote "az" from the environment; AWS_CA_BUNDLE breaks it here.
  unset AWS_CA_BUNDLE
  export RCLONE_CONFIG_AZ_TYPE=azureblob RCLONE_CONFIG_AZ_ACCOUNT=$account RCLONE_CONFIG_AZ_KEY=$key
  export RCLONE_CONFIG_AZ_ENDPOINT=$endpoint RCLONE_CONFIG_AZ_USE_EMULATOR=true RCLONE_CONFIG=/dev/null
}
# curl_config BLOB OUTPUT: writes (mode 600) and prints the path of a curl
# config that downloads BLOB (container/name) from $endpoint into OUTPUT,
# signed with an account SAS (read-only, objects, a day long).
curl_config() {
  local config
  config=$(mktemp "$work/curl-XXXXXX.conf")
  python3 - "$account" "$key" "$endpoint/$1" "$2" >"$config" <<'PY'
import base64, datetime, hashlib, hmac, sys, urllib.parse
account, key, url, output = sys.argv[1:5]
version = "2019-02-02"
expiry = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
signed = "\n".join([account, "r", "b", "o", "", expiry, "", "http,https", version, ""])
signature = base64.b64encode(hmac.new(base64.b64decode(key), signed.encode(), hashlib.sha256).digest()).decode()
query = urllib.parse.urlencode({"sv": version, "ss": "b", "srt": "o", "sp": "r", "se": expiry,
                                "spr": "http,https", "sig": signature})
print(f'url = "{url}?{query}"\noutput = "{output}"')
PY
  echo "$config"
}
direct() {
  AZURE_STORAGE_CONNECTION_STRING="$connection$direct_endpoint;" RCLONE_CONFIG_AZ_ENDPOINT=$direct_endpoint "$@"
}

# start_proxy PORT: bench/latency_proxy.py adds $rtt to each exchange with
# 127.0.0.1:PORT (and replays reads with --replay); sets proxy_port. What it
# did is printed when the bench ends.
start_proxy() {
  python3 bench/latency_proxy.py --target "127.0.0.1:$1" --rtt "$rtt" $replay --port-file "$work/proxy.port" \
    ${SKIFF_BENCH_PROXY_LOG:+--log "$SKIFF_BENCH_PROXY_LOG"} \
    2>"$work/proxy.log" &
  proxy_pid=$!
  server_pids+=("$proxy_pid")
  cleanup_hooks+=("kill $proxy_pid 2>/dev/null; wait $proxy_pid 2>/dev/null; cat $work/proxy.log")
  until [ -s "$work/proxy.port" ]; do sleep 0.05; done
  proxy_port=$(cat "$work/proxy.port")
  echo "round trip $rtt${replay:+, repeated reads replayed}: Azurite reached through bench/latency_proxy.py on port $proxy_port"
}

now() { date +%s.%N; }
# settle_servers: waits (up to 2 minutes) until the servers have used under
# 5% of a core for a second. Azurite works on after a case (saving its
# metadata, collecting extents after large writes); without this, whichever
# tool is measured first pays for it.
settle_servers() {
  local before
  for _ in $(seq 120); do
    before=$(server_ticks)
    sleep 1
    [ $(($(server_ticks) - before)) -ge $(($(getconf CLK_TCK) / 20)) ] || return 0
  done
}
# The CPU the servers used since TICKS over ELAPSED seconds, in % of one core.
# On these 2-core machines the servers and the client share the CPU: at 100%
# and more the servers take at least half the machine and set the pace.
servers_busy() {
  echo "($(server_ticks) - $1) * 100 / $(getconf CLK_TCK) / $2" | bc -l | xargs printf '%.0f'
}
# measure CMD...: runs CMD (a program, not a shell function) and prints
# "WALL_S SERVERS_CPU_PCT CLIENT_CPU_S PEAK_RSS_KIB": wall seconds, the
# servers' CPU meanwhile (servers_busy), CMD's own user+sys seconds with its
# children's, and its peak RSS (GNU time: the largest process's).
measure() {
  local start ticks elapsed user sys rss
  settle_servers
  ticks=$(server_ticks); start=$(now)
  /usr/bin/time -f '%U %S %M' -o "$work/measure.time" "$@" >/dev/null
  elapsed=$(echo "$(now) - $start" | bc -l)
  # The last line: GNU time puts "Command exited with..." before its figures.
  read -r user sys rss < <(tail -n 1 "$work/measure.time")
  echo "$elapsed $(servers_busy "$ticks" "$elapsed") $(echo "$user + $sys" | bc -l) $rss"
}
# measure_daemon PID CMD...: as measure, but the client is the process PID (a
# mount) that CMD works through: PID's CPU during CMD and its peak RSS
# (VmHWM: the highest since it started). CMD may be a shell function.
measure_daemon() {
  local pid=$1 start ticks cpu elapsed
  shift
  settle_servers
  ticks=$(server_ticks); cpu=$(pid_ticks "$pid"); start=$(now)
  "$@" >/dev/null
  elapsed=$(echo "$(now) - $start" | bc -l)
  echo "$elapsed $(servers_busy "$ticks" "$elapsed") $(echo "($(pid_ticks "$pid") - $cpu) / $(getconf CLK_TCK)" |
    bc -l) $(awk '/VmHWM/ {print $2}' /proc/"$pid"/status)"
}
# seconds CMD...: runs CMD and prints the wall time it took.
seconds() { local start; start=$(now); "$@" >/dev/null; echo "$(now) - $start" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
mbps() { echo "scale=1; $1 * 1.048576 / $2" | bc -l; }
# mlp_request REFERENCE_JSON: a batch-1 KServe v2 request, the first row of
# the reference input tests/serve/make_models.py writes beside the MLP.
mlp_request() {
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
tensor = json.load(open(sys.argv[1]))["inputs"]["x"]
size = len(tensor["data"]) // tensor["shape"][0]
print(json.dumps({"inputs": [{"name": "x", "shape": [1, size], "datatype": "FP32",
                              "data": tensor["data"][:size]}]}))
PY
}

ratio() { if [ "$(echo "$2 == 0" | bc -l)" = 1 ]; then echo -; else printf "%.2f" "$(echo "$1 / $2" | bc -l)"; fi; }
max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }

# Figures per case and tool, each a space-separated list of trials.
declare -A fig_wall fig_servers fig_cpu fig_rss fig_tools
# With --replay, the first time a tool makes a request it reaches Azurite at
# Azurite's pace; only repeats are the service with capacity to spare. So
# each bench first runs every tool once unrecorded (warming_up=1), and each
# tool's recorded runs make requests the proxy has seen (tools do not share
# them: each spells its listings and reads its own way).
warming_up=""
warm_up_first() { if [ -n "$replay" ]; then echo 0; else echo 1; fi; }
# record CASE TOOL "LINE": files one trial, LINE being measure's output.
record() {
  [ -z "$warming_up" ] || return 0
  local key="$1/$2" wall servers cpu rss
  read -r wall servers cpu rss <<<"$3"
  [[ " ${fig_tools[$1]:-} " == *" $2 "* ]] || fig_tools[$1]+=" $2"
  fig_wall[$key]+=" $wall"; fig_servers[$key]+=" $servers"; fig_cpu[$key]+=" $cpu"; fig_rss[$key]+=" $rss"
}
median_of() { local -a v; read -ra v <<<"$1"; median "${v[@]}"; }
max_of() { local -a v; read -ra v <<<"$1"; printf '%s\n' "${v[@]}" | sort -g | tail -n 1; }
# report CASE TITLE [MIB]: per tool, the median wall time (and MB/s), client
# CPU and servers' CPU, and the peak RSS; then skiff against each other tool:
# speed = their time / skiff's (above 1: skiff is faster), CPU and RSS =
# skiff's / theirs (below 1: skiff costs less).
report() {
  local case=$1 title=$2 mib=${3:-} tool key wall rate cpu rss
  local -a tools
  read -ra tools <<<"${fig_tools[$case]}"
  echo "$title"
  for tool in "${tools[@]}"; do
    key="$case/$tool"
    wall=$(median_of "${fig_wall[$key]}")
    rate=""
    [ -n "$mib" ] && rate="$(mbps "$mib" "$wall") MB/s"
    printf '  %-10s %8.3f s %13s   CPU %7.3f s   RSS %6.1f MiB   servers %3s%%\n' "$tool" "$wall" "$rate" \
      "$(median_of "${fig_cpu[$key]}")" "$(echo "$(max_of "${fig_rss[$key]}") / 1024" | bc -l)" \
      "$(median_of "${fig_servers[$key]}")"
  done
  for tool in "${tools[@]:1}"; do
    key="$case/$tool"
    wall=$(median_of "${fig_wall[$key]}") cpu=$(median_of "${fig_cpu[$key]}") rss=$(max_of "${fig_rss[$key]}")
    printf '  %s vs %-10s speed %6sx   CPU %6sx   RSS %6sx\n' "${tools[0]}" "$tool" \
      "$(ratio "$wall" "$(median_of "${fig_wall[$case/${tools[0]}]}")")" \
      "$(ratio "$(median_of "${fig_cpu[$case/${tools[0]}]}")" "$cpu")" \
      "$(ratio "$(max_of "${fig_rss[$case/${tools[0]}]}")" "$rss")"
  done
}
