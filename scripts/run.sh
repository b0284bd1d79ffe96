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
# The demo accounts (LUMEN / demo-lumen, GRD / demo-operateur-grd...): without them or GRD_API_ACCOUNTS the services refuse to start.
export GRD_DEMO_MODE="${GRD_DEMO_MODE:-1}"
# The demo clock: `python -m platform_kit.clock avancer --jours 8` moves every service to a later day (never in production).
export GRD_CLOCK_CONTROL="${GRD_CLOCK_CONTROL:-1}"
python -m devtools.platform start --seed "${DEMO_PDS:-5000}"
cat <<INFO

La plateforme tourne.
  Santé      : curl http://127.0.0.1:800{1..5}/health
  API        : http://127.0.0.1:8001/docs (référentiel) ... 8005 ; AsyncAPI : /asyncapi.json ; métriques : /metrics
  E-mails    : $SMTP_SINK_DIR (un fichier .eml par e-mail)
  Journaux   : .data/logs/
  Première demande (changement de fournisseur sur un compteur communicant) :
      source .data/env && python -m devtools.demo
  Horloge    : python -m platform_kit.clock avancer --jours 8   (une date d'effet arrive ; remettre : ... remettre)
  Arrêt      : python -m devtools.platform stop && infra/down.sh
INFO
