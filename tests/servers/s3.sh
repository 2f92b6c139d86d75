#!/usr/bin/env bash
# tests/servers/s3.sh -- a throwaway S3-compatible server on 127.0.0.1 that
# checks AWS Signature Version 4, for tests of the s3 transport.
#
#   bash tests/servers/s3.sh start DIR    start it; prints the variables below
#   bash tests/servers/s3.sh stop DIR     stop it (DIR is left for the caller)
# or, sourced: sv_s3_start DIR / sv_s3_stop DIR, which also export them.
#
# The server is s3rver as maintained by 20minutes (npm @20minutes/s3rver; the
# original s3rver accepts any V4 signature), run by node on a free port with
# its files in DIR/data. Its built-in S3RVER key is revoked and a fresh random
# key pair is made for each start; start checks that a request signed with a
# wrong secret gets 403 before reporting success. DIR/s3.env holds the
# variables as `export` lines:
#
#   SV_S3_ENDPOINT         http://127.0.0.1:PORT (path-style: ENDPOINT/BUCKET/KEY)
#   SV_S3_REGION           us-east-1
#   SV_S3_BUCKET           salvage-test (created empty)
#   SV_S3_DATA             DIR/data, where the server keeps the objects
#   AWS_ACCESS_KEY_ID      the key pair that the server accepts
#   AWS_SECRET_ACCESS_KEY
#
# The npm package is installed once into build/node/ of the repository (or
# $SV_NODE_DIR) with `npm install`; node and npm come from Debian if missing.
# If SV_SERVER_OWNER_PID is set, the server also stops when that process ends.
#
# For tests of interrupted transfers, the server also:
#   - logs each request to DIR/requests.log: METHOD URL range=RANGE status=N len=BYTES
#   - holds UploadPart requests numbered N or more while DIR/hold-parts holds N
#     (they go on when the file is removed or changed)
#   - sends GET bodies at most R bytes a second while DIR/slow-get holds R
#
# What s3rver 4.0.4 does not implement (checked in its lib/routes.js): ListParts
# (GET ?uploadId), AbortMultipartUpload (DELETE ?uploadId: 405) and
# ListMultipartUploads (GET ?uploads: 501 NotImplemented). It implements
# CreateMultipartUpload, UploadPart, CompleteMultipartUpload (the object's ETag
# is then the plain MD5 of its bytes, with no -N part count) and Range GETs.

# shellcheck source=tests/servers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SV_S3RVER_VERSION=4.0.4
SV_S3_SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

sv_s3_node_dir() {
	echo "${SV_NODE_DIR:-$(cd "$SV_S3_SCRIPT_DIR/../.." && pwd)/build/node}"
}

sv_s3_install() {
	local nd p=
	[ "$(id -u)" -ne 0 ] && p=sudo
	if ! command -v node >/dev/null || ! command -v npm >/dev/null || ! command -v curl >/dev/null; then
		echo "s3.sh: installing node, npm and curl" >&2
		local pkgs=(curl)
		command -v node >/dev/null || pkgs+=(nodejs)
		command -v npm >/dev/null || pkgs+=(npm)
		export DEBIAN_FRONTEND=noninteractive
		$p apt-get update -qq </dev/null >&2 &&
			$p apt-get install -y -qq "${pkgs[@]}" </dev/null >&2 || return 1
	fi
	nd=$(sv_s3_node_dir)
	if ! grep -qs "\"version\": \"$SV_S3RVER_VERSION\"" "$nd/node_modules/@20minutes/s3rver/package.json"; then
		echo "s3.sh: installing @20minutes/s3rver@$SV_S3RVER_VERSION into $nd" >&2
		mkdir -p "$nd" || return 1
		(cd "$nd" && npm install --no-save --no-audit --no-fund --no-update-notifier --loglevel=error \
			"@20minutes/s3rver@$SV_S3RVER_VERSION" </dev/null >&2) || return 1
	fi
}

# The server: writes its port to SV_S3_PORTFILE, stops when its owner (if any)
# ends. It makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3
# only has in its legacy provider: hence node --openssl-legacy-provider.
sv_s3_server_js='
const path = require("path");
const fs = require("fs");
const mod = path.join(process.env.SV_S3RVER_DIR, "node_modules/@20minutes/s3rver");
const S3rver = require(mod);
const account = require(path.join(mod, "lib/models/account"));
account.DUMMY_ACCOUNT.revokeAccessKey("S3RVER");
account.DUMMY_ACCOUNT.createKeyPair(process.env.SV_S3_AK, process.env.SV_S3_SK);
const server = new S3rver({
	address: "127.0.0.1",
	port: 0,
	directory: process.env.SV_S3_DATA,
	silent: true,
	vhostBuckets: false,
	configureBuckets: [{ name: process.env.SV_S3_BUCKET, configs: [] }],
});
const dir = process.env.SV_S3_DIR;
const stream = require("stream");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const readNumber = (f) => { try { return Number(fs.readFileSync(path.join(dir, f), "utf8")); } catch (e) { return NaN; } };
// First in the chain (before s3rver routes the request): a log line once answered, held parts, slow bodies.
server.middleware.unshift(async (ctx, next) => {
	const part = /[?&]partNumber=(\d+)/.exec(ctx.url);
	while (part && Number(part[1]) >= readNumber("hold-parts")) await sleep(50);
	try {
		await next();
	} finally {
		fs.appendFileSync(path.join(dir, "requests.log"),
			`${ctx.method} ${ctx.url} range=${ctx.get("range") || "-"} status=${ctx.status} len=${ctx.length === undefined ? "-" : ctx.length}\n`);
	}
	const rate = readNumber("slow-get");
	if (ctx.method === "GET" && rate > 0 && ctx.body instanceof stream.Readable) {
		const len = ctx.length;
		ctx.body = ctx.body.pipe(new stream.Transform({
			transform(chunk, enc, done) {
				let off = 0;
				const step = () => {
					if (off >= chunk.length) return done();
					const n = Math.min(chunk.length - off, Math.max(1, Math.floor(rate / 20)));
					this.push(chunk.subarray(off, off + n));
					off += n;
					setTimeout(step, 50);
				};
				step();
			},
		}));
		ctx.length = len;
	}
});
server.run().then(({ port }) => {
	fs.writeFileSync(process.env.SV_S3_PORTFILE + ".tmp", String(port));
	fs.renameSync(process.env.SV_S3_PORTFILE + ".tmp", process.env.SV_S3_PORTFILE);
}, (err) => {
	console.error(err);
	process.exit(1);
});
const owner = Number(process.env.SV_SERVER_OWNER_PID || 0);
if (owner > 0) {
	setInterval(() => {
		try { process.kill(owner, 0); } catch (e) { process.exit(0); }
	}, 1000).unref();
}
process.on("SIGTERM", () => process.exit(0));
'

sv_s3_start() {
	local dir=${1:?usage: sv_s3_start DIR} nd ak sk port i code
	local empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
	sv_s3_install || return 1
	mkdir -p "$dir/data" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	nd=$(sv_s3_node_dir)
	ak=AK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
	sk=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
	rm -f "$dir/s3.port" "$dir/s3.pid"

	SV_S3_DIR=$dir SV_S3RVER_DIR=$nd SV_S3_AK=$ak SV_S3_SK=$sk SV_S3_DATA=$dir/data SV_S3_BUCKET=salvage-test \
		SV_S3_PORTFILE=$dir/s3.port setsid node --openssl-legacy-provider -e "$sv_s3_server_js" </dev/null >"$dir/s3.log" 2>&1 &
	echo $! >"$dir/s3.pid"
	disown 2>/dev/null || true
	for i in $(seq 1 300); do
		[ -s "$dir/s3.port" ] && break
		if ! kill -0 "$(cat "$dir/s3.pid")" 2>/dev/null; then
			echo "s3.sh: the server did not start:" >&2
			cat "$dir/s3.log" >&2
			return 1
		fi
		sleep 0.1
	done
	port=$(cat "$dir/s3.port" 2>/dev/null)
	if [ -z "$port" ]; then
		echo "s3.sh: the server did not report its port in 30 s" >&2
		sv_s3_stop "$dir"
		return 1
	fi

	# The point of this server: a good signature lists the bucket, a wrong one is refused.
	code=$(curl -s -o /dev/null -w "%{http_code}" -H "x-amz-content-sha256: $empty" --aws-sigv4 aws:amz:us-east-1:s3 -u "$ak:$sk" \
		"http://127.0.0.1:$port/salvage-test?list-type=2")
	if [ "$code" != 200 ]; then
		echo "s3.sh: a correctly signed request got HTTP $code" >&2
		sv_s3_stop "$dir"
		return 1
	fi
	code=$(curl -s -o /dev/null -w "%{http_code}" -H "x-amz-content-sha256: $empty" --aws-sigv4 aws:amz:us-east-1:s3 -u "$ak:wrong$sk" \
		"http://127.0.0.1:$port/salvage-test?list-type=2")
	if [ "$code" != 403 ]; then
		echo "s3.sh: a request signed with a wrong secret got HTTP $code, not 403" >&2
		sv_s3_stop "$dir"
		return 1
	fi

	cat >"$dir/s3.env" <<-EOF
		export SV_S3_ENDPOINT=http://127.0.0.1:$port
		export SV_S3_REGION=us-east-1
		export SV_S3_BUCKET=salvage-test
		export SV_S3_DATA=$dir/data
		export SV_S3_DIR=$dir
		export AWS_ACCESS_KEY_ID=$ak
		export AWS_SECRET_ACCESS_KEY=$sk
	EOF
	# shellcheck disable=SC1091
	. "$dir/s3.env"
	cat "$dir/s3.env"
}

sv_s3_stop() {
	local dir=${1:?usage: sv_s3_stop DIR}
	sv_stop_pidfile "$dir/s3.pid" "$dir/s3.port"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	case "${1:-}" in
	start) sv_s3_start "${2:?usage: $0 start DIR}" ;;
	stop) sv_s3_stop "${2:?usage: $0 stop DIR}" ;;
	*)
		echo "usage: $0 start|stop DIR" >&2
		exit 2
		;;
	esac
fi
