# basinlab: one image for the compose `lab` (JupyterLab) and `scheduler` (monthly run) services.
#
#   docker compose build && docker compose up -d
#
# The project is installed *editable* from /app: basinlab resolves sql/ and notebooks/ from the
# checkout (config.REPO_ROOT = lib/basinlab/../..), so the package stays in /app/lib beside
# /app/sql and /app/notebooks and the lab edits the same files. (A plain `pip install .` works
# too: the wheel ships sql/ and notebooks/ inside the package, see setup.py.)
FROM python:3.11-slim-bookworm

ARG UID=1000
ARG GID=1000

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PLOOMBER_STATS_ENABLED=false \
    BASINLAB_DATA_DIR=/data \
    BASINLAB_REPORTS_DIR=/reports \
    BASINLAB_BROWSER=/usr/bin/chromium \
    HOME=/home/basinlab

# Debian's chromium prints the PDF report (headless); fonts so the PDF has real glyphs.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        chromium fonts-dejavu-core fonts-liberation ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Non-root user. The home (and the lab's sandbox volume under it) is writable by any uid, so compose
# may run the services as the host user (BASINLAB_UID/BASINLAB_GID) to own the bind-mounted files.
RUN groupadd --gid "${GID}" basinlab \
 && useradd --uid "${UID}" --gid "${GID}" --create-home --home-dir /home/basinlab --shell /bin/bash basinlab \
 && mkdir -p /home/basinlab/sandbox \
 && chown basinlab:basinlab /home/basinlab/sandbox \
 && chmod 1777 /home/basinlab /home/basinlab/sandbox

WORKDIR /app

# Dependencies and the package first (the layer that changes least), then SQL, notebooks, scripts.
COPY pyproject.toml README.md ./
COPY lib/ lib/
RUN pip install --editable . \
 && basinlab --version

COPY sql/ sql/
COPY notebooks/ notebooks/
COPY docker/ docker/

RUN chmod 0755 docker/*.sh \
 && mkdir -p /data/inbox /reports \
 && chown -R basinlab:basinlab /data /reports /app/notebooks \
 && python -c "from basinlab import config; assert config.SQL_DIR.is_dir() and config.NOTEBOOKS_DIR.is_dir(), config.REPO_ROOT" \
 && basinlab models > /dev/null

USER basinlab

VOLUME ["/data", "/reports"]

# The compose file sets the command per service; by default, JupyterLab. 8000: the data API.
EXPOSE 8888 8000
CMD ["basinlab", "lab", "--ip", "0.0.0.0", "--no-browser", "--port", "8888"]
