# tests/servers/lib.sh -- shared by the throwaway test servers (sourced).

# sv_stop_pidfile PIDFILE [OTHER_FILE...]: stops the process named in PIDFILE
# (TERM, then KILL after 5 s) and removes PIDFILE and the other files.
sv_stop_pidfile() {
	local pidfile=${1:?usage: sv_stop_pidfile PIDFILE [FILE...]} pid i
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	rm -f "$@"
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

# sv_watch_owner PIDFILE CMD...: if SV_SERVER_OWNER_PID is set, runs CMD (in
# the background) once that process ends, unless PIDFILE went first (the
# server was stopped), so a crashed test does not leave a server running.
sv_watch_owner() {
	local pidfile=$1
	shift
	[ -n "${SV_SERVER_OWNER_PID:-}" ] || return 0
	(
		owner=$SV_SERVER_OWNER_PID
		while kill -0 "$owner" 2>/dev/null && [ -f "$pidfile" ]; do
			sleep 1
		done
		# Stopped first (the pid file went): nothing to do, and a stop now could
		# hit the server a restart has just started.
		kill -0 "$owner" 2>/dev/null || "$@"
	) </dev/null >/dev/null 2>&1 &
	disown 2>/dev/null || true
}

# sv_apt_install WHO PACKAGE...: installs the Debian packages (none given:
# nothing to do), with sudo when not root; WHO names the caller in the message.
sv_apt_install() {
	local who=$1 p=
	shift
	[ $# -eq 0 ] && return 0
	echo "$who: installing $*" >&2
	[ "$(id -u)" -ne 0 ] && p=sudo
	export DEBIAN_FRONTEND=noninteractive
	$p apt-get update -qq </dev/null >&2 &&
		$p apt-get install -y -qq "$@" </dev/null >&2
}

# sv_free_port: a TCP port free on 127.0.0.1 now (another process may take it
# before the caller binds it: callers try again).
sv_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
