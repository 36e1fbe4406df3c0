//go:build !unix

package jetlog

import "os"

// lockStore does not lock the store where flock is missing: do not run
// two servers on one store there.
func lockStore(dir string) (*os.File, error) { return nil, nil }
