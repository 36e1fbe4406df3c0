package access

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"chatd/room"
)

// announce tells the room what an operator did.
func (d *Directory) announce(text string) {
	if r := d.attached(); r != nil {
		r.Announce(text)
	}
}

// told announces text to the room and answers it to a if a is not in
// the room (the console), which would not hear it otherwise.
func (d *Directory) told(a *actor, text string) []string {
	d.announce(text)
	if a.member != nil {
		return nil
	}
	return []string{text}
}

// logAction logs and counts an action.
func (d *Directory) logAction(action, by, target string, until time.Time, reason string) {
	d.metrics.actions.WithLabelValues(action).Inc()
	attrs := []any{slog.String("action", action), slog.String("by", by), slog.String("target", target)}
	if !until.IsZero() {
		attrs = append(attrs, slog.Time("until", until.UTC()))
	}
	if reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	d.log.Info("moderation", attrs...)
}

// oneNick reads the single NICK argument of a command and resolves it.
func (d *Directory) oneNick(args []string) (target, error) {
	if len(args) != 1 {
		return target{}, room.ErrUsage
	}
	t, found, err := d.findTarget(args[0])
	if err != nil {
		return t, err
	}
	if !found {
		return t, errNobody(args[0])
	}
	return t, nil
}

// op makes a registered nickname an operator.
func (d *Directory) op(ctx context.Context, a *actor, args []string) ([]string, error) {
	t, err := d.oneNick(args)
	if err != nil {
		return nil, err
	}
	if t.acct == nil {
		return nil, fmt.Errorf("%q is not registered: only a registered nickname can be an operator (it can /register first)", t.nick)
	}
	if t.rank >= rankOperator {
		return nil, fmt.Errorf("%q is %s already", t.nick, article(t.rank))
	}
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	key := keyOf(t.nick)
	if err := d.sameAccount(key, t.acct); err != nil {
		return nil, err
	}
	rec := roleRecord{V: recordVersion, Nick: t.acct.rec.Nick, By: a.name, Since: d.now().UTC()}
	if err := d.store(ctx, "op", func(ctx context.Context) error {
		return d.backend.Put(ctx, Roles, key, encode(rec), 0)
	}); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.v.roles[key] = rec
	d.mu.Unlock()
	d.logAction("op", a.name, t.nick, time.Time{}, "")
	return d.told(a, fmt.Sprintf("%s made %s an operator", a.name, t.nick)), nil
}

// deop takes an operator's role away; owners keep theirs.
func (d *Directory) deop(ctx context.Context, a *actor, args []string) ([]string, error) {
	t, err := d.oneNick(args)
	if err != nil {
		return nil, err
	}
	if t.rank == rankOwner {
		return nil, fmt.Errorf("%q is an owner: owners cannot be de-opped (they are named in the admins file)", t.nick)
	}
	key := keyOf(t.nick)
	d.mu.RLock()
	_, isOp := d.v.roles[key]
	d.mu.RUnlock()
	if !isOp {
		return nil, fmt.Errorf("%q is not an operator", t.nick)
	}
	if err := canAct(a, rankOperator, t.nick); err != nil {
		return nil, err
	}
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	if err := d.dropRole(ctx, key); err != nil {
		return nil, err
	}
	d.logAction("deop", a.name, t.nick, time.Time{}, "")
	return d.told(a, fmt.Sprintf("%s took %s's operator role away", a.name, t.nick)), nil
}

// kick removes a present member; with a Relay, the other nodes remove
// theirs called so too.
func (d *Directory) kick(ctx context.Context, a *actor, args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, room.ErrUsage
	}
	t, _, err := d.findTarget(args[0])
	if err != nil {
		return nil, err
	}
	r := d.attached()
	if r == nil || t.present == nil && d.relay == nil {
		return nil, fmt.Errorf("no one called %q is here", args[0])
	}
	if err := canAct(a, t.rank, t.nick); err != nil {
		return nil, err
	}
	reason := reasonOf(args[1:])
	here := t.present != nil && len(d.kickTarget(r, a, t, reason)) > 0
	if !here && d.relay == nil {
		return nil, fmt.Errorf("no one called %q is here", args[0])
	}
	d.logAction("kick", a.name, t.nick, time.Time{}, reason)
	return d.kickAnswer(a, t.nick, reason, here, d.relayKick(ctx, a, t.nick, reason))
}

// kickAnswer is what /kick tells its author: nothing in the room, which
// announces the kick, unless the kicked was not here or the other nodes
// could not be told (relayErr).
func (d *Directory) kickAnswer(a *actor, nick, reason string, here bool, relayErr error) ([]string, error) {
	switch {
	case relayErr != nil && here:
		return []string{fmt.Sprintf("kicked %s here; the other nodes could not be told: %v", nick, relayErr)}, nil
	case relayErr != nil:
		return nil, fmt.Errorf("no one called %q is here, and the other nodes could not be told: %w", nick, relayErr)
	case !here:
		return []string{fmt.Sprintf("no one called %q is here; the other nodes were asked to kick %s", nick, detail(nick, time.Time{}, reason))}, nil
	case a.member != nil:
		return nil, nil // the room announces the kick
	}
	return []string{"kicked " + detail(nick, time.Time{}, reason)}, nil
}

// relayTimeout bounds the wait for the Relay to carry a kick.
const relayTimeout = 5 * time.Second

// relayKick asks the other nodes, if any, to remove their members
// called nick; a failure is logged and returned.
func (d *Directory) relayKick(ctx context.Context, a *actor, nick, reason string) error {
	if d.relay == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	err := d.relay.Kick(ctx, nick, room.Reason{Kind: room.ReasonKicked, Detail: detail(a.name, time.Time{}, reason)})
	if err != nil {
		d.log.Error("access: the other nodes were not told of a kick", "by", a.name, "target", nick, "err", err)
	}
	return err
}

// kickTarget removes t's member: the one found, by its nickname, identity
// and arrival, and only if a still outranks it (between finding and
// removing, it may have left and someone else taken the nickname).
func (d *Directory) kickTarget(r *room.Room, a *actor, t target, reason string) []string {
	key, found := keyOf(t.nick), *t.present
	return r.Remove(func(m room.MemberInfo) bool {
		if keyOf(m.Nick) != key || m.Identity != found.Identity || !m.Joined.Equal(found.Joined) {
			return false
		}
		creds := CredentialsOf(m.Identity)
		d.mu.RLock()
		defer d.mu.RUnlock()
		return d.v.rankOf(creds) < a.rank
	}, room.Reason{Kind: room.ReasonKicked, Detail: detail(a.name, time.Time{}, reason)})
}

// detail is the Detail of a kick's or a ban's reason: "BY[ until
// TIME][: REASON]".
func detail(by string, until time.Time, reason string) string {
	s := by
	if !until.IsZero() {
		s += " until " + formatTime(until)
	}
	if reason != "" {
		s += ": " + reason
	}
	return s
}

// fmtDuration writes a duration as commands take it: 7d, 2h, 30m, 1h30m.
func fmtDuration(dur time.Duration) string {
	if dur%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", dur/(24*time.Hour))
	}
	s := dur.Round(time.Second).String()
	for _, suffix := range []string{"m0s", "h0m"} {
		if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
			s = s[:len(s)-len(suffix)+1]
		}
	}
	return s
}

// motd shows, sets or clears the message of the day.
func (d *Directory) motd(ctx context.Context, a *actor, args []string) ([]string, error) {
	if len(args) == 0 {
		d.mu.RLock()
		text := d.v.motd.Text
		d.mu.RUnlock()
		if text == "" {
			return []string{"there is no message of the day"}, nil
		}
		return []string{"Message of the day: " + text}, nil
	}
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	if len(args) == 1 && args[0] == "-" {
		if err := d.store(ctx, "motd", func(ctx context.Context) error {
			return d.backend.Delete(ctx, Settings, motdKey)
		}); err != nil {
			return nil, err
		}
		d.setMOTD(motdRecord{})
		d.logAction("motd", a.name, "", time.Time{}, "cleared")
		return d.told(a, a.name+" cleared the message of the day"), nil
	}
	text := cleanText(joinWords(args), MaxMOTDBytes+1)
	if len(text) > MaxMOTDBytes {
		return nil, fmt.Errorf("a message of the day has at most %d bytes", MaxMOTDBytes)
	}
	rec := motdRecord{V: recordVersion, Text: text, By: a.name, Since: d.now().UTC()}
	if err := d.store(ctx, "motd", func(ctx context.Context) error {
		return d.backend.Put(ctx, Settings, motdKey, encode(rec), 0)
	}); err != nil {
		return nil, err
	}
	d.setMOTD(rec)
	d.logAction("motd", a.name, "", time.Time{}, text)
	return d.told(a, a.name+" set the message of the day: "+text), nil
}

// setMOTD puts the message of the day in the view.
func (d *Directory) setMOTD(rec motdRecord) {
	d.mu.Lock()
	d.v.motd = rec
	d.mu.Unlock()
}
