package main

import (
	"os"
	"strings"
	"testing"
)

// fastlvsadm.8 documents every option fastlvsadm accepts; the ones it
// refuses (fwmark services, persistence engines, sync daemons, IPv6 and
// version switches of ipvsadm's table) need no entry.
func TestManPageListsEveryOption(t *testing.T) {
	page, err := os.ReadFile("../../deploy/man/fastlvsadm.8")
	if err != nil {
		t.Fatal(err)
	}
	undocumented := map[string]bool{
		"fwmark-service": true, "pe": true, "start-daemon": true, "stop-daemon": true,
		"mcast-interface": true, "syncid": true, "daemon": true, "ipv6": true, "version": true,
	}
	for _, spec := range optionSpecs {
		if undocumented[spec.long] {
			continue
		}
		if !strings.Contains(string(page), `\-\-`+strings.ReplaceAll(spec.long, "-", `\-`)) {
			t.Errorf("fastlvsadm.8 does not mention --%s", spec.long)
		}
	}
}
