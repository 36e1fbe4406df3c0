#!/bin/sh
# cluster.sh: a local demo of one chatd room served by three nodes (`make
# cluster`). It builds bin/chatd, bin/chat and bin/nats-server, starts three
# nats-servers clustered on loopback (JetStream, replicas 3) and three chatd
# nodes a, b and c on their own ports, prints how to connect to each, and
# stops everything on Ctrl-C. Everything it keeps is under $DEMO_DIR
# (default cluster-demo/): remove it to start from an empty room.
#
# Ports (loopback only): NATS clients 4222-4224, routes 6222-6224,
# monitoring 8222-8224; chatd TLS 6697-6699, SSH 2222-2224, metrics
# 9101-9103. See docs/CLUSTER.md for a real deployment.
set -eu

GO=${GO:-go}
BIN=${BIN:-bin}
DEMO_DIR=${DEMO_DIR:-cluster-demo}
NODES="a b c"

# stop ends the chatd nodes first (SIGTERM: each stores its members'
# leaves), then the nats-servers.
stop() {
	trap - INT TERM EXIT
	echo
	echo "stopping the demo..."
	for pid in $chatd_pids; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in $chatd_pids; do wait "$pid" 2>/dev/null || true; done
	for pid in $nats_pids; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in $nats_pids; do wait "$pid" 2>/dev/null || true; done
	echo "stopped; the room is kept in $DEMO_DIR (rm -rf $DEMO_DIR to forget it)"
}
chatd_pids=""
nats_pids=""
detach=""
if command -v setsid >/dev/null 2>&1; then detach=setsid; fi
trap 'stop; exit 130' INT TERM
trap 'stop' EXIT

# wait_for waits up to 30 s until file holds text, while process pid lives.
wait_for() {
	file=$1 text=$2 pid=$3 what=$4
	i=0
	until grep -q "$text" "$file" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$what exited; its log ($file):" >&2
			cat "$file" >&2
			exit 1
		fi
		i=$((i + 1))
		if [ "$i" -gt 300 ]; then
			echo "$what not ready within 30 s; its log ($file):" >&2
			cat "$file" >&2
			exit 1
		fi
		sleep 0.1
	done
}

# wait_healthy waits up to 30 s until a nats-server's /healthz says ok (a
# JetStream cluster: a meta leader is known).
wait_healthy() {
	port=$1 what=$2
	i=0
	until curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null | grep -q '"ok"'; do
		i=$((i + 1))
		if [ "$i" -gt 300 ]; then
			echo "$what not healthy within 30 s; see $DEMO_DIR/logs" >&2
			exit 1
		fi
		sleep 0.1
	done
}

echo "building $BIN/chatd, $BIN/chat and $BIN/nats-server..."
mkdir -p "$BIN"
"$GO" build -trimpath -o "$BIN/" ./cmd/chatd ./cmd/chat
"$GO" build -trimpath -o "$BIN/nats-server" github.com/nats-io/nats-server/v2

mkdir -p "$DEMO_DIR/logs" "$DEMO_DIR/nats"
DEMO=$(cd "$DEMO_DIR" && pwd)

# One certificate for the three nodes, so that a client that trusts it
# trusts whichever node it reaches.
if [ ! -f "$DEMO/tls/cert.pem" ]; then
	"$BIN/chatd" cert --out "$DEMO/tls" >/dev/null
fi

urls=""
for i in 1 2 3; do
	urls="$urls${urls:+,}nats://127.0.0.1:$((4221 + i))"
done

for i in 1 2 3; do
	routes=""
	for j in 1 2 3; do
		[ "$j" = "$i" ] || routes="$routes    nats-route://127.0.0.1:$((6221 + j))
"
	done
	cat >"$DEMO/nats/s$i.conf" <<CONF
server_name: s$i
listen: 127.0.0.1:$((4221 + i))
http: 127.0.0.1:$((8221 + i))
jetstream {
  store_dir: "$DEMO/nats/s$i"
}
cluster {
  name: chatd-demo
  listen: 127.0.0.1:$((6221 + i))
  routes: [
$routes  ]
}
CONF
	# In a session of its own, so that Ctrl-C (sent to the terminal's
	# whole process group) reaches the chatd nodes but not the servers,
	# which stop() ends after the nodes have stored their members' leaves.
	$detach "$BIN/nats-server" -c "$DEMO/nats/s$i.conf" >"$DEMO/logs/nats-s$i.log" 2>&1 &
	nats_pids="$nats_pids $!"
	wait_for "$DEMO/logs/nats-s$i.log" "Server is ready" "$!" "nats-server s$i"
done
for i in 1 2 3; do
	wait_healthy $((8221 + i)) "nats-server s$i"
done
echo "nats-servers s1, s2, s3 clustered: $urls"

n=0
for node in $NODES; do
	log="$DEMO/logs/chatd-$node.log"
	# Each node lists "its" server first (chatd tries them in order), as
	# on three machines each lists its own: a on s1, b on s2, c on s3.
	own=""
	for j in 0 1 2; do
		own="$own${own:+,}nats://127.0.0.1:$((4222 + (n + j) % 3))"
	done
	"$BIN/chatd" --data-dir "$DEMO/node-$node" --node "$node" --nats "$own" --nats-replicas 3 \
		--cert "$DEMO/tls/cert.pem" --key "$DEMO/tls/key.pem" \
		--tls-addr "127.0.0.1:$((6697 + n))" --ssh-addr "127.0.0.1:$((2222 + n))" \
		--metrics-addr "127.0.0.1:$((9101 + n))" >"$log" 2>&1 &
	chatd_pids="$chatd_pids $!"
	wait_for "$log" "SSH listening on" "$!" "chatd node $node"
	n=$((n + 1))
done

cert="$DEMO/tls/cert.pem"
echo
echo "One room, three nodes. Connect to any of them:"
n=0
for node in $NODES; do
	echo
	echo "  node $node (log: $DEMO/logs/chatd-$node.log, metrics: http://127.0.0.1:$((9101 + n))/metrics)"
	echo "    openssl s_client -quiet -verify_return_error -verify_hostname localhost -servername localhost -connect localhost:$((6697 + n)) -CAfile $cert"
	echo "    ssh -p $((2222 + n)) NICK@localhost"
	n=$((n + 1))
done
echo
echo "  the bundled client, which moves to another node if its node dies:"
echo "    $BIN/chat --ca $cert localhost:6697,localhost:6698,localhost:6699"
echo
echo "Try: kill -9 a node's chatd (pids:$chatd_pids) or a nats-server (pids:$nats_pids)."
echo "Ctrl-C stops everything."

# Wait until Ctrl-C (or until every process has ended).
wait
