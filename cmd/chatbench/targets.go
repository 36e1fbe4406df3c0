package main

// TargetResult is one server's share of a run spread over several (the
// nodes of a chatd cluster): its clients, what they sent, and what they
// received of everyone's messages.
type TargetResult struct {
	Target        string  `json:"target"`
	Clients       int     `json:"clients"`
	Connected     int     `json:"connected"`
	Lost          int     `json:"lost"`
	Sent          int64   `json:"sent"`
	Expected      int64   `json:"expected"` // deliveries due to its stable clients, from every sender
	Delivered     int64   `json:"delivered"`
	DeliveryRatio float64 `json:"delivery_ratio"`
	LatencyP50MS  float64 `json:"latency_p50_ms"`
	LatencyP99MS  float64 `json:"latency_p99_ms"`
	LatencyMaxMS  float64 `json:"latency_max_ms"`
}

// byTarget returns each server's share, or nil with one server. Each
// stable client is due every message sent but its own, as in tally.
func (b *bench) byTarget() []TargetResult {
	if len(b.targets) < 2 {
		return nil
	}
	var totalSent int64
	for _, m := range b.members {
		totalSent += m.sent.Load()
	}
	res := make([]TargetResult, len(b.targets))
	for i, addr := range b.targets {
		h := b.byTgt[i]
		res[i] = TargetResult{Target: addr, LatencyP50MS: ms(h.quantile(0.50)),
			LatencyP99MS: ms(h.quantile(0.99)), LatencyMaxMS: ms(h.maximum())}
	}
	for _, m := range b.members {
		t := &res[m.target]
		t.Clients++
		t.Sent += m.sent.Load()
		if !m.joined.Load() {
			continue
		}
		t.Connected++
		if !m.stable() {
			t.Lost++
			continue
		}
		t.Expected += totalSent - m.sent.Load()
		t.Delivered += m.delivered.Load()
	}
	for i := range res {
		if res[i].Expected > 0 {
			res[i].DeliveryRatio = float64(res[i].Delivered) / float64(res[i].Expected)
		}
	}
	return res
}

// writeTargets adds a row per server to the table, with several.
func (r *Result) writeTargets(row func(name, format string, args ...any)) {
	for _, t := range r.Targets {
		row("  "+t.Target, "%d clients (%d connected, %d lost), %d sent, %d of %d delivered (ratio %.4f), p50 %s p99 %s max %s",
			t.Clients, t.Connected, t.Lost, t.Sent, t.Delivered, t.Expected, t.DeliveryRatio,
			fmtMS(t.LatencyP50MS), fmtMS(t.LatencyP99MS), fmtMS(t.LatencyMaxMS))
	}
}
