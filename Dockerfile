# The streamdrift service image: `docker build -t streamdrift .`
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamdrift ./streamdrift
COPY stream ./stream
COPY detectors ./detectors
COPY consumers ./consumers
COPY producers ./producers
COPY examples ./examples
RUN pip install --no-cache-dir .
RUN useradd --system streamdrift
USER streamdrift
EXPOSE 9108
ENTRYPOINT ["streamdrift"]
CMD ["serve", "--config", "/app/examples/demo.yaml"]
