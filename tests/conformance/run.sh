#!/usr/bin/env bash
# Runs the conformance suites (tests/conformance/runner.c) when they are
# there: $SV_CONFORMANCE, else ../shared/conformance beside the repository
# (beside the main checkout when this is a git worktree). The suites are read
# where they are, never copied into the project. Without them it says so and
# exits 77 (skipped).
#   run.sh RUNNER    run the suites
#   run.sh --locate  print their folder (nothing when they are not there)
set -uo pipefail
runner=$1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

dir=${SV_CONFORMANCE:-}
if [ -z "$dir" ]; then
	for d in "$repo/../shared/conformance" \
		"$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)/../../shared/conformance"; do
		if [ -f "$d/robots_cases.json" ] && [ -f "$d/url_cases.json" ]; then
			dir=$d
			break
		fi
	done
fi
if [ "$runner" = --locate ]; then
	[ -n "$dir" ] && (cd "$dir" && pwd)
	exit 0
fi
if [ -z "$dir" ]; then
	echo "conformance: skipped, no ../shared/conformance (set SV_CONFORMANCE to its folder)"
	exit 77
fi
exec "$runner" "$dir" "$here/known.txt"
