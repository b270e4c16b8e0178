# A filtering proxy in front of the Docker socket (HAProxy from Debian, on the mmdebstrap rootfs
# named by BASE): the only container of the deployment that mounts the socket. The rules are in
# docker-proxy/haproxy.cfg.
ARG BASE
FROM ${BASE}
COPY docker-proxy/haproxy.cfg /etc/haproxy/haproxy.cfg
RUN haproxy -c -f /etc/haproxy/haproxy.cfg
EXPOSE 2375
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
