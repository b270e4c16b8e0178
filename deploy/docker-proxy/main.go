// swerl-docker-proxy: the Docker API as rollout workers may use it. The only process of the
// deployment that opens the Docker socket; rollout workers reach it over TCP (DOCKER_HOST).
//
// Allowed: ping/version/info, the container calls a sandbox host makes (list, create, inspect,
// start, stop, kill, wait, remove, logs, stats, archive, attach, exec) and reading images.
// Refused with 403: everything else (image build/import/pull/push/delete, volumes, networks,
// swarm, plugins, secrets, prune, commit, update, auth), privileged execs, and container creation
// that would escape a sandbox or leave its network: privileged, binds/mounts/volumes-from/volume
// drivers, devices, host or container namespaces, a network other than "none", links, security
// options other than no-new-privileges, masked/read-only path overrides, another runtime, sysctls,
// a cgroup parent, and capabilities beyond the three the sandbox's tool server keeps.
//
// Bodies are decoded with encoding/json into the daemon's field names, as the daemon decodes them
// (keys match case-insensitively, the last duplicate wins), so a spelling the daemon accepts
// cannot slip past a check. httputil.ReverseProxy forwards the 101 upgrade of an attached exec.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
)

const maxBody = 1 << 20

type rule struct {
	methods string // space-separated
	path    *regexp.Regexp
	check   func([]byte) string // for bodies to inspect; returns a refusal reason or ""
}

var (
	versionPrefix = regexp.MustCompile(`^/v[0-9.]+/`)
	id            = `[A-Za-z0-9_.-]+`
	rules         = []rule{
		{"GET HEAD", regexp.MustCompile(`^/(_ping|version|info)$`), nil},
		{"GET", regexp.MustCompile(`^/containers/json$`), nil},
		{"POST", regexp.MustCompile(`^/containers/create$`), checkCreate},
		{"GET", regexp.MustCompile(`^/containers/` + id + `/(json|logs|stats|top|changes)$`), nil},
		{"GET HEAD PUT", regexp.MustCompile(`^/containers/` + id + `/archive$`), nil},
		{"POST", regexp.MustCompile(`^/containers/` + id + `/(start|stop|restart|kill|wait|attach|resize|pause|unpause)$`), nil},
		{"POST", regexp.MustCompile(`^/containers/` + id + `/exec$`), checkExec},
		{"DELETE", regexp.MustCompile(`^/containers/` + id + `$`), nil},
		{"POST", regexp.MustCompile(`^/exec/` + id + `/(start|resize)$`), nil},
		{"GET", regexp.MustCompile(`^/exec/` + id + `/json$`), nil},
		{"GET HEAD", regexp.MustCompile(`^/images/(json|[^?]+/(json|history))$`), nil},
	}
)

// The daemon's HostConfig fields that can widen a container's reach (container.HostConfig).
type hostConfig struct {
	Privileged                                          bool
	Binds, VolumesFrom, Links, DeviceCgroupRules        []string
	Mounts, Devices, DeviceRequests                     []json.RawMessage
	PidMode, IpcMode, UTSMode, UsernsMode, CgroupnsMode string
	NetworkMode, Runtime, CgroupParent, Cgroup          string
	VolumeDriver                                        string
	CapAdd, SecurityOpt                                 []string
	MaskedPaths, ReadonlyPaths                          *[]string
	Sysctls                                             map[string]string
}

type createRequest struct {
	HostConfig       *hostConfig
	NetworkingConfig *struct{ EndpointsConfig map[string]json.RawMessage }
}

var allowedCaps = map[string]bool{"CAP_SETUID": true, "CAP_SETGID": true, "CAP_KILL": true}

func checkCreate(body []byte) string {
	var req createRequest
	if err := decode(body, &req); err != nil {
		return err.Error()
	}
	hc := req.HostConfig
	if hc == nil {
		return "no HostConfig: a sandbox's network must be \"none\""
	}
	switch {
	case hc.Privileged:
		return "privileged container"
	case len(hc.Binds) > 0 || len(hc.Mounts) > 0 || len(hc.VolumesFrom) > 0 || hc.VolumeDriver != "":
		return "host binds, mounts, volumes-from or a volume driver"
	case len(hc.Devices) > 0 || len(hc.DeviceRequests) > 0 || len(hc.DeviceCgroupRules) > 0:
		return "devices"
	case hc.NetworkMode != "none" || len(hc.Links) > 0:
		return fmt.Sprintf("network %q (only \"none\")", hc.NetworkMode)
	case hc.MaskedPaths != nil || hc.ReadonlyPaths != nil:
		return "masked or read-only path overrides"
	case hc.Runtime != "":
		return fmt.Sprintf("runtime %q", hc.Runtime)
	case len(hc.Sysctls) > 0:
		return "sysctls"
	case hc.CgroupParent != "" || hc.Cgroup != "":
		return "cgroup parent or cgroup namespace of another container"
	}
	if req.NetworkingConfig != nil {
		for name := range req.NetworkingConfig.EndpointsConfig {
			if name != "none" {
				return fmt.Sprintf("network %q (only \"none\")", name)
			}
		}
	}
	for name, mode := range map[string]string{"PidMode": hc.PidMode, "IpcMode": hc.IpcMode, "UTSMode": hc.UTSMode, "UsernsMode": hc.UsernsMode, "CgroupnsMode": hc.CgroupnsMode} {
		if mode != "" && mode != "private" && !(name == "IpcMode" && (mode == "none" || mode == "shareable")) {
			return fmt.Sprintf("%s %q", name, mode)
		}
	}
	for _, c := range hc.CapAdd {
		norm := strings.ToUpper(c)
		if !strings.HasPrefix(norm, "CAP_") {
			norm = "CAP_" + norm
		}
		if !allowedCaps[norm] {
			return fmt.Sprintf("capability %q", c)
		}
	}
	for _, opt := range hc.SecurityOpt {
		if opt != "no-new-privileges" && opt != "no-new-privileges:true" && opt != "no-new-privileges=true" {
			return fmt.Sprintf("security option %q", opt)
		}
	}
	return ""
}

func checkExec(body []byte) string {
	var req struct{ Privileged bool }
	if err := decode(body, &req); err != nil {
		return err.Error()
	}
	if req.Privileged {
		return "privileged exec"
	}
	return ""
}

// decode reads one JSON value as the daemon does (encoding/json: case-insensitive keys, the last
// duplicate wins) and refuses trailing data the daemon would not read.
func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body is not the daemon's JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("body has data after its JSON value")
	}
	return nil
}

// allow returns "" when the request may pass, or why not.
func allow(r *http.Request) (string, int) {
	p := r.URL.Path
	if path.Clean(p) != p {
		return "path is not clean", http.StatusForbidden
	}
	p = versionPrefix.ReplaceAllString(p, "/")
	for _, rl := range rules {
		if !rl.path.MatchString(p) || !strings.Contains(" "+rl.methods+" ", " "+r.Method+" ") {
			continue
		}
		if rl.check == nil {
			return "", 0
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return "cannot read body: " + err.Error(), http.StatusBadRequest
		}
		if len(body) > maxBody {
			return "body over 1 MiB", http.StatusForbidden
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
		r.Header.Del("Transfer-Encoding")
		if len(bytes.TrimSpace(body)) == 0 {
			body = []byte("{}")
		}
		if why := rl.check(body); why != "" {
			return why, http.StatusForbidden
		}
		return "", 0
	}
	return fmt.Sprintf("%s %s is not an API call a sandbox host makes", r.Method, p), http.StatusForbidden
}

func main() {
	listen := flag.String("listen", ":2375", "address to serve the filtered API on")
	socket := flag.String("socket", "/var/run/docker.sock", "the Docker daemon's socket")
	check := flag.Bool("check", false, "health check: GET /_ping through the proxy at -listen and exit 0 if OK")
	flag.Parse()
	if *check {
		addr := *listen
		if strings.HasPrefix(addr, ":") {
			addr = "127.0.0.1" + addr
		}
		res, err := http.Get("http://" + addr + "/_ping")
		if err != nil || res.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "unhealthy:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	backend := &url.URL{Scheme: "http", Host: "docker"}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backend)
			// The daemon sees exactly the path that was checked.
			pr.Out.URL.RawPath = ""
			pr.Out.Host = "docker"
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", *socket)
			},
			MaxIdleConnsPerHost: 64,
		},
		FlushInterval: -1, // logs, attach and wait stream
		ErrorLog:      log.New(os.Stderr, "swerl-docker-proxy: ", log.LstdFlags),
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if why, status := allow(r); why != "" {
			log.Printf("refused %s %s: %s", r.Method, r.URL.Path, why)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": "swerl-docker-proxy refused: " + why})
			return
		}
		proxy.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	// The test and the entrypoint read the bound address (":0" picks a free port).
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Fatal((&http.Server{Handler: handler}).Serve(ln))
}
