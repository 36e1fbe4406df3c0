package main

import (
	"crypto/tls"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"chatd/certs"
	"chatd/connlimit"
	"chatd/room"
	"chatd/sshgw"
	"chatd/tlsgw"
)

// describedMetric is a metric as its description names it.
type describedMetric struct {
	help   string
	labels string // label names, sorted, comma-separated
}

// describer is a registry that also records what each collector
// registered with it describes.
type describer struct {
	*prometheus.Registry
	metrics map[string][]describedMetric // by name
}

var descPattern = regexp.MustCompile(`^Desc\{fqName: "([^"]*)", help: "([^"]*)", unit: "[^"]*", constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}\}$`)

// Register records c's descriptions and registers it.
func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 100)
	c.Describe(ch)
	close(ch)
	for desc := range ch {
		m := descPattern.FindStringSubmatch(desc.String())
		if m == nil {
			return &unparsedDesc{desc.String()}
		}
		var labels []string
		for _, l := range strings.Split(m[3], ",") {
			if name, _, ok := strings.Cut(l, "="); ok {
				labels = append(labels, name)
			}
		}
		if m[4] != "" {
			labels = append(labels, strings.Split(m[4], ",")...)
		}
		slices.Sort(labels)
		d.metrics[m[1]] = append(d.metrics[m[1]], describedMetric{help: m[2], labels: strings.Join(labels, ",")})
	}
	return d.Registry.Register(c)
}

type unparsedDesc struct{ s string }

func (e *unparsedDesc) Error() string { return "cannot read the description " + e.s }

// TestEveryPartRegistersTheSameMetricsAsBefore: the metrics moved from one
// collector in chatd into the parts that own them; their names, help texts
// and labels are what dashboards know, so they must not change.
func TestEveryPartRegistersTheSameMetricsAsBefore(t *testing.T) {
	chatRoom := room.New(room.Config{})
	defer chatRoom.Close("test over")
	d := &describer{Registry: prometheus.NewPedanticRegistry(), metrics: make(map[string][]describedMetric)}
	certPEM, keyPEM, err := certs.GenerateSelfSigned(certs.DefaultHosts(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tlsServer := tlsgw.NewServer(tlsgw.Config{Room: chatRoom, TLS: tlsgw.ServerConfig(certs.NewStore(&cert), tlsgw.ProfileIntermediate)})
	sshServer, err := sshgw.NewServer(sshgw.Config{Room: chatRoom, HostKeyPath: filepath.Join(t.TempDir(), hostKeyFileName)})
	if err != nil {
		t.Fatal(err)
	}
	for name, register := range map[string]func(prometheus.Registerer) error{
		"room":  func(r prometheus.Registerer) error { return r.Register(roomCollector{chatRoom}) },
		"guard": connlimit.New(connlimit.Limits{}).Register,
		"store": func(r prometheus.Registerer) error { return r.Register(newStoreFailures(nil).vec) },
		"TLS":   tlsServer.Register,
		"SSH":   sshServer.Register,
	} {
		if err := register(d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	conns := func(help string) []describedMetric {
		// One per transport, in one family.
		return []describedMetric{{help, "transport"}, {help, "transport"}}
	}
	want := map[string][]describedMetric{
		"chatd_connections_open":             conns("Connections open now, by transport (ssh: chat sessions)."),
		"chatd_connections_total":            conns("Connections accepted, by transport (ssh: chat sessions)."),
		"chatd_connections_refused_total":    {{"Connections refused by the connection limits, by reason.", "reason"}},
		"chatd_members":                      {{"Members in the room now.", ""}},
		"chatd_joins_total":                  {{"Members that joined the room.", ""}},
		"chatd_leaves_total":                 {{"Members that left, by reason (slow consumer and flooding are disconnects).", "reason"}},
		"chatd_messages_total":               {{"Chat messages, actions and private messages accepted.", ""}},
		"chatd_deliveries_total":             {{"Events queued for members.", ""}},
		"chatd_skipped_events_total":         {{"Events skipped for members that had fallen behind (each was told how many it missed).", ""}},
		"chatd_rejected_lines_total":         {{"Input lines refused, by reason.", "reason"}},
		"chatd_queued_lines_total":           {{"Input lines that waited their turn for flood control (a paste) rather than going out at once.", ""}},
		"chatd_store_errors_total":           {{"Failures of the room's log or nickname store: events not stored (and shown to nobody), histories not replayed, joins and nickname records not written; each was told to whoever it concerned.", ""}},
		"chatd_store_up":                     {{"1 if the room can store what is said, 0 while it is read-only because its store is unavailable.", ""}},
		"chatd_store_read_only_total":        {{"Times the room turned read-only because its store failed.", ""}},
		"chatd_store_failures_total":         {{"Failed calls of the room's store (appends, and probes while it is read-only), by reason: unreachable, timeout, write, broken, missing, other.", "reason"}},
		"chatd_tls_handshakes_total":         {{"Completed TLS handshakes, by version and key-exchange group.", "group,version"}},
		"chatd_tls_handshake_failures_total": {{"Failed TLS handshakes, by reason.", "reason"}},
		"chatd_door_refusals_total": {
			{"Connections refused at the door (access policy or ban), by transport and class (policy, banned, other).", "class,transport"},
			{"Connections refused at the door (access policy or ban), by transport and class (policy, banned, other).", "class,transport"},
		},
	}
	for name, w := range want {
		if got := d.metrics[name]; !slices.Equal(got, w) {
			t.Errorf("%s is described as %+v, want %+v", name, got, w)
		}
	}
	for name := range d.metrics {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected metric %s", name)
		}
	}
	if _, err := d.Gather(); err != nil {
		t.Errorf("gathering every part's metrics: %v", err)
	}

	// As chatd registers them, beside the Go runtime's and the process's.
	reg, err := newRegistry(chatRoom, connlimit.New(connlimit.Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := tlsServer.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := sshServer.Register(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("gathering chatd's registry: %v", err)
	}
}

// refusingLog is a room.Log whose store is always unavailable.
type refusingLog struct{}

func (refusingLog) Append(*room.Event) (uint64, error)        { return 0, errors.New("disk full") }
func (refusingLog) Replay(uint64, int) ([]*room.Event, error) { return nil, nil }

// TestHealthSaysReadOnly: /healthz stays "ok" (chatd is alive and recovers
// by itself) but says when the room is read-only.
func TestHealthSaysReadOnly(t *testing.T) {
	sound := room.New(room.Config{})
	defer sound.Close("")
	if got := health(sound); got != "ok\n" {
		t.Errorf("health of a sound room = %q, want %q", got, "ok\n")
	}
	failing := room.New(room.Config{Log: refusingLog{}})
	defer failing.Close("")
	if _, err := failing.Join("alice", room.JoinOptions{}); err != nil {
		t.Fatalf("join: %v", err)
	}
	if got, want := health(failing), "ok: "+room.ReadOnlyText+"\n"; got != want {
		t.Errorf("health of a room whose store failed = %q, want %q", got, want)
	}
}
