package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"chatd/access"
	"chatd/cluster"
	"chatd/internal/jetkv"
	"chatd/internal/jetlog"
	"chatd/room"
)

// accessConfig is who may join and who governs the room (the access
// flags).
type accessConfig struct {
	policy    string // --access: open, registered or allowlist
	allowlist string // --allowlist FILE: seeds the stored allowlist
	admins    string // --admins FILE: the owners, re-read on SIGHUP
}

// check says what is wrong with the access flags, on their own and with
// the SSH ones: a policy that knows members by their credentials, and
// owners, need SSH to ask for keys; a closed room needs someone who can
// get in.
func (a accessConfig) check(sshNoneAuth, noneAuthSet bool) (access.Policy, error) {
	policy, err := access.ParsePolicy(a.policy)
	if err != nil {
		return policy, fmt.Errorf("--access: %w", err)
	}
	noneAuth := sshNoneAuth && noneAuthSet
	switch {
	case policy != access.Open && noneAuth:
		return policy, fmt.Errorf("--access %s needs SSH to ask for keys: drop --ssh-none-auth", policy)
	case a.admins != "" && noneAuth:
		return policy, errors.New("--admins needs SSH to ask for keys: with --ssh-none-auth ssh never shows its key, so owners would never be known by it (no console, no owner rights); drop --ssh-none-auth")
	}
	for _, f := range []struct{ flag, path string }{{"--allowlist", a.allowlist}, {"--admins", a.admins}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return policy, fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	return policy, nil
}

// openDirectory opens who is who in the room on the store's key-value
// buckets (in memory for --store memory), seeded from the access flags.
// The caller closes it after the room.
func openDirectory(ctx context.Context, cfg *config, policy access.Policy, store *jetlog.Log, relay access.Relay, reg prometheus.Registerer, logger *slog.Logger) (*access.Directory, error) {
	backend, err := directoryBackend(ctx, store, cfg.cluster.replicas, logger)
	if err != nil {
		return nil, err
	}
	dir, err := access.New(ctx, access.Options{
		Backend:       backend,
		Policy:        policy,
		AdminsFile:    cfg.access.admins,
		AllowlistFile: cfg.access.allowlist,
		Ephemeral:     cfg.store.kind == storeMemory || store == nil,
		SSHKeysUnseen: cfg.ssh.NoneAuth,
		Logger:        logger.With("part", "access"),
		Relay:         relay,
		Registerer:    reg,
	})
	if err != nil {
		return nil, err // its errors say "access: "
	}
	if dir.LocksEveryoneOut() {
		dir.Close()
		return nil, lockedOut(policy)
	}
	return dir, nil
}

// lockedOut is the start-up error of a room that nobody could ever enter.
func lockedOut(policy access.Policy) error {
	none := "no owners (--admins FILE) and nothing on the allowlist (--allowlist FILE)"
	if policy == access.Registered {
		none = "no owners (--admins FILE), nothing on the allowlist (--allowlist FILE) and no account registered in the store"
	}
	return fmt.Errorf("--access %s: nobody could ever get in: %s, so no operator exists to /allow anyone", policy, none)
}

// directoryBackend is where the directory's records are kept: the store's
// NATS server, or memory without one.
func directoryBackend(ctx context.Context, store *jetlog.Log, replicas int, logger *slog.Logger) (access.Backend, error) {
	if store == nil {
		return access.NewMemoryBackend(nil), nil
	}
	kv, err := jetkv.Open(ctx, store.Conn(), jetkv.Options{Replicas: replicas, Logger: logger.With("part", "access-store")})
	if err != nil {
		return nil, fmt.Errorf("access store: %w", err)
	}
	return kv, nil
}

// governRoom hands the room's seams to dir: who is an operator or muted,
// whose nicknames are registered, and what a joiner is greeted with.
// On a node of several, the nicknames are the cluster's, and the room
// reaches the other nodes through node's bus.
func governRoom(roomCfg *room.Config, dir *access.Directory, node *cluster.Node) {
	roomCfg.Policy = dir
	var nicks room.Nicks = room.NewMemoryNicks(roomCfg.MaxHeldNicks, roomCfg.Now)
	if node != nil {
		nicks, roomCfg.Bus = node.Nicks(), node.Bus()
	}
	roomCfg.Nicks = dir.Nicks(nicks)
	roomCfg.Greeting = dir.Greeting
}

// relayOf is node as the directory's relay of kicks to the other nodes:
// none on a room of one node.
func relayOf(node *cluster.Node) access.Relay {
	if node == nil {
		return nil
	}
	return node
}

// allowlistAuthBanner is what SSH clients are shown before they
// authenticate under the allowlist policy, where a key not on the list
// only fails its authentication.
const allowlistAuthBanner = "This chat room admits allowlisted keys only.\n" +
	"To be let in, ask an operator to /allow your key: `ssh-keygen -lf ~/.ssh/id_ed25519.pub` prints its fingerprint.\n"

// sshAuthBanner is the SSH authentication banner for policy: the
// allowlist's; "" (none) for the others, whose refusals are told once in.
func sshAuthBanner(policy access.Policy) string {
	if policy == access.Allowlist {
		return allowlistAuthBanner
	}
	return ""
}

// accessPart is the banner's line on who may join.
func accessPart(a accessConfig, policy access.Policy, store storeConfig) part {
	var who string
	switch policy {
	case access.Registered:
		who = "registered members and the allowlist only"
	case access.Allowlist:
		who = "the allowlist only (SSH keys not on it do not even authenticate)"
	default:
		who = "anyone (/register keeps a nickname for your key or certificate)"
	}
	var notes []string
	if a.admins != "" {
		notes = append(notes, "owners from "+absPath(a.admins)+" (re-read on SIGHUP)")
	} else {
		notes = append(notes, "no owners (--admins FILE names them)")
	}
	if a.allowlist != "" {
		notes = append(notes, "allowlist seeded from "+absPath(a.allowlist)+" (each line once; what /disallow takes out stays out)")
	}
	if store.kind == storeMemory {
		notes = append(notes, "accounts, bans and roles forgotten at restart (--store memory)")
	}
	return part{
		text:  fmt.Sprintf("Access: %s; %s\n", who, strings.Join(notes, "; ")),
		msg:   "access",
		attrs: []slog.Attr{slog.String("access", policy.String()), slog.String("admins", absPathOrEmpty(a.admins)), slog.String("allowlist", absPathOrEmpty(a.allowlist))},
	}
}

// reloadAdmins is what a SIGHUP does to the owners: re-read --admins,
// keeping the old owners if the file is bad.
func reloadAdmins(dir *access.Directory, path string, logger *slog.Logger) {
	if dir == nil || path == "" {
		return
	}
	if err := dir.Reload(); err != nil {
		logger.Error("the owners file could not be re-read; the owners stay as they were", "admins", absPath(path), "err", err)
		return
	}
	logger.Info("owners re-read", "admins", absPath(path))
}

// closeDirectory closes the directory after the room, logging a failure.
func closeDirectory(dir *access.Directory, logger *slog.Logger) {
	if err := dir.Close(); err != nil {
		logger.Warn("the access directory did not close cleanly", "err", err)
	}
}
