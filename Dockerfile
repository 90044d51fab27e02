# Production image: gunicorn + whitenoise for web, the same image runs the worker and beat.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# gunicorn's worker count (it reads WEB_CONCURRENCY): 2 x cores; 4 measured best on 2 cores
# (docs/benchmarks.md, "Integration API"). Override per host.
ENV WEB_CONCURRENCY=4
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
RUN useradd --system --uid 1000 leadflow && mkdir -p /app/var && chown leadflow /app/var
USER leadflow
EXPOSE 8000
CMD ["gunicorn", "leadflow.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
