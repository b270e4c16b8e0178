# The reference trainer (Temporal Python worker, task queue "trainer"), built offline by
# `swerl cluster build`: the mmdebstrap rootfs named by BASE (Debian bookworm: python3-torch 1.13
# CPU, OpenBLAS), a venv over the system site-packages with the pinned PyPI requirements installed
# from wheels downloaded on the build host (no network in the build). Runs as uid 1000.
ARG BASE
FROM ${BASE}
COPY wheels/ /tmp/wheels/
COPY requirements.txt requirements-worker.txt /opt/swerl-trainer/
RUN python3 -m venv --system-site-packages /opt/swerl-trainer/venv \
 && /opt/swerl-trainer/venv/bin/pip install -q --no-index --find-links /tmp/wheels -r /opt/swerl-trainer/requirements.txt -r /opt/swerl-trainer/requirements-worker.txt \
 && rm -rf /tmp/wheels \
 && groupadd --gid 1000 swerl && useradd --uid 1000 --gid 1000 --create-home swerl \
 && mkdir -p /var/lib/swerl/checkpoints && chown -R swerl:swerl /var/lib/swerl
COPY swerl_trainer/ /opt/swerl-trainer/swerl_trainer/
COPY contract.schema.json /opt/swerl-trainer/
WORKDIR /opt/swerl-trainer
ENV PATH=/opt/swerl-trainer/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
USER 1000:1000
CMD ["python", "-m", "swerl_trainer.worker", "--address", "temporal:7233", "--task-queue", "trainer", "--checkpoints", "/var/lib/swerl/checkpoints"]
