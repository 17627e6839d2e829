FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VOLUMES_VAR_DIR=/data

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .

# Database, uploaded files and the generated secret key live in /data (a volume).
VOLUME /data
EXPOSE 8000

CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py ensure_account --url http://localhost:8000/ && exec gunicorn dicomsite.wsgi --bind 0.0.0.0:8000 --workers 2 --threads 4 --timeout 600 --access-logfile -"]
