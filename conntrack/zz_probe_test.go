package conntrack

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestHugeDebug(t *testing.T) {
	n := 1 << 20
	t0 := time.Now()
	tab := fillTable2(t, n)
	t.Logf("fill %v", time.Since(t0))
	b, _ := os.ReadFile("/proc/self/smaps_rollup")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "Huge") || strings.HasPrefix(l, "Rss") {
			t.Log(l)
		}
	}
	x := uint64(0x9e3779b97f4a7c15)
	t0 = time.Now()
	for range 2000000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		_, in, _ := benchConn(uint32(x % uint64(n)))
		tab.Lookup(&in)
	}
	t.Logf("lookup %v/op", time.Since(t0)/2000000)
}

func fillTable2(t *testing.T, entries int) *Table {
	tab, _ := New(Config{Capacity: entries, TemplateCapacity: 64})
	for i := range uint32(entries) {
		c, in, out := benchConn(i)
		if _, err := tab.Insert(&c, &in, &out, 0); err != nil {
			t.Fatal(err)
		}
	}
	return tab
}
