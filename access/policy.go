package access

import (
	"fmt"
	"strings"
)

// Policy is who may join the room at all.
type Policy uint8

const (
	// Open admits everyone who is not banned (the zero Policy).
	Open Policy = iota
	// Registered admits the credentials of registered accounts and
	// allowlisted credentials.
	Registered
	// Allowlist admits owners and allowlisted credentials only.
	Allowlist
)

var policyNames = [...]string{Open: "open", Registered: "registered", Allowlist: "allowlist"}

// String names the policy as --access spells it.
func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", p)
}

// ParsePolicy reads a policy as --access spells it: open, registered or
// allowlist.
func ParsePolicy(s string) (Policy, error) {
	for p, name := range policyNames {
		if strings.EqualFold(s, name) {
			return Policy(p), nil
		}
	}
	return Open, fmt.Errorf("access: unknown policy %q: use open, registered or allowlist", cut(s))
}
