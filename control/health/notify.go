package health

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
)

// Notifier tells the outside world about a transition: a script (like
// keepalived's notify_up/notify_down) and/or a webhook.
type Notifier struct {
	// Exec is a shell command line run with FASTLVS_EVENT=up|down,
	// FASTLVS_TARGET (the key), FASTLVS_ADDR, FASTLVS_WEIGHT and FASTLVS_REASON.
	Exec string
	// Webhook is a URL that receives the Event as a JSON POST.
	Webhook string
}

// Notify runs the script and posts the webhook; ctx bounds both.
func (n *Notifier) Notify(ctx context.Context, e Event) error {
	var errs []error
	if n.Exec != "" {
		if err := n.runExec(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	if n.Webhook != "" {
		if err := n.post(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func eventName(e Event) string {
	if e.Up {
		return "up"
	}
	return "down"
}

func (n *Notifier) runExec(ctx context.Context, e Event) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", n.Exec)
	cmd.Env = append(os.Environ(),
		"FASTLVS_EVENT="+eventName(e),
		"FASTLVS_TARGET="+e.Key,
		"FASTLVS_ADDR="+e.Addr.String(),
		"FASTLVS_WEIGHT="+strconv.Itoa(e.Weight),
		"FASTLVS_REASON="+e.Reason,
	)
	killGroupOnCancel(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("notify exec %q: %w (output %q)", n.Exec, err, truncate(out, 200))
	}
	return nil
}

func (n *Notifier) post(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("notify webhook encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.Webhook, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("notify webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("notify webhook %s: status %d", n.Webhook, resp.StatusCode)
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
