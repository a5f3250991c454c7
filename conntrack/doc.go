// Package conntrack is the per-worker connection table of the fastlvs director.
//
// One Table is owned by one worker goroutine: nothing inside takes a lock or uses an atomic. The life of a packet:
//
//  1. the worker builds a Tuple from the headers and calls Lookup, or, for a whole receive batch, Prepare once
//     (which overlaps the cache misses of all its keys) and Resolve for each packet just before processing it;
//  2. hit: Conn(ref) gives the record with the rewrite data; Update (TCP) or Touch (UDP/ICMP) re-arms its timer;
//  3. miss: the worker schedules a real server and calls Insert with the inbound tuple and, for NAT/FULLNAT, the
//     tuple the replies will carry, then runs Update for the first packet (TCP) like IPVS does;
//  4. once per batch the worker calls Expire with a work budget; expired records are handed to a callback and freed.
//
// A table filling with conns that never had a second end (a spoofed SYN or UDP flood) defends itself: short
// timeouts for them above a high-water mark, eviction of one of them when full, never of a confirmed conn
// (pressure.go). Every hash is keyed from crypto/rand per table, so clients cannot aim tuples at one probe chain.
//
// Layout (justified in table.go): records live in one pointer-free slab ([]Conn) addressed by Ref (uint32, 0 = none),
// so the garbage collector never scans them. An open-addressing index with linear probing and backward-shift
// deletion maps a tuple hash to a Ref (8-byte slots, one for the inbound and one for the reply direction); a large
// one starts at 512 KB and moves to the size its capacity needs as it fills, a few slots per call (index.go).
// Expiry is a hashed timer wheel of 2^27 ns (~134 ms) ticks whose slot lists are intrusive uint32 links in the
// records; re-arming a timer to a later time only stores the new deadline (the wheel fixes the position when the
// old slot comes due), so the per-packet cost is O(1) and independent of the table size.
//
// Persistence templates (IPVS "template connections") share the slab and the wheel but use their own index.
package conntrack
