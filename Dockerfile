# StoryCraft: small image that runs `python bot.py`. Ollama and ComfyUI run elsewhere;
# point OLLAMA_URL at them (e.g. http://host.docker.internal:11434).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DATABASE_PATH=/data/storycraft.sqlite3 DATA_DIR=/data
WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt

COPY bot.py ./
COPY storycraft_bot ./storycraft_bot
COPY adapters ./adapters
COPY config ./config
COPY migrations ./migrations

RUN useradd --create-home storycraft && mkdir /data && chown storycraft /data
USER storycraft
VOLUME ["/data"]

# Exec form, so the bot itself receives SIGTERM and shuts down cleanly.
CMD ["python", "bot.py"]
