#!/usr/bin/env bash
# tests/servers/sshd.sh -- a throwaway OpenSSH server on 127.0.0.1 for tests
# of the sftp transport (and, later, of git over ssh).
#
#   bash tests/servers/sshd.sh start DIR    start it; prints the variables below
#   bash tests/servers/sshd.sh stop DIR     stop it (DIR is left for the caller)
# or, sourced: sv_sshd_start DIR / sv_sshd_stop DIR, which also export them.
#
# Everything lives in DIR: a fresh ed25519 host key and client key, the
# config, the log, the pid file and root/, a folder for the files tests put.
# Only the client key is authorized, passwords are off, and the server listens
# on 127.0.0.1 only, on a free port. Tests log in as the user running this
# script (root here). DIR/sshd.env holds the variables as `export` lines:
#
#   SV_SSHD_HOST         127.0.0.1
#   SV_SSHD_PORT         the port
#   SV_SSHD_USER         the user to log in as
#   SV_SSHD_KEY          the client's private key (public key beside it, .pub)
#   SV_SSHD_KNOWN_HOSTS  a known_hosts with "[127.0.0.1]:PORT ssh-ed25519 ..."
#   SV_SSHD_ROOT         DIR/root, an empty folder for remote files
#   SV_SSHD_URL          sftp://USER@127.0.0.1:PORT/DIR/root
#   SV_SSHD_GIT_SSH_COMMAND
#                        set GIT_SSH_COMMAND to this for git to use the key and
#                        known_hosts (git URL: ssh://USER@127.0.0.1:PORT/path)
#
# If SV_SERVER_OWNER_PID is set, the server is also stopped when that process
# ends, so a crashed test binary does not leave it running.
# Needs openssh-server and openssh-client (installed with apt-get if missing)
# and python3 (to find a free port).

# shellcheck source=tests/servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sv_sshd_install() {
	local missing=()
	[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
	command -v ssh-keygen >/dev/null || missing+=(openssh-client)
	command -v python3 >/dev/null || missing+=(python3)
	sv_apt_install sshd.sh "${missing[@]}"
}

sv_sshd_start() {
	local dir=${1:?usage: sv_sshd_start DIR} user port try hostkey
	sv_sshd_install || return 1
	mkdir -p "$dir/root" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	user=$(id -un)
	# sshd refuses to start without its privilege separation folder.
	[ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd 2>/dev/null || true

	rm -f "$dir/host_ed25519" "$dir/host_ed25519.pub" "$dir/client_ed25519" "$dir/client_ed25519.pub"
	ssh-keygen -q -t ed25519 -N '' -C salvage-test-host -f "$dir/host_ed25519" </dev/null || return 1
	ssh-keygen -q -t ed25519 -N '' -C salvage-test-client -f "$dir/client_ed25519" </dev/null || return 1
	cp "$dir/client_ed25519.pub" "$dir/authorized_keys"
	chmod 600 "$dir/host_ed25519" "$dir/client_ed25519" "$dir/authorized_keys"

	# A free port can be taken between the probe and sshd's bind: try again.
	for try in 1 2 3 4 5; do
		port=$(sv_free_port) || return 1
		cat >"$dir/sshd_config" <<-EOF
			ListenAddress 127.0.0.1:$port
			HostKey $dir/host_ed25519
			PidFile $dir/sshd.pid
			AuthorizedKeysFile $dir/authorized_keys
			AllowUsers $user
			PermitRootLogin prohibit-password
			PubkeyAuthentication yes
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			UsePAM no
			StrictModes no
			UseDNS no
			PrintMotd no
			MaxStartups 100:30:200
			MaxSessions 100
			Subsystem sftp internal-sftp
			LogLevel VERBOSE
		EOF
		rm -f "$dir/sshd.pid"
		/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" </dev/null || return 1
		if sv_sshd_wait "$dir" "$port"; then
			break
		fi
		sv_sshd_stop "$dir"
		port=
	done
	if [ -z "$port" ]; then
		echo "sshd.sh: sshd did not start; see $dir/sshd.log" >&2
		return 1
	fi

	hostkey=$(cut -d' ' -f1,2 "$dir/host_ed25519.pub")
	echo "[127.0.0.1]:$port $hostkey" >"$dir/known_hosts"

	sv_watch_owner "$dir/sshd.pid" sv_sshd_stop "$dir"

	cat >"$dir/sshd.env" <<-EOF
		export SV_SSHD_HOST=127.0.0.1
		export SV_SSHD_PORT=$port
		export SV_SSHD_USER=$user
		export SV_SSHD_KEY=$dir/client_ed25519
		export SV_SSHD_KNOWN_HOSTS=$dir/known_hosts
		export SV_SSHD_ROOT=$dir/root
		export SV_SSHD_URL=sftp://$user@127.0.0.1:$port$dir/root
		export SV_SSHD_GIT_SSH_COMMAND='ssh -i $dir/client_ed25519 -o IdentitiesOnly=yes -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes'
	EOF
	# shellcheck disable=SC1091
	. "$dir/sshd.env"
	cat "$dir/sshd.env"
}

# Waits until sshd answers with its banner on the port; 1 if it died or never did.
sv_sshd_wait() {
	local dir=$1 port=$2 i banner
	for i in $(seq 1 100); do
		if [ -s "$dir/sshd.pid" ] && ! kill -0 "$(cat "$dir/sshd.pid")" 2>/dev/null; then
			return 1
		fi
		banner=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && head -c 4 <&3" 2>/dev/null) || true
		[ "$banner" = "SSH-" ] && return 0
		sleep 0.1
	done
	return 1
}

sv_sshd_stop() {
	local dir=${1:?usage: sv_sshd_stop DIR}
	sv_stop_pidfile "$dir/sshd.pid"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	case "${1:-}" in
	start) sv_sshd_start "${2:?usage: $0 start DIR}" ;;
	stop) sv_sshd_stop "${2:?usage: $0 stop DIR}" ;;
	*)
		echo "usage: $0 start|stop DIR" >&2
		exit 2
		;;
	esac
fi
