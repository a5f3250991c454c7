package control

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"fastlvs/conntrack"
	"fastlvs/dataplane"
)

// Connection sync on the wire (version 2, magic FLS2): one UDP datagram is
//
//	magic "FLS2" | version 2 | 0 | record count (2) | sender id (4) | sequence (8)
//	records, 92 bytes each: client, virtual, real and local address (16 each),
//	their ports (2 each), protocol, state, flags (bit 0: sequence adjusted;
//	bits 2-4: the client-address state, dataplane.SyncClientAddrBits),
//	0, the packed seqadj.Adjust (14), 0, 0
//	HMAC-SHA-256 of everything before it, with the key of sync.key_file
//
// big-endian. The sender id is random per start and the sequence starts at
// the sender's wall clock in nanoseconds, so a restarted sender begins above
// everything it sent before (see syncReplay).
var syncMagic = [4]byte{'F', 'L', 'S', '2'}

const (
	syncVersion     = 2
	syncHeaderSize  = 20
	syncRecordSize  = 92 // 4 addresses, 4 ports, protocol, state, flags, 1 reserved, sequence adjustment, 2 reserved (zero)
	syncMACSize     = sha256.Size
	syncMaxDatagram = 1400
	syncRecordsPer  = (syncMaxDatagram - syncHeaderSize - syncMACSize) / syncRecordSize
)

// syncBad is why a received datagram (or one record of it) was dropped; the
// names are the reason label of fastlvs_sync_bad_datagrams_total.
type syncBad int

const (
	syncBadNone      syncBad = iota
	syncBadNotPeer           // from an address other than sync.peer
	syncBadMalformed         // not our magic, version or length
	syncBadMAC               // authentication failed: wrong key or altered
	syncBadReplay            // a sequence number already seen or too old
	syncBadRecord            // a record with a field out of range (per record)
	numSyncBad
)

var syncBadNames = [numSyncBad]string{
	syncBadNone:      "none",
	syncBadNotPeer:   "not_peer",
	syncBadMalformed: "malformed",
	syncBadMAC:       "bad_mac",
	syncBadReplay:    "replay",
	syncBadRecord:    "bad_record",
}

func (b syncBad) String() string { return syncBadNames[b] }

// syncHeader is what a datagram says about itself.
type syncHeader struct {
	Sender uint32
	Seq    uint64
	Count  int
}

func encodeSyncRecord(b []byte, r *dataplane.SyncRecord) {
	copy(b[0:16], r.Client[:])
	copy(b[16:32], r.Virtual[:])
	copy(b[32:48], r.Real[:])
	copy(b[48:64], r.Local[:])
	binary.BigEndian.PutUint16(b[64:], r.ClientPort)
	binary.BigEndian.PutUint16(b[66:], r.VirtualPort)
	binary.BigEndian.PutUint16(b[68:], r.RealPort)
	binary.BigEndian.PutUint16(b[70:], r.LocalPort)
	flags := r.ClientAddr // its own bits (dataplane.SyncClientAddrBits)
	if r.SeqAdjusted {
		flags |= syncFlagSeqAdjusted
	}
	b[72], b[73], b[74], b[75] = r.Proto, uint8(r.State), flags, 0
	copy(b[76:90], r.Seq[:])
	b[90], b[91] = 0, 0
}

// syncFlagSeqAdjusted marks a record carrying a sequence adjustment (a
// SYN-proxied or PROXY-protocol connection); the flags byte also carries
// the connection's client-address state in dataplane.SyncClientAddrBits.
const syncFlagSeqAdjusted = 1

// The client-address bits must not collide with the sequence flag.
var _ = [1]struct{}{}[dataplane.SyncClientAddrBits&syncFlagSeqAdjusted]

// decodeSyncRecord reads one record and checks every field it can check
// alone (dataplane.SyncRecord.Check); false for a bad one.
func decodeSyncRecord(b []byte, r *dataplane.SyncRecord) bool {
	copy(r.Client[:], b[0:16])
	copy(r.Virtual[:], b[16:32])
	copy(r.Real[:], b[32:48])
	copy(r.Local[:], b[48:64])
	r.ClientPort = binary.BigEndian.Uint16(b[64:])
	r.VirtualPort = binary.BigEndian.Uint16(b[66:])
	r.RealPort = binary.BigEndian.Uint16(b[68:])
	r.LocalPort = binary.BigEndian.Uint16(b[70:])
	r.Proto, r.State = b[72], conntrack.State(b[73])
	r.SeqAdjusted = b[74]&syncFlagSeqAdjusted != 0
	r.ClientAddr = b[74] & dataplane.SyncClientAddrBits
	copy(r.Seq[:], b[76:90])
	return b[74]&^(syncFlagSeqAdjusted|dataplane.SyncClientAddrBits) == 0 && b[75] == 0 && b[90] == 0 && b[91] == 0 && r.Check() == ""
}

// syncSealer builds datagrams: header, records, MAC. One goroutine uses it.
type syncSealer struct {
	mac    hash.Hash
	sender uint32
	seq    uint64
	buf    []byte
}

func newSyncSealer(key []byte, sender uint32, firstSeq uint64) *syncSealer {
	s := &syncSealer{mac: hmac.New(sha256.New, key), sender: sender, seq: firstSeq,
		buf: make([]byte, syncHeaderSize, syncMaxDatagram)}
	return s
}

// add appends a record; true when the datagram is full and must be sealed.
func (s *syncSealer) add(r *dataplane.SyncRecord) bool {
	n := len(s.buf)
	s.buf = s.buf[:n+syncRecordSize]
	encodeSyncRecord(s.buf[n:], r)
	return (len(s.buf)-syncHeaderSize)/syncRecordSize == syncRecordsPer
}

func (s *syncSealer) empty() bool { return len(s.buf) == syncHeaderSize }

// seal finishes the datagram of the records added since the last seal and
// returns it (valid until the next add); the next one starts empty.
func (s *syncSealer) seal() []byte {
	b := s.buf
	copy(b[0:4], syncMagic[:])
	b[4], b[5] = syncVersion, 0
	binary.BigEndian.PutUint16(b[6:], uint16((len(b)-syncHeaderSize)/syncRecordSize))
	binary.BigEndian.PutUint32(b[8:], s.sender)
	binary.BigEndian.PutUint64(b[12:], s.seq)
	s.seq++
	s.mac.Reset()
	s.mac.Write(b)
	b = s.mac.Sum(b)
	s.buf = b[:syncHeaderSize]
	return b
}

// syncOpener checks datagrams: shape, then MAC. One goroutine uses it.
type syncOpener struct {
	mac hash.Hash
	sum [syncMACSize]byte
}

func newSyncOpener(key []byte) *syncOpener { return &syncOpener{mac: hmac.New(sha256.New, key)} }

// open returns the header and the records of an authentic datagram, or why
// it is not one. Replay is the caller's check (syncReplay), after this.
func (o *syncOpener) open(b []byte) (syncHeader, []byte, syncBad) {
	if len(b) < syncHeaderSize+syncMACSize || [4]byte(b[:4]) != syncMagic || b[4] != syncVersion || b[5] != 0 {
		return syncHeader{}, nil, syncBadMalformed
	}
	h := syncHeader{
		Count:  int(binary.BigEndian.Uint16(b[6:])),
		Sender: binary.BigEndian.Uint32(b[8:]),
		Seq:    binary.BigEndian.Uint64(b[12:]),
	}
	body := len(b) - syncHeaderSize - syncMACSize
	if h.Count > syncRecordsPer || body != h.Count*syncRecordSize {
		return syncHeader{}, nil, syncBadMalformed
	}
	o.mac.Reset()
	o.mac.Write(b[:len(b)-syncMACSize])
	if !hmac.Equal(o.mac.Sum(o.sum[:0]), b[len(b)-syncMACSize:]) {
		return syncHeader{}, nil, syncBadMAC
	}
	return h, b[syncHeaderSize : syncHeaderSize+body], syncBadNone
}
