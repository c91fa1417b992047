#!/usr/bin/env bash
# bench/compare.sh: troupe side by side with the peer runtimes of
# ../shared/peers on the standard workloads and sizes of WORKLOADS.md.
#
#   bench/compare.sh OUT.md [options]
#
# Runs are interleaved (for each repetition: every size, every workload,
# every implementation in turn), so that a slow phase of the machine hits all
# implementations alike. Each run's RESULT line is kept in OUT.md.raw.tsv;
# OUT.md gets Markdown tables of medians and ratios troupe/peer, with the
# date, the CPU and the commands, ready to paste into BENCHMARKS.md.
#
# Options (each may be given once; lists are space- or comma-separated):
#   --impls LIST       default "troupe bare go caf erlang"
#   --workloads LIST   default "pingpong ring fanout twobuyer"
#   --sizes LIST       default "throughput scale latency"; also "tiny"
#                      (S=100 R=10) or a custom NAME=S:R
#   --reps N           repetitions, default 3
#   --threads T        worker threads, default 2 (the latency size uses 1)
#   --placement P      local|spread, default local (only troupe and bare
#                      honour it; the others report placement=na)
#   --troupe PATH      the troupe binary, default build/tools/troupe
#   --peers DIR        default ../shared/peers next to this tree, or
#                      $TR_PEERS (build them with `bash DIR/setup.sh`)
#   --timeout S        seconds per run, default 900
#   --no-baseline      skip the S=1 R=1 runs that the scale table subtracts
#   --latency-cpu C    run every latency-size run under `taskset -c C`,
#                      default the first CPU this script may use; "none"
#                      leaves them unpinned. Why: one-thread runs measure
#                      one CPU, and the vCPUs of a VM need not be equal
#                      (BENCHMARKS.md §1: one ran a plain loop 1.7x slower
#                      than the other for hours). troupe pins its worker
#                      and the peers do not, so unpinned runs compare CPUs
#                      as much as runtimes.
#
# A run that fails or times out is recorded as FAIL and left out of the
# medians; the script goes on and exits 1 at the end if any run failed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

usage() {
	sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac
OUT="$1"; shift

IMPLS="troupe bare go caf erlang"
WORKLOADS="pingpong ring fanout twobuyer"
SIZES="throughput scale latency"
REPS=3
THREADS=2
PLACEMENT=local
TROUPE="$ROOT/build/tools/troupe"
PEERS="${TR_PEERS:-$(cd "$ROOT/.." && pwd)/shared/peers}"
TIMEOUT=900
BASELINE=1
LATCPU=auto

while [ $# -gt 0 ]; do
	case "$1" in
	--impls) IMPLS="${2//,/ }"; shift 2 ;;
	--workloads) WORKLOADS="${2//,/ }"; shift 2 ;;
	--sizes) SIZES="${2//,/ }"; shift 2 ;;
	--reps) REPS="$2"; shift 2 ;;
	--threads) THREADS="$2"; shift 2 ;;
	--placement) PLACEMENT="$2"; shift 2 ;;
	--troupe) TROUPE="$2"; shift 2 ;;
	--peers) PEERS="$2"; shift 2 ;;
	--timeout) TIMEOUT="$2"; shift 2 ;;
	--no-baseline) BASELINE=0; shift ;;
	--latency-cpu) LATCPU="$2"; shift 2 ;;
	-h|--help) usage ;;
	*) echo "compare.sh: unknown option $1" >&2; usage ;;
	esac
done

case "$REPS" in ''|*[!0-9]*) echo "compare.sh: --reps wants a number" >&2; exit 2 ;; esac
case "$THREADS" in ''|*[!0-9]*) echo "compare.sh: --threads wants a number" >&2; exit 2 ;; esac
case "$PLACEMENT" in local|spread) ;; *) echo "compare.sh: --placement local|spread" >&2; exit 2 ;; esac

if [ "$LATCPU" = auto ]; then
	# the first CPU of this process's affinity list ("0-1,4" -> 0)
	LATCPU="$(awk '/^Cpus_allowed_list/ { split($2, a, /[-,]/); print a[1] }' /proc/self/status 2>/dev/null)"
	[ -n "$LATCPU" ] || LATCPU=none
fi
case "$LATCPU" in
none) ;;
''|*[!0-9]*) echo "compare.sh: --latency-cpu wants a CPU number or none" >&2; exit 2 ;;
*) command -v taskset >/dev/null || { echo "compare.sh: --latency-cpu needs taskset (util-linux)" >&2; exit 2; } ;;
esac

# size name -> "S R T"
size_params() {
	case "$1" in
	throughput) echo "10000 100 $THREADS" ;;
	scale) echo "1000000 1 $THREADS" ;;
	latency) echo "1 100000 1" ;;
	tiny) echo "100 10 $THREADS" ;;
	*=*:*)
		# a custom size keeps its kind's rules: latency runs one thread
		local sr="${1#*=}" t="$THREADS"
		[ "${1%%=*}" = latency ] && t=1
		echo "${sr%%:*} ${sr#*:} $t" ;;
	*) return 1 ;;
	esac
}
size_label() { echo "${1%%=*}"; }

for s in $SIZES; do
	size_params "$s" >/dev/null || { echo "compare.sh: unknown size $s" >&2; exit 2; }
done
for w in $WORKLOADS; do
	case "$w" in pingpong|ring|fanout|twobuyer) ;; *) echo "compare.sh: unknown workload $w" >&2; exit 2 ;; esac
done
for i in $IMPLS; do
	case "$i" in
	troupe)
		[ -x "$TROUPE" ] || { echo "compare.sh: no troupe binary at $TROUPE (build it, or --troupe PATH)" >&2; exit 2; } ;;
	bare|go|caf|erlang)
		[ -x "$PEERS/run.sh" ] || [ -f "$PEERS/run.sh" ] ||
			{ echo "compare.sh: no peers at $PEERS (--peers DIR)" >&2; exit 2; }
		if [ ! -d "$PEERS/build" ]; then
			echo "compare.sh: peers not built: run bash $PEERS/setup.sh" >&2; exit 2
		fi ;;
	*) echo "compare.sh: unknown impl $i" >&2; exit 2 ;;
	esac
done

RAW="$OUT.raw.tsv"
: >"$RAW" || exit 2
printf 'size\tworkload\timpl\trep\tsessions\trounds\tthreads\tplacement\tmessages\twall_s\tmsgs_per_s\tpeak_rss_kb\tstatus\n' >"$RAW"

# The command line of one run (words on stdout, one per line).
cmd_of() {
	local impl="$1" w="$2" s="$3" r="$4" t="$5"
	if [ "$impl" = troupe ]; then
		printf '%s\n' "$TROUPE" run "$w" --sessions "$s" --rounds "$r" --threads "$t" --placement "$PLACEMENT"
	elif [ "$impl" = bare ]; then
		printf '%s\n' bash "$PEERS/run.sh" bare "$w" --sessions "$s" --rounds "$r" --threads "$t" --placement "$PLACEMENT"
	else
		printf '%s\n' bash "$PEERS/run.sh" "$impl" "$w" --sessions "$s" --rounds "$r" --threads "$t"
	fi
}

# run_one SIZE IMPL W S R T REP: one run, one line in RAW.
nfail=0
run_one() {
	local size="$1" impl="$2" w="$3" s="$4" r="$5" t="$6" rep="$7"
	local -a cmd
	mapfile -t cmd < <(cmd_of "$impl" "$w" "$s" "$r" "$t")
	if [ "$size" = latency ] && [ "$LATCPU" != none ]; then
		cmd=(taskset -c "$LATCPU" "${cmd[@]}")
	fi
	local out rc line
	out="$(timeout "$TIMEOUT" "${cmd[@]}" 2>&1 </dev/null)"; rc=$?
	line="$(printf '%s\n' "$out" | grep '^RESULT ' | tail -1)"
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		nfail=$((nfail + 1))
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\t-\t-\t-\tFAIL rc=%s\n' \
			"$size" "$w" "$impl" "$rep" "$s" "$r" "$t" "$PLACEMENT" "$rc" >>"$RAW"
		echo "  FAIL rc=$rc: ${cmd[*]}" >&2
		printf '%s\n' "$out" | tail -3 | sed 's/^/    /' >&2
		return
	fi
	# key=value fields of the RESULT line, in WORKLOADS.md's order
	printf '%s\n' "$line" | awk -v size="$size" -v rep="$rep" '
		{ for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\tok\n",
		    size, f["workload"], f["impl"], rep, f["sessions"], f["rounds"],
		    f["threads"], f["placement"], f["messages"], f["wall_s"],
		    f["msgs_per_s"], f["peak_rss_kb"] }' >>"$RAW"
	echo "  $line" >&2
}

START="$(date -u '+%Y-%m-%d %H:%M UTC')"
total=0
for s in $SIZES; do for w in $WORKLOADS; do for i in $IMPLS; do
	total=$((total + 1)); done; done; done
echo "compare.sh: $REPS x $total runs -> $OUT" >&2

for rep in $(seq 1 "$REPS"); do
	for size in $SIZES; do
		read -r S R T < <(size_params "$size")
		label="$(size_label "$size")"
		for w in $WORKLOADS; do
			for impl in $IMPLS; do
				echo "[rep $rep] $label $w $impl (S=$S R=$R T=$T)" >&2
				run_one "$label" "$impl" "$w" "$S" "$R" "$T" "$rep"
			done
		done
	done
done

# The scale table reports memory per live session above each runtime's own
# baseline: the peak RSS of a one-session run.
if [ "$BASELINE" = 1 ]; then
	for size in $SIZES; do
		[ "$(size_label "$size")" = scale ] || continue
		read -r S R T < <(size_params "$size")
		for w in $WORKLOADS; do
			for impl in $IMPLS; do
				echo "[baseline] $w $impl (S=1 R=1 T=$T)" >&2
				run_one baseline "$impl" "$w" 1 1 "$T" 1
			done
		done
	done
fi

# ---- the report ----
CPU="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
NCPU="$(nproc 2>/dev/null || echo '?')"
KERNEL="$(uname -sr)"
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
{
	echo "## troupe vs. peers ($START)"
	echo
	echo "- CPU: ${CPU:-unknown} ($NCPU CPUs online), $KERNEL"
	echo "- troupe commit $COMMIT; threads=$THREADS (latency: 1), placement=$PLACEMENT;"
	echo "  medians of $REPS interleaved repetitions; ratios are troupe / peer."
	echo "- commands (S, R, T per table):"
	echo '  - `'"$(cmd_of troupe W S R T | tr '\n' ' ' | sed "s|$ROOT/||; s/ $//")"'`'
	for i in $IMPLS; do
		[ "$i" = troupe ] && continue
		echo '  - `'"$(cmd_of "$i" W S R T | tr '\n' ' ' | sed "s|$PEERS|PEERS|; s/ $//")"'`'
	done
	if [ "$LATCPU" != none ]; then
		echo "- latency runs (every implementation): under \`taskset -c $LATCPU\`"
	fi
	echo "- raw results: \`$(basename "$RAW")\`"
	echo
	awk -F'\t' -v impls="$IMPLS" -v workloads="$WORKLOADS" -v sizes="$SIZES" '
	function median(key,   n, i, j, t, a) {
		n = cnt[key]
		if (n == 0) return ""
		for (i = 1; i <= n; i++) a[i] = val[key, i]
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		if (n % 2) return a[(n + 1) / 2]
		return (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function add(key, v) { cnt[key]++; val[key, cnt[key]] = v + 0 }
	function fmt_rate(x) {
		if (x == "") return "fail"
		if (x >= 1e6) return sprintf("%.2f M", x / 1e6)
		if (x >= 1e3) return sprintf("%.1f k", x / 1e3)
		return sprintf("%.0f", x)
	}
	function fmt_ratio(a, b) {
		if (a == "" || b == "" || b == 0) return "-"
		return sprintf("%.2f", a / b)
	}
	function fmt_ns(x) {
		if (x == "") return "fail"
		if (x >= 1e6) return sprintf("%.2f ms", x / 1e6)
		if (x >= 1e3) return sprintf("%.2f us", x / 1e3)
		return sprintf("%.0f ns", x)
	}
	NR == 1 { next }
	$13 == "ok" {
		k = $1 SUBSEP $2 SUBSEP $3
		add("mps" SUBSEP k, $11); add("wall" SUBSEP k, $10); add("rss" SUBSEP k, $12)
		if ($6 > 0) add("rt" SUBSEP k, $10 / $6 * 1e9)
		sess[$1] = $5; rounds[$1] = $6; thr[$1] = $7
	}
	$13 != "ok" { failed[$1 SUBSEP $2 SUBSEP $3]++ }
	END {
		ni = split(impls, I, " "); nw = split(workloads, W, " "); ns = split(sizes, Z, " ")
		roles["pingpong"] = 2; roles["ring"] = 8; roles["fanout"] = 5; roles["twobuyer"] = 3
		for (zi = 1; zi <= ns; zi++) {
			z = Z[zi]; sub(/=.*/, "", z)
			if (!(z in sess)) { printf "### %s: no successful run\n\n", z; continue }
			kind = (z == "latency") ? "latency" : (z == "scale") ? "scale" : "throughput"
			if (kind == "latency")
				printf "### %s (S=%s, R=%s, threads=%s): time per round (wall_s / R), median\n\n", z, sess[z], rounds[z], thr[z]
			else if (kind == "scale")
				printf "### %s (S=%s, R=%s, threads=%s): wall time and peak RSS per live role above the S=1 baseline, median\n\n", z, sess[z], rounds[z], thr[z]
			else
				printf "### %s (S=%s, R=%s, threads=%s): messages per second, median\n\n", z, sess[z], rounds[z], thr[z]
			hdr = "| workload |"; sep = "|---|"
			for (i = 1; i <= ni; i++) { hdr = hdr " " I[i] " |"; sep = sep "---:|" }
			if (index(" " impls " ", " troupe ") > 0)
				for (i = 1; i <= ni; i++) if (I[i] != "troupe") {
					hdr = hdr " troupe/" I[i] " |"; sep = sep "---:|"
				}
			print hdr; print sep
			for (wi = 1; wi <= nw; wi++) {
				w = W[wi]; row = "| " w " |"
				for (i = 1; i <= ni; i++) {
					k = z SUBSEP w SUBSEP I[i]
					if (kind == "latency") cell = fmt_ns(median("rt" SUBSEP k))
					else if (kind == "scale") {
						wall = median("wall" SUBSEP k); rss = median("rss" SUBSEP k)
						base = median("rss" SUBSEP "baseline" SUBSEP w SUBSEP I[i])
						if (wall == "") cell = "fail"
						else if (base == "") cell = sprintf("%.2f s, %d kB", wall, rss)
						else cell = sprintf("%.2f s, %.0f B/role", wall, (rss - base) * 1024 / (sess[z] * roles[w]))
					} else cell = fmt_rate(median("mps" SUBSEP k))
					if (failed[k]) cell = cell " (" failed[k] " failed)"
					row = row " " cell " |"
				}
				if (index(" " impls " ", " troupe ") > 0) {
					kt = z SUBSEP w SUBSEP "troupe"
					for (i = 1; i <= ni; i++) {
						if (I[i] == "troupe") continue
						kp = z SUBSEP w SUBSEP I[i]
						if (kind == "latency") r = fmt_ratio(median("rt" SUBSEP kt), median("rt" SUBSEP kp))
						else if (kind == "scale") {
							r = fmt_ratio(median("wall" SUBSEP kt), median("wall" SUBSEP kp))
							bt = median("rss" SUBSEP "baseline" SUBSEP w SUBSEP "troupe")
							bp = median("rss" SUBSEP "baseline" SUBSEP w SUBSEP I[i])
							if (bt != "" && bp != "" && r != "-")
								r = r " wall, " fmt_ratio(median("rss" SUBSEP kt) - bt, median("rss" SUBSEP kp) - bp) " mem"
							else if (r != "-") r = r " wall"
						} else r = fmt_ratio(median("mps" SUBSEP kt), median("mps" SUBSEP kp))
						row = row " " r " |"
					}
				}
				print row
			}
			print ""
			if (kind == "throughput") print "Higher is better; a ratio above 1 means troupe is faster.\n"
			if (kind == "latency") print "Lower is better; a ratio below 1 means troupe is faster.\n"
			if (kind == "scale") print "Lower is better for both; memory ratios compare growth above each baseline.\n"
		}
	}' "$RAW"
} >"$OUT"

echo "compare.sh: wrote $OUT and $RAW ($nfail failed runs)" >&2
[ "$nfail" -eq 0 ]
