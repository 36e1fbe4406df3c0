package testproc

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NATSCluster is n real nats-server processes clustered on loopback, each
// with JetStream on and a store of its own, as three machines of a
// deployment would be. Its servers are killed when the test ends.
type NATSCluster struct {
	t       testing.TB
	bin     string
	servers []*clusterServer
}

// clusterServer is one member of a NATSCluster: its configuration, which
// stays the same across restarts, and its current process (nil while it
// is down).
type clusterServer struct {
	name                          string // s1, s2, ...
	conf, dir                     string
	clientPort, routePort, hcPort int
	p                             *Process
}

// clusterName names the test clusters' NATS cluster.
const clusterName = "chatd-test"

// StartNATSCluster builds nats-server and starts n of them clustered on
// loopback (server names s1..sn, free ports for clients, routes and
// monitoring), and waits until every one reports itself healthy, which
// for a JetStream cluster means that a meta leader is elected and known.
func StartNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	bin, err := BuildNATS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return StartNATSClusterOf(t, bin, n)
}

// StartNATSClusterOf is StartNATSCluster with the nats-server binary bin
// (BuildNATS), for a package that builds it once for all its tests.
func StartNATSClusterOf(t testing.TB, bin string, n int) *NATSCluster {
	t.Helper()
	if n < 1 || n > 9 {
		t.Fatalf("StartNATSCluster: %d servers; want 1 to 9", n)
	}
	dir := t.TempDir()
	c := &NATSCluster{t: t, bin: bin}
	ports := freePorts(t, 3*n)
	for i := range n {
		s := &clusterServer{name: "s" + strconv.Itoa(i+1), dir: filepath.Join(dir, fmt.Sprintf("s%d", i+1)),
			clientPort: ports[3*i], routePort: ports[3*i+1], hcPort: ports[3*i+2]}
		s.conf = filepath.Join(dir, s.name+".conf")
		c.servers = append(c.servers, s)
	}
	for _, s := range c.servers {
		if err := os.WriteFile(s.conf, []byte(c.config(s)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.servers {
		c.start(i)
	}
	for i := range c.servers {
		c.waitHealthy(i)
	}
	return c
}

// config is the configuration file of s: its own ports and store, and
// routes to every other server.
func (c *NATSCluster) config(s *clusterServer) string {
	var routes []string
	for _, o := range c.servers {
		if o != s {
			routes = append(routes, fmt.Sprintf("    nats-route://127.0.0.1:%d", o.routePort))
		}
	}
	return fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream {
  store_dir: %q
}
cluster {
  name: %s
  listen: 127.0.0.1:%d
  routes: [
%s
  ]
}
`, s.name, s.clientPort, s.hcPort, s.dir, clusterName, s.routePort, strings.Join(routes, "\n"))
}

// start starts server i from its configuration file and waits until it
// accepts clients (not until it is healthy: a lone server of a cluster
// has no meta leader yet).
func (c *NATSCluster) start(i int) {
	c.t.Helper()
	s := c.servers[i]
	s.p = Start(c.t, "nats-server "+s.name, nil, c.bin, "-c", s.conf)
	s.p.Expect("Server is ready")
}

// N is the number of servers, running or not.
func (c *NATSCluster) N() int { return len(c.servers) }

// URL is server i's client URL.
func (c *NATSCluster) URL(i int) string {
	return "nats://127.0.0.1:" + strconv.Itoa(c.servers[i].clientPort)
}

// URLs is every server's client URL, comma-separated, as chatd's --nats
// takes them.
func (c *NATSCluster) URLs() string {
	urls := make([]string, len(c.servers))
	for i := range c.servers {
		urls[i] = c.URL(i)
	}
	return strings.Join(urls, ",")
}

// MonitorURL is server i's monitoring address, "http://127.0.0.1:PORT",
// for /healthz, /jsz and the like.
func (c *NATSCluster) MonitorURL(i int) string {
	return "http://127.0.0.1:" + strconv.Itoa(c.servers[i].hcPort)
}

// Kill stops server i with SIGKILL, as a machine that loses power, and
// waits for it to exit.
func (c *NATSCluster) Kill(i int) {
	c.t.Helper()
	s := c.servers[i]
	if s.p == nil {
		c.t.Fatalf("Kill(%d): %s is not running", i, s.name)
	}
	s.p.Signal(syscall.SIGKILL)
	s.p.WaitExit()
	s.p = nil
}

// Restart starts server i again on its store and ports, as an operator
// brings a stopped server back, and waits until it is healthy: back in
// the cluster and current with the streams it holds a replica of.
func (c *NATSCluster) Restart(i int) {
	c.t.Helper()
	if c.servers[i].p != nil {
		c.t.Fatalf("Restart(%d): %s is running", i, c.servers[i].name)
	}
	c.start(i)
	c.waitHealthy(i)
}

// Stop kills every server that is running. Tests need not call it: the
// servers are killed when the test ends.
func (c *NATSCluster) Stop() {
	c.t.Helper()
	for i, s := range c.servers {
		if s.p != nil {
			c.Kill(i)
		}
	}
}

// waitHealthy polls server i's /healthz until it says ok.
func (c *NATSCluster) waitHealthy(i int) {
	c.t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		status, err := c.healthz(i)
		if err == nil && status == "ok" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nats-server %s not healthy within %v: %q, %v", c.servers[i].name, Wait, status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// healthz returns what server i's /healthz says: "ok", or why not.
func (c *NATSCluster) healthz(i int) (string, error) {
	var h struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := c.Monitor(i, "/healthz", &h); err != nil {
		return "", err
	}
	if h.Status != "ok" {
		return h.Status + ": " + h.Error, nil
	}
	return h.Status, nil
}

// Monitor reads the JSON that server i's monitoring endpoint path (e.g.
// "/jsz?streams=true") serves into v.
func (c *NATSCluster) Monitor(i int, path string, v any) error {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(c.MonitorURL(i) + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// freePorts returns n distinct loopback ports that were free a moment
// ago: all are held open until all are chosen, so that none is chosen
// twice.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}
