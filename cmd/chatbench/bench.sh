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
#   4. chatd only: IDLE_HEAP_CLIENTS idle TLS clients against chatd run with
#      GOGC=IDLE_HEAP_GOGC and --metrics-addr: its Go heap in use
#      (go_memstats_heap_inuse_bytes) and RSS while they hold (0 skips);
#   5. chatd only, with SSH=1: SSH_SESSIONS SSH sessions, SSH_TYPERS typing;
# then prints one table with the chatd/ncat ratio of every metric. ncat is
# skipped (its column left empty) when it is not installed.
#   6. with CLUSTER=1 (the default; CLUSTER=0 skips it), after that table:
#      cluster_bench.sh, chatd on one node against chatd on three nodes of
#      one three-server NATS cluster, CLUSTER_SCENARIOS (default "600:1 600:3",
#      CLIENTS:NODES) at RATE msg/s for CLUSTER_DURATION s, connecting
#      CLUSTER_RAMP (50) clients a second, with its own table
#      (see that script); it builds nats-server once, and takes about a
#      minute per scenario.
#
# BASELINE=REV (any git revision: a commit, HEAD~3, a tag) adds a before/after
# comparison: chatd is built a second time from REV (in a temporary git
# worktree, removed at the end; chatbench is always the working tree's), and
# every run above is made against both chatds, the working tree's ("new") and
# REV's ("baseline"), back to back so that both see the same machine: the
# SIZES runs, the sweep (in rounds), the idle runs and the SSH runs; ncat, if
# installed, runs the loads too. The table's columns are then new, baseline,
# ncat, new/baseline and new/ncat, and its title names REV's commit. The
# previous release (before the room kept its history in JetStream) is
# 9142f59: BASELINE=9142f59 SSH=1 make bench.
#
# Everything is tunable from the environment, e.g. for a quick run:
#   DURATION=3 SIZES="50 100" SWEEP_RATES="1 4" IDLE_CLIENTS=500 cmd/chatbench/bench.sh
# or, to see what the last three commits did to chatd:
#   BASELINE=HEAD~3 cmd/chatbench/bench.sh
# OUT=DIR keeps every run's JSON and table in DIR, and each chatd's log.
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
IDLE_HEAP_CLIENTS=${IDLE_HEAP_CLIENTS:-2000} # idle clients for the heap measurement (0 skips)
IDLE_HEAP_GOGC=${IDLE_HEAP_GOGC:-5}  # chatd's GOGC then: the heap stays close to what is live
SSH=${SSH:-0}                        # 1 also benchmarks chatd's SSH sessions
SSH_SESSIONS=${SSH_SESSIONS:-100}
SSH_TYPERS=${SSH_TYPERS:-20}
NCAT_MAX=${NCAT_MAX:-1000}           # ncat -m: its connection limit
BASELINE=${BASELINE:-}               # a git revision: compare chatd with its chatd too
CLUSTER=${CLUSTER:-1}                # 1 also runs cluster_bench.sh: one node vs three on a NATS cluster
CLUSTER_SCENARIOS=${CLUSTER_SCENARIOS:-"600:1 600:3"} # its CLIENTS:NODES runs
CLUSTER_DURATION=${CLUSTER_DURATION:-$DURATION} # seconds of sending per cluster run
CLUSTER_RAMP=${CLUSTER_RAMP:-50}     # new connections per second in the cluster runs

die() { echo "bench.sh: $*" >&2; exit 1; }
note() { echo "bench.sh: $*" >&2; }

command -v go >/dev/null || die "needs go"
command -v jq >/dev/null || die "needs jq (apt-get install jq)"
have_ncat=0
if command -v ncat >/dev/null; then
	have_ncat=1
else
	note "ncat not installed (apt-get install ncat): chatd only"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
baseline_rev=""
if [[ -n $BASELINE ]]; then
	command -v git >/dev/null || die "BASELINE needs git"
	baseline_rev=$(git -C "$root" rev-parse --short --verify --quiet "$BASELINE^{commit}") ||
		die "BASELINE=$BASELINE is not a commit in $root"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/chatbench.XXXXXX")
results=${OUT:-$work/results}
mkdir -p "$results"
baseline_src=""
server_pid=""
server_addr=""
ssh_addr=""
ssh_fingerprint=""
metrics_url=""
server_log=""

# stop_server [NAME]: stop the server; with NAME, keep chatd's log of the run
# as NAME.server.log in the results.
stop_server() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
	if [[ -n ${1:-} && -n $server_log && -f $server_log ]]; then
		cp "$server_log" "$results/$1.server.log"
	fi
	server_log=""
}
cleanup() {
	stop_server
	if [[ -n $baseline_src ]]; then
		git -C "$root" worktree remove --force "$baseline_src" 2>/dev/null || true
		rm -rf "$baseline_src"
		git -C "$root" worktree prune 2>/dev/null || true
	fi
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
if [[ -n $BASELINE ]]; then
	note "building the baseline chatd from $BASELINE ($baseline_rev) in $work/baseline"
	baseline_src=$work/baseline-src
	git -C "$root" worktree add --detach "$baseline_src" "$BASELINE" >&2
	mkdir -p "$work/baseline"
	(cd "$baseline_src" && go build -o "$work/baseline/" ./cmd/chatd) || die "cannot build chatd at $BASELINE"
fi
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

# chatd_bin SERVER: the binary of chatd (the working tree's) or baseline.
chatd_bin() {
	case $1 in
	chatd) echo "$work/chatd" ;;
	baseline) echo "$work/baseline/chatd" ;;
	*) die "no chatd called $1" ;;
	esac
}

# start_chatd [SERVER] [ssh|metrics]: a fresh chatd (SERVER chatd, the
# default, or baseline) on free ports; sets server_pid, server_addr (and
# ssh_addr, ssh_fingerprint; or metrics_url).
start_chatd() {
	local server=chatd ssh_listen="" metrics_listen="" log line bin
	[[ ${1:-} == chatd || ${1:-} == baseline ]] && { server=$1; shift; }
	[[ ${1:-} == ssh ]] && ssh_listen=127.0.0.1:0
	[[ ${1:-} == metrics ]] && metrics_listen=127.0.0.1:0
	log=$work/$server.log
	server_log=$log
	bin=$(chatd_bin "$server")
	rm -rf "$work/data"
	"$bin" --data-dir "$work/data" --cert "$cert" --key "$key" \
		--tls-addr 127.0.0.1:0 --ssh-addr "$ssh_listen" --metrics-addr "$metrics_listen" "${limits[@]}" >"$log" 2>&1 &
	server_pid=$!
	line=$(wait_for "$log" "TLS listening on")
	server_addr=localhost:${line##*:}
	metrics_url=""
	if [[ -n $metrics_listen ]]; then
		line=$(wait_for "$log" "Metrics on http://")
		metrics_url=${line##* }
	fi
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

# measure SERVER NAME ARGS...: bench against a fresh SERVER (chatd, baseline
# or ncat).
measure() {
	local server=$1 name=$2
	shift 2
	if [[ $server == ncat ]]; then
		start_ncat
		bench "$name" --addr "$server_addr" --ca "$cert" --proto raw "$@"
	else
		start_chatd "$server"
		bench "$name" --addr "$server_addr" --ca "$cert" --proto chatd "$@"
	fi
	stop_server "$name"
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

# sweep SERVER...: for each SERVER, try SWEEP_RATES in order until one fails,
# then bisect SWEEP_REFINE times between the last pass and the first failure.
# With several SERVERs the sweeps go in rounds: each round runs the next step
# of every server still sweeping, back to back; each server tries the rates it
# would alone. The best passing run is saved as SERVER-sweep.json, the lowest
# failing rate in SERVER-sweep.failed.
sweep() {
	local server rate i more=1
	local -a rates
	local -A lo=() hi=() next=() refined=()
	read -ra rates <<<"$SWEEP_RATES"
	while ((more)); do
		more=0
		for server in "$@"; do
			if [[ -z ${hi[$server]:-} ]]; then
				i=${next[$server]:-0}
				((i < ${#rates[@]})) || continue
				rate=${rates[i]}
				next[$server]=$((i + 1))
			elif [[ -n ${lo[$server]:-} ]] && ((${refined[$server]:-0} < SWEEP_REFINE)); then
				rate=$(awk -v a="${lo[$server]}" -v b="${hi[$server]}" 'BEGIN { printf "%g", (a + b) / 2 }')
				refined[$server]=$((${refined[$server]:-0} + 1))
			else
				continue
			fi
			more=1
			if try_rate "$server" "$rate"; then lo[$server]=$rate; else hi[$server]=$rate; fi
		done
	done
	for server in "$@"; do
		if [[ -n ${lo[$server]:-} ]]; then
			cp "$results/$server-sweep-${lo[$server]}.json" "$results/$server-sweep.json"
		else
			echo '{}' >"$results/$server-sweep.json"
		fi
		echo "${hi[$server]:-}" >"$results/$server-sweep.failed"
	done
}

# idle SERVER NAME [MEMLIMIT]: IDLE_CLIENTS idle clients against a fresh chatd
# (SERVER chatd or baseline), with GOMEMLIMIT=MEMLIMIT if given.
idle() {
	if [[ -n ${3:-} ]]; then
		GOMEMLIMIT=$3 start_chatd "$1"
	else
		start_chatd "$1"
	fi
	bench "$2" --addr "$server_addr" --ca "$cert" --idle --clients "$IDLE_CLIENTS" \
		--ramp "$IDLE_RAMP" --duration "${IDLE_HOLD}s" --timeout 60s
	stop_server "$2"
}

# idle_heap SERVER NAME: IDLE_HEAP_CLIENTS idle clients against a fresh chatd
# run with GOGC=IDLE_HEAP_GOGC, its heap in use read from its metrics while
# they hold.
idle_heap() {
	GOGC=$IDLE_HEAP_GOGC start_chatd "$1" metrics
	bench "$2" --addr "$server_addr" --ca "$cert" --idle --clients "$IDLE_HEAP_CLIENTS" \
		--ramp "$IDLE_RAMP" --duration "${IDLE_HOLD}s" --timeout 60s --metrics "$metrics_url"
	stop_server "$2"
}

# servers: what the load runs compare; chatds: what the chatd-only runs do.
servers=(chatd)
chatds=(chatd)
if [[ -n $BASELINE ]]; then
	servers+=(baseline)
	chatds+=(baseline)
fi
((have_ncat)) && servers+=(ncat)

for n in $SIZES; do
	for s in "${servers[@]}"; do
		measure "$s" "$s-$n" --clients "$n" --rate "$RATE" --ramp "$RAMP" \
			--duration "${DURATION}s" --drain "${DRAIN}s"
	done
done
if [[ -n $BASELINE ]]; then
	sweep "${servers[@]}"
else
	for s in "${servers[@]}"; do
		sweep "$s"
	done
fi
if ((IDLE_HEAP_CLIENTS > 0)); then
	for s in "${chatds[@]}"; do
		idle_heap "$s" "$s-idle-heap"
	done
fi
if ((IDLE_CLIENTS > 0)); then
	for s in "${chatds[@]}"; do
		idle "$s" "$s-idle"
	done
	if [[ -n $IDLE_MEMLIMIT ]]; then
		for s in "${chatds[@]}"; do
			idle "$s" "$s-idle-memlimit" "$IDLE_MEMLIMIT"
		done
	fi
fi
if ((SSH)); then
	for s in "${chatds[@]}"; do
		start_chatd "$s" ssh
		bench "$s-ssh" --ssh "$ssh_addr" --ssh-host-key "$ssh_fingerprint" --clients "$SSH_SESSIONS" \
			--typers "$SSH_TYPERS" --rate "$RATE" --ramp "$RAMP" --duration "${DURATION}s" --drain "${DRAIN}s"
		stop_server "$s-ssh"
	done
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

# ratio A B: A/B with two decimals, or "-".
ratio() {
	if [[ -z $1 || -z $2 ]]; then
		echo "-"
		return
	fi
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'
}

# The columns: chatd (the working tree's), then the baseline chatd (with
# BASELINE) and ncat (if installed), then chatd's ratio to each of them.
cols=(chatd)
[[ -n $BASELINE ]] && cols+=(baseline)
((have_ncat)) && cols+=(ncat)
head_chatd=chatd
[[ -n $BASELINE ]] && head_chatd=new

# row METRIC DECIMALS VALUE...: one value per column in cols, then the ratios.
row() {
	local metric=$1 dec=$2 i
	shift 2
	local -a v=("$@")
	printf '%-44s' "$metric"
	for ((i = 0; i < ${#cols[@]}; i++)); do
		printf ' %14s' "$(fmt "${v[i]:-}" "$dec")"
	done
	for ((i = 1; i < ${#cols[@]}; i++)); do
		printf ' %14s' "$(ratio "${v[0]:-}" "${v[i]:-}")"
	done
	printf '\n'
}

# vals RUN-SUFFIX JQ-EXPR [chatd-only]: the value for each column from the
# run SERVER-SUFFIX; ncat's is empty for a chatd-only run.
vals() {
	local c
	for c in "${cols[@]}"; do
		if [[ $c == ncat && -n ${3:-} ]]; then
			echo
		else
			printf '%s\n' "$(get "$c-$1" "$2")"
		fi
	done
}

# mrow METRIC DECIMALS RUN-SUFFIX JQ-EXPR [chatd-only]: row with vals.
mrow() {
	local -a v
	mapfile -t v < <(vals "$3" "$4" "${5:-}")
	row "$1" "$2" "${v[@]}"
}

# metrics NAME-SUFFIX TITLE: the rows of one load run.
metrics() {
	echo "$2"
	mrow "  clients connected" 0 "$1" .connected
	mrow "  delivery ratio (1 = nothing lost)" 4 "$1" .delivery_ratio
	mrow "  deliveries/s" 0 "$1" .deliveries_per_s
	mrow "  latency p50 ms (lower is better)" 2 "$1" .latency_p50_ms
	mrow "  latency p90 ms" 2 "$1" .latency_p90_ms
	mrow "  latency p99 ms" 2 "$1" .latency_p99_ms
	mrow "  latency max ms" 2 "$1" .latency_max_ms
	mrow "  server CPU µs per delivery (lower is better)" 2 "$1" .server_cpu_us_per_delivery
	mrow "  server RSS MiB at the end" 1 "$1" .server_rss_mib
	mrow "  chatbench CPU s (the load generator)" 2 "$1" .bench_cpu_s
}

# failed_rates: the lowest failing sweep rate of each column.
failed_rates() {
	local c
	for c in "${cols[@]}"; do
		printf '%s\n' "$(cat "$results/$c-sweep.failed" 2>/dev/null)"
	done
}

echo
title="chatd"
if [[ -n $BASELINE ]]; then
	tree="HEAD $(git -C "$root" rev-parse --short HEAD)"
	git -C "$root" diff --quiet HEAD -- 2>/dev/null || tree="$tree + uncommitted changes"
	rev=$baseline_rev
	[[ $BASELINE == "$baseline_rev" ]] || rev="$BASELINE = $baseline_rev"
	title="chatd new (working tree, $tree) vs baseline (chatd at $rev)"
fi
((have_ncat)) && title="$title vs ncat --ssl --chat"
echo "$title on $(nproc) CPUs ($(uname -sr)), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; chatbench: ${RATE} msg/s per client, ${DURATION} s per run"
printf '%-44s' "metric"
for c in "${cols[@]}"; do
	[[ $c == chatd ]] && c=$head_chatd
	printf ' %14s' "$c"
done
for c in "${cols[@]:1}"; do
	printf ' %14s' "$head_chatd/$c"
done
printf '\n%s\n' "$(printf '%.0s-' $(seq $((44 + 15 * (2 * ${#cols[@]} - 1)))))"
for n in $SIZES; do
	metrics "$n" "$n clients × $RATE msg/s"
done
echo "rate sweep, $SWEEP_CLIENTS clients (no loss, p99 < $P99_LIMIT_MS ms)"
mrow "  highest clean rate, msg/s per client" 1 sweep .rate_per_client
mrow "  deliveries/s at that rate" 0 sweep .deliveries_per_s
mrow "  p99 ms at that rate" 2 sweep .latency_p99_ms
mapfile -t failed < <(failed_rates)
row "  lowest failing rate tried (- : none failed)" 1 "${failed[@]}"
only=""
((have_ncat)) && only=" (chatd only)"
if ((IDLE_HEAP_CLIENTS > 0)); then
	echo "$IDLE_HEAP_CLIENTS idle TLS clients, chatd with GOGC=$IDLE_HEAP_GOGC$only"
	mrow "  connected (and not dropped)" 0 idle-heap '.connected - .lost' only
	mrow "  server Go heap in use MiB" 1 idle-heap .server_heap_inuse_mib only
	mrow "  server RSS MiB" 1 idle-heap .server_rss_mib only
fi
if ((IDLE_CLIENTS > 0)); then
	echo "$IDLE_CLIENTS idle TLS clients$only"
	mrow "  connected (and not dropped)" 0 idle '.connected - .lost' only
	mrow "  seconds to connect them all" 1 idle .connect_s only
	mrow "  server RSS MiB" 1 idle .server_rss_mib only
	mrow "  server RSS KiB per client" 1 idle .server_rss_per_client_kib only
	if [[ -n $IDLE_MEMLIMIT ]]; then
		echo "$IDLE_CLIENTS idle TLS clients, chatd with GOMEMLIMIT=$IDLE_MEMLIMIT$only"
		mrow "  connected (and not dropped)" 0 idle-memlimit '.connected - .lost' only
		mrow "  server RSS MiB" 1 idle-memlimit .server_rss_mib only
		mrow "  server RSS KiB per client" 1 idle-memlimit .server_rss_per_client_kib only
	fi
fi
if ((SSH)); then
	echo "$SSH_SESSIONS SSH sessions, $SSH_TYPERS typing $RATE line/s$only"
	mrow "  sessions connected" 0 ssh .connected only
	mrow "  delivery ratio (messages × screens)" 4 ssh .delivery_ratio only
	mrow "  latency p50 ms" 2 ssh .latency_p50_ms only
	mrow "  latency p99 ms" 2 ssh .latency_p99_ms only
	mrow "  server CPU µs per message per screen" 1 ssh .server_cpu_us_per_delivery only
	mrow "  server RSS KiB per session" 1 ssh .server_rss_per_client_kib only
fi
for f in "$results"/*.txt; do
	if grep -q "error\|chatbench:" "$f"; then
		note "$(basename "$f" .txt) reported errors; see above${OUT:+ or $f}"
	fi
done
if ((CLUSTER)); then
	note "chatd on one node against several: cmd/chatbench/cluster_bench.sh"
	BIN=$work SCENARIOS=$CLUSTER_SCENARIOS RATE=$RATE DURATION=$CLUSTER_DURATION RAMP=$CLUSTER_RAMP \
		OUT=${OUT:+$OUT/cluster} "$root/cmd/chatbench/cluster_bench.sh"
fi
