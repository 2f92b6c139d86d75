#!/usr/bin/env bash
# Runs the test_* functions of one end-to-end script, each in a fresh temp
# folder and its own subshell with `set -e`, and prints a line per test and
# "RESULT <passed> <failed> <skipped>" at the end. A test passes when its
# function returns 0; `skip "why"` marks it skipped (counted apart).
set -uo pipefail
script=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck disable=SC1090
. "$script"

passed=0 failed=0 skipped=0
name=$(basename "$script" .sh)
for fn in $(declare -F | awk '{print $3}' | grep '^test_'); do
	dir=$(mktemp -d "${SALVAGE_TEST_TMP:-/tmp}/salvage-e2e.XXXXXX")
	log="$dir.log"
	( cd "$dir" && set -e && "$fn" ) >"$log" 2>&1
	rc=$?
	cleanup_dir "$dir"
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok   $name.$fn"
	elif [ $rc -eq 77 ]; then
		skipped=$((skipped + 1))
		echo "skip $name.$fn: $(tail -n 1 "$log")"
	else
		failed=$((failed + 1))
		echo "FAIL $name.$fn (exit $rc); last lines:"
		tail -n 15 "$log" | sed 's/^/    /'
	fi
	rm -f "$log"
done
echo "RESULT $passed $failed $skipped"
[ $failed -eq 0 ]
