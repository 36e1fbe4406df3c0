package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "1234 (we(i)rd name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 8 0 100 1000000 300 18446744073709551615\n"
	got, err := parseStatCPU([]byte(stat), 100)
	if err != nil || got != 3250*time.Millisecond {
		t.Fatalf("parseStatCPU = %v, %v; want 3.25s", got, err)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1 2"), 100); err == nil {
		t.Error("a short stat line parsed")
	}
	if _, err := parseStatCPU([]byte("no name here"), 100); err == nil {
		t.Error("a stat line without a command name parsed")
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\tchatd\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t8\n"
	if got, err := parseStatusRSS([]byte(status)); err != nil || got != 2048<<10 {
		t.Fatalf("parseStatusRSS = %d, %v; want %d", got, err, 2048<<10)
	}
	if _, err := parseStatusRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Error("a status without VmRSS parsed")
	}
}

func TestReadOwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	pid := os.Getpid()
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) { // burn some CPU so it shows
	}
	cpu, err := procCPU(pid, clockTicks())
	if err != nil || cpu <= 0 {
		t.Errorf("procCPU(self) = %v, %v", cpu, err)
	}
	rss, err := procRSS(pid)
	if err != nil || rss < 1<<20 {
		t.Errorf("procRSS(self) = %d, %v", rss, err)
	}
	if _, err := procCPU(1<<30, 100); err == nil || !strings.Contains(err.Error(), "server CPU") {
		t.Errorf("procCPU of a missing process: %v", err)
	}
	if n, err := raiseFileLimit(); err != nil || n < 1024 {
		t.Errorf("raiseFileLimit = %d, %v", n, err)
	}
}
