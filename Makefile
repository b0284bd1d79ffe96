# Everyday commands of the platform.
.PHONY: run stop test lint schemas infra-up infra-down

run:            ## the platform with demo data (local Kafka, FerretDB, SMTP sink, five services)
	scripts/run.sh

stop:           ## stop the services and the local stack
	python -m devtools.platform stop; infra/down.sh

test:           ## the whole test suite on a private fresh stack (what CI runs)
	scripts/test.sh

lint:           ## ruff + mypy --strict
	ruff check contracts platform_kit demo_data services simulators devtools tests scripts grd_client
	mypy contracts platform_kit demo_data services simulators devtools tests grd_client

schemas:        ## refresh the JSON Schema snapshots after an additive contract change
	python -m contracts.schemas write

infra-up:
	infra/up.sh

infra-down:
	infra/down.sh
