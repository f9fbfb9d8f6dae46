#!/usr/bin/env bash
# Starts (or stops) a local Dendrite v0.13.8 that Hafen's load tool
# (cmd/hafen-load) is compared against.
#
# Usage:
#   scripts/dendrite-baseline.sh [start] [DIR]   install, configure and start
#   scripts/dendrite-baseline.sh stop [DIR]      stop the server started in DIR
#
# DIR (default /tmp/dendrite-baseline) holds everything: the binaries (bin/),
# the signing key, dendrite.yaml, the SQLite databases and logs (data/), the
# server's stdout/stderr (dendrite.out), its PID (dendrite.pid) and its URL
# (dendrite.url). Nothing is written inside the Hafen repository.
#
# The server runs as server_name "localhost" on 127.0.0.1 on a free port,
# with SQLite, open registration (m.login.dummy), a random registration
# shared secret (for --register-shared-secret), no rate limiting and
# federation disabled. Everything else is Dendrite's own generated default.
# `start` ends by printing lines DENDRITE_URL=…, DENDRITE_PID=… and
# DENDRITE_SHARED_SECRET=…, for example:
#
#   eval "$(scripts/dendrite-baseline.sh | grep ^DENDRITE_)"
#   go run ./cmd/hafen-load --url "$DENDRITE_URL" --open-registration --pid "$DENDRITE_PID"
#   scripts/dendrite-baseline.sh stop
set -euo pipefail

readonly VERSION=v0.13.8
readonly MODULE=github.com/matrix-org/dendrite

mode=start
case "${1:-}" in
start | stop)
	mode=$1
	shift
	;;
-h | --help)
	sed -n '2,24p' "$0"
	exit 0
	;;
esac
dir=${1:-/tmp/dendrite-baseline}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pidfile=$dir/dendrite.pid

log() { echo "dendrite-baseline: $*" >&2; }

running_pid() {
	[ -f "$pidfile" ] || return 1
	local pid
	pid=$(cat "$pidfile")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	# Only a process that runs our binary counts: PIDs are reused.
	[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$dir/bin/dendrite" ] || return 1
	echo "$pid"
}

stop() {
	local pid
	if ! pid=$(running_pid); then
		log "no Dendrite running from $dir"
		rm -f "$pidfile"
		return 0
	fi
	kill -TERM "$pid"
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid still running after 10 s, sending SIGKILL"
		kill -KILL "$pid"
	fi
	rm -f "$pidfile"
	log "stopped pid $pid"
}

if [ "$mode" = stop ]; then
	stop
	exit 0
fi

if pid=$(running_pid); then
	log "already running as pid $pid at $(cat "$dir/dendrite.url"); run '$0 stop $dir' first"
	exit 1
fi

# 1. Binaries. `go install` runs outside any module so that it resolves
# Dendrite's own go.mod and leaves every other go.mod alone.
bin=$dir/bin
if [ ! -x "$bin/dendrite" ] || [ ! -x "$bin/generate-config" ] || [ ! -x "$bin/generate-keys" ] ||
	! "$bin/dendrite" -version 2>/dev/null | grep -q "${VERSION#v}"; then
	log "installing Dendrite $VERSION into $bin"
	mkdir -p "$bin"
	(cd "$dir" && GOBIN=$bin GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=1 \
		go install "$MODULE/cmd/dendrite@$VERSION" "$MODULE/cmd/generate-keys@$VERSION" "$MODULE/cmd/generate-config@$VERSION")
fi

# 2. Signing key and configuration. The data directory is made anew on every
# start, so each baseline run starts from empty databases.
cd "$dir"
rm -rf "$dir/data"
mkdir -p "$dir/data"
if [ ! -f "$dir/matrix_key.pem" ]; then
	"$bin/generate-keys" -private-key "$dir/matrix_key.pem" >/dev/null
fi
"$bin/generate-config" -dir "$dir/data" -server localhost >"$dir/dendrite.generated.yaml"

# Change only the keys named here; each must appear exactly once in the
# generated file, so a renamed key fails loudly instead of being ignored.
set_key() { # set_key REGEX REPLACEMENT
	local n
	n=$(grep -cE "$1" "$dir/dendrite.yaml" || true)
	if [ "$n" != 1 ]; then
		log "config key /$1/ found $n times in generated config, want 1"
		exit 1
	fi
	sed -i -E "s#$1#$2#" "$dir/dendrite.yaml"
}
cp "$dir/dendrite.generated.yaml" "$dir/dendrite.yaml"
set_key '^  private_key: .*$' "  private_key: $dir/matrix_key.pem"
set_key '^  disable_federation: false$' '  disable_federation: true'
set_key '^  registration_disabled: true$' '  registration_disabled: false'
set_key '^  registration_requires_token: .*$' '  registration_requires_token: false'
set_key '^  enable_registration_captcha: .*$' '  enable_registration_captcha: false'
secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
set_key '^  registration_shared_secret: .*$' "  registration_shared_secret: \"$secret\""
# rate_limiting.enabled is the first "enabled:" after "rate_limiting:".
if ! sed -n '/^  rate_limiting:$/{n;p;}' "$dir/dendrite.yaml" | grep -qx '    enabled: true'; then
	log "client_api.rate_limiting.enabled not where expected in generated config"
	exit 1
fi
sed -i '/^  rate_limiting:$/{n;s/^    enabled: true$/    enabled: false/;}' "$dir/dendrite.yaml"

# Check the result the way Dendrite reads it: ask generate-config to
# normalise our file and compare the keys we changed.
"$bin/generate-config" -normalise "$dir/dendrite.yaml" >"$dir/dendrite.normalised.yaml"
for want in '  server_name: localhost' '  disable_federation: true' '  registration_disabled: false' \
	'  registration_requires_token: false' "  private_key: $dir/matrix_key.pem"; do
	if ! grep -qxF "$want" "$dir/dendrite.normalised.yaml"; then
		log "normalised config lacks '$want'"
		exit 1
	fi
done
if ! grep -qE "^  registration_shared_secret: \"?$secret\"?$" "$dir/dendrite.normalised.yaml"; then
	log "normalised config lacks the registration shared secret"
	exit 1
fi
if ! sed -n '/^  rate_limiting:$/{n;p;}' "$dir/dendrite.normalised.yaml" | grep -qx '    enabled: false'; then
	log "normalised config does not disable rate limiting"
	exit 1
fi

# 3. A free port on 127.0.0.1: one nothing answers on.
port=
for p in $(seq 18008 18108); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		port=$p
		break
	fi
done
if [ -z "$port" ]; then
	log "no free port in 18008-18108"
	exit 1
fi
url=http://127.0.0.1:$port

# 4. Start and wait until the client API answers.
setsid "$bin/dendrite" -config "$dir/dendrite.yaml" -http-bind-address "127.0.0.1:$port" \
	-really-enable-open-registration >"$dir/dendrite.out" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pidfile"
echo "$url" >"$dir/dendrite.url"

ready=
for _ in $(seq 1 600); do
	if ! kill -0 "$pid" 2>/dev/null; then
		log "Dendrite exited during start; last lines of $dir/dendrite.out:"
		tail -n 20 "$dir/dendrite.out" >&2
		rm -f "$pidfile"
		exit 1
	fi
	if curl -fsS --max-time 2 "$url/_matrix/client/versions" >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	log "Dendrite did not answer /_matrix/client/versions within 60 s"
	stop
	exit 1
fi

rss=$(awk '/^VmRSS:/ {print $2 " " $3}' "/proc/$pid/status")
log "Dendrite $VERSION running: $url (pid $pid, RSS $rss); stop with '$0 stop $dir'"
echo "DENDRITE_URL=$url"
echo "DENDRITE_PID=$pid"
echo "DENDRITE_SHARED_SECRET=$secret"
