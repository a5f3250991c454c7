package testbed

import "testing"

// ForTest makes a Bed for a test or benchmark, closes it in tb.Cleanup and fails tb at once if it cannot be made.
func ForTest(tb testing.TB, prefix string) *Bed {
	tb.Helper()
	bed, err := New(Options{Prefix: prefix})
	if err != nil {
		tb.Fatalf("testbed: %v", err)
	}
	tb.Cleanup(func() {
		if err := bed.Close(); err != nil {
			tb.Errorf("testbed close: %v", err)
		}
	})
	return bed
}
