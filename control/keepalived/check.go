package keepalived

// Translating keepalived's health checkers (TCP_CHECK, HTTP_GET, SSL_GET,
// MISC_CHECK, UDP_CHECK, DNS_CHECK, PING_CHECK) and their timing.

import (
	"bytes"
	"encoding/hex"
	"fastlvs/control/config"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// checker translates one health checker block.
func (c *converter) checker(node *Node, server config.RealServerConfig, defaults checkDefaults) config.HealthCheckConfig {
	var miscTimeout time.Duration
	check := config.HealthCheckConfig{Type: map[string]string{
		"TCP_CHECK": "tcp", "HTTP_GET": "http", "SSL_GET": "https", "MISC_CHECK": "exec",
		"UDP_CHECK": "udp", "DNS_CHECK": "dns", "PING_CHECK": "icmp", "ICMP_CHECK": "icmp",
	}[node.Keyword]}
	var urls []*Node
	enableSNI := false
	for _, child := range node.Children {
		switch child.Keyword {
		case "connect_port":
			if port := c.count(child, 0); port != server.Port {
				check.Port = port
			}
		case "virtualhost":
			defaults.virtualhost = firstArg(child.Args)
		case "url":
			urls = append(urls, child)
		case "enable_sni":
			enableSNI = true
		case "misc_path":
			check.Command = strings.Join(child.Args, " ")
		case "misc_timeout":
			miscTimeout = c.seconds(child, 0)
		case "payload":
			check.Payload = c.hexText(child)
		case "require_reply":
			check.Expect = c.hexText(child)
		case "name":
			check.DNSName = firstArg(child.Args)
		case "delay_before_retry":
			c.warnf(child.Line, "%s: not translated (fastlvs retries at the check interval)", child)
		case "misc_dynamic":
			c.warnf(child.Line, "%s: not translated (fastlvs does not set weights from the exit status)", child)
		case "type":
			c.warnf(child.Line, "%s: not translated (the dns check asks for the name only)", child)
		default:
			if !c.timing(child, &defaults) {
				c.warnf(child.Line, "%s %s: not translated", node.Keyword, child)
			}
		}
	}
	if len(urls) > 0 {
		c.url(urls[0], &check)
		for _, extra := range urls[1:] {
			c.warnf(extra.Line, "%s: only the first url of %s is checked", extra, node.Keyword)
		}
	}
	if check.Type == "http" || check.Type == "https" {
		if check.Host == "" {
			check.Host = defaults.virtualhost
		}
		if check.Status == "" {
			check.Status = "200-299" // keepalived accepts any 2xx by default
		}
		if check.Type == "https" && enableSNI {
			check.SNI = check.Host
		}
	}
	if check.Type == "exec" && check.Command == "" {
		c.warnf(node.Line, "%s: MISC_CHECK without misc_path, server not checked", node)
		check.Type = "none"
	}
	timing := c.checkTiming(defaults, node.Line, miscTimeout)
	check.Interval, check.Timeout, check.Rise, check.Fall, check.InhibitOnFailure = timing.Interval, timing.Timeout, timing.Rise, timing.Fall, timing.InhibitOnFailure
	return check
}

func (c *converter) url(node *Node, check *config.HealthCheckConfig) {
	var statuses []string
	for _, child := range node.Children {
		switch child.Keyword {
		case "path":
			check.Path = firstArg(child.Args)
		case "status_code":
			statuses = append(statuses, child.Args...)
		case "virtualhost":
			check.Host = firstArg(child.Args)
		case "regex":
			check.BodyRegex = strings.Join(child.Args, " ")
		case "digest":
			c.warnf(child.Line, "%s: not translated (fastlvs checks the status and body_regex, not an MD5 digest)", child)
		default:
			c.warnf(child.Line, "url %s: not translated", child)
		}
	}
	check.Status = strings.Join(statuses, ",")
}

// checkTiming maps keepalived's checker timing onto fastlvs's (see the table
// at the top of this file). A timeout that is not below the interval is
// clamped, with a warning for line unless line is 0 (timing nobody probes with).
func (c *converter) checkTiming(defaults checkDefaults, line int, timeoutOverride time.Duration) config.HealthCheckConfig {
	timing := config.HealthCheckConfig{
		Interval:         defaults.delayLoop,
		Timeout:          defaults.connectTimeout,
		Rise:             1,
		Fall:             defaults.retry + 1,
		InhibitOnFailure: defaults.inhibit,
	}
	if timeoutOverride > 0 {
		timing.Timeout = timeoutOverride
	}
	if timing.Timeout >= timing.Interval {
		clamped := timing.Interval / 2
		if line != 0 {
			c.warnf(line, "check timeout %s is not below delay_loop %s; timeout %s used",
				formatDuration(timing.Timeout), formatDuration(timing.Interval), formatDuration(clamped))
		}
		timing.Timeout = clamped
	}
	return timing
}

// mostCommonCheck picks the check most real servers share (the first on a
// tie) as the service's check; the others become per-server overrides.
func mostCommonCheck(checks []config.HealthCheckConfig, fallback config.HealthCheckConfig) config.HealthCheckConfig {
	if len(checks) == 0 {
		return fallback
	}
	best, bestCount := checks[0], 0
	for _, candidate := range checks {
		count := 0
		for _, other := range checks {
			if other == candidate {
				count++
			}
		}
		if count > bestCount {
			best, bestCount = candidate, count
		}
	}
	return best
}

// hexText decodes UDP_CHECK's hex payload; fastlvs's payload and expect are
// text, so binary data is not translated.
func (c *converter) hexText(node *Node) string {
	decoded, err := hex.DecodeString(strings.Join(node.Args, ""))
	if err != nil {
		c.warnf(node.Line, "%s: not hex, not translated", node)
		return ""
	}
	if !utf8.Valid(decoded) || bytes.ContainsFunc(decoded, func(r rune) bool { return !unicode.IsPrint(r) && !unicode.IsSpace(r) }) {
		c.warnf(node.Line, "%s: binary data is not translated (fastlvs takes text)", node)
		return ""
	}
	return string(decoded)
}
