package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"chatd/client"
)

// checkIdentityFlags refuses identity flags that contradict each other and
// an empty --identity, and sets identityPath: --identity, else the default
// file, else "" with --no-identity.
func (o *options) checkIdentityFlags(fs *flag.FlagSet) error {
	if err := refuseEmpty(fs, "identity"); err != nil {
		return err
	}
	switch {
	case o.noIdentity && o.identityPath != "":
		return errors.New("--identity and --no-identity contradict each other")
	case o.noIdentity && o.showIdentity:
		return errors.New("--show-identity and --no-identity contradict each other")
	case o.noIdentity:
		return nil
	case o.identityPath == "":
		var err error
		o.identityPath, err = client.DefaultIdentityPath()
		return err
	}
	return nil
}

// loadIdentity loads the identity file, making it on first use, unless
// --no-identity; it says so when it made one.
func (o *options) loadIdentity(ui *console) error {
	if o.noIdentity {
		return nil
	}
	id, err := client.LoadOrCreateIdentity(o.identityPath, time.Now())
	if err != nil {
		return identityFailure(err)
	}
	if id.Created {
		// Two short lines: a long path or the fingerprint on one of its own.
		ui.say("chat: made your identity, the certificate servers know you by: " + id.Path)
		ui.say("  fingerprint: " + id.Fingerprint())
	}
	o.identity = id
	return nil
}

// identityFailure adds to an unusable identity file's error the ways to
// start without it.
func identityFailure(err error) error {
	var bad *client.IdentityError
	if errors.As(err, &bad) {
		return fmt.Errorf("%w\nOr start chat with --identity ANOTHER-FILE, or with --no-identity", err)
	}
	return err
}

// showIdentity prints the identity file and its fingerprint, making the
// file if missing (--show-identity).
func showIdentity(o *options, ui *console, stdout io.Writer) int {
	if err := o.loadIdentity(ui); err != nil {
		ui.fail(err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "identity: %s\nfingerprint: %s\n", o.identity.Path, o.identity.Fingerprint())
	return exitOK
}
