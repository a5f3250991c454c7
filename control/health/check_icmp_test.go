package health

import (
	"net/netip"
	"testing"
	"time"
)

func TestICMPLoopback(t *testing.T) {
	rec := newRecorder()
	m := newTestManager(t, Options{OnChange: rec.onChange})
	m.Update([]Target{
		{Key: "v4", Addr: netip.MustParseAddrPort("127.0.0.1:80"), Spec: Spec{Type: TypeICMP, Interval: 30 * time.Millisecond, Timeout: 500 * time.Millisecond, StartDown: true}},
		{Key: "v6", Addr: netip.MustParseAddrPort("[::1]:80"), Spec: Spec{Type: TypeICMP, Interval: 30 * time.Millisecond, Timeout: 500 * time.Millisecond, StartDown: true}},
	})
	waitUntil(t, 5*time.Second, "echo replies", func() bool {
		a, _ := m.Status("v4")
		b, _ := m.Status("v6")
		return a.Checks >= 3 && b.Checks >= 3
	})
	for _, key := range []string{"v4", "v6"} {
		if st, _ := m.Status(key); !st.Up || st.Failures != 0 {
			t.Errorf("%s = %+v, want up without failures", key, st)
		}
	}
}

func TestICMPEchoFormat(t *testing.T) {
	echo := buildEcho(icmpEchoRequestV4, 0x1234, 0x5678)
	if internetChecksum(echo) != 0 {
		t.Errorf("echo %x does not checksum to zero", echo)
	}
	reply := append([]byte(nil), echo...)
	reply[0] = icmpEchoReplyV4
	if !isEchoReply(reply, false, 0x1234, 0x5678) {
		t.Error("own reply not recognised")
	}
	if isEchoReply(reply, false, 0x1234, 0x5679) || isEchoReply(echo, false, 0x1234, 0x5678) || isEchoReply(reply, true, 0x1234, 0x5678) {
		t.Error("foreign sequence, a request or the wrong family accepted as our reply")
	}
	// RFC 1071 example: 0001 f203 f4f5 f6f7 sums to ddf2, checksum 220d.
	if got := internetChecksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}); got != 0x220d {
		t.Errorf("checksum = %#x, want 0x220d", got)
	}
}
