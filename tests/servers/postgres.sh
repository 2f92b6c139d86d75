#!/usr/bin/env bash
# tests/servers/postgres.sh -- a throwaway PostgreSQL cluster on 127.0.0.1 for
# the tests and benchmarks of the postgres queue backend.
#
#   bash tests/servers/postgres.sh start DIR      start it; prints the variables below
#   bash tests/servers/postgres.sh stop DIR       stop it (fast shutdown; DIR is left)
#   bash tests/servers/postgres.sh restart DIR    stop and start again, same port and data
#   bash tests/servers/postgres.sh kill DIR       SIGKILL the postmaster (a crash), then
#                                                 'start DIR' again recovers it
#   bash tests/servers/postgres.sh newdb DIR NAME a fresh empty database; prints its URL
# or, sourced: sv_pg_start DIR / sv_pg_stop DIR / ..., which also export them.
#
# initdb refuses to run as root, so the cluster belongs to the 'postgres'
# user (runuser) when the script runs as root, and to the caller otherwise.
# Everything lives in DIR: the data folder, the socket, log/postgres.log. The server
# listens on 127.0.0.1 only, on a free port; connections over TCP need a
# password (scram-sha-256), so tests see the same authentication as a real
# server; the socket in DIR trusts its local users (for the script itself).
# fsync is off: the cluster is thrown away, and a test's 'kill' is a process
# crash, not a power cut, so nothing written is lost by it.
#
# DIR/pg.env holds the variables as `export` lines:
#
#   SV_PG_HOST      127.0.0.1
#   SV_PG_PORT      the port
#   SV_PG_ADMIN     the superuser role tests connect as (salvage_admin)
#   SV_PG_URL       postgresql://salvage_admin@127.0.0.1:PORT/salvage (no password in it)
#   PGPASSFILE      DIR/pgpass, holding the admin's password for 127.0.0.1, any port
#                   (so a proxy in front of the server is covered too)
#   SV_PG_BIN       the folder of pg_ctl, psql, initdb
#   SV_PG_SOCKET    DIR/run, the socket folder
#
# If SV_SERVER_OWNER_PID is set, the server is also stopped when that process
# ends, so a crashed test binary does not leave it running.
# Needs postgresql and python3 (installed with apt-get if missing).

# shellcheck source=tests/servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sv_pg_bin() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && echo "$d"
	done | sort -V | tail -n 1
}

sv_pg_install() {
	local missing=()
	[ -n "$(sv_pg_bin)" ] || missing+=(postgresql)
	command -v psql >/dev/null || missing+=(postgresql-client)
	command -v python3 >/dev/null || missing+=(python3)
	sv_apt_install postgres.sh "${missing[@]}"
}

# Runs a command as the cluster's owner.
sv_pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

sv_pg_start() {
	local dir=${1:?usage: sv_pg_start DIR} bin port try password
	sv_pg_install || return 1
	bin=$(sv_pg_bin)
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		mkdir -p "$dir/data" "$dir/run" "$dir/log" || return 1
		# The owner must reach DIR: a temp dir of root's is 0700.
		chmod 0755 "$dir" || return 1
		[ "$(id -u)" -eq 0 ] && chown postgres: "$dir/data" "$dir/run" "$dir/log"
		password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
		printf '%s\n' "$password" >"$dir/admin.password"
		chmod 0644 "$dir/admin.password"
		sv_pg_as_owner "$bin/initdb" -D "$dir/data" -U salvage_admin --pwfile="$dir/admin.password" \
			-A scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
			echo "postgres.sh: initdb failed; see $dir/initdb.log" >&2
			return 1
		}
		cat >>"$dir/data/postgresql.conf" <<-EOF
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '$dir/run'
			fsync = off
			synchronous_commit = off
			full_page_writes = off
			max_connections = 200
			shared_buffers = 128MB
			log_min_messages = warning
		EOF
	fi
	# A free port can be taken between the probe and the server's bind: try again.
	# A restart keeps its port: clients hold URLs with it.
	local keep
	keep=$(cat "$dir/port" 2>/dev/null) || keep=
	for try in 1 2 3 4 5; do
		port=$keep
		[ -n "$port" ] || port=$(sv_free_port) || return 1
		echo "$port" >"$dir/port"
		if sv_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log/postgres.log" -w -t 60 \
			-o "-p $port" start >/dev/null 2>&1; then
			break
		fi
		port=
		sleep 0.5
	done
	if [ -z "$port" ]; then
		echo "postgres.sh: postgres did not start; see $dir/log/postgres.log" >&2
		return 1
	fi
	head -n 1 "$dir/data/postmaster.pid" >"$dir/postgres.pid"
	sv_pg_as_owner "$bin/psql" -h "$dir/run" -p "$port" -U salvage_admin -d postgres -Atqc \
		"SELECT 1 FROM pg_database WHERE datname = 'salvage'" | grep -q 1 ||
		sv_pg_as_owner "$bin/createdb" -h "$dir/run" -p "$port" -U salvage_admin salvage || return 1
	printf '127.0.0.1:*:*:salvage_admin:%s\n' "$(cat "$dir/admin.password")" >"$dir/pgpass"
	chmod 0600 "$dir/pgpass"

	sv_watch_owner "$dir/postgres.pid" sv_pg_stop "$dir"

	cat >"$dir/pg.env" <<-EOF
		export SV_PG_HOST=127.0.0.1
		export SV_PG_PORT=$port
		export SV_PG_ADMIN=salvage_admin
		export SV_PG_URL=postgresql://salvage_admin@127.0.0.1:$port/salvage
		export PGPASSFILE=$dir/pgpass
		export SV_PG_BIN=$bin
		export SV_PG_SOCKET=$dir/run
	EOF
	# shellcheck disable=SC1091
	. "$dir/pg.env"
	cat "$dir/pg.env"
}

sv_pg_stop() {
	local dir=${1:?usage: sv_pg_stop DIR} bin
	bin=$(sv_pg_bin)
	[ -f "$dir/data/postmaster.pid" ] &&
		sv_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1
	rm -f "$dir/postgres.pid"
	return 0
}

sv_pg_restart() {
	local dir=${1:?usage: sv_pg_restart DIR}
	sv_pg_stop "$dir" && sv_pg_start "$dir" >/dev/null
}

# A crash: the postmaster and every backend get SIGKILL.
sv_pg_kill() {
	local dir=${1:?usage: sv_pg_kill DIR} pid i
	pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] || return 0
	pkill -9 -P "$pid" 2>/dev/null
	kill -9 "$pid" 2>/dev/null
	# Dead, or a zombie nobody reaps (a container's pid 1 may not): either way
	# its postmaster.pid is stale, and a zombie would keep the next start out.
	for i in $(seq 1 100); do
		[ -r "/proc/$pid/stat" ] || break
		case $(sed 's/.*) //' "/proc/$pid/stat" | cut -c1) in Z | X) break ;; esac
		sleep 0.1
	done
	rm -f "$dir/postgres.pid" "$dir/data/postmaster.pid"
	return 0
}

# A fresh, empty database NAME (dropped first if there); prints its URL.
sv_pg_newdb() {
	local dir=${1:?usage: sv_pg_newdb DIR NAME} name=${2:?usage: sv_pg_newdb DIR NAME} bin port
	bin=$(sv_pg_bin)
	port=$(cat "$dir/port") || return 1
	sv_pg_as_owner "$bin/dropdb" --if-exists -h "$dir/run" -p "$port" -U salvage_admin "$name" >/dev/null 2>&1
	sv_pg_as_owner "$bin/createdb" -h "$dir/run" -p "$port" -U salvage_admin "$name" || return 1
	echo "postgresql://salvage_admin@127.0.0.1:$port/$name"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	case "${1:-}" in
	start) sv_pg_start "${2:?usage: $0 start DIR}" ;;
	stop) sv_pg_stop "${2:?usage: $0 stop DIR}" ;;
	restart) sv_pg_restart "${2:?usage: $0 restart DIR}" ;;
	kill) sv_pg_kill "${2:?usage: $0 kill DIR}" ;;
	newdb) sv_pg_newdb "${2:?usage: $0 newdb DIR NAME}" "${3:?usage: $0 newdb DIR NAME}" ;;
	*)
		echo "usage: $0 start|stop|restart|kill DIR, or newdb DIR NAME" >&2
		exit 2
		;;
	esac
fi
