#!/usr/bin/env bash
# Installs the project's Python packages (runtime + dev tools) into the current interpreter; quick when already done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
stamp="$ROOT/.data/.installed-$(sha1sum "$ROOT/pyproject.toml" | cut -c1-12)"
if [[ -f "$stamp" ]] && "$PY" -c "import faststream, pymongo, aiosmtpd, pytest, services" 2>/dev/null; then
  exit 0
fi
echo "[install] pip install -e .[dev]" >&2
"$PY" -m pip install --disable-pip-version-check -q -e "$ROOT[dev]"
mkdir -p "$ROOT/.data" && touch "$stamp"
