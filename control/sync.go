package control

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fastlvs/control/config"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"fastlvs/control/metrics"
	"fastlvs/dataplane"
)

// Connection sync between two directors: the workers' published
// connections are sent to sync.peer in authenticated datagrams (syncwire.go)
// and the peer's are taken from sync.listen, only from the peer's address,
// each checked (MAC, replay, every field) before a worker sees it. The
// dataplane side is dataplane/sync.go.

const syncFlushEvery = 10 * time.Millisecond

// syncCounters are the sync's own counts (the workers count records applied
// and rejected), exported as the fastlvs_sync_* metrics.
type syncCounters struct {
	DatagramsSent, DatagramsReceived, SendErrors, InFull atomic.Uint64
	Bad                                                  [numSyncBad]atomic.Uint64
}

// readSyncKey reads sync.key_file: at least 32 bytes, its bytes as they are,
// and refused when everyone may read it.
func readSyncKey(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, config.Errorf("sync.key_file", "%v", err)
	}
	if info.Mode().Perm()&0o004 != 0 {
		return nil, config.Errorf("sync.key_file", "%s is readable by everyone (chmod o-r)", path)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, config.Errorf("sync.key_file", "%v", err)
	}
	if len(key) < 32 {
		return nil, config.Errorf("sync.key_file", "%s holds %d bytes, want at least 32", path, len(key))
	}
	return key, nil
}

// startSync reads the key, starts the receiver (if listen is set) and the
// sender (peer is set whenever sync is); both stop with ctx.
func (d *Daemon) startSync(ctx context.Context, cfg config.SyncConfig, running *sync.WaitGroup) error {
	if cfg.Listen == "" && cfg.Peer == "" {
		return nil
	}
	key, err := readSyncKey(cfg.KeyFile)
	if err != nil {
		return err
	}
	peer := netip.MustParseAddrPort(cfg.Peer)
	if cfg.Listen != "" {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(cfg.Listen)))
		if err != nil {
			return fmt.Errorf("sync: listen on %s: %w", cfg.Listen, err)
		}
		running.Add(1)
		go func() {
			defer running.Done()
			d.routineSyncReceive(ctx, conn, peer.Addr().Unmap(), newSyncOpener(key))
		}()
	}
	// Send from the listen address, which is what the peer takes for ours,
	// whatever other (floating) addresses share its subnet here.
	var from *net.UDPAddr
	if cfg.Listen != "" {
		from = &net.UDPAddr{IP: netip.MustParseAddrPort(cfg.Listen).Addr().AsSlice()}
	}
	conn, err := net.DialUDP("udp", from, net.UDPAddrFromAddrPort(peer))
	if err != nil {
		return fmt.Errorf("sync: peer %s: %w", cfg.Peer, err)
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	sealer := newSyncSealer(key, binary.BigEndian.Uint32(id[:]), uint64(time.Now().UnixNano()))
	running.Add(1)
	go func() {
		defer running.Done()
		d.routineSyncSend(ctx, conn, sealer)
	}()
	return nil
}

// routineSyncSend drains the workers' published connections every few
// milliseconds and sends them to the peer.
func (d *Daemon) routineSyncSend(ctx context.Context, conn *net.UDPConn, s *syncSealer) {
	defer conn.Close()
	slog.Info("connection sync sending", "peer", conn.RemoteAddr(), "sender", s.sender)
	send := func() {
		if _, err := conn.Write(s.seal()); err != nil {
			d.Sync.SendErrors.Add(1)
		} else {
			d.Sync.DatagramsSent.Add(1)
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
				if s.add(&rec) {
					send()
				}
			}
		}
		if !s.empty() {
			send()
		}
	}
}

// routineSyncReceive hands the peer's connections to the workers owning
// them; anything else is counted by reason and dropped.
func (d *Daemon) routineSyncReceive(ctx context.Context, conn *net.UDPConn, peer netip.Addr, o *syncOpener) {
	slog.Info("connection sync receiving", "listen", conn.LocalAddr(), "peer", peer)
	go func() { <-ctx.Done(); conn.Close() }()
	var replay syncReplay
	buf := make([]byte, 65536)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		records, bad := checkSyncDatagram(buf[:n], from.Addr().Unmap(), peer, o, &replay)
		if bad != syncBadNone {
			d.Sync.Bad[bad].Add(1)
			continue
		}
		d.Sync.DatagramsReceived.Add(1)
		var rec dataplane.SyncRecord
		for off := 0; off < len(records); off += syncRecordSize {
			if !decodeSyncRecord(records[off:off+syncRecordSize], &rec) {
				d.Sync.Bad[syncBadRecord].Add(1)
			} else if !d.dp.SyncIn(&rec).Push(rec) {
				d.Sync.InFull.Add(1)
			}
		}
	}
}

// checkSyncDatagram returns the records of a datagram from the peer,
// authentic and not seen before, or why it is to be dropped.
func checkSyncDatagram(b []byte, from, peer netip.Addr, o *syncOpener, replay *syncReplay) ([]byte, syncBad) {
	if from != peer {
		return nil, syncBadNotPeer
	}
	h, records, bad := o.open(b)
	if bad != syncBadNone {
		return nil, bad
	}
	if !replay.accept(h.Sender, h.Seq) {
		return nil, syncBadReplay
	}
	return records, syncBadNone
}

// syncSample reads the sync's counters for the metrics endpoint; every
// reason is present, zero included, so alert rules see the series.
func (d *Daemon) syncSample() metrics.SyncSample {
	s := metrics.SyncSample{
		DatagramsSent:     d.Sync.DatagramsSent.Load(),
		DatagramsReceived: d.Sync.DatagramsReceived.Load(),
		SendErrors:        d.Sync.SendErrors.Load(),
		InFull:            d.Sync.InFull.Load(),
		Bad:               map[string]uint64{},
	}
	for b := syncBadNone + 1; b < numSyncBad; b++ {
		s.Bad[b.String()] = d.Sync.Bad[b].Load()
	}
	for _, w := range d.dp.Workers {
		s.RecordsApplied += w.Stats.Count(dataplane.CountSyncApplied)
	}
	return s
}

// ownerSeed derives the worker-owner hash's seed from the sync key, so the
// two directors of a pair put each client on the same worker (a synced
// FULLNAT connection needs its client and its local port on one worker)
// while the seed stays as secret as the key.
func ownerSeed(key []byte) uint64 {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("fastlvs worker owner hash"))
	return binary.LittleEndian.Uint64(mac.Sum(nil))
}
