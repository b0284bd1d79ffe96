# One image for every service of the platform; the command picks the service (python -m services.<name>).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml ./
COPY contracts ./contracts
COPY platform_kit ./platform_kit
# The shipped reference data (the demo GRD's); compose mounts the GRD's own over it (or GRD_REFERENCE_FILE names one).
COPY config ./config
COPY demo_data ./demo_data
COPY services ./services
COPY simulators ./simulators
COPY devtools ./devtools
COPY infra/smtp_sink.py ./infra/smtp_sink.py
RUN pip install --no-cache-dir .
USER nobody
