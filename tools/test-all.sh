#!/usr/bin/env bash
# tools/test-all.sh: build troupe and run the whole test suite in the three
# variants CI checks, each with -Werror in its own build folder:
#   build-ci        default (RelWithDebInfo, jemalloc)
#   build-ci-asan   AddressSanitizer + UndefinedBehaviorSanitizer
#   build-ci-tsan   ThreadSanitizer
#   build-ci-switch the interpreter's switch dispatch (the fallback for
#                   compilers without computed goto): the machine's tests
# Every variant runs even when an earlier one fails; the exit status is
# non-zero when any build or test failed.
#
# Environment: JOBS (default nproc), TR_CI_VARIANTS (default
# "default asan tsan"), TR_CI_EXCLUDE_LABELS (a ctest -LE regex; default
# "slow": tests labelled slow are kept for manual runs; `stress` tests run).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
JOBS="${JOBS:-$(nproc)}"
VARIANTS="${TR_CI_VARIANTS:-default asan tsan switch}"
EXCLUDE="${TR_CI_EXCLUDE_LABELS-slow}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
if [ -f "$ROOT/tests/tsan.supp" ]; then
	TSAN_OPTIONS="$TSAN_OPTIONS:suppressions=$ROOT/tests/tsan.supp"
fi
export TSAN_OPTIONS

failed=()
for v in $VARIANTS; do
	case "$v" in
	default) dir=build-ci; flags=() ;;
	asan) dir=build-ci-asan; flags=(-DTR_ASAN=ON) ;;
	tsan) dir=build-ci-tsan; flags=(-DTR_TSAN=ON) ;;
	switch) dir=build-ci-switch; flags=(-DTR_SWITCH_DISPATCH=ON) ;;
	*) echo "test-all.sh: unknown variant $v" >&2; exit 2 ;;
	esac
	echo "==== $v: configure, build ($dir, -j$JOBS)"
	targets=()
	only=()
	if [ "$v" = switch ]; then
		targets=(--target test_round test_faults test_determinism test_machine_alloc)
		only=(-R '^test_(round|faults|determinism|machine_alloc)$')
	fi
	if ! cmake -S "$ROOT" -B "$ROOT/$dir" -DTR_WERROR=ON "${flags[@]}" >/dev/null ||
	   ! cmake --build "$ROOT/$dir" -j "$JOBS" "${targets[@]}"; then
		echo "==== $v: BUILD FAILED"
		failed+=("$v:build")
		continue
	fi
	echo "==== $v: ctest"
	lflags=()
	[ -n "$EXCLUDE" ] && lflags=(-LE "$EXCLUDE")
	# setarch -R: gcc 12's TSan runtime cannot map its shadow memory on
	# kernels with high mmap randomisation; without ASLR it always can.
	runner=()
	if [ "$v" = tsan ] && command -v setarch >/dev/null 2>&1 &&
	   setarch "$(uname -m)" -R true 2>/dev/null; then
		runner=(setarch "$(uname -m)" -R)
	fi
	if ! "${runner[@]}" ctest --test-dir "$ROOT/$dir" --output-on-failure \
		-j "$JOBS" "${lflags[@]}" "${only[@]}"; then
		echo "==== $v: TESTS FAILED"
		failed+=("$v:test")
	fi
done

if [ ${#failed[@]} -ne 0 ]; then
	echo "test-all.sh: FAILED: ${failed[*]}"
	exit 1
fi
echo "test-all.sh: all variants passed ($VARIANTS)"
