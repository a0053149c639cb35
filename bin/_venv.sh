# Sourced by bin/run and bin/test: make .venv (Python 3.11) and install a requirements file
# into it, skipping pip when that file has not changed since the last install.
set -euo pipefail

venv_ready() {
    local requirements="$1"
    local python="${PYTHON:-}"
    if [ ! -x .venv/bin/python ]; then
        if [ -z "$python" ]; then
            for candidate in python3.11 python3; do
                if command -v "$candidate" >/dev/null 2>&1; then
                    python="$candidate"
                    break
                fi
            done
        fi
        if [ -z "$python" ]; then
            echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)." >&2
            exit 1
        fi
        if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "Python 3.11 or newer is needed; $python is $("$python" --version 2>&1)." >&2
            echo "Set PYTHON=/path/to/python3.11." >&2
            exit 1
        fi
        echo "Creating .venv with $("$python" --version 2>&1)..." >&2
        "$python" -m venv .venv
    fi
    local stamp=".venv/.installed-$(basename "$requirements")"
    local digest
    digest="$(cat "$requirements" requirements.txt | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
        echo "Installing $requirements into .venv..." >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
        echo "$digest" >"$stamp"
    fi
}
