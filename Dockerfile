# LeadFlow image: one image, every role; the command picks it
# (`serve connectors|ingest|console`, `migrate`, `topics create`, or `up` for a demo).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Pinned dependencies first, so code changes do not rebuild this layer.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY . .
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app leadflow \
    && mkdir -p /app/.leadflow && chown leadflow /app/.leadflow

USER leadflow
EXPOSE 8080
ENTRYPOINT ["leadflow"]
CMD ["up"]
