#!/usr/bin/env bash
# bench.sh: chatd against `ncat --ssl --chat` under the same load, side by side.
#
# Builds chatd and chatbench into a temporary directory, makes one ECDSA
# P-256 certificate that both servers use, and measures, starting a fresh
# server process for every run:
#   1. SIZES clients (default "200 800") sending RATE msg/s each for DURATION s;
#   2. a rate sweep with SWEEP_CLIENTS clients: the highest delivery rate with
#      no loss and p99 latency under P99_LIMIT_MS (SWEEP_RATES in order until
#      a run fails, then SWEEP_REFINE bisection steps);
#   3. chatd only: IDLE_CLIENTS idle TLS clients, connected count and RSS,
#      at the defaults and again with GOMEMLIMIT=IDLE_MEMLIMIT (empty skips);
#   4. chatd only, with SSH=1: SSH_SESSIONS SSH sessions, SSH_TYPERS typing;
# then prints one table with the chatd/ncat ratio of every metric. ncat is
# skipped (its column left empty) when it is not installed.
#
# Everything is tunable from the environment, e.g. for a quick run:
#   DURATION=3 SIZES="50 100" SWEEP_RATES="1 4" IDLE_CLIENTS=500 cmd/chatbench/bench.sh
# OUT=DIR keeps every run's JSON and table in DIR.
set -euo pipefail

DURATION=${DURATION:-10}             # seconds of sending per run
DRAIN=${DRAIN:-2}                    # longest wait for late deliveries, seconds
RAMP=${RAMP:-200}                    # new connections per second
SIZES=${SIZES:-"200 800"}            # client counts for the fixed-rate runs
RATE=${RATE:-1}                      # messages per second per client in those runs
SWEEP_CLIENTS=${SWEEP_CLIENTS:-200}  # clients in the rate sweep
SWEEP_DURATION=${SWEEP_DURATION:-5}  # seconds per sweep step
SWEEP_RATES=${SWEEP_RATES:-"1 2 4 8 16 32 64"} # per-client rates tried, in order
SWEEP_REFINE=${SWEEP_REFINE:-2}      # bisection steps after the first failure
P99_LIMIT_MS=${P99_LIMIT_MS:-100}    # a sweep step passes with no loss and p99 below this
IDLE_CLIENTS=${IDLE_CLIENTS:-10000}  # idle TLS clients against chatd (0 skips)
IDLE_HOLD=${IDLE_HOLD:-10}           # seconds to hold them once all have joined
IDLE_RAMP=${IDLE_RAMP:-$RAMP}        # their connection rate
IDLE_MEMLIMIT=${IDLE_MEMLIMIT-160MiB} # the idle run again with this Go memory limit ("" skips)
SSH=${SSH:-0}                        # 1 also benchmarks chatd's SSH sessions
SSH_SESSIONS=${SSH_SESSIONS:-100}
SSH_TYPERS=${SSH_TYPERS:-20}
NCAT_MAX=${NCAT_MAX:-1000}           # ncat -m: its connection limit

die() { echo "bench.sh: $*" >&2; exit 1; }
note() { echo "bench.sh: $*" >&2; }

command -v go >/dev/null || die "needs go"
command -v jq >/dev/null || die "needs jq (apt-get install jq)"
have_ncat=0
if command -v ncat >/dev/null; then have_ncat=1; else note "ncat not installed (apt-get install ncat): chatd only"; fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/chatbench.XXXXXX")
results=${OUT:-$work/results}
mkdir -p "$results"
server_pid=""
server_addr=""
ssh_addr=""
ssh_fingerprint=""

stop_server() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}
cleanup() {
	stop_server
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every client is a socket on each side: raise the open-file limit for this
# script and the servers it starts.
hard=$(ulimit -Hn)
ulimit -n "$hard"
if [[ $hard != unlimited ]] && ((hard < IDLE_CLIENTS + 100)); then
	note "open-file limit $hard is below IDLE_CLIENTS=$IDLE_CLIENTS; raise it (e.g. ulimit -Hn as root) or expect failures"
fi

note "building chatd and chatbench in $work"
(cd "$root" && go build -o "$work/" ./cmd/chatd ./cmd/chatbench)
"$work/chatd" cert --out "$work/cert" >/dev/null
cert=$work/cert/cert.pem
key=$work/cert/key.pem

# Limits generous enough that one machine's clients are not taken for a flood.
limits=(--flood-rate 1000 --flood-burst 1000 --max-conns-per-ip 100000
	--conn-rate-per-ip 100000 --conn-burst-per-ip 100000 --max-conns 100000)

# wait_for FILE PATTERN: wait until the server wrote a line matching PATTERN.
wait_for() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -m1 -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$server_pid" 2>/dev/null || { cat "$1" >&2; die "the server exited"; }
		sleep 0.05
	done
	cat "$1" >&2
	die "the server did not print \"$2\""
}

# start_chatd [ssh]: a fresh chatd on free ports; sets server_pid, server_addr
# (and ssh_addr, ssh_fingerprint).
start_chatd() {
	local ssh_listen="" log=$work/chatd.log line
	[[ ${1:-} == ssh ]] && ssh_listen=127.0.0.1:0
	rm -rf "$work/data"
	"$work/chatd" --data-dir "$work/data" --cert "$cert" --key "$key" \
		--tls-addr 127.0.0.1:0 --ssh-addr "$ssh_listen" "${limits[@]}" >"$log" 2>&1 &
	server_pid=$!
	line=$(wait_for "$log" "TLS listening on")
	server_addr=localhost:${line##*:}
	if [[ -n $ssh_listen ]]; then
		line=$(wait_for "$log" "SSH listening on")
		ssh_addr=127.0.0.1:${line##*:}
		ssh_fingerprint=$(grep -m1 -o 'SHA256:[A-Za-z0-9+/=]*' "$log" || true)
	fi
}

# port_listening PORT: something listens on the TCP port (from /proc/net).
port_listening() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# start_ncat: a fresh `ncat --ssl --chat` on a free port with the same cert.
start_ncat() {
	local port i
	for ((i = 0; i < 50; i++)); do
		port=$((20000 + RANDOM % 40000))
		port_listening "$port" || break
	done
	ncat --ssl --chat -m "$NCAT_MAX" --ssl-cert "$cert" --ssl-key "$key" -l 127.0.0.1 "$port" \
		>"$work/ncat.log" 2>&1 &
	server_pid=$!
	for ((i = 0; i < 200; i++)); do
		port_listening "$port" && { server_addr=localhost:$port; return 0; }
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$work/ncat.log" >&2
	die "ncat did not start listening on $port"
}

# bench NAME ARGS...: one chatbench run against the running server, its JSON
# saved as NAME.json and its table shown.
bench() {
	local name=$1
	shift
	note "run $name"
	if ! "$work/chatbench" --json --quiet --label "$name" --pid "$server_pid" "$@" \
		>"$results/$name.json" 2>"$results/$name.txt"; then
		[[ -s $results/$name.json ]] || echo '{}' >"$results/$name.json"
	fi
	sed 's/^/    /' "$results/$name.txt" >&2
}

# measure SERVER NAME ARGS...: bench against a fresh SERVER (chatd or ncat).
measure() {
	local server=$1 name=$2
	shift 2
	if [[ $server == ncat ]]; then
		start_ncat
		bench "$name" --addr "$server_addr" --ca "$cert" --proto raw "$@"
	else
		start_chatd
		bench "$name" --addr "$server_addr" --ca "$cert" --proto chatd "$@"
	fi
	stop_server
}

# passes FILE: the run lost nothing and its p99 is under the limit.
passes() {
	jq -e --argjson lim "$P99_LIMIT_MS" \
		'.failed == 0 and .lost == 0 and .expected > 0 and .delivered == .expected and .latency_p99_ms < $lim' \
		"$1" >/dev/null 2>&1
}

# try_rate SERVER RATE: one sweep step; true if it passes.
try_rate() {
	measure "$1" "$1-sweep-$2" --clients "$SWEEP_CLIENTS" --rate "$2" \
		--ramp "$RAMP" --duration "${SWEEP_DURATION}s" --drain "${DRAIN}s"
	passes "$results/$1-sweep-$2.json"
}

# sweep SERVER: try SWEEP_RATES in order until one fails, then bisect
# SWEEP_REFINE times between the last pass and the first failure. The best
# passing run is saved as SERVER-sweep.json, the lowest failing rate in
# SERVER-sweep.failed.
sweep() {
	local server=$1 rate lo="" hi="" i
	for rate in $SWEEP_RATES; do
		if try_rate "$server" "$rate"; then lo=$rate; else hi=$rate; break; fi
	done
	if [[ -n $lo && -n $hi ]]; then
		for ((i = 0; i < SWEEP_REFINE; i++)); do
			rate=$(awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%g", (a + b) / 2 }')
			if try_rate "$server" "$rate"; then lo=$rate; else hi=$rate; fi
		done
	fi
	if [[ -n $lo ]]; then
		cp "$results/$server-sweep-$lo.json" "$results/$server-sweep.json"
	else
		echo '{}' >"$results/$server-sweep.json"
	fi
	echo "$hi" >"$results/$server-sweep.failed"
}

servers=(chatd)
((have_ncat)) && servers+=(ncat)

for n in $SIZES; do
	for s in "${servers[@]}"; do
		measure "$s" "$s-$n" --clients "$n" --rate "$RATE" --ramp "$RAMP" \
			--duration "${DURATION}s" --drain "${DRAIN}s"
	done
done
for s in "${servers[@]}"; do
	sweep "$s"
done
if ((IDLE_CLIENTS > 0)); then
	start_chatd
	bench chatd-idle --addr "$server_addr" --ca "$cert" --idle --clients "$IDLE_CLIENTS" \
		--ramp "$IDLE_RAMP" --duration "${IDLE_HOLD}s" --timeout 60s
	stop_server
	if [[ -n $IDLE_MEMLIMIT ]]; then
		GOMEMLIMIT=$IDLE_MEMLIMIT start_chatd
		bench chatd-idle-memlimit --addr "$server_addr" --ca "$cert" --idle --clients "$IDLE_CLIENTS" \
			--ramp "$IDLE_RAMP" --duration "${IDLE_HOLD}s" --timeout 60s
		stop_server
	fi
fi
if ((SSH)); then
	start_chatd ssh
	bench chatd-ssh --ssh "$ssh_addr" --ssh-host-key "$ssh_fingerprint" --clients "$SSH_SESSIONS" \
		--typers "$SSH_TYPERS" --rate "$RATE" --ramp "$RAMP" --duration "${DURATION}s" --drain "${DRAIN}s"
	stop_server
fi

# ---- the table ----

# get NAME JQ-EXPR: a value from NAME.json, or empty.
get() {
	[[ -f $results/$1.json ]] || return 0
	jq -r "($2) // empty" "$results/$1.json" 2>/dev/null || true
}

# fmt VALUE DECIMALS
fmt() {
	[[ -z $1 ]] && { echo "-"; return; }
	awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }'
}

# row METRIC CHATD NCAT DECIMALS
row() {
	local ratio="-"
	if [[ -n $2 && -n $3 ]]; then
		ratio=$(awk -v a="$2" -v b="$3" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }')
	fi
	printf '%-44s %14s %14s %10s\n' "$1" "$(fmt "$2" "$4")" "$(fmt "$3" "$4")" "$ratio"
}

# metrics NAME-SUFFIX TITLE: the rows of one load run.
metrics() {
	local c=chatd-$1 n=ncat-$1
	echo "$2"
	row "  clients connected" "$(get "$c" .connected)" "$(get "$n" .connected)" 0
	row "  delivery ratio (1 = nothing lost)" "$(get "$c" .delivery_ratio)" "$(get "$n" .delivery_ratio)" 4
	row "  deliveries/s" "$(get "$c" .deliveries_per_s)" "$(get "$n" .deliveries_per_s)" 0
	row "  latency p50 ms (lower is better)" "$(get "$c" .latency_p50_ms)" "$(get "$n" .latency_p50_ms)" 2
	row "  latency p90 ms" "$(get "$c" .latency_p90_ms)" "$(get "$n" .latency_p90_ms)" 2
	row "  latency p99 ms" "$(get "$c" .latency_p99_ms)" "$(get "$n" .latency_p99_ms)" 2
	row "  latency max ms" "$(get "$c" .latency_max_ms)" "$(get "$n" .latency_max_ms)" 2
	row "  server CPU µs per delivery (lower is better)" "$(get "$c" .server_cpu_us_per_delivery)" "$(get "$n" .server_cpu_us_per_delivery)" 2
	row "  server RSS MiB at the end" "$(get "$c" .server_rss_mib)" "$(get "$n" .server_rss_mib)" 1
	row "  chatbench CPU s (the load generator)" "$(get "$c" .bench_cpu_s)" "$(get "$n" .bench_cpu_s)" 2
}

echo
echo "chatd vs ncat --ssl --chat on $(nproc) CPUs ($(uname -sr)); chatbench: ${RATE} msg/s per client, ${DURATION} s per run"
printf '%-44s %14s %14s %10s\n' "metric" "chatd" "ncat" "chatd/ncat"
printf '%s\n' "$(printf '%.0s-' {1..85})"
for n in $SIZES; do
	metrics "$n" "$n clients × $RATE msg/s"
done
echo "rate sweep, $SWEEP_CLIENTS clients (no loss, p99 < $P99_LIMIT_MS ms)"
row "  highest clean rate, msg/s per client" "$(get chatd-sweep .rate_per_client)" "$(get ncat-sweep .rate_per_client)" 1
row "  deliveries/s at that rate" "$(get chatd-sweep .deliveries_per_s)" "$(get ncat-sweep .deliveries_per_s)" 0
row "  p99 ms at that rate" "$(get chatd-sweep .latency_p99_ms)" "$(get ncat-sweep .latency_p99_ms)" 2
row "  lowest failing rate tried (- : none failed)" "$(cat "$results/chatd-sweep.failed" 2>/dev/null || true)" \
	"$(cat "$results/ncat-sweep.failed" 2>/dev/null || true)" 1
if ((IDLE_CLIENTS > 0)); then
	echo "$IDLE_CLIENTS idle TLS clients (chatd only)"
	row "  connected (and not dropped)" "$(get chatd-idle '.connected - .lost')" "" 0
	row "  seconds to connect them all" "$(get chatd-idle .connect_s)" "" 1
	row "  server RSS MiB" "$(get chatd-idle .server_rss_mib)" "" 1
	row "  server RSS KiB per client" "$(get chatd-idle .server_rss_per_client_kib)" "" 1
	if [[ -n $IDLE_MEMLIMIT ]]; then
		echo "$IDLE_CLIENTS idle TLS clients, chatd with GOMEMLIMIT=$IDLE_MEMLIMIT"
		row "  connected (and not dropped)" "$(get chatd-idle-memlimit '.connected - .lost')" "" 0
		row "  server RSS MiB" "$(get chatd-idle-memlimit .server_rss_mib)" "" 1
		row "  server RSS KiB per client" "$(get chatd-idle-memlimit .server_rss_per_client_kib)" "" 1
	fi
fi
if ((SSH)); then
	echo "$SSH_SESSIONS SSH sessions, $SSH_TYPERS typing $RATE line/s (chatd only)"
	row "  sessions connected" "$(get chatd-ssh .connected)" "" 0
	row "  delivery ratio (messages × screens)" "$(get chatd-ssh .delivery_ratio)" "" 4
	row "  latency p50 ms" "$(get chatd-ssh .latency_p50_ms)" "" 2
	row "  latency p99 ms" "$(get chatd-ssh .latency_p99_ms)" "" 2
	row "  server CPU µs per message per screen" "$(get chatd-ssh .server_cpu_us_per_delivery)" "" 1
	row "  server RSS KiB per session" "$(get chatd-ssh .server_rss_per_client_kib)" "" 1
fi
for f in "$results"/*.txt; do
	if grep -q "error\|chatbench:" "$f"; then
		note "$(basename "$f" .txt) reported errors; see above${OUT:+ or $f}"
	fi
done
