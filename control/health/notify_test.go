package health

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNotifyOncePerTransition drives a target down and up and checks that
// the exec hook and the webhook each saw exactly those two transitions.
func TestNotifyOncePerTransition(t *testing.T) {
	var mu sync.Mutex
	var posted []Event
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e Event
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		posted = append(posted, e)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	logFile := filepath.Join(t.TempDir(), "events")
	notifier := &Notifier{
		Exec:    `echo "$FASTLVS_EVENT $FASTLVS_TARGET $FASTLVS_ADDR" >> ` + logFile,
		Webhook: hook.URL,
	}
	srv := newTCPServer(t)
	rec := newRecorder()
	m := NewManagerWithNotifier(rec.onChange, notifier)
	t.Cleanup(m.Close)
	const key = "tcp/198.18.0.10:80/rs"
	m.Update([]Target{{Key: key, Addr: srv.addr, Spec: Spec{Interval: 30 * time.Millisecond, Timeout: 2 * time.Second, Rise: 2, Fall: 2}}})
	waitUntil(t, 5*time.Second, "checks", func() bool { st, _ := m.Status(key); return st.Checks >= 2 })
	srv.stop()
	rec.waitFor(t, 1, 5*time.Second)
	srv.restart()
	rec.waitFor(t, 2, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // a third, wrong, notification would arrive here
	m.Close()                          // delivers what is queued

	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	want := "down " + key + " " + srv.addr.String() + "\nup " + key + " " + srv.addr.String() + "\n"
	if string(raw) != want {
		t.Errorf("exec hook saw %q, want %q", raw, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posted) != 2 || posted[0].Up || !posted[1].Up || posted[0].Key != key || posted[1].Addr != srv.addr {
		t.Errorf("webhook saw %+v, want down then up for %s", posted, key)
	}
	if !strings.Contains(posted[0].Reason, "2 consecutive failures") {
		t.Errorf("webhook reason %q", posted[0].Reason)
	}
}

func TestNotifyErrors(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(hook.Close)
	n := &Notifier{Exec: "exit 3", Webhook: hook.URL}
	err := n.Notify(context.Background(), Event{Key: "k"})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "status 500") {
		t.Errorf("Notify error = %v, want both the script and the webhook failure", err)
	}
	slow := &Notifier{Exec: "sleep 5"}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := slow.Notify(ctx, Event{}); err == nil || time.Since(began) > 2*time.Second {
		t.Errorf("slow hook: err=%v after %v, want an error at the deadline", err, time.Since(began))
	}
}
