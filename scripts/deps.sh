#!/usr/bin/env bash
# Installs the Debian packages salvage needs to build and test, if missing.
# Runs apt-get update once, only when something is missing.
set -euo pipefail

pkgs=(
	build-essential pkg-config
	libzstd-dev libssl-dev libgit2-dev libssh2-1-dev libcriterion-dev
	libcurl4-openssl-dev libsqlite3-dev libpq-dev libcsv-dev libjansson-dev libxml2-dev
	libmicrohttpd-dev zlib1g-dev zip
	zstd coreutils util-linux time sqlite3 python3
	openssh-server openssh-client curl openssl nginx postgresql
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
else
	sudo=
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
