#!/usr/bin/env bash
# Measures federation throughput and send→seen-on-the-other-server latency
# of a pair of Hafen servers and a pair of Dendrite v0.13.8 servers, in the
# same run: cmd/hafen-load --remote-url against each pair, alternating,
# ROUNDS times.
#
# Usage:
#   scripts/federation-pair.sh [DIR] [-- HAFEN-LOAD FLAGS...]
#
#   ROUNDS=3 scripts/federation-pair.sh /tmp/federation-pair -- --senders 5 --messages 40 --syncers 2
#
# DIR (default /tmp/federation-pair) holds everything: the binaries built
# from this repository (bin/), each server's data and log (hafen-a/,
# hafen-b/, dendrite-a/, dendrite-b/) and each run's JSON report
# (results/). The databases are made anew on every start; all four
# servers are stopped when the script ends.
#
# Every server listens on 127.0.0.1 only, with its server name
# "127.0.0.1:PORT" of its federation (TLS) listener and SQLite. Hafen runs
# with --federation-allow-private and --federation-skip-tls-verify (the
# servers are on loopback with self-signed certificates), open registration
# and rate limits off. Dendrite runs with generate-config -ci's
# configuration (SQLite, open registration, rate limiting off) plus
# disable_tls_validation for the same reason, HTTP keep-alives to other
# servers on (its default outside -ci) and logging at warn. The Dendrite
# binaries (dendrite, generate-keys, generate-config) must be on PATH or in
# $(go env GOPATH)/bin:
#   go install github.com/matrix-org/dendrite/cmd/{dendrite,generate-keys,generate-config}@v0.13.8
set -euo pipefail

rounds=${ROUNDS:-3}
dir=/tmp/federation-pair
if [ $# -gt 0 ] && [ "$1" != -- ]; then
	dir=$1
	shift
fi
if [ "${1:-}" = -- ]; then
	shift
fi
load_flags=("$@")
if [ ${#load_flags[@]} -eq 0 ]; then
	load_flags=(--senders 5 --messages 40 --syncers 2)
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
log() { echo "federation-pair: $*" >&2; }

find_bin() { # find_bin NAME: on PATH, else in GOPATH/bin
	if command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
		return
	fi
	local p
	p=$(go env GOPATH)/bin/$1
	if [ -x "$p" ]; then
		echo "$p"
		return
	fi
	log "$1 not found; install Dendrite v0.13.8: go install github.com/matrix-org/dendrite/cmd/{dendrite,generate-keys,generate-config}@v0.13.8"
	exit 1
}
dendrite=$(find_bin dendrite)
gen_keys=$(find_bin generate-keys)
gen_config=$(find_bin generate-config)

log "building hafen and hafen-load into $dir/bin"
(cd "$repo" && go build -o "$dir/bin/hafen" ./cmd/hafen && go build -o "$dir/bin/hafen-load" ./cmd/hafen-load)

pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT

# free_port sets port to a port on 127.0.0.1 that nothing answers on and
# that no earlier call handed out.
used_ports=" "
free_port() {
	local p
	for p in $(seq 18100 18400); do
		case $used_ports in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports="$used_ports$p "
			port=$p
			return
		fi
	done
	log "no free port in 18100-18400"
	exit 1
}

wait_ready() { # wait_ready PID URL LOGFILE
	for _ in $(seq 1 600); do
		if ! kill -0 "$1" 2>/dev/null; then
			log "server exited during start; last lines of $3:"
			tail -n 20 "$3" >&2
			exit 1
		fi
		if curl -fsS --max-time 2 "$2/_matrix/client/versions" >/dev/null 2>&1; then
			return
		fi
		sleep 0.1
	done
	log "$2 did not answer within 60 s; see $3"
	exit 1
}

# start_hafen NAME: starts a Hafen in $dir/NAME; sets url and pid.
start_hafen() {
	local d=$dir/$1 cport fport
	rm -rf "$d"
	mkdir -p "$d"
	free_port
	cport=$port
	free_port
	fport=$port
	setsid "$dir/bin/hafen" serve --data-dir "$d/data" --server-name "127.0.0.1:$fport" \
		--listen-client "127.0.0.1:$cport" --listen-federation "127.0.0.1:$fport" \
		--open-registration --rate-limit=false \
		--federation-allow-private --federation-skip-tls-verify >"$d/hafen.log" 2>&1 </dev/null &
	pid=$!
	pids+=("$pid")
	url=http://127.0.0.1:$cport
	wait_ready "$pid" "$url" "$d/hafen.log"
	log "hafen $1 running: $url, server name 127.0.0.1:$fport (pid $pid)"
}

# start_dendrite NAME: starts a Dendrite in $dir/NAME; sets url and pid.
start_dendrite() {
	local d=$dir/$1 cport fport
	rm -rf "$d"
	mkdir -p "$d"
	free_port
	cport=$port
	free_port
	fport=$port
	(cd "$d" && "$gen_keys" -private-key matrix_key.pem -tls-cert server.crt -tls-key server.key -keysize 2048 >/dev/null)
	"$gen_config" -ci -server "127.0.0.1:$fport" -dir "$d" >"$d/dendrite.yaml"
	# Change only what is named here, each in its own section, and fail
	# loudly when a line is not where it is expected.
	set_in() { # set_in SECTION OLD NEW
		if ! sed -n "/^$1:\$/,/^[a-z]/p" "$d/dendrite.yaml" | grep -qxF "$2"; then
			log "'$2' not found in section $1 of generated Dendrite config"
			exit 1
		fi
		sed -i "/^$1:\$/,/^[a-z]/{s#^$2\$#$3#;}" "$d/dendrite.yaml"
	}
	set_in federation_api '  disable_tls_validation: false' '  disable_tls_validation: true'
	set_in federation_api '  disable_http_keepalives: true' '  disable_http_keepalives: false'
	set_in global '  private_key: matrix_key.pem' "  private_key: $d/matrix_key.pem"
	set_in logging '  level: trace' '  level: warn'
	set_in client_api '  registration_disabled: false' '  registration_disabled: false' # only checked
	sed -i '/^mscs:$/,/^[a-z]/{/^  - msc[0-9]*$/d;s/^  mscs:$/  mscs: []/;}' "$d/dendrite.yaml"
	sed -n '/^  rate_limiting:$/{n;p;}' "$d/dendrite.yaml" | grep -qx '    enabled: false' || {
		log "generated Dendrite config does not turn rate limiting off"
		exit 1
	}
	setsid "$dendrite" -config "$d/dendrite.yaml" -really-enable-open-registration \
		-http-bind-address "127.0.0.1:$cport" -https-bind-address "127.0.0.1:$fport" \
		-tls-cert "$d/server.crt" -tls-key "$d/server.key" >"$d/dendrite.log" 2>&1 </dev/null &
	pid=$!
	pids+=("$pid")
	url=http://127.0.0.1:$cport
	wait_ready "$pid" "$url" "$d/dendrite.log"
	log "dendrite $1 running: $url, server name 127.0.0.1:$fport (pid $pid)"
}

start_hafen hafen-a
hafen_a_url=$url hafen_a_pid=$pid
start_hafen hafen-b
hafen_b_url=$url hafen_b_pid=$pid
start_dendrite dendrite-a
dendrite_a_url=$url dendrite_a_pid=$pid
start_dendrite dendrite-b
dendrite_b_url=$url dendrite_b_pid=$pid

mkdir -p "$dir/results"
rm -f "$dir/results"/*.json

# field FILE OBJECT KEY prints KEY of the report's OBJECT ("" for the top
# level) from hafen-load's indented JSON.
field() {
	awk -v obj="\"$2\"" -v key="\"$3\":" '
		obj == "\"\"" && $1 == key && depth == 1 { gsub(/,/, "", $2); print $2; exit }
		$1 == obj ":" { in_obj = 1 }
		in_obj && $1 == key { gsub(/,/, "", $2); print $2; exit }
		/{/ { depth++ } /}/ { depth--; if (in_obj && depth == 1) in_obj = 0 }
	' "$1"
}

# cpu_ticks PID...: the CPU time (user + system, in clock ticks) the
# processes have used so far.
cpu_ticks() {
	local total=0 pid f
	for pid in "$@"; do
		if f=$(cat "/proc/$pid/stat" 2>/dev/null); then
			f=${f##*) }
			set -- $f
			total=$((total + ${12} + ${13}))
		fi
	done
	echo "$total"
}

# settle: waits (at most 30 s) until the four servers are idle, using
# under 5% of a core over a second, so that no pair's round runs while the
# other pair still works off the round before.
settle() {
	local pids=("$hafen_a_pid" "$hafen_b_pid" "$dendrite_a_pid" "$dendrite_b_pid") i before after
	for i in $(seq 1 30); do
		before=$(cpu_ticks "${pids[@]}")
		sleep 1
		after=$(cpu_ticks "${pids[@]}")
		if [ $((after - before)) -lt 5 ]; then
			if [ "$i" -gt 1 ]; then
				log "servers idle after ${i} s"
			fi
			return 0
		fi
	done
	log "servers still busy after 30 s; running anyway"
}

status=0
for round in $(seq 1 "$rounds"); do
	for kind in hafen dendrite; do
		if [ "$kind" = hafen ]; then
			a=$hafen_a_url b=$hafen_b_url apid=$hafen_a_pid bpid=$hafen_b_pid
		else
			a=$dendrite_a_url b=$dendrite_b_url apid=$dendrite_a_pid bpid=$dendrite_b_pid
		fi
		out=$dir/results/$kind-$round.json
		settle
		log "round $round: $kind pair"
		"$dir/bin/hafen-load" --url "$a" --remote-url "$b" --open-registration \
			--pid "$apid" --remote-pid "$bpid" --json "${load_flags[@]}" >"$out" || status=1
	done
done

printf '\n%-9s %5s %12s %14s %10s %10s %10s %9s\n' server round "send msg/s" "delivered/s" "p50 ms" "p95 ms" "send p50" complete
for kind in hafen dendrite; do
	for round in $(seq 1 "$rounds"); do
		f=$dir/results/$kind-$round.json
		printf '%-9s %5s %12s %14s %10s %10s %10s %9s\n' "$kind" "$round" \
			"$(field "$f" "" send_throughput_per_s)" "$(field "$f" "" delivered_throughput_per_s)" \
			"$(field "$f" send_to_sync_latency p50_ms)" "$(field "$f" send_to_sync_latency p95_ms)" \
			"$(field "$f" send_latency p50_ms)" "$(field "$f" "" complete)"
	done
done
echo "(p50/p95: send→seen on the other server; reports in $dir/results)"

# median KIND OBJECT KEY prints the median of a field over KIND's runs.
median() {
	local round
	for round in $(seq 1 "$rounds"); do
		field "$dir/results/$1-$round.json" "$2" "$3"
	done | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
h=$(median hafen "" delivered_throughput_per_s)
d=$(median dendrite "" delivered_throughput_per_s)
echo "median delivered throughput: hafen $h msg/s, dendrite $d msg/s, ratio $(awk -v h="$h" -v d="$d" 'BEGIN { if (d > 0) printf "%.1f", h / d; else print "n/a" }')×"
echo "median send→seen p50: hafen $(median hafen send_to_sync_latency p50_ms) ms, dendrite $(median dendrite send_to_sync_latency p50_ms) ms"
exit $status
