# Shared helpers for the install scripts (sourced, not run).
# Long builds write their full output to a log file; on failure we print one
# clear message and the path of that log instead of pages of compiler output.

CACHE_DIR="${INTERNIMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/internimage-mm}"
WHEEL_DIR="$CACHE_DIR/wheels"
LOG_DIR="$CACHE_DIR/logs"
mkdir -p "$WHEEL_DIR" "$LOG_DIR"

die() {
    echo "ERROR: $*" >&2
    exit 1
}

# run_logged LOGFILE DESCRIPTION CMD...: run CMD with all output in LOGFILE.
run_logged() {
    local log="$1" what="$2"
    shift 2
    echo "==> $what (log: $log)" >&2
    if ! "$@" >"$log" 2>&1; then
        echo "---- last lines of $log ----" >&2
        tail -n 15 "$log" >&2
        die "$what failed. Full log: $log"
    fi
}

# Compiled packages need a C++ compiler and the Python headers of the venv's Python.
check_build_prerequisites() {
    local py="$1"
    command -v "${CXX:-c++}" >/dev/null 2>&1 \
        || die "no C++ compiler found (looked for '${CXX:-c++}'). Install one, e.g. 'apt-get install g++'."
    local inc
    inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    [ -f "$inc/Python.h" ] \
        || die "Python headers missing: $inc/Python.h not found. Install them, e.g. 'apt-get install python3-dev'."
}
