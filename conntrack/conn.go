package conntrack

import (
	"errors"
	"unsafe"
)

// Dir is the direction of a packet relative to its connection.
type Dir uint8

const (
	// DirIn is a packet in the client→virtual direction.
	DirIn Dir = 0
	// DirOut is a reply from the real server, as it arrives at the director.
	DirOut Dir = 1
)

// Tuple is the lookup key of a packet. Addresses are in netip.Addr.As16() form (IPv4 as ::ffff:a.b.c.d).
type Tuple struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            uint8
}

// Ref names a record (connection or template) of one Table; 0 is none. Refs are reused after removal.
type Ref uint32

// Conn is one connection. It holds no Go pointers so the garbage collector never scans the table.
// The worker reads the exported fields directly through Table.Conn; it must not change Client, Virtual,
// Real, Local, their ports or Proto after Insert, because removal re-derives the index keys from them.
type Conn struct {
	// First cache line: both lookup keys of a NAT conn, what a rewrite needs, and the deadline every packet
	// re-arms, so the common per-packet work touches one line. FULLNAT's Local and the ids are in the second.
	Client, Virtual                              [16]byte
	ClientPort, VirtualPort, RealPort, LocalPort uint16
	Proto                                        uint8
	State                                        State
	Forward                                      uint8 // opaque to conntrack (the dataplane's forwarding method)
	Flags                                        uint8 // opaque to conntrack
	Real                                         [16]byte
	expires                                      uint32 // deadline in wheel ticks since the table's clock base

	Local             [16]byte // FULLNAT local address (zero otherwise)
	ServiceID, RealID uint32   // opaque ids from the dataplane's table
	Template          Ref      // persistence template controlling this conn (0 = none)
	SyncedAt          uint32   // opaque to conntrack (the dataplane's last sync to a peer)

	armed uint32 // tick of the wheel slot whose list holds the record (<= expires, or the slot being processed)
	next  uint32 // wheel list, or free list when unused
	prev  uint32
	born  uint32 // tick the conn was inserted (oldest embryonic goes first; DR/TUN replied test)
	meta  uint8
	// Seq is opaque to conntrack: the dataplane's per-connection sequence
	// adjustment (SYN proxy, PROXY protocol), packed into the record's spare
	// bytes so that it costs no extra cache line.
	Seq [SeqSize]byte
	_   [1]byte // pad to 128 bytes: a record is exactly two cache lines of an aligned pair
}

// SeqSize is how many bytes a Conn keeps for the dataplane's sequence
// adjustment.
const SeqSize = 14

// meta bits.
const (
	metaUsed     = 1 << iota
	metaTemplate // the record is a persistence template
	metaHasOut   // a reply tuple is indexed
	metaOutLocal // the reply goes to Local:LocalPort (FULLNAT) instead of Client:ClientPort (NAT)
	metaIndexed  // template only: present in the template index (cleared by RemoveTemplate)
	metaArmed    // linked in a wheel list
	metaReplied  // the conn proved two live ends (see Conn.Replied)
	metaAnswered // non-TCP conn with a reply tuple: the real server answered, the client has not spoken since
)

// IsTemplate reports whether the record is a persistence template (Range lists both kinds).
func (c *Conn) IsTemplate() bool { return c.meta&metaTemplate != 0 }

// Pre-built errors, so the insert path never allocates.
var (
	// ErrFull is returned by Insert and InsertTemplate when every record is in use and, for Insert, no
	// embryonic conn could be evicted (see Pressure).
	ErrFull = errors.New("conntrack: table full")
	// ErrExists is returned when a tuple (or template key) is already in the table.
	ErrExists = errors.New("conntrack: entry exists")
	// ErrTupleMismatch is returned by Insert when the tuples do not describe the Conn: in must be
	// Client:ClientPort→Virtual:VirtualPort, out must be Real:RealPort→Client:ClientPort (NAT) or
	// Real:RealPort→Local:LocalPort (FULLNAT), both with the Conn's Proto.
	ErrTupleMismatch = errors.New("conntrack: tuple does not match conn")
	// ErrNoTemplate is returned by Insert when c.Template does not name a live template.
	ErrNoTemplate = errors.New("conntrack: no such template")
)

func inTupleOf(c *Conn) Tuple {
	return Tuple{Src: c.Client, Dst: c.Virtual, SrcPort: c.ClientPort, DstPort: c.VirtualPort, Proto: c.Proto}
}

func outTupleOf(c *Conn) Tuple {
	if c.meta&metaOutLocal != 0 {
		return Tuple{Src: c.Real, Dst: c.Local, SrcPort: c.RealPort, DstPort: c.LocalPort, Proto: c.Proto}
	}
	return Tuple{Src: c.Real, Dst: c.Client, SrcPort: c.RealPort, DstPort: c.ClientPort, Proto: c.Proto}
}

// matches reports whether key is the tuple of c in direction dir.
func (c *Conn) matches(key *Tuple, dir Dir) bool {
	if dir == DirIn {
		return c.Client == key.Src && c.Virtual == key.Dst && c.ClientPort == key.SrcPort &&
			c.VirtualPort == key.DstPort && c.Proto == key.Proto
	}
	if c.Real != key.Src || c.RealPort != key.SrcPort || c.Proto != key.Proto {
		return false
	}
	if c.meta&metaOutLocal != 0 {
		return c.Local == key.Dst && c.LocalPort == key.DstPort
	}
	return c.Client == key.Dst && c.ClientPort == key.DstPort
}

// The record is 128 bytes with the expiry deadline ending the first 64 (see the layout comment in Conn).
var _ [128 - unsafe.Sizeof(Conn{})]struct{}
var _ [unsafe.Sizeof(Conn{}) - 128]struct{}
var _ [64 - unsafe.Offsetof(Conn{}.Local)]struct{}
var _ [unsafe.Offsetof(Conn{}.Local) - 64]struct{}
