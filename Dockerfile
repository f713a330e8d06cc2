# The hpsearch worker image: TensorFlow 2.21 with CUDA, this project, and the shipped study files.
#
#   docker build -t hpsearch .
#   docker run --rm --gpus all -e HPSEARCH_STORAGE=postgresql://USER:PASSWORD@HOST:5432/DB hpsearch worker cifar-dropout
#
# docker-compose.yml builds and runs it (workers, dashboard, PostgreSQL). No credentials live in the
# image: the storage URL comes from HPSEARCH_STORAGE at run time.
FROM tensorflow/tensorflow:2.21.0-gpu

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Install the project into the image's Python (the one TensorFlow is installed in), so pip keeps the
# image's CUDA-built tensorflow (it satisfies tensorflow>=2.21) and adds only what is missing.
# PIP_BREAK_SYSTEM_PACKAGES is a no-op unless the base Python is marked externally managed. Ray (with
# the dashboard KubeRay expects) is pinned to deploy/kubernetes/ray/raycluster.yaml's rayVersion.
COPY pyproject.toml README.md /tmp/hpsearch-src/
COPY hpsearch/ /tmp/hpsearch-src/hpsearch/
RUN cd /tmp/hpsearch-src \
    && PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir ".[ray]" "ray[default]==2.60.0" \
    && cd / && rm -rf /tmp/hpsearch-src \
    && hpsearch --help > /dev/null

# A non-root user. Its ~/.keras exists and belongs to it, so a named volume mounted there (Keras's
# dataset cache) starts out owned by the user; KERAS_HOME pins the cache there even if the container
# is run with another --user. /app is the working directory: `hpsearch` looks up study names in
# ./studies (the user's own, e.g. a mounted volume) before the shipped ones, which the installed
# package holds; the default SQLite file (when HPSEARCH_STORAGE is not set) is written there.
RUN useradd --create-home --uid 10001 --user-group --shell /bin/bash hpsearch \
    && install -d -o hpsearch -g hpsearch /home/hpsearch/.keras /home/hpsearch/.keras/datasets /app /app/studies
ENV KERAS_HOME=/home/hpsearch/.keras \
    HPSEARCH_STUDIES=/app/studies

WORKDIR /app
RUN hpsearch show cifar-dropout > /dev/null

USER hpsearch

ENTRYPOINT ["hpsearch"]
CMD ["--help"]
