package xsk

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestThreadPolicies sets each policy on a locked thread and reads it back
// (the tests run as root, which CAP_SYS_NICE needs).
func TestThreadPolicies(t *testing.T) {
	runtime.LockOSThread() // the thread ends with the test if a reset fails
	tid := ThreadID()
	read := func() *unix.SchedAttr {
		t.Helper()
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			t.Fatal(err)
		}
		return attr
	}
	if err := SetThreadNice(tid, -3); err != nil {
		t.Fatal(err)
	}
	if attr := read(); attr.Policy != unix.SCHED_NORMAL || attr.Nice != -3 || attr.Flags&unix.SCHED_FLAG_RESET_ON_FORK == 0 {
		t.Errorf("after nice -3: %+v", attr)
	}
	if err := SetThreadFIFO(tid, 7); err != nil {
		t.Fatal(err)
	}
	if attr := read(); attr.Policy != unix.SCHED_FIFO || attr.Priority != 7 {
		t.Errorf("after fifo 7: %+v", attr)
	}
	Yield() // returns, whatever else runs
	if err := SetThreadNormal(tid); err != nil {
		t.Fatal(err)
	}
	if attr := read(); attr.Policy != unix.SCHED_NORMAL || attr.Nice != 0 {
		t.Errorf("after normal: %+v", attr)
	}
	runtime.UnlockOSThread()
}
