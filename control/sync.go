package control

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"fastlvs/conntrack"
	"fastlvs/dataplane"
)

// Connection sync on the wire: UDP datagrams of a 4-byte magic and then
// fixed 60-byte records (client, virtual and real address, their ports,
// protocol and state), as many as fit a 1400-byte datagram. The dataplane
// side is dataplane/sync.go.

var syncMagic = [4]byte{'F', 'L', 'S', '1'}

const (
	syncRecordSize  = 60
	syncMaxDatagram = 1400
	syncRecordsPer  = (syncMaxDatagram - len(syncMagic)) / syncRecordSize
	syncFlushEvery  = 10 * time.Millisecond
)

func encodeSyncRecord(b []byte, r *dataplane.SyncRecord) {
	copy(b[0:16], r.Client[:])
	copy(b[16:32], r.Virtual[:])
	copy(b[32:48], r.Real[:])
	binary.BigEndian.PutUint16(b[48:], r.ClientPort)
	binary.BigEndian.PutUint16(b[50:], r.VirtualPort)
	binary.BigEndian.PutUint16(b[52:], r.RealPort)
	b[54], b[55] = r.Proto, uint8(r.State)
	b[56], b[57], b[58], b[59] = 0, 0, 0, 0
}

func decodeSyncRecord(b []byte) dataplane.SyncRecord {
	var r dataplane.SyncRecord
	copy(r.Client[:], b[0:16])
	copy(r.Virtual[:], b[16:32])
	copy(r.Real[:], b[32:48])
	r.ClientPort = binary.BigEndian.Uint16(b[48:])
	r.VirtualPort = binary.BigEndian.Uint16(b[50:])
	r.RealPort = binary.BigEndian.Uint16(b[52:])
	r.Proto, r.State = b[54], conntrack.State(b[55])
	return r
}

// decodeSyncDatagram returns the records of one datagram, or an error for
// anything that is not one of ours.
func decodeSyncDatagram(b []byte) ([]dataplane.SyncRecord, error) {
	if len(b) < len(syncMagic) || [4]byte(b[:4]) != syncMagic {
		return nil, errors.New("not a fastlvs sync datagram")
	}
	body := b[len(syncMagic):]
	if len(body)%syncRecordSize != 0 {
		return nil, fmt.Errorf("sync datagram of %d bytes is not whole records", len(b))
	}
	out := make([]dataplane.SyncRecord, 0, len(body)/syncRecordSize)
	for off := 0; off < len(body); off += syncRecordSize {
		out = append(out, decodeSyncRecord(body[off:off+syncRecordSize]))
	}
	return out, nil
}

// startSync opens the sync socket (if listen is set) and starts the sender
// (if peer is set) and the receiver; both stop with ctx.
func (d *Daemon) startSync(ctx context.Context, cfg SyncConfig, running *sync.WaitGroup) error {
	if cfg.Listen != "" {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(cfg.Listen)))
		if err != nil {
			return fmt.Errorf("sync: listen on %s: %w", cfg.Listen, err)
		}
		running.Add(1)
		go func() {
			defer running.Done()
			d.routineSyncReceive(ctx, conn)
		}()
	}
	if cfg.Peer != "" {
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(cfg.Peer)))
		if err != nil {
			return fmt.Errorf("sync: peer %s: %w", cfg.Peer, err)
		}
		running.Add(1)
		go func() {
			defer running.Done()
			d.routineSyncSend(ctx, conn)
		}()
	}
	return nil
}

// routineSyncSend drains the workers' published connections every few
// milliseconds and sends them to the peer.
func (d *Daemon) routineSyncSend(ctx context.Context, conn *net.UDPConn) {
	defer conn.Close()
	slog.Info("connection sync sending", "peer", conn.RemoteAddr())
	buf := make([]byte, len(syncMagic), syncMaxDatagram)
	copy(buf, syncMagic[:])
	send := func() {
		if len(buf) > len(syncMagic) {
			if _, err := conn.Write(buf); err != nil {
				d.SyncSendErrors.Add(1)
			} else {
				d.SyncDatagramsSent.Add(1)
			}
			buf = buf[:len(syncMagic)]
		}
	}
	tick := time.NewTicker(syncFlushEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var rec dataplane.SyncRecord
		for i := range d.dp.Workers {
			out := d.dp.SyncOut(i)
			for out.Pop(&rec) {
				n := len(buf)
				buf = buf[:n+syncRecordSize]
				encodeSyncRecord(buf[n:], &rec)
				if len(buf)+syncRecordSize > syncMaxDatagram {
					send()
				}
			}
		}
		send()
	}
}

// routineSyncReceive hands the peer's connections to the workers owning
// their clients.
func (d *Daemon) routineSyncReceive(ctx context.Context, conn *net.UDPConn) {
	slog.Info("connection sync receiving", "listen", conn.LocalAddr())
	go func() { <-ctx.Done(); conn.Close() }()
	buf := make([]byte, 65536)
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			return // closed
		}
		records, err := decodeSyncDatagram(buf[:n])
		if err != nil {
			d.SyncBadDatagrams.Add(1)
			continue
		}
		for i := range records {
			if !d.dp.SyncIn(&records[i]).Push(records[i]) {
				d.SyncInFull.Add(1)
			}
		}
	}
}
