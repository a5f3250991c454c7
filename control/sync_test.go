package control

import (
	"net/netip"
	"strings"
	"testing"

	"fastlvs/conntrack"
	"fastlvs/dataplane"
)

func TestSyncRecordRoundTrip(t *testing.T) {
	in := []dataplane.SyncRecord{
		{Client: netip.MustParseAddr("198.18.1.11").As16(), Virtual: netip.MustParseAddr("198.18.0.10").As16(),
			Real: netip.MustParseAddr("198.18.2.12").As16(), ClientPort: 40000, VirtualPort: 80, RealPort: 8080,
			Proto: 6, State: conntrack.StateEstablished},
		{Client: netip.MustParseAddr("2001:2:1::5").As16(), Virtual: netip.MustParseAddr("2001:2::10").As16(),
			Real: netip.MustParseAddr("2001:2:2::7").As16(), ClientPort: 5353, VirtualPort: 53, RealPort: 53,
			Proto: 17, State: conntrack.StateUDP},
	}
	buf := append([]byte(nil), syncMagic[:]...)
	for i := range in {
		n := len(buf)
		buf = append(buf, make([]byte, syncRecordSize)...)
		encodeSyncRecord(buf[n:], &in[i])
	}
	out, err := decodeSyncDatagram(buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) || out[0] != in[0] || out[1] != in[1] {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
	if _, err := decodeSyncDatagram([]byte("GET / HTTP/1.1\r\n")); err == nil {
		t.Fatal("a foreign datagram decoded")
	}
	if _, err := decodeSyncDatagram(buf[:len(buf)-1]); err == nil {
		t.Fatal("a truncated datagram decoded")
	}
	if syncRecordsPer < 20 {
		t.Fatalf("only %d records per datagram", syncRecordsPer)
	}
}

func TestSyncConfigNamesTheField(t *testing.T) {
	_, err := ParseConfig([]byte("interfaces: [eth1]\nsync: {peer: 'director-b:8848'}\n"))
	if err == nil || !strings.Contains(err.Error(), `sync.peer: "director-b:8848" is not an IP:port`) {
		t.Fatalf("error %v", err)
	}
}
