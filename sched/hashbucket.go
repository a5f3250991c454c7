package sched

import "fmt"

// bucketCount is the size of the dh and sh tables (IP_VS_DH_TAB_BITS / IP_VS_SH_TAB_BITS = 8).
const bucketCount = 256

// buildBuckets fills the 256 buckets as ip_vs_sh.c does: walking the servers in list order, each takes as many
// consecutive buckets as its weight, and the walk wraps until every bucket is taken. Two adjustments keep the
// shares proportional to weight where IPVS's are not: weights are first divided by their gcd, and when they still
// sum past 256 they are scaled down (each server keeps at least one bucket while there are fewer than 256). Quiescent servers take no bucket.
func buildBuckets(p *Plan, _ *Config) error {
	table := new([bucketCount]int32)
	for i := range table {
		table[i] = -1
	}
	shares := bucketShares(p.servers)
	if len(shares) > 0 {
		next, taken := 0, int64(0)
		for i := range table {
			table[i] = int32(shares[next].server)
			if taken++; taken >= shares[next].buckets {
				next, taken = (next+1)%len(shares), 0
			}
		}
	}
	p.buckets = table
	return nil
}

type bucketShare struct {
	server  int
	buckets int64 // consecutive buckets per turn
}

func bucketShares(servers []server) []bucketShare {
	var gcd, sum int64
	for _, s := range servers {
		if s.weight > 0 {
			gcd = greatestCommonDivisor(gcd, s.weight)
		}
	}
	if gcd == 0 {
		return nil
	}
	shares := make([]bucketShare, 0, len(servers))
	for i, s := range servers {
		if s.weight > 0 {
			shares = append(shares, bucketShare{server: i, buckets: s.weight / gcd})
			sum += s.weight / gcd
		}
	}
	if sum > bucketCount && len(shares) < bucketCount {
		// Every server keeps one bucket; the rest are shared in proportion, rounded down (a short last round
		// hands out what rounding left).
		spare := int64(bucketCount - len(shares))
		for i := range shares {
			shares[i].buckets = 1 + shares[i].buckets*spare/sum
		}
	}
	return shares
}

// BucketCounts returns how many of the 256 dh/sh buckets each server holds (for tests and operators).
func (p *Plan) BucketCounts() ([]int, error) {
	if p.buckets == nil {
		return nil, fmt.Errorf("bucket counts: %s has no bucket table", p.kind.name)
	}
	counts := make([]int, len(p.servers))
	for _, server := range p.buckets {
		if server >= 0 {
			counts[server]++
		}
	}
	return counts, nil
}

// goldenRatio32 is the kernel's GOLDEN_RATIO_32 (hash_32) multiplier.
const goldenRatio32 = 0x61C88647

// sourceHashBucket is ip_vs_sh_hashkey: hash_32(port + addr_fold, 8), then offset.
func sourceHashBucket(fold uint32, port uint16, offset uint32) uint32 {
	return (offset + (uint32(port)+fold)*goldenRatio32>>(32-8)) & (bucketCount - 1)
}

// sourceHashing is IPVS sh (ip_vs_sh.c): the bucket of the client's source address (and, with sh-port, source
// port). Without sh-fallback a client whose server is unavailable gets none; with it, the buckets are searched in
// IPVS's order for an available one.
type sourceHashing struct{ plan *Plan }

func (sh *sourceHashing) Schedule(f *Flow, _ int64) int {
	plan := sh.plan
	fold := foldAddress(&f.Src)
	port := hashedPort(f, plan.flags&FlagSHPort != 0)
	home := sourceHashBucket(fold, port, 0)
	server := plan.buckets[home]
	if server < 0 {
		return -1
	}
	if plan.servers[server].available() {
		return int(server)
	}
	if plan.flags&FlagSHFallback == 0 {
		return -1
	}
	// ip_vs_sh_get_fallback rehashes with roffset = (offset + home) % 256, so the walk starts at 2·home.
	for offset := range uint32(bucketCount) {
		server = plan.buckets[sourceHashBucket(fold, port, (offset+home)%bucketCount)]
		if server < 0 {
			return -1
		}
		if plan.servers[server].available() {
			return int(server)
		}
	}
	return -1
}

// destinationHashing is IPVS dh (ip_vs_dh.c): the bucket of the destination address, for caches and firewalls
// where every request for one destination should meet the same server. An unavailable server means no server.
type destinationHashing struct{ plan *Plan }

func (dh *destinationHashing) Schedule(f *Flow, _ int64) int {
	// ip_vs_dh_hashkey: addr_fold times 2654435761, low 8 bits.
	bucket := uint64(foldAddress(&f.Dst)) * 2654435761 & (bucketCount - 1)
	server := dh.plan.buckets[bucket]
	if server < 0 || !dh.plan.servers[server].available() {
		return -1
	}
	return int(server)
}
