package e2e

import (
	"testing"

	"fastlvs/testbed"
)

// mustOK fails the test on err.
func mustOK(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// bedHost makes the host name in bed or fails the test.
func bedHost(tb testing.TB, bed *testbed.Bed, name string) *testbed.Host {
	tb.Helper()
	h, err := bed.Host(name)
	mustOK(tb, err)
	return h
}
