#!/usr/bin/env bash
# bench/counts.sh: issue 6, done-when 1. Every standard workload at the three
# standard sizes of ../shared/WORKLOADS.md, under local and spread placement:
# the RESULT line must parse (keys in order, plain decimals) and its message
# count must equal the workload's formula times S.
#
#   bench/counts.sh [TROUPE]     (default build/tools/troupe)
#
# Prints one line per run and exits non-zero if any run is wrong.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TROUPE="${1:-build/tools/troupe}"

formula() { # workload R -> messages per session
	case $1 in
	pingpong) echo $((3 * $2 + 1)) ;;
	ring) echo $((15 * $2 + 7)) ;;
	fanout) echo $((12 * $2 + 4)) ;;
	twobuyer) echo $((7 * $2 + 2 * (($2 + 1) / 2) + 2)) ;;
	esac
}

RE='^RESULT impl=troupe workload=[a-z]+ sessions=[0-9]+ rounds=[0-9]+ threads=[0-9]+ placement=[a-z]+ messages=([0-9]+) wall_s=[0-9]+(\.[0-9]+)? msgs_per_s=[0-9]+ peak_rss_kb=[0-9]+$'
bad=0
for placement in local spread; do
	for size in "10000 100 2" "1000000 1 2" "1 100000 1"; do
		read -r S R T <<<"$size"
		for w in pingpong ring fanout twobuyer; do
			line=$("$TROUPE" run "$w" --sessions "$S" --rounds "$R" --threads "$T" \
				--placement "$placement" 2>/dev/null | tail -n 1)
			want=$((S * $(formula "$w" "$R")))
			if [[ $line =~ $RE ]] && [ "${BASH_REMATCH[1]}" = "$want" ]; then
				verdict=ok
			else
				verdict=WRONG
				bad=1
			fi
			echo "$placement S=$S R=$R T=$T $w: want $want messages, got: ${line:-nothing}: $verdict"
		done
	done
done
exit $bad
