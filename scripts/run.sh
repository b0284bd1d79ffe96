#!/usr/bin/env bash
# THE run command: installs everything, starts the local stack (Kafka, FerretDB, SMTP sink), loads the demo data
# and runs the five services (+ the meter head-end simulator) as separate uvicorn processes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install.sh
infra/up.sh
# shellcheck disable=SC1091
source .data/env
python -m devtools.platform start --seed "${DEMO_PDS:-5000}"
cat <<INFO

La plateforme tourne.
  Santé      : curl http://127.0.0.1:800{1..5}/health
  API        : http://127.0.0.1:8001/docs (référentiel) ... 8005 ; AsyncAPI : /asyncapi.json ; métriques : /metrics
  E-mails    : $SMTP_SINK_DIR (un fichier .eml par e-mail)
  Journaux   : .data/logs/
  Première demande (changement de fournisseur sur un compteur communicant) :
      source .data/env && python -m devtools.demo
  Arrêt      : python -m devtools.platform stop && infra/down.sh
INFO
