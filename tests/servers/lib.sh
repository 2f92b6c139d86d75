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
