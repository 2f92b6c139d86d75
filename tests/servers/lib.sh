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

# sv_free_port: a TCP port free on 127.0.0.1 now (another process may take it
# before the caller binds it: callers try again).
sv_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
