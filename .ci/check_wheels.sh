#!/usr/bin/env bash
# Installs the four wheels from `./pants package ::` into a new Python 3.12 venv and imports them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shopt -s nullglob
wheels=(dist/*.whl)
[ "${#wheels[@]}" -eq 4 ] || { echo "expected 4 wheels in dist/, found ${#wheels[@]}: ${wheels[*]}" >&2; exit 1; }
python312=""
for candidate in "${PYTHON312:-}" "$(command -v python3.12 || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.*/bin/python3.12; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    python312="$candidate"; break
  fi
done
[ -n "$python312" ] || { echo "no Python 3.12 found (set PYTHON312)" >&2; exit 1; }
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
"$python312" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "${wheels[@]}"
"$venv/bin/python" -c "import saga_graphs, parsl_affinity_htex, k8s_topology, saga_dfk; print('wheels: import ok')"
"$venv/bin/saga-dfk" --help >/dev/null
for w in "${wheels[@]}"; do echo "wheel: $(basename "$w")"; done
