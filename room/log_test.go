package room_test

import (
	"testing"

	"chatd/room"
	"chatd/room/logtest"
)

// TestMemoryLogConformance runs the Log table against MemoryLog.
func TestMemoryLogConformance(t *testing.T) {
	logtest.Run(t, logtest.Factory{
		New: func(t *testing.T, keep int) room.Log { return room.NewMemoryLog(keep) },
	})
}
