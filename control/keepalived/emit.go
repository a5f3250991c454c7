package keepalived

// Writing the converted services as fastlvs YAML. The text is written by hand
// rather than marshalled so that it reads like a file an operator wrote: one
// line per real server, only the keys that differ from fastlvs's defaults
// where the default is obvious, and a comment naming the keepalived line each
// service came from.

import (
	"fastlvs/control/config"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const header = `# fastlvs configuration converted from keepalived.conf by "fastlvs import keepalived".
# Review the warnings printed with it. Health-check timing: interval = delay_loop,
# timeout = connect_timeout, fall = retry + 1, rise = 1.
# interfaces: [eth1]   # set the interface(s) fastlvs serves
`

func (c *converter) emit() []byte {
	var out strings.Builder
	out.WriteString(header)
	if timeouts := c.timeouts; timeouts != (config.ConntrackTimeouts{}) {
		var fields []string
		for _, field := range []struct {
			name  string
			value time.Duration
		}{{"tcp", timeouts.TCP}, {"tcpfin", timeouts.TCPFin}, {"udp", timeouts.UDP}} {
			if field.value > 0 {
				fields = append(fields, field.name+": "+formatDuration(field.value))
			}
		}
		fmt.Fprintf(&out, "conntrack:\n  timeouts: {%s}\n", strings.Join(fields, ", "))
	}
	if len(c.services) == 0 {
		out.WriteString("services: []\n")
		return []byte(out.String())
	}
	out.WriteString("services:\n")
	for _, converted := range c.services {
		writeService(&out, converted)
	}
	return []byte(out.String())
}

func writeService(out *strings.Builder, converted convertedService) {
	service := converted.service
	fmt.Fprintf(out, "  # %s (line %d)\n", converted.node, converted.node.Line)
	fmt.Fprintf(out, "  - name: %s\n", yamlString(fmt.Sprintf("%s-%s-%d", service.Protocol, service.VIP, service.Port)))
	fmt.Fprintf(out, "    vip: %s\n", yamlAddr(service.VIP))
	fmt.Fprintf(out, "    port: %d\n", service.Port)
	fmt.Fprintf(out, "    protocol: %s\n", service.Protocol)
	fmt.Fprintf(out, "    scheduler: %s\n", service.Scheduler)
	if len(service.Flags) > 0 {
		fmt.Fprintf(out, "    flags: [%s]\n", strings.Join(service.Flags, ", "))
	}
	if service.Persistence > 0 {
		fmt.Fprintf(out, "    persistence: %s\n", formatDuration(service.Persistence))
	}
	if service.PersistenceNetmask != "" {
		fmt.Fprintf(out, "    persistence_netmask: %s\n", yamlString(service.PersistenceNetmask))
	}
	fmt.Fprintf(out, "    forward: %s\n", service.Forward)
	if len(service.LocalAddresses) > 0 {
		addrs := make([]string, len(service.LocalAddresses))
		for i, addr := range service.LocalAddresses {
			addrs[i] = yamlAddr(addr)
		}
		fmt.Fprintf(out, "    local_addresses: [%s]\n", strings.Join(addrs, ", "))
	}
	if service.SynProxy {
		out.WriteString("    synproxy: true\n")
	}
	fmt.Fprintf(out, "    health_check: {%s}\n", strings.Join(checkFields(service.HealthCheck, nil), ", "))
	if sorry := service.SorryServer; sorry != nil {
		fields := []string{"address: " + yamlAddr(sorry.Address)}
		if sorry.Port != 0 {
			fields = append(fields, fmt.Sprintf("port: %d", sorry.Port))
		}
		fmt.Fprintf(out, "    sorry_server: {%s}\n", strings.Join(fields, ", "))
	}
	if service.Quorum > 0 {
		fmt.Fprintf(out, "    quorum: %d\n", service.Quorum)
	}
	if len(service.RealServers) == 0 {
		out.WriteString("    real_servers: []\n")
		return
	}
	out.WriteString("    real_servers:\n")
	for _, server := range service.RealServers {
		fields := []string{"address: " + yamlAddr(server.Address), fmt.Sprintf("port: %d", server.Port), fmt.Sprintf("weight: %d", server.Weight)}
		if server.UpperThreshold > 0 {
			fields = append(fields, fmt.Sprintf("upper_threshold: %d", server.UpperThreshold))
		}
		if server.LowerThreshold > 0 {
			fields = append(fields, fmt.Sprintf("lower_threshold: %d", server.LowerThreshold))
		}
		if server.HealthCheck != nil {
			fields = append(fields, "health_check: {"+strings.Join(checkFields(*server.HealthCheck, &service.HealthCheck), ", ")+"}")
		}
		fmt.Fprintf(out, "      - {%s}\n", strings.Join(fields, ", "))
	}
}

// checkFields lists a check's keys: for the service's check (base nil) the
// type and timing always and the rest when set; for a real server's override,
// the keys that differ from what the override inherits (empty strings
// included, since an override keeps whatever it does not name).
func checkFields(check config.HealthCheckConfig, base *config.HealthCheckConfig) []string {
	var reference config.HealthCheckConfig
	if base != nil {
		reference = *base
		if check.Type != base.Type {
			// An override of another type inherits only the timing.
			reference = config.HealthCheckConfig{Interval: base.Interval, Timeout: base.Timeout,
				Rise: base.Rise, Fall: base.Fall, InhibitOnFailure: base.InhibitOnFailure}
		}
	}
	var fields []string
	add := func(name string, differs, always bool, text string) {
		if differs || always && base == nil {
			fields = append(fields, name+": "+text)
		}
	}
	add("type", check.Type != reference.Type, true, check.Type)
	add("interval", check.Interval != reference.Interval, true, formatDuration(check.Interval))
	add("timeout", check.Timeout != reference.Timeout, true, formatDuration(check.Timeout))
	add("rise", check.Rise != reference.Rise, true, strconv.Itoa(check.Rise))
	add("fall", check.Fall != reference.Fall, true, strconv.Itoa(check.Fall))
	add("port", check.Port != reference.Port, false, strconv.Itoa(check.Port))
	add("path", check.Path != reference.Path, false, yamlString(check.Path))
	add("status", check.Status != reference.Status, false, yamlString(check.Status))
	add("body_regex", check.BodyRegex != reference.BodyRegex, false, yamlString(check.BodyRegex))
	add("host", check.Host != reference.Host, false, yamlString(check.Host))
	add("sni", check.SNI != reference.SNI, false, yamlString(check.SNI))
	add("payload", check.Payload != reference.Payload, false, yamlString(check.Payload))
	add("expect", check.Expect != reference.Expect, false, yamlString(check.Expect))
	add("dns_name", check.DNSName != reference.DNSName, false, yamlString(check.DNSName))
	add("command", check.Command != reference.Command, false, yamlString(check.Command))
	add("inhibit_on_failure", check.InhibitOnFailure != reference.InhibitOnFailure, false, strconv.FormatBool(check.InhibitOnFailure))
	return fields
}

var plainYAML = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./-]*$`)

// yamlString writes s plain when YAML cannot mistake it for anything else,
// double-quoted otherwise.
func yamlString(s string) string {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~":
		return strconv.Quote(s)
	}
	if plainYAML.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

// yamlAddr quotes IPv6 addresses, whose colons would read as keys in flow style.
func yamlAddr(addr netip.Addr) string {
	if addr.Is6() {
		return strconv.Quote(addr.String())
	}
	return addr.String()
}

func formatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}
