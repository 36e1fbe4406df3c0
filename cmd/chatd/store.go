package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"chatd/internal/jetlog"
	"chatd/room"
)

// Where the room's public events are kept (--store).
const (
	// storeEmbedded keeps them in a NATS JetStream server embedded in
	// chatd, under <data-dir>/nats, with no port opened: the default.
	storeEmbedded = "embedded"
	// storeMemory keeps them in memory only: a restart forgets them.
	storeMemory = "memory"
)

// natsDirName is the embedded store's directory in the data directory.
const natsDirName = "nats"

// storeConfig is how chatd keeps the room's history (the store flags).
type storeConfig struct {
	kind      string        // --store: storeEmbedded or storeMemory
	natsURL   string        // --nats: an external NATS server instead
	natsCA    string        // --nats-ca
	natsCreds string        // --nats-creds
	natsCert  string        // --nats-cert: a TLS client certificate for --nats
	natsKey   string        // --nats-key: its key
	keep      int64         // --history-keep: events kept
	maxAge    time.Duration // --history-max-age: how long they are kept
}

// check says what is wrong with the store flags together.
func (s storeConfig) check() error {
	switch s.kind {
	case storeEmbedded:
	case storeMemory:
		if s.natsURL != "" {
			return errors.New("--store memory and --nats exclude each other: --nats keeps the history on that NATS server")
		}
	default:
		return fmt.Errorf("--store %q: want %s or %s", s.kind, storeEmbedded, storeMemory)
	}
	if s.natsURL == "" && (s.natsCA != "" || s.natsCreds != "" || s.natsCert != "" || s.natsKey != "") {
		return errors.New("--nats-ca, --nats-creds, --nats-cert and --nats-key need --nats")
	}
	if (s.natsCert == "") != (s.natsKey == "") {
		return errors.New("--nats-cert and --nats-key go together")
	}
	if s.keep < 1 {
		return fmt.Errorf("--history-keep %d: keep at least 1 event", s.keep)
	}
	if s.maxAge < time.Second {
		return fmt.Errorf("--history-max-age %s: keep events at least a second", s.maxAge)
	}
	return nil
}

// openStore opens the room's log as the store flags say: nil (the room's
// own memory log) for --store memory, else a JetStream log, embedded under
// dataDir or on --nats. The caller closes it after the room.
func openStore(ctx context.Context, cfg *config, logger *slog.Logger) (*jetlog.Log, error) {
	s := cfg.store
	if s.kind == storeMemory {
		return nil, nil
	}
	opts := jetlog.Options{
		URL:       s.natsURL,
		CAFile:    s.natsCA,
		CredsFile: s.natsCreds,
		CertFile:  s.natsCert,
		KeyFile:   s.natsKey,
		Shared:    cfg.cluster.clustered(),
		Replicas:  cfg.cluster.replicas,
		MaxMsgs:   s.keep,
		MaxAge:    s.maxAge,
		MaxText:   cfg.room.MaxLineBytes,
		Logger:    logger.With("part", "store"),
	}
	// With --nats the directory only records the stream's identity and the
	// sequence it reached, to notice a replaced stream.
	opts.Dir = filepath.Join(cfg.dataDir, natsDirName)
	log, err := jetlog.Open(ctx, opts)
	if err != nil {
		return nil, storeRefused(err)
	}
	return log, nil
}

// storeRefused is chatd's start-up error when the store could not be
// opened, with what to do when the NATS server is unreachable: chatd does
// not start without its store (it would show an empty history and could
// not check that the stream is the one it used), and exits non-zero so
// that its service manager (deploy/chatd.service: Restart=on-failure)
// starts it again until the server is back.
func storeRefused(err error) error {
	if errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the room's store: %w; chatd does not start without it: start the NATS server or check --nats, --nats-ca and --nats-creds (a service manager restarts chatd until it is reachable)", err)
	}
	return fmt.Errorf("the room's store: %w", err)
}

// roomLog is log as the room's Config.Log: nil (a memory log) when there is
// no store.
func roomLog(log *jetlog.Log) room.Log {
	if log == nil {
		return nil
	}
	return log
}

// closeStore closes the store after the room, logging a failure.
func closeStore(log *jetlog.Log, logger *slog.Logger) {
	if err := log.Close(); err != nil {
		logger.Warn("the room's store did not close cleanly", "err", err)
	}
}
