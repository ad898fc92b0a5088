# The Jarvis hub. Build: docker compose build; run: docker compose up -d
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY app app
COPY core core
COPY mosquitto mosquitto
COPY mqtt mqtt
COPY plugins plugins
COPY web web
RUN pip install --no-cache-dir . && useradd --system --home /data jarvis && mkdir -p /data && chown jarvis /data
USER jarvis
# Memory (events, the audit trail, conversations) lives in /data/memory: keep /data on a volume.
ENV JARVIS_DATA_DIR=/data
WORKDIR /data
ENTRYPOINT ["jarvis"]
CMD ["run", "-c", "/config/config.yaml"]
