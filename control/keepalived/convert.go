package keepalived

// Converting keepalived's LVS configuration into fastlvs services.
//
// Health-check timing maps as follows (keepalived's defaults in brackets):
//
//	interval = delay_loop          [60s]; the checker's own, else the real server's, else the virtual server's
//	timeout  = connect_timeout     [5s];  misc_timeout for MISC_CHECK; clamped below interval (with a warning)
//	fall     = retry + 1           [retry 1]; nb_get_retry is the old name of retry. keepalived declares a
//	                               failure after the first failed check and `retry` more
//	rise     = 1                   keepalived restores a server after one good check
//
// delay_before_retry has no equivalent (fastlvs retries at the interval) and is
// named in the warnings, like everything else that is not translated.

import (
	"fastlvs/control/config"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// keepalived's defaults for the values fastlvs needs explicitly.
const (
	keepalivedDelayLoop      = 60 * time.Second
	keepalivedConnectTimeout = 5 * time.Second
	keepalivedRetry          = 1
	maxExpandedRange         = 256
	maxWeight                = 65535
)

// Convert translates keepalived.conf text into fastlvs YAML. warnings name,
// with line numbers, every construct that was not translated (or translated
// approximately). err reports a syntax error, or a converted configuration
// that fastlvs would refuse.
func Convert(src []byte) (yamlOut []byte, warnings []string, err error) {
	nodes, err := Parse(src)
	if err != nil {
		return nil, nil, fmt.Errorf("parse keepalived.conf: %w", err)
	}
	conv := &converter{localGroups: map[string][]netip.Addr{}}
	conv.convert(nodes)
	yamlOut = conv.emit()
	for _, warning := range conv.warnings {
		warnings = append(warnings, warning.text)
	}
	if _, err := config.Parse(yamlOut); err != nil {
		return nil, warnings, fmt.Errorf("converted configuration is invalid: %w", err)
	}
	return yamlOut, warnings, nil
}

type warning struct {
	line int
	text string
}

type convertedService struct {
	service config.ServiceConfig
	node    *Node
}

type converter struct {
	warnings    []warning
	localGroups map[string][]netip.Addr
	services    []convertedService
	// timeouts from global_defs lvs_timeouts; zero when not given.
	timeouts config.ConntrackTimeouts
}

func (c *converter) warnf(line int, format string, args ...any) {
	c.warnings = append(c.warnings, warning{line, fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, args...)})
}

func (c *converter) ignore(node *Node) {
	c.warnf(node.Line, "%s: not translated", node)
}

func (c *converter) convert(nodes []*Node) {
	// Groups may be defined after the services that name them.
	for _, node := range nodes {
		if node.Keyword == "local_address_group" {
			c.localAddressGroup(node)
		}
	}
	for _, node := range nodes {
		switch keyword := node.Keyword; {
		case keyword == "local_address_group":
		case keyword == "virtual_server":
			c.virtualServer(node)
		case keyword == "global_defs":
			c.globalDefs(node)
		case strings.HasPrefix(keyword, "vrrp_") || keyword == "garp_group" || keyword == "static_ipaddress" ||
			keyword == "static_routes" || keyword == "static_rules":
			c.warnf(node.Line, "%s: handled by keepalived/VRRP, not translated", node)
		case keyword == "virtual_server_group":
			c.warnf(node.Line, "%s: virtual server groups are not translated; write one service per member", node)
		case keyword == "include":
			c.warnf(node.Line, "%s: included files are not followed; convert them separately", node)
		default:
			c.ignore(node)
		}
	}
	sort.SliceStable(c.warnings, func(i, j int) bool { return c.warnings[i].line < c.warnings[j].line })
}

func (c *converter) globalDefs(node *Node) {
	for _, child := range node.Children {
		if child.Keyword != "lvs_timeouts" {
			c.ignore(child)
			continue
		}
		// lvs_timeouts [tcp N] [tcpfin N] [udp N]
		for i := 0; i+1 < len(child.Args); i += 2 {
			seconds, err := strconv.Atoi(child.Args[i+1])
			if err != nil || seconds <= 0 {
				c.warnf(child.Line, "lvs_timeouts %s %s: not a number of seconds, not translated", child.Args[i], child.Args[i+1])
				continue
			}
			timeout := time.Duration(seconds) * time.Second
			switch child.Args[i] {
			case "tcp":
				c.timeouts.TCP = timeout
			case "tcpfin":
				c.timeouts.TCPFin = timeout
			case "udp":
				c.timeouts.UDP = timeout
			default:
				c.warnf(child.Line, "lvs_timeouts %s: not translated", child.Args[i])
			}
		}
	}
}

func (c *converter) localAddressGroup(node *Node) {
	if len(node.Args) != 1 {
		c.warnf(node.Line, "%s: needs exactly one name, not translated", node)
		return
	}
	var addrs []netip.Addr
	for _, member := range node.Children {
		expanded, err := expandRange(member.Keyword)
		if err != nil {
			c.warnf(member.Line, "local address %s: %v, not translated", member.Keyword, err)
			continue
		}
		if len(member.Args) > 0 {
			c.warnf(member.Line, "local address %s: interface %s not translated (fastlvs sends from its own interfaces)", member.Keyword, strings.Join(member.Args, " "))
		}
		addrs = append(addrs, expanded...)
	}
	c.localGroups[node.Args[0]] = addrs
}

// expandRange reads an address or keepalived's range form, in which the last
// IPv4 octet (or IPv6 group, in hex) ends a range: 198.18.3.1-10.
func expandRange(text string) ([]netip.Addr, error) {
	first, last, isRange := strings.Cut(text, "-")
	start, err := netip.ParseAddr(first)
	if err != nil {
		return nil, fmt.Errorf("not an address")
	}
	if !isRange {
		return []netip.Addr{start}, nil
	}
	base := 10
	startByte := start.As16()
	startValue := int(startByte[15])
	if start.Is6() {
		base = 16
		startValue = int(startByte[14])<<8 | int(startByte[15])
	}
	endValue, err := strconv.ParseInt(last, base, 32)
	limit := int64(255)
	if start.Is6() {
		limit = 0xffff
	}
	if err != nil || endValue < int64(startValue) || endValue > limit {
		return nil, fmt.Errorf("bad range end %q", last)
	}
	if int(endValue)-startValue+1 > maxExpandedRange {
		return nil, fmt.Errorf("range of more than %d addresses", maxExpandedRange)
	}
	addrs := []netip.Addr{start}
	for next := start; len(addrs) < int(endValue)-startValue+1; {
		next = next.Next()
		addrs = append(addrs, next)
	}
	return addrs, nil
}

// checkDefaults are the checker settings a virtual server or real server
// passes down to its checkers.
type checkDefaults struct {
	delayLoop      time.Duration
	connectTimeout time.Duration
	retry          int
	inhibit        bool
	virtualhost    string
}

// timing reads the checker timing keywords keepalived lets every level
// (virtual_server, real_server, checker) set for the levels below it; it
// reports whether child was one of them.
func (c *converter) timing(child *Node, d *checkDefaults) bool {
	switch child.Keyword {
	case "delay_loop":
		d.delayLoop = c.seconds(child, d.delayLoop)
	case "connect_timeout":
		d.connectTimeout = c.seconds(child, d.connectTimeout)
	case "retry", "nb_get_retry":
		d.retry = c.count(child, d.retry)
	default:
		return false
	}
	return true
}

func (c *converter) virtualServer(node *Node) {
	if len(node.Args) >= 1 && node.Args[0] == "fwmark" {
		c.warnf(node.Line, "%s: fwmark services are not translated (fastlvs matches on address and port)", node)
		return
	}
	if len(node.Args) >= 1 && node.Args[0] == "group" {
		c.warnf(node.Line, "%s: virtual_server_group services are not translated; write one service per member", node)
		return
	}
	if len(node.Args) != 2 {
		c.warnf(node.Line, "%s: expected an address and a port, not translated", node)
		return
	}
	vip, err := netip.ParseAddr(node.Args[0])
	port, portErr := strconv.Atoi(node.Args[1])
	if err != nil || portErr != nil || port < 0 || port > 65535 {
		c.warnf(node.Line, "%s: not an address and a port, not translated", node)
		return
	}
	service := config.DefaultService()
	service.VIP, service.Port = vip.Unmap(), port
	service.Forward = "nat" // keepalived's default lb_kind
	service.HealthCheck.Rise = 1
	defaults := checkDefaults{delayLoop: keepalivedDelayLoop, connectTimeout: keepalivedConnectTimeout, retry: keepalivedRetry}
	var realServers []*Node
	var laddrGroup *Node
	for _, child := range node.Children {
		args := child.Args
		switch child.Keyword {
		case "real_server":
			realServers = append(realServers, child)
		case "inhibit_on_failure":
			defaults.inhibit = true
		case "virtualhost":
			if len(args) == 1 {
				defaults.virtualhost = args[0]
			}
		case "lb_algo", "lvs_sched":
			if len(args) == 1 && slices.Contains(config.SchedulerNames(), args[0]) {
				service.Scheduler = args[0]
			} else {
				c.warnf(child.Line, "%s: unknown scheduler, kept %s", child, service.Scheduler)
			}
		case "lb_kind", "lvs_method":
			forward := map[string]string{"NAT": "nat", "DR": "dr", "TUN": "tun", "FNAT": "fullnat"}[strings.ToUpper(firstArg(args))]
			if forward == "" {
				c.warnf(child.Line, "%s: forwarding method not translated, kept %s", child, service.Forward)
				continue
			}
			service.Forward = forward
			if len(args) > 1 {
				c.warnf(child.Line, "%s: tunnel options not translated", child)
			}
		case "protocol":
			switch strings.ToUpper(firstArg(args)) {
			case "TCP":
				service.Protocol = "tcp"
			case "UDP":
				service.Protocol = "udp"
			default:
				c.warnf(node.Line, "%s: protocol %s is not supported, service not translated", node, firstArg(args))
				return
			}
		case "persistence_timeout":
			service.Persistence = c.seconds(child, config.DefaultPersistenceTrue)
		case "persistence_granularity":
			service.PersistenceNetmask = firstArg(args)
		case "sorry_server":
			service.SorryServer = c.sorryServer(child)
		case "quorum":
			service.Quorum = c.count(child, 0)
		case "laddr_group_name":
			laddrGroup = child
		case "syn_proxy":
			c.warnf(child.Line, "%s: not translated (fastlvs has no SYN-proxy yet)", child)
		case "sh-port", "sh-fallback", "mh-port", "mh-fallback":
			service.Flags = append(service.Flags, child.Keyword)
		case "delay_before_retry":
			c.warnf(child.Line, "%s: not translated (fastlvs retries at the check interval)", child)
		default:
			if !c.timing(child, &defaults) {
				c.ignore(child)
			}
		}
	}
	if laddrGroup != nil {
		group, ok := c.localGroups[firstArg(laddrGroup.Args)]
		switch {
		case !ok:
			c.warnf(laddrGroup.Line, "%s: no local_address_group of that name", laddrGroup)
		case service.Forward != "fullnat":
			c.warnf(laddrGroup.Line, "%s: local addresses apply only to lb_kind FNAT, not translated", laddrGroup)
		default:
			service.LocalAddresses = group
		}
	}
	if service.Forward == "fullnat" && len(service.LocalAddresses) == 0 {
		c.warnf(node.Line, "%s: lb_kind FNAT without a usable laddr_group_name, service not translated", node)
		return
	}
	if service.Port == 0 && service.Persistence == 0 {
		c.warnf(node.Line, "%s: port 0 without persistence_timeout, service not translated", node)
		return
	}
	c.fixPersistenceNetmask(node, &service)

	var checks []config.HealthCheckConfig
	for _, serverNode := range realServers {
		server, check, ok := c.realServer(serverNode, &service, defaults)
		if !ok {
			continue
		}
		if slices.ContainsFunc(service.RealServers, func(other config.RealServerConfig) bool {
			return other.Address == server.Address && other.Port == server.Port
		}) {
			c.warnf(serverNode.Line, "%s: duplicate real server, not translated", serverNode)
			continue
		}
		service.RealServers = append(service.RealServers, server)
		checks = append(checks, check)
	}
	fallback := c.checkTiming(defaults, 0, 0)
	fallback.Type = service.Protocol
	service.HealthCheck = mostCommonCheck(checks, fallback)
	for i := range service.RealServers {
		if checks[i] != service.HealthCheck {
			override := checks[i]
			service.RealServers[i].HealthCheck = &override
		}
	}
	for _, earlier := range c.services {
		if earlier.service.VIP == service.VIP && earlier.service.Port == service.Port && earlier.service.Protocol == service.Protocol {
			c.warnf(node.Line, "%s: duplicate of the virtual server on line %d, not translated", node, earlier.node.Line)
			return
		}
	}
	c.services = append(c.services, convertedService{service: service, node: node})
}

// fixPersistenceNetmask turns an IPv6 granularity into a prefix length, and
// drops a granularity without persistence (IPVS ignores it too).
func (c *converter) fixPersistenceNetmask(node *Node, service *config.ServiceConfig) {
	if service.PersistenceNetmask == "" {
		return
	}
	if service.Persistence == 0 {
		c.warnf(node.Line, "%s: persistence_granularity without persistence_timeout, not translated", node)
		service.PersistenceNetmask = ""
		return
	}
	if service.VIP.Is6() {
		if _, err := strconv.Atoi(service.PersistenceNetmask); err != nil {
			c.warnf(node.Line, "%s: IPv6 persistence_granularity %s is not a prefix length, not translated", node, service.PersistenceNetmask)
			service.PersistenceNetmask = ""
		}
	}
}

func (c *converter) sorryServer(node *Node) *config.SorryServerConfig {
	if len(node.Args) < 1 {
		c.warnf(node.Line, "%s: needs an address, not translated", node)
		return nil
	}
	addr, err := netip.ParseAddr(node.Args[0])
	if err != nil {
		c.warnf(node.Line, "%s: not an address, not translated", node)
		return nil
	}
	sorry := &config.SorryServerConfig{Address: addr.Unmap()}
	if len(node.Args) > 1 {
		if port, err := strconv.Atoi(node.Args[1]); err == nil && port >= 0 && port <= 65535 {
			sorry.Port = port
		} else {
			c.warnf(node.Line, "%s: bad port, not translated", node)
		}
	}
	return sorry
}

func (c *converter) realServer(node *Node, service *config.ServiceConfig, inherited checkDefaults) (config.RealServerConfig, config.HealthCheckConfig, bool) {
	server := config.DefaultRealServer()
	if len(node.Args) < 1 {
		c.warnf(node.Line, "%s: needs an address, not translated", node)
		return server, config.HealthCheckConfig{}, false
	}
	addr, err := netip.ParseAddr(node.Args[0])
	if err != nil {
		c.warnf(node.Line, "%s: not an address, not translated", node)
		return server, config.HealthCheckConfig{}, false
	}
	if addr.Unmap().Is4() != service.VIP.Is4() {
		c.warnf(node.Line, "%s: address family differs from the virtual server's, not translated", node)
		return server, config.HealthCheckConfig{}, false
	}
	server.Address = addr.Unmap()
	server.Port = service.Port
	if len(node.Args) > 1 {
		port, err := strconv.Atoi(node.Args[1])
		if err != nil || port < 0 || port > 65535 {
			c.warnf(node.Line, "%s: bad port, not translated", node)
			return server, config.HealthCheckConfig{}, false
		}
		server.Port = port
	}
	if (service.Forward == "dr" || service.Forward == "tun") && server.Port != service.Port {
		c.warnf(node.Line, "%s: lb_kind %s cannot change the port; port %d used", node, strings.ToUpper(service.Forward), service.Port)
		server.Port = service.Port
	}
	if service.Port == 0 {
		server.Port = 0
	}
	defaults := inherited
	var checkers []*Node
	for _, child := range node.Children {
		switch child.Keyword {
		case "weight":
			server.Weight = c.count(child, server.Weight)
			if server.Weight > maxWeight {
				c.warnf(child.Line, "%s: above %d, %d used", child, maxWeight, maxWeight)
				server.Weight = maxWeight
			}
		case "uthreshold":
			server.UpperThreshold = c.count(child, 0)
		case "lthreshold":
			server.LowerThreshold = c.count(child, 0)
		case "inhibit_on_failure":
			defaults.inhibit = true
		case "virtualhost":
			defaults.virtualhost = firstArg(child.Args)
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "UDP_CHECK", "DNS_CHECK", "PING_CHECK", "ICMP_CHECK":
			checkers = append(checkers, child)
		case "delay_before_retry":
			c.warnf(child.Line, "%s: not translated (fastlvs retries at the check interval)", child)
		case "SMTP_CHECK", "BFD_CHECK", "FILE_CHECK":
			c.warnf(child.Line, "%s: no fastlvs equivalent, checker not translated", child)
		default:
			if !c.timing(child, &defaults) {
				c.ignore(child)
			}
		}
	}
	if server.UpperThreshold > 0 && server.LowerThreshold > server.UpperThreshold {
		c.warnf(node.Line, "%s: lthreshold above uthreshold, lthreshold not translated", node)
		server.LowerThreshold = 0
	}
	if server.UpperThreshold == 0 && server.LowerThreshold > 0 {
		c.warnf(node.Line, "%s: lthreshold without uthreshold, not translated", node)
		server.LowerThreshold = 0
	}
	if len(checkers) == 0 {
		check := c.checkTiming(defaults, 0, 0)
		check.Type = "none"
		return server, check, true
	}
	for _, extra := range checkers[1:] {
		c.warnf(extra.Line, "%s: only the first checker of a real server is translated", extra)
	}
	return server, c.checker(checkers[0], server, defaults), true
}

func (c *converter) seconds(node *Node, fallback time.Duration) time.Duration {
	value, err := strconv.ParseFloat(firstArg(node.Args), 64)
	if err != nil || value <= 0 || len(node.Args) != 1 {
		c.warnf(node.Line, "%s: not a number of seconds, not translated", node)
		return fallback
	}
	return time.Duration(value * float64(time.Second))
}

func (c *converter) count(node *Node, fallback int) int {
	value, err := strconv.Atoi(firstArg(node.Args))
	if err != nil || value < 0 || len(node.Args) != 1 {
		c.warnf(node.Line, "%s: not a number, not translated", node)
		return fallback
	}
	return value
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}
