#!/usr/bin/env bash
# tools/deps.sh: install what troupe needs to build and test on Debian 12
# (bookworm), and nothing else. Run as root on a fresh machine; when every
# package is already installed it does nothing (no apt at all).
#
# Each package, and why it is needed:
#   gcc              the C11 compiler; its libgcc-12-dev brings libasan8,
#                    libubsan1 and libtsan2 for the -DTR_ASAN / -DTR_TSAN builds
#   libc6-dev        C headers and crt files (gcc only recommends it, and we
#                    install without recommends)
#   make             the generator CMake uses by default ("Unix Makefiles")
#   cmake            the build (CMakeLists.txt needs 3.25, bookworm has 3.25.1)
#   pkg-config       CMake's pkg_check_modules finds ck, jemalloc, cmocka
#   libck-dev        Concurrency Kit 0.7.1: ck_ring inboxes, ck_epoch (runtime/)
#   libjemalloc-dev  jemalloc 5.3: per-worker arenas in release builds
#   libcmocka-dev    cmocka 1.1: the unit test framework (tests/)
# Not needed: build-essential (would add g++ and dpkg-dev), clang, python.
set -euo pipefail

PKGS=(gcc libc6-dev make cmake pkg-config libck-dev libjemalloc-dev libcmocka-dev)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps.sh: all ${#PKGS[@]} packages present"
	exit 0
fi

echo "deps.sh: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "deps.sh: not root and no sudo: install ${missing[*]} by hand" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
