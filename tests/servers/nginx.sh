#!/usr/bin/env bash
# tests/servers/nginx.sh -- a throwaway TLS front (nginx) on 127.0.0.1 for
# tests of https and HTTP/2: it proxies to a plain-http server on this machine
# (the test server, tests/server/), so every behaviour of that server is also
# reachable over https.
#
#   bash tests/servers/nginx.sh start DIR UPSTREAM_PORT   start it; prints the variables below
#   bash tests/servers/nginx.sh stop DIR                  stop it (DIR is left for the caller)
# or, sourced: sv_nginx_start DIR UPSTREAM_PORT / sv_nginx_stop DIR, which also export them.
#
# Everything lives in DIR: a fresh test CA made with openssl (ca.pem), the
# certificates and keys, nginx.conf, the pid file, the logs and nginx's temp
# folders. nginx listens on 127.0.0.1 only, on free ports:
#   SV_NGINX_PORT       https + HTTP/2; its certificate (for 127.0.0.1 and
#                       localhost) is signed by the test CA
#   SV_NGINX_BROKEN_PORT  https + HTTP/2 with a broken chain: the certificate
#                       is signed by an intermediate CA the server does not
#                       send (the common misconfiguration of agency servers),
#                       so even a client that trusts the test CA fails
#   SV_NGINX_SELFSIGNED_PORT  https with a self-signed certificate
#   SV_NGINX_HTTP_PORT  plain http answering every request with
#                       301 https://localhost:SV_NGINX_PORT<same target>
# DIR/nginx.env holds them as `export` lines, with:
#   SV_NGINX_CA         DIR/ca.pem, the test CA (trust it to verify SV_NGINX_PORT)
#   SV_NGINX_URL        https://127.0.0.1:SV_NGINX_PORT
#   SV_NGINX_LOG        the access log: one line per request,
#                       MSEC PORT PROTOCOL METHOD "TARGET" STATUS BYTES "UA" "RANGE"
#                       where PROTOCOL is $server_protocol (HTTP/2.0, HTTP/1.1)
#
# nginx runs as a daemon with its pid file in DIR; started by root, its
# workers run as root too (DIR may be a private temp folder).
# If SV_SERVER_OWNER_PID is set, the server is also stopped when that process
# ends, so a crashed test does not leave it running.
# Needs nginx (with http_v2 and ssl, as Debian builds it), openssl and curl
# (installed with apt-get if missing) and python3 (to find free ports).

# shellcheck source=tests/servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sv_nginx_install() {
	local missing=()
	[ -x /usr/sbin/nginx ] || missing+=(nginx)
	command -v openssl >/dev/null || missing+=(openssl)
	command -v curl >/dev/null || missing+=(curl)
	command -v python3 >/dev/null || missing+=(python3)
	sv_apt_install nginx.sh "${missing[@]}"
}

# sv_nginx_cert DIR NAME ISSUER CA_FLAG: DIR/NAME.key and DIR/NAME.pem, an EC
# certificate for 127.0.0.1 and localhost (or a CA when CA_FLAG is ca)
# signed by DIR/ISSUER (self-signed when ISSUER is -).
sv_nginx_cert() {
	local dir=$1 name=$2 issuer=$3 ext
	if [ "$4" = ca ]; then
		ext="basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign"
	else
		ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
	fi
	printf '%s\n' "$ext" >"$dir/$name.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=salvage test $name" 2>/dev/null || return 1
	if [ "$issuer" = - ]; then
		openssl x509 -req -in "$dir/$name.csr" -signkey "$dir/$name.key" -days 30 \
			-extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
	else
		openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$issuer.pem" -CAkey "$dir/$issuer.key" \
			-set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$dir/$name.ext" \
			-out "$dir/$name.pem" 2>/dev/null
	fi
}

# sv_nginx_tls_server DIR UPSTREAM PORT CERT: an https + HTTP/2 server block
# (as nginx 1.22 spells it) with DIR/CERT.pem, proxying to UPSTREAM.
sv_nginx_tls_server() {
	echo "server { listen 127.0.0.1:$3 ssl http2; ssl_certificate $1/$4.pem; ssl_certificate_key $1/$4.key;" \
		"location / { proxy_pass http://127.0.0.1:$2; } }"
}

# The configuration for the ports given.
sv_nginx_conf() {
	local dir=$1 up=$2 port=$3 broken=$4 selfsigned=$5 http=$6 user=
	[ "$(id -u)" -eq 0 ] && user="user $(id -un) $(id -gn);"
	cat <<-EOF
		$user
		daemon on;
		worker_processes 1;
		pid $dir/nginx.pid;
		error_log $dir/error.log info;
		events { worker_connections 512; }
		http {
			log_format sv '\$msec \$server_port \$server_protocol \$request_method "\$request_uri" \$status \$body_bytes_sent "\$http_user_agent" "\$http_range"';
			access_log $dir/access.log sv;
			client_body_temp_path $dir/tmp/body;
			proxy_temp_path $dir/tmp/proxy;
			fastcgi_temp_path $dir/tmp/fastcgi;
			uwsgi_temp_path $dir/tmp/uwsgi;
			scgi_temp_path $dir/tmp/scgi;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host:\$server_port;
			proxy_buffering off;
			proxy_request_buffering off;
			proxy_read_timeout 300s;
			keepalive_requests 100000;
			$(sv_nginx_tls_server "$dir" "$up" "$port" leaf)
			$(sv_nginx_tls_server "$dir" "$up" "$broken" broken)
			$(sv_nginx_tls_server "$dir" "$up" "$selfsigned" selfsigned)
			server {
				listen 127.0.0.1:$http;
				return 301 https://localhost:$port\$request_uri;
			}
		}
	EOF
}

sv_nginx_start() {
	local dir=${1:?usage: sv_nginx_start DIR UPSTREAM_PORT} up=${2:?usage: sv_nginx_start DIR UPSTREAM_PORT}
	local port broken selfsigned http started=
	sv_nginx_install || return 1
	mkdir -p "$dir/tmp" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	if ! { sv_nginx_cert "$dir" ca - ca && sv_nginx_cert "$dir" leaf ca leaf &&
		sv_nginx_cert "$dir" intermediate ca ca && sv_nginx_cert "$dir" broken intermediate leaf &&
		sv_nginx_cert "$dir" selfsigned - leaf; }; then
		echo "nginx.sh: openssl could not make the certificates" >&2
		return 1
	fi
	# A free port can be taken between the probe and nginx's bind: try again.
	for _ in 1 2 3 4 5; do
		port=$(sv_free_port) && broken=$(sv_free_port) && selfsigned=$(sv_free_port) &&
			http=$(sv_free_port) || return 1
		[ "$(printf '%s\n' "$port" "$broken" "$selfsigned" "$http" | sort -u | wc -l)" -eq 4 ] || continue
		sv_nginx_conf "$dir" "$up" "$port" "$broken" "$selfsigned" "$http" >"$dir/nginx.conf"
		rm -f "$dir/nginx.pid"
		if /usr/sbin/nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" </dev/null 2>>"$dir/nginx.stderr" &&
			sv_nginx_wait "$dir" "$port" "$broken" "$selfsigned" "$http"; then
			started=1
			break
		fi
		sv_nginx_stop "$dir"
	done
	if [ -z "$started" ]; then
		echo "nginx.sh: nginx did not start; see $dir/error.log and $dir/nginx.stderr" >&2
		return 1
	fi

	sv_watch_owner "$dir/nginx.pid" sv_nginx_stop "$dir"

	cat >"$dir/nginx.env" <<-EOF
		export SV_NGINX_PORT=$port
		export SV_NGINX_BROKEN_PORT=$broken
		export SV_NGINX_SELFSIGNED_PORT=$selfsigned
		export SV_NGINX_HTTP_PORT=$http
		export SV_NGINX_CA=$dir/ca.pem
		export SV_NGINX_URL=https://127.0.0.1:$port
		export SV_NGINX_LOG=$dir/access.log
	EOF
	# shellcheck disable=SC1091
	. "$dir/nginx.env"
	cat "$dir/nginx.env"
}

# Waits until every port takes connections; 1 if nginx died or never did.
sv_nginx_wait() {
	local dir=$1 p ok
	shift
	for _ in $(seq 1 100); do
		if [ -s "$dir/nginx.pid" ] && ! kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
			return 1
		fi
		ok=1
		for p in "$@"; do
			timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null || ok=
		done
		[ -n "$ok" ] && return 0
		sleep 0.1
	done
	return 1
}

sv_nginx_stop() {
	local dir=${1:?usage: sv_nginx_stop DIR}
	sv_stop_pidfile "$dir/nginx.pid"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	case "${1:-}" in
	start) sv_nginx_start "${2:?usage: $0 start DIR UPSTREAM_PORT}" "${3:?usage: $0 start DIR UPSTREAM_PORT}" ;;
	stop) sv_nginx_stop "${2:?usage: $0 stop DIR}" ;;
	*)
		echo "usage: $0 start DIR UPSTREAM_PORT | stop DIR" >&2
		exit 2
		;;
	esac
fi
