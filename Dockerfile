# Production image: gunicorn + whitenoise for web; the same image runs the worker and beat.
# Each process is one script under scripts/ (serve-web, serve-worker, serve-beat), which
# docker-compose.yml and the production smoke (.ci/smoke) run too.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN scripts/build-static
RUN useradd --system --uid 1000 leadflow && mkdir -p /app/var && chown leadflow /app/var
USER leadflow
EXPOSE 8000
CMD ["scripts/serve-web"]
