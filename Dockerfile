# StoryCraft: small image that runs the installed bot (`python -m bot`). Ollama and ComfyUI
# run elsewhere; point OLLAMA_URL at them (e.g. http://host.docker.internal:11434).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DATABASE_PATH=/data/storycraft.sqlite3 DATA_DIR=/data
WORKDIR /app

# Dependencies first, at the exact locked versions (`make lock`), so code changes do not
# reinstall them.
COPY requirements.lock /tmp/
RUN pip install -r /tmp/requirements.lock && rm /tmp/requirements.lock

# Then StoryCraft itself, installed rather than copied: migrations and workflows are package
# data, found wherever the package is.
COPY pyproject.toml bot.py /tmp/src/
COPY storycraft_bot /tmp/src/storycraft_bot
COPY adapters /tmp/src/adapters
COPY config /tmp/src/config
COPY migrations /tmp/src/migrations
RUN pip install --no-deps /tmp/src && rm -rf /tmp/src

RUN useradd --create-home storycraft && mkdir /data && chown storycraft /data
USER storycraft
VOLUME ["/data"]

# Exec form, so the bot itself receives SIGTERM and shuts down cleanly.
CMD ["python", "-m", "bot"]
