#!/usr/bin/env bash
# Installs the Debian packages salvage needs to build and test, if missing.
# Runs apt-get update once, only when something is missing.
set -euo pipefail

pkgs=(
	build-essential pkg-config
	libzstd-dev libssl-dev libgit2-dev libssh2-1-dev libcriterion-dev
	libcurl4-openssl-dev libsqlite3-dev libpq-dev libcsv-dev libjansson-dev libxml2-dev
	libmicrohttpd-dev zlib1g-dev zip
	zstd coreutils util-linux time sqlite3 python3 wget
	libzip-dev libdeflate-dev libbrotli-dev libyajl-dev jq
	openssh-server openssh-client curl openssl nginx postgresql
	chromium unzip
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm run the archiving world's own tools in the tests (warcio);
# a machine that has them from elsewhere (NodeSource) keeps its own.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

here=$(cd "$(dirname "$0")/.." && pwd)
# tests/js: the npm packages the tests use, at the versions package-lock.json
# pins (ReplayWeb.page runs in Debian's chromium, driven by playwright-core).
npm_packages() {
	local p missing=0
	for p in warcio replaywebpage playwright-core; do
		[ -d "$here/tests/js/node_modules/$p" ] || missing=1
	done
	[ $missing -eq 0 ] && return 0
	echo "installing the tests' npm packages (tests/js)"
	(cd "$here/tests/js" && npm ci --no-audit --no-fund --loglevel=error)
}

if [ ${#missing[@]} -eq 0 ]; then
	npm_packages
	exit 0
fi

echo "installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
else
	sudo=
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
npm_packages
