# A sympy-size stand-in for `SWERL_BENCH_SANDBOX_IMAGE` (bench/sandbox.ts): ~180 MB of repository
# (9,000 files and their .git) and a 30 MB venv, what a cold sandbox start copies into its tmpfs.
#   docker build -t swerl-bench-bigrepo --build-arg BASE=<swerl-base:tag> -f bench/sandbox-bigrepo.Dockerfile bench
ARG BASE
FROM ${BASE}
RUN mkdir -p /repo/src && cp -a /usr/lib/python3 /usr/share/perl /usr/lib/x86_64-linux-gnu /repo/src/ \
 && cd /repo && git init -q && git add -A && git commit -qm base \
 && python3 -m venv --without-pip /opt/swerl/venv \
 && cp -a /usr/lib/python3/dist-packages/. /opt/swerl/venv/lib/python3.11/site-packages/ \
 && chown -R 1000:1000 /repo /opt/swerl/venv
ENV VIRTUAL_ENV=/opt/swerl/venv PATH=/opt/swerl/venv/bin:/opt/swerl/tools/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
