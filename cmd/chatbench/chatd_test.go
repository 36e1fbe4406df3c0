package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"chatd/certs"
	"chatd/internal/testproc"
)

// These tests run chatbench against the real chatd binary.

var chatdBinary, chatbenchBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chatbench-test")
	if err == nil {
		chatdBinary, err = testproc.Build("chatd/cmd/chatd", dir, "bench-test")
	}
	if err == nil {
		chatbenchBinary, err = testproc.Build("chatd/cmd/chatbench", dir, "bench-test")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// generousLimits lets one machine's benchmark clients past chatd's per-IP
// and flood limits.
var generousLimits = []string{
	"--flood-rate", "1000", "--flood-burst", "1000",
	"--max-conns-per-ip", "100000", "--conn-rate-per-ip", "100000", "--conn-burst-per-ip", "100000",
	"--max-conns", "100000",
}

// startChatd starts chatd with generous limits and returns it and its
// process id.
func startChatd(t *testing.T) (*testproc.Chatd, int) {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "data")
	s := testproc.StartChatd(t, chatdBinary, dataDir, generousLimits...)
	return s, pidWithArg(t, dataDir)
}

// pidWithArg finds the process started with arg among its arguments
// (testproc does not expose process ids).
func pidWithArg(t *testing.T, arg string) int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list processes: %v", err)
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for a := range bytes.SplitSeq(cmdline, []byte{0}) {
			if string(a) == arg {
				return pid
			}
		}
	}
	t.Fatalf("no process has argument %q", arg)
	return 0
}

// chatdConfig is a small load against s.
func chatdConfig(s *testproc.Chatd, pid int) config {
	cfg := defaultConfig()
	cfg.addr, cfg.ca, cfg.pids = s.Addr(), s.CertFile, pidList{pid}
	cfg.clients, cfg.rate, cfg.duration, cfg.settle = 20, 5, 2*time.Second, 200*time.Millisecond
	return cfg
}

// checkFullDelivery asserts what a run without loss must report.
func checkFullDelivery(t *testing.T, r *Result, clients, senders int, rate, seconds float64) {
	t.Helper()
	if r.Connected != clients || r.Failed != 0 || r.Lost != 0 {
		t.Errorf("connected %d failed %d lost %d, want %d 0 0 (errors %v)", r.Connected, r.Failed, r.Lost, clients, r.Errors)
	}
	// A sender that falls behind (a busy machine) gives up the slots it
	// missed and counts them: sent and skipped make the whole schedule,
	// never more.
	wantSent := float64(senders) * rate * seconds
	if s := float64(r.Sent + r.Skipped); s < wantSent*0.9 || s > wantSent+float64(senders) {
		t.Errorf("sent %d messages and skipped %d slots, want about %.0f in all", r.Sent, r.Skipped, wantSent)
	}
	if r.Sent < int64(senders) {
		t.Errorf("sent %d messages, fewer than one per sender (%d)", r.Sent, senders)
	}
	if r.Expected != r.Sent*int64(clients-1) {
		t.Errorf("expected %d deliveries, want sent × (clients−1) = %d", r.Expected, r.Sent*int64(clients-1))
	}
	if r.Delivered != r.Expected || r.DeliveryRatio != 1 {
		t.Errorf("delivered %d of %d (ratio %v), want all", r.Delivered, r.Expected, r.DeliveryRatio)
	}
	if r.LatencyCount != uint64(r.Delivered) {
		t.Errorf("%d latency samples for %d deliveries", r.LatencyCount, r.Delivered)
	}
	if !(0 < r.LatencyMinMS && r.LatencyMinMS <= r.LatencyP50MS && r.LatencyP50MS <= r.LatencyP90MS &&
		r.LatencyP90MS <= r.LatencyP99MS && r.LatencyP99MS <= r.LatencyMaxMS && r.LatencyMaxMS < 5000) {
		t.Errorf("latencies not sane: min %v p50 %v p90 %v p99 %v max %v ms", r.LatencyMinMS, r.LatencyP50MS, r.LatencyP90MS, r.LatencyP99MS, r.LatencyMaxMS)
	}
	if r.DeliveriesPerSecond <= 0 {
		t.Errorf("deliveries per second %v", r.DeliveriesPerSecond)
	}
}

// checkServerStats asserts that the server's CPU and RSS were reported.
func checkServerStats(t *testing.T, r *Result) {
	t.Helper()
	if r.ServerError != "" {
		t.Fatalf("server stats failed: %s", r.ServerError)
	}
	if r.ServerCPUSeconds == nil || *r.ServerCPUSeconds < 0 || r.ServerCPUPerDelivery == nil || *r.ServerCPUPerDelivery < 0 {
		t.Errorf("server CPU not reported: %v, %v", r.ServerCPUSeconds, r.ServerCPUPerDelivery)
	}
	if r.ServerRSSMiB == nil || *r.ServerRSSMiB < 1 || r.ServerRSSPerClientKiB == nil {
		t.Errorf("server RSS not reported: %v", r.ServerRSSMiB)
	}
}

func TestRunAgainstChatd(t *testing.T) {
	s, pid := startChatd(t)
	ignore := goleak.IgnoreCurrent()
	cfg := chatdConfig(s, pid)
	var progress bytes.Buffer
	cfg.progress = &progress
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkFullDelivery(t, r, 20, 20, 5, 2)
	checkServerStats(t, r)
	if r.Mode != "tls" || r.Proto != "chatd" || r.Target != s.Addr() || len(r.Run) != 6 {
		t.Errorf("labels: mode %q proto %q target %q run %q", r.Mode, r.Proto, r.Target, r.Run)
	}
	if !strings.Contains(progress.String(), "20 connected, 0 failed") {
		t.Errorf("progress:\n%s", progress.String())
	}
	var table bytes.Buffer
	if err := r.writeTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"20 connected, 0 failed, 0 lost", "ratio 1.0000", "p99", "µs per delivery", "server RSS"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines outlived the run: %v", err)
	}
}

// TestSecondRunIgnoresFirstRunsHistory runs twice against one chatd: the
// second run's joiners get the first run's messages replayed as history,
// which must not count.
func TestSecondRunIgnoresFirstRunsHistory(t *testing.T) {
	s, pid := startChatd(t)
	cfg := chatdConfig(s, pid)
	cfg.clients, cfg.duration = 5, time.Second
	for range 2 {
		r, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkFullDelivery(t, r, 5, 5, 5, 1)
	}
}

func TestBinaryAgainstChatdJSON(t *testing.T) {
	s, pid := startChatd(t)
	cmd := exec.Command(chatbenchBinary, "--addr", s.Addr(), "--ca", s.CertFile, "--clients", "10", "--rate", "4",
		"--duration", "1500ms", "--pid", strconv.Itoa(pid), "--label", "chatd-bin", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chatbench: %v\n%s", err, stderr.String())
	}
	var r Result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("the output is not one JSON object: %v\n%s", err, stdout.String())
	}
	if strings.Count(strings.TrimSpace(stdout.String()), "\n") != 0 {
		t.Errorf("stdout has more than one line:\n%s", stdout.String())
	}
	checkFullDelivery(t, &r, 10, 10, 4, 1.5)
	checkServerStats(t, &r)
	if r.Label != "chatd-bin" || len(r.ServerPIDs) != 1 || r.ServerPIDs[0] != pid {
		t.Errorf("label %q pids %v", r.Label, r.ServerPIDs)
	}
	for _, want := range []string{"chatbench: 10 connected", "ratio 1.0000"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("standard error lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestIdleAgainstChatd(t *testing.T) {
	s, pid := startChatd(t)
	cfg := chatdConfig(s, pid)
	cfg.idle, cfg.clients, cfg.duration = true, 40, 300*time.Millisecond
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != "idle-tls" || r.Connected != 40 || r.Failed != 0 || r.Lost != 0 || r.Sent != 0 {
		t.Errorf("mode %q connected %d failed %d lost %d sent %d", r.Mode, r.Connected, r.Failed, r.Lost, r.Sent)
	}
	if r.ServerRSSMiB == nil || *r.ServerRSSMiB < 1 || r.ServerRSSPerClientKiB == nil {
		t.Errorf("server RSS not reported: %+v (%s)", r.ServerRSSMiB, r.ServerError)
	}
}

func TestNoServer(t *testing.T) {
	cfg := defaultConfig()
	cfg.addr, cfg.insecure, cfg.clients, cfg.timeout = "127.0.0.1:1", true, 3, 2*time.Second
	r, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "no client could connect") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Run against a closed port: %v", err)
	}
	if r == nil || r.Failed != 3 || r.Connected != 0 || r.Error == "" || len(r.Errors) != 1 || r.Errors[0].Count != 3 {
		t.Errorf("result of a failed run: %+v", r)
	}

	// The binary says so in its JSON too, with exit code 1.
	cmd := exec.Command(chatbenchBinary, "--addr", "127.0.0.1:1", "--insecure", "--clients", "2", "--json", "--quiet")
	out, err := cmd.Output()
	var jr Result
	if cmd.ProcessState.ExitCode() != 1 || json.Unmarshal(out, &jr) != nil || jr.Failed != 2 || !strings.Contains(jr.Error, "refused") {
		t.Errorf("chatbench against a closed port: %v, output %q", err, out)
	}
}

func TestWrongCertificateIsRefused(t *testing.T) {
	s, _ := startChatd(t)
	otherCA := filepath.Join(t.TempDir(), "other")
	certPEM, keyPEM, err := certs.GenerateSelfSigned([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteKeyPair(otherCA, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.addr, cfg.ca, cfg.clients = s.Addr(), filepath.Join(otherCA, certs.CertFileName), 2
	_, err = Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Run with the wrong CA: %v", err)
	}
	// --server-name must match the certificate too.
	cfg.ca, cfg.serverName = s.CertFile, "not-the-host.example"
	if _, err = Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "not-the-host.example") {
		t.Errorf("Run with a wrong --server-name: %v", err)
	}
	// --insecure connects to anything.
	cfg.ca, cfg.serverName, cfg.insecure, cfg.duration = "", "", true, 200*time.Millisecond
	if r, err := Run(context.Background(), cfg); err != nil || r.Connected != 2 {
		t.Errorf("Run with --insecure: %v", err)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "--addr HOST:PORT"},
		{[]string{"--addr", "x:1", "--ssh", "y:2"}, 2, "exclude each other"},
		{[]string{"--addr", "nohost"}, 2, "missing port"},
		{[]string{"--addr", "x:1", "--proto", "irc", "--clients", "0", "--rate", "0"}, 2, "--proto \"irc\""},
		{[]string{"--addr", "x:1", "extra"}, 2, "unexpected argument"},
		{[]string{"--help"}, 0, "--ramp"},
		{[]string{"--version"}, 0, "chatbench dev"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
			t.Errorf("chatbench %q: exit %d, output %q; want exit %d and %q", tc.args, code, out.String()+errOut.String(), tc.code, tc.want)
		}
	}
}

// TestLossesAreExplained floods a chatd whose flood queue holds one line,
// so that 16 lines dropped disconnect a sender: the senders are
// disconnected, reported as lost with the server's last error line, and
// left out of the expected deliveries.
func TestLossesAreExplained(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	s := testproc.StartChatd(t, chatdBinary, dataDir, "--max-conns-per-ip", "100", "--conn-burst-per-ip", "100", "--flood-queue", "1")
	cfg := defaultConfig()
	cfg.addr, cfg.ca, cfg.clients, cfg.rate, cfg.duration, cfg.settle = s.Addr(), s.CertFile, 3, 100, 1500*time.Millisecond, 0
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Lost != 3 || len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Error, `after "!!! `) {
		t.Fatalf("lost %d, errors %+v; want 3 lost with the server's last error line", r.Lost, r.Errors)
	}
	if r.Expected != 0 || r.Delivered != 0 {
		t.Errorf("expected %d delivered %d, want 0 0 with no client left", r.Expected, r.Delivered)
	}
}
