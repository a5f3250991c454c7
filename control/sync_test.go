package control

import (
	"bytes"
	"fastlvs/control/config"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fastlvs/conntrack"
	"fastlvs/dataplane"
)

var (
	testSyncKey  = bytes.Repeat([]byte("k"), 32)
	testSyncPeer = netip.MustParseAddr("198.18.2.3")
)

func testSyncRecords() []dataplane.SyncRecord {
	return []dataplane.SyncRecord{
		{Client: netip.MustParseAddr("198.18.1.11").As16(), Virtual: netip.MustParseAddr("198.18.0.10").As16(),
			Real: netip.MustParseAddr("198.18.2.12").As16(), ClientPort: 40000, VirtualPort: 80, RealPort: 8080,
			Proto: 6, State: conntrack.StateEstablished},
		{Client: netip.MustParseAddr("2001:2:1::5").As16(), Virtual: netip.MustParseAddr("2001:2::10").As16(),
			Real: netip.MustParseAddr("2001:2:2::7").As16(), ClientPort: 5353, VirtualPort: 53, RealPort: 53,
			Proto: 17, State: conntrack.StateUDP},
		{Client: netip.MustParseAddr("198.18.1.11").As16(), Virtual: netip.MustParseAddr("198.18.0.11").As16(),
			Real: netip.MustParseAddr("198.18.2.12").As16(), Local: netip.MustParseAddr("198.18.2.100").As16(),
			ClientPort: 40001, VirtualPort: 80, RealPort: 80, LocalPort: 5001, Proto: 6, State: conntrack.StateSynRecv},
	}
}

// sealSync is one datagram of recs as sender would send it at seq.
func sealSync(key []byte, sender uint32, seq uint64, recs []dataplane.SyncRecord) []byte {
	s := newSyncSealer(key, sender, seq)
	for i := range recs {
		s.add(&recs[i])
	}
	return append([]byte(nil), s.seal()...)
}

func decodeAll(t *testing.T, records []byte) []dataplane.SyncRecord {
	var out []dataplane.SyncRecord
	for off := 0; off < len(records); off += syncRecordSize {
		var r dataplane.SyncRecord
		if !decodeSyncRecord(records[off:off+syncRecordSize], &r) {
			t.Fatalf("record %d is bad: %+v (%s)", off/syncRecordSize, r, r.Check())
		}
		out = append(out, r)
	}
	return out
}

func TestSyncDatagramRoundTrip(t *testing.T) {
	in := testSyncRecords()
	b := sealSync(testSyncKey, 7, 100, in)
	records, bad := checkSyncDatagram(b, testSyncPeer, testSyncPeer, newSyncOpener(testSyncKey), &syncReplay{})
	if bad != syncBadNone {
		t.Fatalf("dropped as %s", bad)
	}
	if out := decodeAll(t, records); len(out) != len(in) || out[0] != in[0] || out[1] != in[1] || out[2] != in[2] {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
	if syncRecordsPer < 14 {
		t.Fatalf("only %d records per datagram", syncRecordsPer)
	}
}

// TestSyncDatagramRefusals: each way a datagram can be wrong is dropped
// with its own reason.
func TestSyncDatagramRefusals(t *testing.T) {
	good := sealSync(testSyncKey, 7, 100, testSyncRecords())
	flipped := append([]byte(nil), good...)
	flipped[syncHeaderSize+3] ^= 1
	for name, c := range map[string]struct {
		b    []byte
		from netip.Addr
		want syncBad
	}{
		"not from the peer": {good, netip.MustParseAddr("198.18.2.99"), syncBadNotPeer},
		"foreign":           {[]byte("GET / HTTP/1.1\r\n"), testSyncPeer, syncBadMalformed},
		"truncated":         {good[:len(good)-1], testSyncPeer, syncBadMalformed},
		"old version":       {append([]byte("FLS1"), good[4:]...), testSyncPeer, syncBadMalformed},
		"altered record":    {flipped, testSyncPeer, syncBadMAC},
		"another key":       {sealSync(bytes.Repeat([]byte("x"), 32), 7, 100, testSyncRecords()), testSyncPeer, syncBadMAC},
	} {
		if _, bad := checkSyncDatagram(c.b, c.from, testSyncPeer, newSyncOpener(testSyncKey), &syncReplay{}); bad != c.want {
			t.Errorf("%s: %s, want %s", name, bad, c.want)
		}
	}
}

func TestSyncRecordOutOfRangeIsBad(t *testing.T) {
	recs := testSyncRecords()[:1]
	recs[0].State = 200
	records, bad := checkSyncDatagram(sealSync(testSyncKey, 7, 1, recs), testSyncPeer, testSyncPeer, newSyncOpener(testSyncKey), &syncReplay{})
	var r dataplane.SyncRecord
	if bad != syncBadNone || decodeSyncRecord(records, &r) {
		t.Fatalf("a state of 200 passed: %s %+v", bad, r)
	}
}

// TestSyncReplayWindow: a datagram is accepted once; late ones within the
// window are accepted once, older ones never; a new sender (a restarted
// peer) must start above all that was seen.
func TestSyncReplayWindow(t *testing.T) {
	var r syncReplay
	steps := []struct {
		sender uint32
		seq    uint64
		want   bool
	}{
		{1, 1000, true}, {1, 1000, false}, {1, 1002, true}, {1, 1001, true}, {1, 1001, false},
		{1, 1100, true}, {1, 1037, true}, {1, 1036, false}, {1, 1002, false},
		{2, 900, false}, // a forgotten or invented sender with old numbers
		{2, 5000, true}, {1, 1101, true}, {2, 5000, false},
	}
	for i, s := range steps {
		if got := r.accept(s.sender, s.seq); got != s.want {
			t.Fatalf("step %d: sender %d seq %d accepted %v, want %v", i, s.sender, s.seq, got, s.want)
		}
	}
}

func TestSyncConfigNamesTheField(t *testing.T) {
	for cfg, want := range map[string]string{
		"sync: {peer: 'director-b:8848'}":                            `sync.peer: "director-b:8848" is not an IP:port`,
		"sync: {listen: '198.18.2.2:8848', key_file: /etc/sync.key}": "sync.peer: required with sync.listen",
		"sync: {peer: '198.18.2.3:8848'}":                            "sync.key_file: required",
		"sync: {key_file: /etc/sync.key}":                            "sync.key_file: set without sync.peer",
	} {
		_, err := config.Parse([]byte("interfaces: [eth1]\n" + cfg + "\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", cfg, err, want)
		}
	}
	if _, err := config.Parse([]byte("interfaces: [eth1]\nsync: {listen: '198.18.2.2:8848', peer: '198.18.2.3:8848', key_file: /etc/sync.key}\n")); err != nil {
		t.Fatalf("a good sync config: %v", err)
	}
}

// TestSyncKeyFileRefusals: sync does not start with a short key or one
// everyone may read, and says so naming the field.
func TestSyncKeyFileRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte("s"), size), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, short, open := write("good", 32, 0o600), write("short", 31, 0o600), write("open", 64, 0o644)
	for path, want := range map[string]string{
		short:            "sync.key_file: " + short + " holds 31 bytes, want at least 32",
		open:             "sync.key_file: " + open + " is readable by everyone",
		dir + "/missing": "sync.key_file: ",
	} {
		if _, err := readSyncKey(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", path, err, want)
		}
	}
	if key, err := readSyncKey(good); err != nil || len(key) != 32 {
		t.Fatalf("good key: %d bytes, %v", len(key), err)
	}
}

// FuzzSyncDatagram feeds arbitrary datagrams from the peer (and arbitrary
// records inside authentic ones) to the receiver's checks: no input panics;
// whatever passes has whole records, and every record decodeSyncRecord
// accepts has fields a worker can apply.
func FuzzSyncDatagram(f *testing.F) {
	good := sealSync(testSyncKey, 7, 100, testSyncRecords())
	f.Add(good, false)
	f.Add(good[:len(good)-1], false)
	f.Add([]byte("FLS2"), false)
	f.Add(good[syncHeaderSize:syncHeaderSize+syncRecordSize], true)
	f.Fuzz(func(t *testing.T, b []byte, sealIt bool) {
		if sealIt { // b is the body: make it authentic, so records are reached
			s := newSyncSealer(testSyncKey, 9, 1)
			n := min(len(b)/syncRecordSize, syncRecordsPer)
			s.buf = append(s.buf, b[:n*syncRecordSize]...)
			b = append([]byte(nil), s.seal()...)
		}
		records, bad := checkSyncDatagram(b, testSyncPeer, testSyncPeer, newSyncOpener(testSyncKey), &syncReplay{})
		if bad != syncBadNone {
			if records != nil {
				t.Fatal("records of a dropped datagram")
			}
			return
		}
		if len(records)%syncRecordSize != 0 || len(records) > syncRecordsPer*syncRecordSize {
			t.Fatalf("%d bytes of records", len(records))
		}
		for off := 0; off < len(records); off += syncRecordSize {
			var r dataplane.SyncRecord
			if decodeSyncRecord(records[off:off+syncRecordSize], &r) && (!r.State.Valid(r.Proto) || r.Check() != "") {
				t.Fatalf("accepted a bad record %+v", r)
			}
		}
	})
}
