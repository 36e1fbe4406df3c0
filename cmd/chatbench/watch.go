package main

import (
	"errors"
	"time"
)

// procWatch measures a group of processes on this machine (every chatd
// node, or every NATS server) over the measured phase: their CPU time,
// summed, and their resident memory at the end, summed.
type procWatch struct {
	pids     []int
	ticks    int64
	cpuStart time.Duration
	cpu      time.Duration
	rss      int64
	err      error
}

// startProcWatch reads the CPU time of pids now; with no pids it measures
// nothing.
func startProcWatch(pids []int, ticks int64) *procWatch {
	w := &procWatch{pids: pids, ticks: ticks}
	if len(pids) > 0 {
		w.cpuStart, w.err = w.sumCPU()
	}
	return w
}

// sumCPU is the CPU time the processes have used, together.
func (w *procWatch) sumCPU() (time.Duration, error) {
	var total time.Duration
	for _, pid := range w.pids {
		cpu, err := procCPU(pid, w.ticks)
		if err != nil {
			return 0, err
		}
		total += cpu
	}
	return total, nil
}

// stop reads the CPU time used since start and the memory now.
func (w *procWatch) stop() {
	if len(w.pids) == 0 || w.err != nil {
		return
	}
	cpuEnd, err := w.sumCPU()
	if err != nil {
		w.err = err
		return
	}
	w.cpu = cpuEnd - w.cpuStart
	if w.cpu < 0 {
		w.err = errors.New("CPU time went backwards: a process id was reused")
		return
	}
	for _, pid := range w.pids {
		rss, err := procRSS(pid)
		if err != nil {
			w.err = err
			return
		}
		w.rss += rss
	}
}

// cpuPer returns the CPU seconds measured and, if there were deliveries,
// the microseconds per delivery.
func (w *procWatch) cpuPer(delivered int64) (seconds, perDelivery *float64) {
	cpu := w.cpu.Seconds()
	if delivered > 0 {
		us := cpu * 1e6 / float64(delivered)
		perDelivery = &us
	}
	return &cpu, perDelivery
}
