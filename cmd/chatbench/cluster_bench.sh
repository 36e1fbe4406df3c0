#!/usr/bin/env bash
# cluster_bench.sh: chatd on one node against chatd on several nodes of one
# NATS cluster (issue 17), under the same load, back to back.
#
# Builds chatd, chatbench and nats-server (the version chatd embeds) into a
# temporary directory and, for every scenario of SCENARIOS in order:
#   1. starts a fresh cluster of NATS_SERVERS nats-servers on loopback (routes
#      between them, JetStream, the monitoring endpoint), and waits until
#      each answers /healthz (JetStream's metadata leader elected);
#   2. starts NODES chatd processes on it, all with --nats (every server's URL)
#      and --nats-replicas REPLICAS: with NODES=1 one plain chatd (no --node:
#      the room delivers its own events straight after storing them), with
#      more each with --node n1, n2, ... (every node reads the room's stream
#      back through its feed);
#   3. runs chatbench with CLIENTS clients spread over the nodes in turn,
#      RATE msg/s each for DURATION s, given every chatd's and every
#      nats-server's process id (CPU time, summed apart) and every server's
#      monitoring URL (messages through NATS, from /varz);
#   4. stops everything.
# Then it prints one table, a column per scenario and the ratio of each
# scenario to the first: delivery ratio, latency, CPU per delivery (chatd,
# NATS, total) and bus messages per public event.
#
# SCENARIOS is a list of CLIENTS:NODES[:RATE], default "600:1 600:3" (the
# issue's comparison; RATE, msg/s per client, defaults to $RATE);
# "600:1 600:3 300:3:2 600:2" also shows that the bus messages per public
# event follow the nodes, not the members (300 clients at 2 msg/s send as
# many events as 600 at 1: the NATS servers batch by the event rate).
#
# Knobs (environment): SCENARIOS, RATE (1), DURATION (10), DRAIN (10: the
# longest wait for late deliveries, ended as soon as all have come), RAMP
# (50 new clients a second: at 200 a second on two busy CPUs, some joiners
# of several nodes were never shown their own join line, and chatbench gave
# up on them after TIMEOUT=30 s; see docs/PERFORMANCE.md),
# NATS_SERVERS (3), REPLICAS (3), REST (5: seconds the nodes are
# watched at rest, before the clients come, for the bus's own traffic;
# 0 skips), OUT=DIR keeps every run's JSON,
# table and logs; BIN=DIR takes chatd, chatbench and nats-server from DIR
# instead of building them (e.g. chatd built from another tree), building
# only what DIR lacks; NATS_ONLY=1 only starts and stops the NATS cluster of
# each scenario (a check of this script).
set -euo pipefail

SCENARIOS=${SCENARIOS:-"600:1 600:3"}
RATE=${RATE:-1}
DURATION=${DURATION:-10}
DRAIN=${DRAIN:-10}
RAMP=${RAMP:-50}
TIMEOUT=${TIMEOUT:-30}
NATS_SERVERS=${NATS_SERVERS:-3}
REPLICAS=${REPLICAS:-3}
NATS_ONLY=${NATS_ONLY:-0}
REST=${REST:-5}
BIN=${BIN:-}

die() { echo "cluster_bench.sh: $*" >&2; exit 1; }
note() { echo "cluster_bench.sh: $*" >&2; }

command -v go >/dev/null || die "needs go"
command -v jq >/dev/null || die "needs jq (apt-get install jq)"
command -v curl >/dev/null || die "needs curl (apt-get install curl)"
((NATS_SERVERS >= 1 && NATS_SERVERS <= 9)) || die "NATS_SERVERS=$NATS_SERVERS: want 1 to 9"
((REPLICAS >= 1 && REPLICAS <= NATS_SERVERS)) || die "REPLICAS=$REPLICAS: want 1 to NATS_SERVERS"
for s in $SCENARIOS; do
	[[ $s =~ ^[1-9][0-9]*:[1-9](:[0-9]+(\.[0-9]+)?)?$ ]] || die "scenario \"$s\": want CLIENTS:NODES[:RATE], 1 to 9 nodes"
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/chatbench-cluster.XXXXXX")
results=${OUT:-$work/results}
mkdir -p "$results"
nats_pids=()
chatd_pids=()

# stop_all: stop every chatd, then every nats-server, of the scenario.
stop_all() {
	local p
	for p in "${chatd_pids[@]}" "${nats_pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	chatd_pids=()
	nats_pids=()
}
cleanup() {
	stop_all
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hard=$(ulimit -Hn)
ulimit -n "$hard"

mkdir -p "$work/bin"
for b in chatd chatbench nats-server; do
	[[ -n $BIN && -x $BIN/$b ]] && cp "$BIN/$b" "$work/bin/$b"
done
note "building what is missing of chatd, chatbench and nats-server in $work/bin"
[[ -x $work/bin/chatd ]] || (cd "$root" && go build -o "$work/bin/" ./cmd/chatd)
[[ -x $work/bin/chatbench ]] || (cd "$root" && go build -o "$work/bin/" ./cmd/chatbench)
[[ -x $work/bin/nats-server ]] || (cd "$root" && go build -o "$work/bin/nats-server" github.com/nats-io/nats-server/v2)
"$work/bin/chatd" cert --out "$work/cert" >/dev/null
cert=$work/cert/cert.pem
key=$work/cert/key.pem
limits=(--flood-rate 1000 --flood-burst 1000 --max-conns-per-ip 100000
	--conn-rate-per-ip 100000 --conn-burst-per-ip 100000 --max-conns 100000)

# port_listening PORT: something listens on the TCP port (from /proc/net).
port_listening() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_ports N: N distinct ports nothing listens on, one a line.
free_ports() {
	local -A taken=()
	local port n=0 i
	for ((i = 0; i < 500 && n < $1; i++)); do
		port=$((20000 + RANDOM % 40000))
		[[ -n ${taken[$port]:-} ]] && continue
		port_listening "$port" && continue
		taken[$port]=1
		echo "$port"
		n=$((n + 1))
	done
	((n == $1)) || die "no $1 free ports"
}

# wait_line PID FILE PATTERN: the first line of FILE matching PATTERN, once
# the process PID wrote it.
wait_line() {
	local i
	for ((i = 0; i < 600; i++)); do
		grep -m1 -- "$3" "$2" 2>/dev/null && return 0
		kill -0 "$1" 2>/dev/null || { tail -20 "$2" >&2; die "$(basename "$2" .log) exited"; }
		sleep 0.05
	done
	tail -20 "$2" >&2
	die "$(basename "$2" .log) did not print \"$3\""
}

# start_nats NAME: a fresh cluster of NATS_SERVERS servers; sets nats_pids,
# nats_urls (comma-separated) and monitors (comma-separated).
start_nats() {
	local name=$1 i routes="" line dir log
	local -a rports urls mons
	mapfile -t rports < <(free_ports "$NATS_SERVERS")
	for ((i = 0; i < NATS_SERVERS; i++)); do
		routes+="${routes:+, }nats-route://127.0.0.1:${rports[i]}"
	done
	for ((i = 0; i < NATS_SERVERS; i++)); do
		dir=$work/$name/nats$((i + 1))
		log=$dir.log
		mkdir -p "$dir"
		cat >"$dir.conf" <<-EOF
			server_name: s$((i + 1))
			jetstream { store_dir: "$dir" }
			cluster {
				name: chatbench
				listen: 127.0.0.1:${rports[i]}
				routes: [ $routes ]
			}
		EOF
		"$work/bin/nats-server" -c "$dir.conf" -a 127.0.0.1 -p -1 -m -1 >"$log" 2>&1 &
		nats_pids+=($!)
		line=$(wait_line $! "$log" "Listening for client connections on")
		urls+=("nats://127.0.0.1:${line##*:}")
		line=$(wait_line $! "$log" "Starting http monitor on")
		mons+=("http://127.0.0.1:${line##*:}")
	done
	nats_urls=$(IFS=,; echo "${urls[*]}")
	monitors=$(IFS=,; echo "${mons[*]}")
	for ((i = 0; i < 600; i++)); do
		all_healthy "${mons[@]}" && return 0
		sleep 0.05
	done
	die "the NATS cluster is not healthy after 30 s (see $work/$name/nats*.log)"
}

# all_healthy URL...: every server's /healthz answers 200 (JetStream is
# ready and knows its metadata leader).
all_healthy() {
	local m
	for m in "$@"; do
		curl -sf --max-time 2 "$m/healthz" >/dev/null 2>&1 || return 1
	done
}

# start_nodes NAME NODES: NODES chatd processes on the NATS cluster; sets
# chatd_pids and addrs (comma-separated).
start_nodes() {
	local name=$1 nodes=$2 i log line
	local -a node_flag addr_list
	for ((i = 1; i <= nodes; i++)); do
		node_flag=()
		((nodes > 1)) && node_flag=(--node "n$i")
		log=$work/$name/chatd$i.log
		"$work/bin/chatd" --data-dir "$work/$name/chatd$i" --cert "$cert" --key "$key" \
			--tls-addr 127.0.0.1:0 --ssh-addr "" --metrics-addr "" \
			--nats "$nats_urls" --nats-replicas "$REPLICAS" "${node_flag[@]}" "${limits[@]}" >"$log" 2>&1 &
		chatd_pids+=($!)
		line=$(wait_line $! "$log" "TLS listening on")
		addr_list+=("localhost:${line##*:}")
	done
	addrs=$(IFS=,; echo "${addr_list[*]}")
}

# bus_total: every message that crossed a socket to or from the NATS
# servers so far (Σ in_msgs + out_client_msgs of their /varz).
bus_total() {
	local m total=0 n
	for m in ${monitors//,/ }; do
		n=$(curl -sf --max-time 5 "$m/varz" | jq -e '.in_msgs + .out_client_msgs') || return 1
		total=$((total + n))
	done
	echo "$total"
}

# rest NAME: the bus messages per second while the nodes are up and no
# client is connected (heartbeats, presence, Raft), into NAME.rest.
rest() {
	local before after
	((REST > 0)) || return 0
	before=$(bus_total) || { note "no /varz at rest"; return 0; }
	sleep "$REST" # a measuring window, not a wait for anything
	after=$(bus_total) || { note "no /varz at rest"; return 0; }
	awk -v a="$after" -v b="$before" -v s="$REST" 'BEGIN { printf "%.1f\n", (a - b) / s }' >"$results/$1.rest"
}

# keep_logs NAME: the scenario's logs into the results.
keep_logs() {
	local f
	for f in "$work/$1"/*.log; do
		[[ -f $f ]] && cp "$f" "$results/$1.$(basename "$f")"
	done
	return 0
}

# scenario NAME CLIENTS NODES RATE: one run; its JSON saved as NAME.json.
scenario() {
	local name=$1 clients=$2 nodes=$3 rate=$4 pids npids
	note "run $name: $clients clients at $rate msg/s over $nodes chatd node(s) on $NATS_SERVERS NATS servers (replicas $REPLICAS)"
	start_nats "$name"
	if ((NATS_ONLY)); then
		note "  NATS cluster up: $nats_urls (monitoring $monitors)"
		stop_all
		return 0
	fi
	start_nodes "$name" "$nodes"
	rest "$name"
	pids=$(IFS=,; echo "${chatd_pids[*]}")
	npids=$(IFS=,; echo "${nats_pids[*]}")
	if ! "$work/bin/chatbench" --json --quiet --label "$name" --addr "$addrs" --ca "$cert" --proto chatd \
		--clients "$clients" --rate "$rate" --ramp "$RAMP" --timeout "${TIMEOUT}s" --duration "${DURATION}s" --drain "${DRAIN}s" \
		--pid "$pids" --nats-pid "$npids" --nats-monitor "$monitors" \
		>"$results/$name.json" 2>"$results/$name.txt"; then
		[[ -s $results/$name.json ]] || echo '{}' >"$results/$name.json"
	fi
	sed 's/^/    /' "$results/$name.txt" >&2
	stop_all
	keep_logs "$name"
}

# name CLIENTS NODES RATE: a scenario's name: CLIENTS-on-NODES, and -at-RATE
# when RATE is not $RATE.
name() {
	local n="$1-on-$2"
	[[ $3 == "$RATE" ]] || n+="-at-$3"
	echo "$n"
}

names=()
for s in $SCENARIOS; do
	IFS=: read -r c n r <<<"$s"
	r=${r:-$RATE}
	names+=("$(name "$c" "$n" "$r")")
	scenario "${names[-1]}" "$c" "$n" "$r"
done
((NATS_ONLY)) && { note "NATS_ONLY=1: every cluster started and stopped"; exit 0; }

# ---- the table ----

# get NAME JQ-EXPR: a value from NAME.json (.rest: the bus messages per
# second at rest), or empty.
get() {
	local rest=null
	[[ -s $results/$1.rest ]] && rest=$(cat "$results/$1.rest")
	jq -r --argjson rest "$rest" "($2) // empty" "$results/$1.json" 2>/dev/null || true
}

# fmt VALUE DECIMALS
fmt() {
	[[ -z $1 ]] && { echo "-"; return; }
	awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }'
}

# ratio A B: A/B with two decimals, or "-".
ratio() {
	[[ -z $1 || -z $2 ]] && { echo "-"; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'
}

# row METRIC DECIMALS JQ-EXPR: the value of every scenario, then the ratio
# of each to the first.
row() {
	local metric=$1 dec=$2 expr=$3 n first v
	printf '%-46s' "$metric"
	first=$(get "${names[0]}" "$expr")
	for n in "${names[@]}"; do
		printf ' %12s' "$(fmt "$(get "$n" "$expr")" "$dec")"
	done
	for n in "${names[@]:1}"; do
		v=$(get "$n" "$expr")
		printf ' %12s' "$(ratio "$v" "$first")"
	done
	printf '\n'
}

# head_of NAME: a scenario's column head, "600 on 3" or "300 on 3 @2".
head_of() {
	local clients=${1%%-on-*} rest=${1#*-on-}
	if [[ $rest == *-at-* ]]; then
		echo "$clients on ${rest%%-at-*} @${rest#*-at-}"
	else
		echo "$clients on $rest"
	fi
}
echo
echo "chatd on one node vs several, on $NATS_SERVERS clustered nats-servers (replicas $REPLICAS), loopback, $(nproc) CPUs ($(uname -sr)); ${RATE} msg/s per client (@N: N msg/s) for ${DURATION} s; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
printf '%-46s' "clients on nodes"
for n in "${names[@]}"; do printf ' %12s' "$(head_of "$n")"; done
for n in "${names[@]:1}"; do printf ' %12s' "÷ $(head_of "${names[0]}")"; done
printf '\n%s\n' "$(printf '%.0s-' $(seq $((46 + 13 * (2 * ${#names[@]} - 1)))))"
row "clients connected" 0 .connected
row "public events sent" 0 .sent
row "delivery ratio (1 = nothing lost)" 4 .delivery_ratio
row "worst node's delivery ratio" 4 '([.targets[]?.delivery_ratio] | min) // .delivery_ratio'
row "deliveries/s" 0 .deliveries_per_s
row "latency p50 ms" 2 .latency_p50_ms
row "latency p99 ms" 2 .latency_p99_ms
row "worst node's p99 ms" 2 '([.targets[]?.latency_p99_ms] | max) // .latency_p99_ms'
row "latency max ms" 2 .latency_max_ms
row "chatd CPU µs per delivery (all nodes)" 2 .server_cpu_us_per_delivery
row "NATS CPU µs per delivery (all servers)" 2 .nats_cpu_us_per_delivery
row "total CPU µs per delivery" 2 .total_cpu_us_per_delivery
row "bus messages per public event" 2 .bus.msgs_per_event
row "  from chatd to NATS" 2 .bus.from_clients_per_event
row "  between NATS servers" 2 .bus.between_servers_per_event
row "  from NATS to chatd" 2 .bus.to_clients_per_event
row "bus messages/s at rest (nodes up, no client)" 1 '$rest'
row "bus bytes per public event" 0 .bus.bytes_per_event
row "  of which between NATS servers" 0 'if .sent > 0 then .bus.route_bytes / .sent else empty end'
row "chatd RSS MiB at the end (all nodes)" 1 .server_rss_mib
row "NATS RSS MiB at the end (all servers)" 1 .nats_rss_mib
row "chatbench CPU s (the load generator)" 2 .bench_cpu_s
echo "bus messages: every message that crossed a socket to or from a NATS server, counted once (Σ in_msgs + out_client_msgs of /varz), per message the clients sent; see docs/PERFORMANCE.md"
for n in "${names[@]}"; do
	if grep -q "error\|chatbench:" "$results/$n.txt"; then
		note "$n reported errors; see above${OUT:+ or $results/$n.txt}"
	fi
done
