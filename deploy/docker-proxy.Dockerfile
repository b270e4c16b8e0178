# The filtering proxy in front of the Docker socket (deploy/docker-proxy/main.go, a static Go
# binary) on the mmdebstrap rootfs named by BASE: the only container of the deployment that mounts
# the socket. It runs as root only because the socket is root's; it serves nothing but the filter.
ARG BASE
FROM ${BASE}
COPY swerl-docker-proxy /usr/local/bin/swerl-docker-proxy
EXPOSE 2375
CMD ["/usr/local/bin/swerl-docker-proxy", "-listen", ":2375", "-socket", "/var/run/docker.sock"]
