#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install requirements.txt (again only when it changed).
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
  for candidate in "${PYTHON:-}" python3.12 python3.13 python3 "$HOME/.pyenv/versions/3.12.1/bin/python"; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  python=$(pick_python) || { echo "Vigia needs Python 3.12 or newer (set PYTHON=/path/to/python3.12)." >&2; exit 1; }
  echo "Creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi

stamp=.venv/.requirements.sha256
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt
  echo "$wanted" > "$stamp"
fi
