package sched

import (
	"errors"
	"fmt"
	"math/bits"
)

// Seeds of the three fixed hashes Maglev uses: the permutation's offset and skip (the paper's h1 and h2 of a
// backend's name, here its address:port) and the lookup of a client.
const (
	maglevOffsetSeed = 0x6f66667365740001 // "offset"
	maglevSkipSeed   = 0x736b697000000002 // "skip"
	maglevLookupSeed = 0x6c6f6f6b75700003 // "lookup"
)

// maglevFallbackProbes bounds how many rehashed slots mh-fallback tries before walking the server list; IPVS tries
// up to the whole table, which would stall a worker for a millisecond when every server is down.
const maglevFallbackProbes = 32

// buildMaglev fills the lookup table as the Maglev paper (§3.4) and ip_vs_mh.c do. Each server has a permutation
// of the M slots: offset = h1 mod M, skip = h2 mod (M-1) + 1, slot j = (offset + j·skip) mod M, which visits every
// slot because M is prime. Servers take turns in list order; on its turn a server claims the next free slots of its
// permutation, as many as its turns. Turns are the weights divided by their gcd and shifted right until the largest
// fits in half the bits of M (IPVS's rule, so a 1:1000 weight ratio cannot starve the table), at least 1. Equal
// weights therefore give every server ⌊M/N⌋ or ⌈M/N⌉ slots; quiescent servers take none.
func buildMaglev(p *Plan, cfg *Config) error {
	size := cfg.MaglevTableSize
	if size == 0 {
		size = DefaultMaglevTableSize
	}
	if size > 1<<31-1 || !isPrime(size) {
		return fmt.Errorf("maglev table size %d: %w", size, errNotPrime)
	}
	type permutation struct {
		server     int32
		next, skip uint64
		turns      int64
	}
	perms := make([]permutation, 0, len(cfg.Servers))
	turns := maglevTurns(p.servers, size)
	for i, s := range cfg.Servers {
		if turns[i] == 0 {
			continue
		}
		perms = append(perms, permutation{
			server: int32(i),
			next:   hashEndpoint(&s.Addr, s.Port, maglevOffsetSeed) % size,
			skip:   hashEndpoint(&s.Addr, s.Port, maglevSkipSeed)%(size-1) + 1,
			turns:  turns[i],
		})
	}
	if uint64(len(perms)) > size {
		return fmt.Errorf("maglev table size %d: smaller than the %d weighted servers", size, len(perms))
	}
	table := make([]int32, size)
	for i := range table {
		table[i] = -1
	}
	p.maglev = table
	if len(perms) == 0 {
		return nil
	}
	// Probes test a bitmap (8 KiB at M = 65537, cache-resident) rather than the 256 KiB table.
	taken := make([]uint64, (size+63)/64)
	filled := uint64(0)
	for filled < size {
		for i := range perms {
			perm := &perms[i]
			for turn := int64(0); turn < perm.turns; turn++ {
				slot := perm.next
				for taken[slot/64]&(1<<(slot%64)) != 0 {
					slot += perm.skip
					if slot >= size {
						slot -= size
					}
				}
				taken[slot/64] |= 1 << (slot % 64)
				table[slot] = perm.server
				perm.next = slot
				if filled++; filled == size {
					return nil
				}
			}
		}
	}
	return nil
}

var errNotPrime = errors.New("must be a prime (e.g. 65537, 131071, 262147) below 2^31")

// maglevTurns is each server's number of consecutive claims per round (ip_vs_mh.c's turns).
func maglevTurns(servers []server, size uint64) []int64 {
	turns := make([]int64, len(servers))
	var gcd, maxWeight int64
	for _, s := range servers {
		if s.weight > 0 {
			gcd = greatestCommonDivisor(gcd, s.weight)
			maxWeight = max(maxWeight, s.weight)
		}
	}
	if gcd == 0 {
		return turns
	}
	weightBits := (bits.Len64(size) - 1) / 2 // ilog2(M)/2
	shift := max(0, bits.Len64(uint64(maxWeight/gcd))-weightBits)
	for i, s := range servers {
		if s.weight > 0 {
			turns[i] = max(1, (s.weight/gcd)>>shift)
		}
	}
	return turns
}

// isPrime is deterministic trial division; sizes are below 2^31, so at most ~23k divisions at build time.
func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// SlotCounts returns how many Maglev lookup slots each server holds (for tests and operators).
func (p *Plan) SlotCounts() ([]int, error) {
	if p.maglev == nil {
		return nil, fmt.Errorf("slot counts: %s has no maglev table", p.kind.name)
	}
	counts := make([]int, len(p.servers))
	for _, server := range p.maglev {
		if server >= 0 {
			counts[server]++
		}
	}
	return counts, nil
}

// maglevHashing is IPVS mh with the paper's table: the slot of the client's source address (and, with mh-port,
// source port). Without mh-fallback a client whose server is unavailable gets none; with it, the client is rehashed
// to other slots, and if those are unavailable too, the servers after its own are tried in list order.
type maglevHashing struct{ plan *Plan }

func (mh *maglevHashing) Schedule(f *Flow, _ int64) int {
	plan := mh.plan
	size := uint64(len(plan.maglev))
	port := hashedPort(f, plan.flags&FlagMHPort != 0)
	server := plan.maglev[hashEndpoint(&f.Src, port, maglevLookupSeed)%size]
	if server < 0 {
		return -1
	}
	if plan.servers[server].available() {
		return int(server)
	}
	if plan.flags&FlagMHFallback == 0 {
		return -1
	}
	for probe := uint64(1); probe <= maglevFallbackProbes; probe++ {
		candidate := plan.maglev[hashEndpoint(&f.Src, port, maglevLookupSeed+probe)%size]
		if plan.servers[candidate].available() {
			return int(candidate)
		}
	}
	n := len(plan.servers)
	for step := 1; step < n; step++ {
		candidate := (int(server) + step) % n
		if plan.servers[candidate].available() {
			return candidate
		}
	}
	return -1
}
