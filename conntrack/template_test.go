package conntrack

import (
	"errors"
	"testing"
	"time"
)

func templateKey(n uint32) TemplateKey {
	return TemplateKey{Client: addr4(10, n<<8), Virtual: addr4(198, 18<<16|10), VirtualPort: 0, Proto: 6}
}

func TestTemplateLookupInsert(t *testing.T) {
	tab := newTable(t, 16)
	k := templateKey(1)
	if _, _, ok := tab.LookupTemplate(&k, 0); ok {
		t.Fatal("empty table found a template")
	}
	ref, err := tab.InsertTemplate(&k, 7, 42, 300*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tab.InsertTemplate(&k, 7, 43, 300*time.Second, 0); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate template: %v", err)
	}
	got, real, ok := tab.LookupTemplate(&k, sec)
	if !ok || got != ref || real != 42 {
		t.Fatalf("lookup = %d,%d,%v", got, real, ok)
	}
	other := templateKey(2)
	if _, _, ok := tab.LookupTemplate(&other, sec); ok {
		t.Fatal("other client matched")
	}
	if tab.TemplateLen() != 1 || tab.Len() != 0 {
		t.Fatalf("len %d templates %d", tab.Len(), tab.TemplateLen())
	}
}

func TestTemplateFull(t *testing.T) {
	tab, err := New(Config{Capacity: 16, TemplateCapacity: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint32(2) {
		k := templateKey(i)
		if _, err := tab.InsertTemplate(&k, 1, 1, time.Minute, 0); err != nil {
			t.Fatal(err)
		}
	}
	k := templateKey(9)
	if _, err := tab.InsertTemplate(&k, 1, 1, time.Minute, 0); err != ErrFull {
		t.Fatalf("third template: %v", err)
	}
	if tab.Stats().TemplateFull != 1 {
		t.Fatalf("stats %+v", tab.Stats())
	}
}

// A template outlives its timeout while it controls conns, then goes once the last one has gone and the (re-armed)
// timeout has passed, as IPVS's ip_vs_conn_expire does for templates with n_control > 0.
func TestTemplateExpiresAfterTimeoutAndLastConn(t *testing.T) {
	tab := newTable(t, 16)
	tab.SetTimeouts(Timeouts{UDP: 100 * time.Second})
	k := templateKey(1)
	tref, _ := tab.InsertTemplate(&k, 7, 3, 10*time.Second, 0)
	c, in, _ := natConn(1, 17)
	c.Template = tref
	cref := mustInsert(t, tab, &c, &in, nil, 0)
	if tab.TemplateControlled(tref) != 1 {
		t.Fatalf("controlled = %d", tab.TemplateControlled(tref))
	}
	// Past the template's timeout, the conn still lives: the template must stay.
	for now := int64(0); now <= 90*sec; now += sec {
		tab.Expire(now, 1000, nil)
	}
	if _, real, ok := tab.LookupTemplate(&k, 90*sec); !ok || real != 3 {
		t.Fatal("template vanished while it controls a conn")
	}
	tab.Touch(cref, 90*sec) // keep the conn for 100 s more
	var expired []Ref
	for now := 91 * sec; now <= 200*sec; now += sec {
		tab.Expire(now, 1000, func(ref Ref, _ *Conn) { expired = append(expired, ref) })
	}
	if len(expired) != 1 || expired[0] != cref {
		t.Fatalf("expired conns = %v (templates must not reach onExpire)", expired)
	}
	if tab.TemplateControlled(tref) != 0 {
		t.Fatal("conn expiry did not release the template")
	}
	// The template was last re-armed at or after 190 s (conn gone), so it is gone within its timeout after that.
	for now := 201 * sec; now <= 215*sec; now += sec {
		tab.Expire(now, 1000, nil)
	}
	if _, _, ok := tab.LookupTemplate(&k, 215*sec); ok {
		t.Fatal("template outlived timeout after its last conn")
	}
	if tab.TemplateLen() != 0 || tab.Stats().TemplatesExpired != 1 {
		t.Fatalf("stats %+v", tab.Stats())
	}
}

func TestTemplateLookupRefreshes(t *testing.T) {
	tab := newTable(t, 16)
	k := templateKey(1)
	tab.InsertTemplate(&k, 7, 3, 10*time.Second, 0)
	for now := int64(0); now < 60*sec; now += 5 * sec {
		tab.Expire(now, 1000, nil)
		if _, _, ok := tab.LookupTemplate(&k, now); !ok {
			t.Fatalf("used template expired at %v", time.Duration(now))
		}
	}
	// Unused for longer than its timeout, a lookup reports it gone even before Expire runs.
	if _, _, ok := tab.LookupTemplate(&k, 71*sec+tickNanos); ok {
		t.Fatal("stale template found")
	}
	if tab.TemplateLen() != 0 {
		t.Fatal("stale template not freed by lookup")
	}
}

func TestRemoveTemplateWithControlledConns(t *testing.T) {
	tab := newTable(t, 16)
	k := templateKey(1)
	tref, _ := tab.InsertTemplate(&k, 7, 3, time.Hour, 0)
	var conns []Ref
	for i := range uint32(3) {
		c, in, out := natConn(i, 6)
		c.Template = tref
		conns = append(conns, mustInsert(t, tab, &c, &in, &out, 0))
	}
	if tab.TemplateControlled(tref) != 3 {
		t.Fatalf("controlled = %d", tab.TemplateControlled(tref))
	}
	tab.RemoveTemplate(tref)
	if _, _, ok := tab.LookupTemplate(&k, 0); ok {
		t.Fatal("removed template still found")
	}
	// A new template for the same key can be made while the old one drains.
	nref, err := tab.InsertTemplate(&k, 7, 4, time.Hour, 0)
	if err != nil || nref == tref {
		t.Fatalf("re-insert after remove: %d %v", nref, err)
	}
	c, in, _ := natConn(9, 6)
	c.Template = tref
	if _, err := tab.Insert(&c, &in, nil, 0); err != ErrNoTemplate {
		t.Fatalf("insert under removed template: %v", err)
	}
	if tab.TemplateLen() != 2 {
		t.Fatalf("draining template freed early: %d", tab.TemplateLen())
	}
	for _, ref := range conns {
		tab.Remove(ref)
	}
	if tab.TemplateLen() != 1 {
		t.Fatalf("draining template not freed with its last conn: %d templates", tab.TemplateLen())
	}
	if _, real, ok := tab.LookupTemplate(&k, 0); !ok || real != 4 {
		t.Fatal("new template lost")
	}
}
