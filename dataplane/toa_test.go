package dataplane

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// toaOptions returns the TOA options (kind 253/254) of a frame, decoded by
// gopacket.
func toaOptions(t *testing.T, frame []byte) []layers.TCPOption {
	t.Helper()
	pk := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	tcp, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		t.Fatalf("no TCP layer in % x", frame)
	}
	var out []layers.TCPOption
	for _, o := range tcp.Options {
		if o.OptionType == 253 || o.OptionType == 254 {
			out = append(out, o)
		}
	}
	return out
}

// TestTOA: the SYN/ACK's MSS leaves room for the option; the handshake's
// ACK and the first data segment carry the client's port and address in
// option 254 (IPv4) or 253 (IPv6), byte for byte; later segments do not;
// sequence numbers and payloads are untouched.
func TestTOA(t *testing.T) {
	for _, tc := range []struct {
		name          string
		client, vip   string
		local, realIP string
		kind, length  uint8
		addrLen       int
	}{
		{"ipv4", "198.18.1.5", "198.18.0.30", "198.18.3.1", "198.18.2.2", 254, 8, 4},
		{"ipv6", "2001:2:1::5", "2001:2::30", "2001:2:3::1", "2001:2:2::2", 253, 20, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newMemDataplane(t, clientAddrSpec(ClientAddressTOA), 1, 1024)
			w := d.Workers[0]
			d.beginBatch()
			syn, _ := sent(t, w, tcpSegment(t, tc.client, tc.vip, 40001, 80, 1000, 0, syn, 1460, nil), 0)
			sa, _ := sent(t, w, tcpSegment(t, tc.realIP, tc.local, 8080, syn.SrcPort, 7000, 1001, synAck, 1460, nil), 1)
			if mss, _ := sa.TCP().MSS(); int(mss) != 1460-int(tc.length) {
				t.Fatalf("SYN/ACK MSS %d, want %d", mss, 1460-int(tc.length))
			}
			want := binary.BigEndian.AppendUint16(nil, 40001)
			want = append(want, addr(tc.client).AsSlice()...)
			check := func(what string, frame []byte, carries bool, payload []byte) {
				t.Helper()
				opts := toaOptions(t, frame)
				if !carries {
					if len(opts) != 0 {
						t.Fatalf("%s carries TOA %v", what, opts)
					}
					return
				}
				if len(opts) != 1 || uint8(opts[0].OptionType) != tc.kind || opts[0].OptionLength != tc.length || !bytes.Equal(opts[0].OptionData, want) {
					t.Fatalf("%s TOA %+v, want kind %d length %d data % x", what, opts, tc.kind, tc.length, want)
				}
			}
			ackP, ackF := sent(t, w, tcpSegment(t, tc.client, tc.vip, 40001, 80, 1001, 7001, ack, 0, nil), 0)
			check("handshake ACK", ackF, true, nil)
			if ackP.TCP().SequenceNumber() != 1001 || len(ackP.TCP().Payload()) != 0 {
				t.Fatal("handshake ACK changed")
			}
			request := []byte("GET / HTTP/1.1\r\n\r\n")
			dataP, dataF := sent(t, w, tcpSegment(t, tc.client, tc.vip, 40001, 80, 1001, 7001, pshAck, 0, request), 0)
			check("first data", dataF, true, request)
			if dataP.TCP().SequenceNumber() != 1001 || !bytes.Equal(dataP.TCP().Payload(), request) {
				t.Fatalf("first data: seq %d payload %q", dataP.TCP().SequenceNumber(), dataP.TCP().Payload())
			}
			_, laterF := sent(t, w, tcpSegment(t, tc.client, tc.vip, 40001, 80, 1001+uint32(len(request)), 7001, ack, 0, nil), 0)
			check("later ACK", laterF, false, nil)
			if w.tally.counts[CountTOAInserted] != 2 || w.tally.counts[CountTOANoRoom] != 0 {
				t.Fatalf("counted %d TOA, %d without room; want 2 and 0", w.tally.counts[CountTOAInserted], w.tally.counts[CountTOANoRoom])
			}
		})
	}
}
