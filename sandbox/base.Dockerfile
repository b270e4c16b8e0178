# swerl base image: built by sandbox/images.ts (ensureBaseImage) from the mmdebstrap rootfs.
# The ROOTFS placeholder is replaced with the content-hashed rootfs tag; this file's text is part of the base tag.
FROM {{ROOTFS}}

# The agent runs as uid 1000, never root: writes outside /repo, /tmp and its home fail.
RUN groupadd --gid 1000 agent \
 && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash agent \
 && mkdir -p /repo /etc/swerl /opt/swerl/tools/bin \
 && chown agent:agent /repo

# System git defaults: any uid may use /repo, commits have an author, and Python/pytest by-products
# never show up in the agent's diff.
RUN printf '%s\n' '__pycache__/' '*.py[co]' '.pytest_cache/' '*.egg-info/' > /etc/swerl/gitignore \
 && git config --system safe.directory '*' \
 && git config --system user.name 'swerl agent' \
 && git config --system user.email 'agent@swerl.invalid' \
 && git config --system core.excludesFile /etc/swerl/gitignore \
 && git config --system advice.detachedHead false \
 && git config --system init.defaultBranch main

COPY tools/ /opt/swerl/tools/
RUN chmod -R a+rX,go-w /opt/swerl/tools

ENV PATH=/opt/swerl/tools/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    HOME=/home/agent \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_INDEX=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /repo
CMD ["sleep", "infinity"]
