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
# Each package's __version__ (read from the wheel's metadata) must be the one version in its BUILD file,
# and `saga-dfk --version` must print all four.
cli_versions="$("$venv/bin/saga-dfk" --version)"
for pkg in saga-graphs parsl-affinity-htex k8s-topology saga-dfk; do
  module="${pkg//-/_}"
  build_version="$(sed -n 's/^[[:space:]]*version="\([^"]*\)",[[:space:]]*$/\1/p' "packages/$pkg/BUILD")"
  [ "$(printf '%s\n' "$build_version" | grep -c .)" -eq 1 ] \
    || { echo "packages/$pkg/BUILD: expected exactly one version=\"...\", found: ${build_version:-none}" >&2; exit 1; }
  wheel_version="$("$venv/bin/python" -c "import $module; print($module.__version__)")"
  [ "$wheel_version" = "$build_version" ] \
    || { echo "$module.__version__ is $wheel_version, packages/$pkg/BUILD says $build_version" >&2; exit 1; }
  grep -qxF "$pkg $build_version" <<<"$cli_versions" \
    || { echo "saga-dfk --version does not print '$pkg $build_version':" >&2; echo "$cli_versions" >&2; exit 1; }
  echo "version: $pkg $wheel_version (BUILD: $build_version)"
done
# k8s-topology needs Parsl only for its provider: the wheel requires it only under the [parsl] extra.
"$venv/bin/python" - <<'PY'
from importlib.metadata import requires

parsl = [r for r in requires("k8s-topology") or [] if r.lower().startswith("parsl")]
assert parsl and all('extra == "parsl"' in r for r in parsl), f"k8s-topology requires parsl outside its extra: {parsl}"
print("k8s-topology: parsl only in the [parsl] extra:", parsl)
PY
for w in "${wheels[@]}"; do echo "wheel: $(basename "$w")"; done
