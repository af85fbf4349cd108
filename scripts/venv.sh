# Sourced by scripts/serve and scripts/test: make .venv with Firebox installed (and the optional
# dependencies named in $extras, e.g. "test"), reinstalling only when pyproject.toml changed since then.
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "Firebox needs Python 3.11 or newer; set PYTHON=/path/to/python3.x" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
extra="${extras:-}"
stamp=".venv/.firebox-installed${extra:+-$extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".${extra:+[$extra]}"
    touch "$stamp"
fi
