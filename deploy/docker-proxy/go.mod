module swerl.local/docker-proxy

go 1.22
