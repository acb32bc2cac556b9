# BorderWatch: self-hosted Discord news alerts. Build: docker build -t borderwatch .
# Run: docker run -e DISCORD_TOKEN=... -v borderwatch-data:/data borderwatch
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin borderwatch \
    && mkdir -p /data \
    && chown borderwatch /data

COPY config.example.toml /app/config.example.toml
# The image's default config: the example, with the database on the /data volume and the health
# endpoint listening inside the container for HEALTHCHECK. Mount your own at /app/config.toml.
RUN sed -e 's|^database = .*|database = "/data/borderwatch.db"|' \
        -e '/^\[health\]/,/^\[/ s|^enabled = false|enabled = true|' \
        config.example.toml > /app/config.toml

USER 10001
VOLUME ["/data"]
EXPOSE 8787

HEALTHCHECK --interval=60s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8787/health', timeout=4).status == 200 else 1)"]

# The token comes from the environment (DISCORD_TOKEN); without it the bot prints alerts.
ENTRYPOINT ["borderwatch", "--config", "/app/config.toml"]
CMD ["run"]
