package conntrack

import "time"

// TemplateKey identifies a persistence template (IPVS "template connection"): it keeps a client, masked by the
// service's persistence netmask, on one real server across its conns.
type TemplateKey struct {
	Client      [16]byte // already masked
	Virtual     [16]byte
	VirtualPort uint16 // 0 for port-0 persistent services
	Proto       uint8
}

// templateExtra is what a template needs beyond a Conn record.
type templateExtra struct {
	timeout    int64  // ns, the service's persistence timeout
	controlled uint32 // conns whose Template names this one
}

func (c *Conn) matchesTemplate(k *TemplateKey) bool {
	return c.Client == k.Client && c.Virtual == k.Virtual && c.VirtualPort == k.VirtualPort && c.Proto == k.Proto
}

func (t *Table) liveTemplate(ref uint32) bool {
	return ref >= t.tmplFirst && int(ref) < len(t.recs) && t.recs[ref].meta&(metaUsed|metaIndexed) == metaUsed|metaIndexed
}

// LookupTemplate finds the template for k. A hit re-arms the template with its timeout, as IPVS does when a
// template is used for a new conn. A template whose timeout passed and which controls no conn is removed here
// and reported absent, even if Expire has not reached it yet.
func (t *Table) LookupTemplate(k *TemplateKey, now int64) (ref Ref, realID uint32, ok bool) {
	h := uint32(hashTemplate(k, &t.seed))
	slots, mask := t.tmplIndex.slots, t.tmplIndex.mask
	for i := h & mask; ; i = (i + 1) & mask {
		s := slots[i]
		if s.val == 0 {
			return 0, 0, false
		}
		if s.hash != h || !t.recs[s.val].matchesTemplate(k) {
			continue
		}
		r := &t.recs[s.val]
		x := &t.tmplExtra[s.val-t.tmplFirst]
		if x.controlled == 0 && int32(r.expires-t.clock(now)) <= 0 {
			t.RemoveTemplate(Ref(s.val))
			return 0, 0, false
		}
		t.arm(s.val, now, x.timeout)
		return Ref(s.val), r.RealID, true
	}
}

// InsertTemplate adds a template sending k to realID of serviceID for timeout (the service's persistence
// timeout). It returns ErrExists when k is present and ErrFull (counted in Stats.TemplateFull) when every
// template record is in use.
func (t *Table) InsertTemplate(k *TemplateKey, serviceID, realID uint32, timeout time.Duration, now int64) (Ref, error) {
	h := uint32(hashTemplate(k, &t.seed))
	slots, mask := t.tmplIndex.slots, t.tmplIndex.mask
	i := h & mask
	for ; slots[i].val != 0; i = (i + 1) & mask {
		if slots[i].hash == h && t.recs[slots[i].val].matchesTemplate(k) {
			return 0, ErrExists
		}
	}
	ref := t.tmpls.alloc(t.recs)
	if ref == 0 {
		t.stats.TemplateFull++
		return 0, ErrFull
	}
	r := &t.recs[ref]
	*r = Conn{Client: k.Client, Virtual: k.Virtual, VirtualPort: k.VirtualPort, Proto: k.Proto,
		ServiceID: serviceID, RealID: realID, meta: metaUsed | metaTemplate | metaIndexed}
	t.tmplExtra[ref-t.tmplFirst] = templateExtra{timeout: int64(timeout)}
	t.tmplIndex.put(i, slot{hash: h, val: ref})
	t.arm(ref, now, int64(timeout))
	return Ref(ref), nil
}

// RemoveTemplate takes a template out of the lookup index at once (e.g. its real server was removed). Its record is
// freed when the last conn it controls is gone; until then those conns keep their Template ref. Removing a ref that
// is not a live template does nothing.
func (t *Table) RemoveTemplate(ref Ref) {
	tr := uint32(ref)
	if tr < t.tmplFirst || int(tr) >= len(t.recs) || t.recs[tr].meta&metaUsed == 0 {
		return
	}
	r := &t.recs[tr]
	if r.meta&metaIndexed != 0 {
		k := TemplateKey{Client: r.Client, Virtual: r.Virtual, VirtualPort: r.VirtualPort, Proto: r.Proto}
		t.tmplIndex.remove(uint32(hashTemplate(&k, &t.seed)), tr)
		r.meta &^= metaIndexed
	}
	if t.tmplExtra[tr-t.tmplFirst].controlled == 0 {
		t.freeTemplate(tr)
	}
}

// TemplateControlled returns how many conns the template controls.
func (t *Table) TemplateControlled(ref Ref) int {
	if uint32(ref) < t.tmplFirst || int(ref) >= len(t.recs) {
		return 0
	}
	return int(t.tmplExtra[uint32(ref)-t.tmplFirst].controlled)
}

// releaseControl drops one controlled conn from a template; a removed template goes with its last conn.
func (t *Table) releaseControl(tr uint32) {
	x := &t.tmplExtra[tr-t.tmplFirst]
	if x.controlled > 0 {
		x.controlled--
	}
	if x.controlled == 0 && t.recs[tr].meta&metaIndexed == 0 {
		t.freeTemplate(tr)
	}
}

// freeTemplate unindexes (if still indexed), unlinks and frees a template record.
func (t *Table) freeTemplate(tr uint32) {
	r := &t.recs[tr]
	if r.meta&metaIndexed != 0 {
		k := TemplateKey{Client: r.Client, Virtual: r.Virtual, VirtualPort: r.VirtualPort, Proto: r.Proto}
		t.tmplIndex.remove(uint32(hashTemplate(&k, &t.seed)), tr)
	}
	t.unlink(tr)
	t.tmplExtra[tr-t.tmplFirst] = templateExtra{}
	t.tmpls.release(t.recs, tr)
}
