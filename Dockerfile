# Switchyard: slim, non-root image. Build: docker build -t switchyard .
# Run: docker run -p 8000:8000 -v $PWD/my.toml:/var/lib/switchyard/config.toml -e OPENAI_API_KEY=... switchyard
# (relative paths in the config, such as the log file, resolve under /var/lib/switchyard, which is writable)
# Kubernetes: deploy/ (the config is mounted from a ConfigMap at /etc/switchyard/config.toml instead).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proxy ./proxy
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV LITELLM_LOCAL_MODEL_COST_MAP=True \
    PYTHONUNBUFFERED=1
COPY --from=build /install /usr/local
RUN useradd --create-home --uid 10001 switchyard && mkdir -p /var/lib/switchyard \
    && chown switchyard /var/lib/switchyard
COPY models /opt/switchyard/models
COPY --chown=switchyard config.example.toml /var/lib/switchyard/config.toml
# The image's models live outside the package: point the config at them.
RUN sed -i '1i models_dir = "/opt/switchyard/models"' /var/lib/switchyard/config.toml
# Numeric, so Kubernetes' runAsNonRoot can verify it (deploy/deployment.yaml runs as the same uid).
USER 10001
WORKDIR /var/lib/switchyard
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"
CMD ["python", "-m", "proxy", "--config", "/var/lib/switchyard/config.toml", "--host", "0.0.0.0"]
