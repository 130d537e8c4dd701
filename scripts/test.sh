#!/usr/bin/env bash
# The test command of contacthub: bash scripts/test.sh [PYTEST ARGS...]
#
# Works from a clean clone on a fresh Debian machine, non-interactively:
#   1. creates .venv (python3 -m venv) if it is missing or broken,
#   2. pip install -e '.[test]' into it,
#   3. makes sure PostgreSQL server binaries exist under /usr/lib/postgresql/*/bin
#      (installs the Debian 'postgresql' package when they do not; needs root or sudo),
#      Debian's redis-server (for the scale-out tests),
#      and Debian's 'chromium' for the Playwright browser tests (same rule),
#   4. ruff check and ruff format --check, 5. mypy (configured in pyproject.toml), 6. pytest.
# Steps 4-6 all run even when one fails; the exit status is non-zero if any step failed.
# The tests start their own throwaway PostgreSQL server (tests/conftest.py); nothing is
# exported by this script.
#
# Extra arguments go to pytest, e.g.  bash scripts/test.sh -m "not slow" -x tests/engine
# Environment knobs:
#   CONTACTHUB_TEST_WORKERS   pytest-xdist workers (default 2; 0 = no xdist). Ignored when
#                             the arguments already hold -n/--numprocesses or -p no:xdist.
#   CONTACTHUB_TEST_TIMEOUT   seconds pytest may take before it is stopped (default 1500
#                             when CI is set, no limit otherwise).
#   PYTHON                    interpreter used to create .venv (default python3).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export DEBIAN_FRONTEND=noninteractive

START=$SECONDS
STEP_START=$SECONDS
FAILED=()
RESULTS=()

section() {
    STEP_START=$SECONDS
    printf '\n==================== %s ====================\n' "$*"
}

step_done() {  # step_done NAME STATUS
    local took=$((SECONDS - STEP_START))
    if [ "$2" -eq 0 ]; then
        RESULTS+=("ok      $1 (${took}s)")
    else
        RESULTS+=("FAILED  $1 (exit $2, ${took}s)")
        FAILED+=("$1")
    fi
}

die() {
    printf '\nERROR: %s\n' "$*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n env DEBIAN_FRONTEND=noninteractive "$@"
    else
        return 126
    fi
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || { echo "apt-get not found" >&2; return 127; }
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root apt-get update -q || return $?
        APT_UPDATED=1
    fi
    as_root apt-get install -y -q --no-install-recommends "$@"
}

pg_bindir() {
    local initdb
    initdb=$(ls -1d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [ -n "$initdb" ] && [ -x "$(dirname "$initdb")/pg_ctl" ] && dirname "$initdb"
}

# ---------------------------------------------------------------------------------------
section "1/6 Python virtual environment (.venv)"
BASE_PY=${PYTHON:-python3}
command -v "$BASE_PY" >/dev/null 2>&1 || die "$BASE_PY not found; install Python >= 3.11"
if [ -x "$PY" ] && "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "using existing $VENV ($("$PY" --version 2>&1))"
else
    [ -e "$VENV" ] && { echo "removing unusable $VENV"; rm -rf "$VENV"; }
    "$BASE_PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$BASE_PY is $("$BASE_PY" --version 2>&1); contacthub needs Python >= 3.11"
    if ! "$BASE_PY" -m venv "$VENV"; then
        # Debian's python3 needs python3-venv (ensurepip) to create environments.
        rm -rf "$VENV"
        echo "python3 -m venv failed; installing the Debian python3-venv package"
        apt_install python3-venv || die "could not install python3-venv"
        "$BASE_PY" -m venv "$VENV" || die "could not create $VENV"
    fi
    echo "created $VENV ($("$PY" --version 2>&1))"
fi
step_done "venv" 0

# ---------------------------------------------------------------------------------------
section "2/6 pip install -e '.[test]'"
"$PY" -m pip install -q -e '.[test]' || die "pip install -e '.[test]' failed"
step_done "pip install" 0

# ---------------------------------------------------------------------------------------
section "3/6 PostgreSQL server binaries"
if BINDIR=$(pg_bindir); then
    echo "found $BINDIR ($("$BINDIR/postgres" --version))"
else
    echo "no initdb/pg_ctl under /usr/lib/postgresql/*/bin: installing the Debian 'postgresql' package"
    if apt_install postgresql && BINDIR=$(pg_bindir); then
        echo "installed $BINDIR ($("$BINDIR/postgres" --version))"
    elif [ -n "${CI:-}" ]; then
        die "could not install PostgreSQL (root or passwordless sudo and apt-get are needed)"
    else
        echo "WARNING: could not install PostgreSQL; the postgres tests will be skipped" >&2
    fi
fi
if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then
    echo "found redis-server ($(/usr/bin/redis-server --version 2>/dev/null || redis-server --version))"
elif apt_install redis-server; then
    echo "installed redis-server"
elif [ -n "${CI:-}" ]; then
    die "could not install redis-server (root or passwordless sudo and apt-get are needed)"
else
    echo "WARNING: could not install redis-server; the scale-out tests will be skipped" >&2
fi
step_done "postgresql" 0

# ---------------------------------------------------------------------------------------
section "3b/6 Chromium for the browser tests (Debian's package; never a downloaded browser)"
if CHROMIUM=$(command -v chromium); then
    echo "found $CHROMIUM"
else
    echo "no chromium: installing the Debian 'chromium' package"
    if apt_install chromium && CHROMIUM=$(command -v chromium); then
        echo "installed $CHROMIUM"
    elif [ -n "${CI:-}" ]; then
        die "could not install chromium (root or passwordless sudo and apt-get are needed)"
    else
        echo "WARNING: could not install chromium; the browser tests will be skipped" >&2
    fi
fi
step_done "chromium" 0

# ---------------------------------------------------------------------------------------
section "4/6 ruff check"
LINT_DIRS=()
for dir in src tests bench; do
    [ -d "$dir" ] && LINT_DIRS+=("$dir")
done
echo "+ ruff check ${LINT_DIRS[*]} && ruff format --check ${LINT_DIRS[*]}"
"$VENV/bin/ruff" check "${LINT_DIRS[@]}" && "$VENV/bin/ruff" format --check "${LINT_DIRS[@]}"
step_done "ruff" $?

# ---------------------------------------------------------------------------------------
section "5/6 mypy"
echo "+ mypy (files and strictness from pyproject.toml)"
"$VENV/bin/mypy"
step_done "mypy" $?

# ---------------------------------------------------------------------------------------
section "6/6 pytest"
PYTEST_ARGS=()
WORKERS=${CONTACTHUB_TEST_WORKERS:-2}
USER_CHOSE_XDIST=0
prev=""
for arg in "$@"; do
    case "$arg" in
        -n | -n* | --numprocesses | --numprocesses=* | -pno:xdist) USER_CHOSE_XDIST=1 ;;
        no:xdist) [ "$prev" = "-p" ] && USER_CHOSE_XDIST=1 ;;
    esac
    prev=$arg
done
if [ "$USER_CHOSE_XDIST" -eq 0 ] && [ "$WORKERS" != "0" ]; then
    PYTEST_ARGS+=(-n "$WORKERS")
fi
PYTEST_ARGS+=(--durations=10)
TIMEOUT=${CONTACTHUB_TEST_TIMEOUT:-}
if [ -z "$TIMEOUT" ] && [ -n "${CI:-}" ]; then
    TIMEOUT=1500
fi
LIMIT=()
if [ -n "$TIMEOUT" ] && [ "$TIMEOUT" != "0" ]; then
    LIMIT=(timeout --kill-after=30 "$TIMEOUT")
fi
echo "+ pytest ${PYTEST_ARGS[*]} $*"
"${LIMIT[@]}" "$VENV/bin/pytest" "${PYTEST_ARGS[@]}" "$@"
status=$?
case $status in
    0) ;;
    5) echo "pytest collected no tests: that counts as a failure" >&2 ;;
    124 | 137) echo "pytest was stopped after ${TIMEOUT}s (CONTACTHUB_TEST_TIMEOUT)" >&2 ;;
esac
step_done "pytest" $status

# ---------------------------------------------------------------------------------------
printf '\n==================== summary (%ss) ====================\n' "$((SECONDS - START))"
printf '%s\n' "${RESULTS[@]}"
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "FAILED: ${FAILED[*]}"
    exit 1
fi
echo "all steps passed"
