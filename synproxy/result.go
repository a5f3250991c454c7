package synproxy

// Result is the verdict of a SYN-proxy step. Every value but OK names a
// reason to drop the packet; String gives the counter name.
type Result uint8

// SYN-proxy verdicts.
const (
	OK             Result = iota
	NotSYN                // AnswerSYN on a segment that is not a bare SYN
	NoRoom                // the frame's buffer cannot hold the reply
	NotACK                // CheckACK on a segment without ACK, or with SYN or RST
	InvalidCookie         // the ACK's cookie does not validate (forged, tampered or too old)
	NotSYNACK             // ServerSYNACK on a segment that is not a SYN/ACK
	WrongServerACK        // the server's SYN/ACK does not acknowledge the director's SYN

	// NumResults sizes per-verdict counter arrays.
	NumResults = iota
)

var resultNames = [NumResults]string{
	OK:             "ok",
	NotSYN:         "not_syn",
	NoRoom:         "no_room",
	NotACK:         "not_ack",
	InvalidCookie:  "invalid_cookie",
	NotSYNACK:      "not_synack",
	WrongServerACK: "wrong_server_ack",
}

// String returns the snake_case name used for the verdict's counter.
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "unknown"
}
