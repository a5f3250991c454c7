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
	echo, err := buildEcho(false, 0x1234, 0x5678)
	if err != nil {
		t.Fatal(err)
	}
	if onesComplementSum(echo) != 0xffff {
		t.Errorf("echo %x does not checksum to zero", echo)
	}
	if echo[0] != 8 || echo[4] != 0x12 || echo[5] != 0x34 || echo[6] != 0x56 || echo[7] != 0x78 || string(echo[8:]) != string(icmpPayload) {
		t.Errorf("echo %x: want type 8, id 1234, seq 5678 and our payload", echo)
	}
	reply := append([]byte(nil), echo...)
	reply[0] = 0 // echo reply; the parser does not check the checksum
	if !isEchoReply(reply, false, 0x1234, 0x5678) {
		t.Error("own reply not recognised")
	}
	if isEchoReply(reply, false, 0x1234, 0x5679) || isEchoReply(echo, false, 0x1234, 0x5678) || isEchoReply(reply, true, 0x1234, 0x5678) {
		t.Error("foreign sequence, a request or the wrong family accepted as our reply")
	}
	if isEchoReply(reply[:5], false, 0x1234, 0x5678) {
		t.Error("truncated reply accepted")
	}
}

// onesComplementSum is the RFC 1071 sum of b: 0xffff over a message whose
// checksum is right.
func onesComplementSum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}
