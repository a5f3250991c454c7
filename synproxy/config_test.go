package synproxy

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	if err := testConfig.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	for field, c := range map[string]Config{
		"mss":    {MSS: 535, Window: 1, TTL: 1},
		"window": {MSS: 1460, TTL: 1},
		"ttl":    {MSS: 1460, Window: 1},
	} {
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%+v: error %v, want one naming %s", c, err, field)
		}
	}
}
