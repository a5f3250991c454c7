package main

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"fastlvs/control/api"
)

// Commands, in the order of ipvsadm's CMD_* constants, then the FULLNAT
// local-address commands of Alibaba's ipvsadm.
const (
	cmdNone = iota
	cmdAdd
	cmdEdit
	cmdDel
	cmdFlush
	cmdList
	cmdAddDest
	cmdDelDest
	cmdEditDest
	cmdTimeout
	cmdStartDaemon
	cmdStopDaemon
	cmdRestore
	cmdSave
	cmdZero
	cmdAddLaddr
	cmdDelLaddr
	cmdGetLaddr
)

var commandNames = [...]string{"", "add-service", "edit-service", "delete-service", "flush", "list",
	"add-server", "delete-server", "edit-server", "set", "start-daemon", "stop-daemon", "restore", "save", "zero",
	"add-laddr", "del-laddr", "get-laddr"}

// Options, one bit each, in the order of ipvsadm's OPT_* constants (its
// error messages name them with optionNames), then -z.
const (
	optNumeric = 1 << iota
	optConnection
	optService
	optScheduler
	optPersistent
	optNetmask
	optServer
	optForward
	optWeight
	optUThreshold
	optLThreshold
	optMcast
	optTimeout
	optDaemon
	optStats
	optRate
	optThresholds
	optPersistentConn
	optNoSort
	optSyncID
	optExact
	optOnePacket
	optPersistenceEngine
	optSchedFlags
	optLaddr
	numberOfOptions = iota
)

var optionNames = [numberOfOptions]string{"numeric", "connection", "service-address", "scheduler", "persistent",
	"netmask", "real-server", "forwarding-method", "weight", "u-threshold", "l-threshold", "mcast-interface",
	"timeout", "daemon", "stats", "rate", "thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops",
	"pe", "sched-flags", "laddr"}

// commandOptions is ipvsadm's commands_v_options table with a column for -z
// and rows for the local-address commands: '+' compulsory, 'x' illegal,
// '1' at most one of the '1' options, ' ' optional.
var commandOptions = map[int]string{
	// columns: -n -c svc -s -p -M -r fwd -w -x -y mcast timeout daemon stats rate
	// thresholds persistent-conn nosort syncid exact ops pe -b -z
	cmdAdd:         "xx+   xxxxxxxxxxxxxxx   x",
	cmdEdit:        "xx+   xxxxxxxxxxxxxxx   x",
	cmdDel:         "xx+xxxxxxxxxxxxxxxxxxxxxx",
	cmdFlush:       "xxxxxxxxxxxxxxxxxxxxxxxxx",
	cmdList:        " 11xxxxxxxxx11       xxxx",
	cmdAddDest:     "xx+xxx+    xxxxxxxxxxxxxx",
	cmdDelDest:     "xx+xxx+xxxxxxxxxxxxxxxxxx",
	cmdEditDest:    "xx+xxx+    xxxxxxxxxxxxxx",
	cmdTimeout:     "xxxxxxxxxxxxxxxxxxxxxxxxx",
	cmdStartDaemon: "xxxxxxxxxxx xxxxxxx xxxxx",
	cmdStopDaemon:  "xxxxxxxxxxxxxxxxxxx xxxxx",
	cmdRestore:     "xxxxxxxxxxxxxxxxxxxxxxxxx",
	cmdSave:        " xxxxxxxxxxxxxxxxxxxxxxxx",
	cmdZero:        "xx xxxxxxxxxxxxxxxxxxxxxx",
	cmdAddLaddr:    "xx+xxxxxxxxxxxxxxxxxxxxx+",
	cmdDelLaddr:    "xx+xxxxxxxxxxxxxxxxxxxxx+",
	cmdGetLaddr:    " x xxxxxxxxxxxxxxxxxxxxxx",
}

// Output format bits, as ipvsadm's FMT_*.
const (
	fmtNumeric = 1 << iota
	fmtRule
	fmtStats
	fmtRate
	fmtThresholds
	fmtPersistentConn
	fmtNoSort
	fmtExact
	fmtHealth // fastlvs: every real server with its health state
)

// usageError is a failure ipvsadm reports with one line and a non-zero exit.
type usageError struct{ message string }

func (e *usageError) Error() string { return e.message }

func failf(format string, args ...any) error {
	return &usageError{message: fmt.Sprintf(format, args...)}
}

// tryHelp is ipvsadm's tryhelp_exit: no command, or an option before it.
type tryHelp struct{}

func (tryHelp) Error() string { return "try help" }

// request is one parsed command line (ipvsadm's ipvs_command_entry).
type request struct {
	cmd      int
	options  int
	format   int
	help     bool
	version  bool
	service  api.ServiceKey
	svc      api.Service
	server   netip.Addr
	port     uint16
	portSet  bool
	real     api.RealServer
	netmask  string
	flags    string
	laddr    netip.Addr
	timeouts api.Timeouts
}

type argKind int

const (
	noArg argKind = iota
	requiredArg
	optionalArg
)

type optionSpec struct {
	long  string
	short byte
	kind  argKind
}

// optionSpecs is ipvsadm's popt table plus --fullnat/-F and Alibaba's
// local-address options (-P -Q -G -z; Alibaba's -b for FULLNAT is upstream's
// --sched-flags, so it keeps that meaning).
var optionSpecs = []optionSpec{
	{"add-service", 'A', noArg}, {"edit-service", 'E', noArg}, {"delete-service", 'D', noArg},
	{"clear", 'C', noArg}, {"list", 'L', noArg}, {"list", 'l', noArg}, {"zero", 'Z', noArg},
	{"add-server", 'a', noArg}, {"edit-server", 'e', noArg}, {"delete-server", 'd', noArg},
	{"set", 0, noArg}, {"help", 'h', noArg}, {"version", 'v', noArg}, {"restore", 'R', noArg},
	{"save", 'S', noArg}, {"start-daemon", 0, requiredArg}, {"stop-daemon", 0, requiredArg},
	{"tcp-service", 't', requiredArg}, {"udp-service", 'u', requiredArg}, {"fwmark-service", 'f', requiredArg},
	{"scheduler", 's', requiredArg}, {"persistent", 'p', optionalArg}, {"netmask", 'M', requiredArg},
	{"real-server", 'r', requiredArg}, {"masquerading", 'm', noArg}, {"ipip", 'i', noArg},
	{"gatewaying", 'g', noArg}, {"fullnat", 'F', noArg}, {"weight", 'w', requiredArg},
	{"u-threshold", 'x', requiredArg}, {"l-threshold", 'y', requiredArg}, {"numeric", 'n', noArg},
	{"connection", 'c', noArg}, {"mcast-interface", 0, requiredArg}, {"syncid", 0, requiredArg},
	{"timeout", 0, noArg}, {"daemon", 0, noArg}, {"stats", 0, noArg}, {"rate", 0, noArg},
	{"thresholds", 0, noArg}, {"persistent-conn", 0, noArg}, {"nosort", 0, noArg}, {"sort", 0, noArg},
	{"exact", 'X', noArg}, {"ipv6", '6', noArg}, {"ops", 'o', noArg}, {"pe", 0, requiredArg},
	{"sched-flags", 'b', requiredArg}, {"add-laddr", 'P', noArg}, {"del-laddr", 'Q', noArg},
	{"get-laddr", 'G', noArg}, {"laddr", 'z', requiredArg}, {"health", 0, noArg},
}

type parsedOption struct {
	spec   optionSpec
	value  string
	hasArg bool
}

// tokenize splits argv the way popt does: bundled short options ("-Ln"),
// "--long=value", a required argument from the rest of the bundle or the next
// word, an optional one (-p) only from a next word not starting with '-'.
func tokenize(args []string) ([]parsedOption, []string, error) {
	var opts []parsedOption
	var positional []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			positional = append(positional, args[i+1:]...)
			return opts, positional, nil
		case strings.HasPrefix(arg, "--"):
			name, value, hasValue := strings.Cut(arg[2:], "=")
			spec, ok := findLong(name)
			if !ok {
				return nil, nil, failf("%s: unknown option", arg)
			}
			opt := parsedOption{spec: spec}
			switch {
			case hasValue && spec.kind == noArg:
				return nil, nil, failf("%s: option does not take an argument", arg)
			case hasValue:
				opt.value, opt.hasArg = value, true
			case spec.kind == requiredArg:
				if i+1 >= len(args) {
					return nil, nil, failf("%s: missing argument", arg)
				}
				i++
				opt.value, opt.hasArg = args[i], true
			case spec.kind == optionalArg && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
				i++
				opt.value, opt.hasArg = args[i], true
			}
			opts = append(opts, opt)
		case strings.HasPrefix(arg, "-") && len(arg) > 1:
			for j := 1; j < len(arg); j++ {
				spec, ok := findShort(arg[j])
				if !ok {
					return nil, nil, failf("-%c: unknown option", arg[j])
				}
				opt := parsedOption{spec: spec}
				rest := arg[j+1:]
				if spec.kind != noArg {
					switch {
					case rest != "":
						opt.value, opt.hasArg = rest, true
					case spec.kind == requiredArg:
						if i+1 >= len(args) {
							return nil, nil, failf("-%c: missing argument", arg[j])
						}
						i++
						opt.value, opt.hasArg = args[i], true
					case i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
						i++
						opt.value, opt.hasArg = args[i], true
					}
					opts = append(opts, opt)
					break
				}
				opts = append(opts, opt)
			}
		default:
			positional = append(positional, arg)
		}
	}
	return opts, positional, nil
}

func findLong(name string) (optionSpec, bool) {
	for _, spec := range optionSpecs {
		if spec.long == name {
			return spec, true
		}
	}
	return optionSpec{}, false
}

func findShort(c byte) (optionSpec, bool) {
	for _, spec := range optionSpecs {
		if spec.short == c && c != 0 {
			return spec, true
		}
	}
	return optionSpec{}, false
}

var commandOfOption = map[string]int{
	"add-service": cmdAdd, "edit-service": cmdEdit, "delete-service": cmdDel, "clear": cmdFlush,
	"list": cmdList, "zero": cmdZero, "add-server": cmdAddDest, "edit-server": cmdEditDest,
	"delete-server": cmdDelDest, "set": cmdTimeout, "restore": cmdRestore, "save": cmdSave,
	"start-daemon": cmdStartDaemon, "stop-daemon": cmdStopDaemon, "add-laddr": cmdAddLaddr,
	"del-laddr": cmdDelLaddr, "get-laddr": cmdGetLaddr,
}

func (r *request) setOption(option int) error {
	if r.options&option != 0 {
		return failf("multiple '%s' options specified", optionNames[bitIndex(option)])
	}
	r.options |= option
	return nil
}

func bitIndex(option int) int {
	i := 0
	for option > 1 {
		option >>= 1
		i++
	}
	return i
}

// parseArgs is ipvsadm's parse_options and the checks of process_options.
func parseArgs(args []string) (*request, error) {
	opts, positional, err := tokenize(args)
	if err != nil {
		return nil, err
	}
	r := &request{}
	r.real.Weight = 1
	if len(opts) == 0 {
		return nil, tryHelp{}
	}
	first := opts[0].spec.long
	switch first {
	case "help":
		r.help = true
		return r, nil
	case "version":
		r.version = true
		return r, nil
	}
	cmd, ok := commandOfOption[first]
	if !ok {
		return nil, tryHelp{}
	}
	r.cmd = cmd
	if cmd == cmdStartDaemon || cmd == cmdStopDaemon {
		return nil, failf("connection sync daemons are not supported by fastlvs (it syncs connections itself)")
	}
	for _, opt := range opts[1:] {
		if err := r.apply(opt); err != nil {
			return nil, err
		}
	}
	if r.cmd == cmdTimeout {
		if len(positional) < 3 {
			return nil, failf("--set option requires 3 timeout values")
		}
		values := [3]uint32{}
		for i := range values {
			v, err := parseTimeout(positional[i], 0, api.MaxTimeout)
			if err != nil {
				return nil, err
			}
			values[i] = v
		}
		r.timeouts = api.Timeouts{TCP: values[0], TCPFin: values[1], UDP: values[2]}
		positional = positional[3:]
	}
	if len(positional) > 0 {
		return nil, failf("unexpected argument %s", positional[0])
	}
	if err := r.finish(); err != nil {
		return nil, err
	}
	if err := checkOptions(r.cmd, r.options); err != nil {
		return nil, err
	}
	return r, r.checkCommand()
}

func (r *request) apply(opt parsedOption) error {
	name := opt.spec.long
	if _, isCommand := commandOfOption[name]; isCommand || name == "help" || name == "version" {
		return failf("multiple commands specified")
	}
	switch name {
	case "tcp-service", "udp-service":
		if err := r.setOption(optService); err != nil {
			return err
		}
		r.service.Protocol = api.ProtocolTCP
		if name == "udp-service" {
			r.service.Protocol = api.ProtocolUDP
		}
		addr, port, _, ok := parseService(opt.value)
		if !ok {
			return failf("illegal virtual server address[:port] specified")
		}
		r.service.Address, r.service.Port = addr, port
	case "fwmark-service":
		return failf("fwmark services are not supported by fastlvs")
	case "scheduler":
		if err := r.setOption(optScheduler); err != nil {
			return err
		}
		r.svc.Scheduler = opt.value
	case "persistent":
		if err := r.setOption(optPersistent); err != nil {
			return err
		}
		r.svc.Persistent = true
		r.svc.Timeout = api.DefaultPersistentTimeout
		if opt.hasArg {
			v, err := parseTimeout(opt.value, 1, api.MaxTimeout)
			if err != nil {
				return err
			}
			r.svc.Timeout = v
		}
	case "netmask":
		if err := r.setOption(optNetmask); err != nil {
			return err
		}
		r.netmask = opt.value
	case "real-server":
		if err := r.setOption(optServer); err != nil {
			return err
		}
		addr, port, hasPort, ok := parseService(opt.value)
		if !ok {
			return failf("illegal real server address[:port] specified")
		}
		r.server, r.port, r.portSet = addr, port, hasPort
	case "masquerading", "ipip", "gatewaying", "fullnat":
		if err := r.setOption(optForward); err != nil {
			return err
		}
		r.real.Forward = map[string]string{"masquerading": api.ForwardNAT, "ipip": api.ForwardTunnel,
			"gatewaying": api.ForwardDR, "fullnat": api.ForwardFullNAT}[name]
	case "weight":
		if err := r.setOption(optWeight); err != nil {
			return err
		}
		v, ok := stringToNumber(opt.value, 0, 65535)
		if !ok {
			return failf("illegal weight specified")
		}
		r.real.Weight = int32(v)
	case "u-threshold", "l-threshold":
		option, field := optUThreshold, &r.real.UpperThreshold
		if name == "l-threshold" {
			option, field = optLThreshold, &r.real.LowerThreshold
		}
		if err := r.setOption(option); err != nil {
			return err
		}
		v, ok := stringToNumber(opt.value, 0, math.MaxInt32)
		if !ok {
			return failf("illegal %s specified", strings.Replace(name, "-", "_", 1))
		}
		*field = uint32(v)
	case "numeric":
		r.format |= fmtNumeric
		return r.setOption(optNumeric)
	case "connection":
		return r.setOption(optConnection)
	case "mcast-interface":
		return r.setOption(optMcast)
	case "syncid":
		return r.setOption(optSyncID)
	case "timeout":
		return r.setOption(optTimeout)
	case "daemon":
		return r.setOption(optDaemon)
	case "stats":
		r.format |= fmtStats
		return r.setOption(optStats)
	case "rate":
		r.format |= fmtRate
		return r.setOption(optRate)
	case "thresholds":
		r.format |= fmtThresholds
		return r.setOption(optThresholds)
	case "persistent-conn":
		r.format |= fmtPersistentConn
		return r.setOption(optPersistentConn)
	case "nosort":
		r.format |= fmtNoSort
		return r.setOption(optNoSort)
	case "health":
		// fastlvs extension, outside ipvsadm's option table: checked in
		// checkCommand.
		r.format |= fmtHealth
	case "sort", "ipv6":
		// --sort is ipvsadm's default; -6 only qualifies -f there, and an
		// address names its own family here.
	case "exact":
		r.format |= fmtExact
		return r.setOption(optExact)
	case "ops":
		if err := r.setOption(optOnePacket); err != nil {
			return err
		}
		r.svc.Flags = append(r.svc.Flags, "ops")
	case "pe":
		return failf("persistence engine `%s' is not supported by fastlvs", opt.value)
	case "sched-flags":
		if err := r.setOption(optSchedFlags); err != nil {
			return err
		}
		r.flags = opt.value
	case "laddr":
		if err := r.setOption(optLaddr); err != nil {
			return err
		}
		addr, err := netip.ParseAddr(opt.value)
		if err != nil {
			return failf("illegal local address specified")
		}
		r.laddr = addr.Unmap()
	}
	return nil
}

// finish fills what depends on several options: the netmask needs the
// service's family, sched flags the scheduler, a real server without a port
// the service's port.
func (r *request) finish() error {
	if r.netmask != "" {
		if r.service.Address.Is6() {
			bits, err := strconv.Atoi(r.netmask)
			if err != nil || bits < 1 || bits > 128 {
				return failf("illegal ipv6 netmask specified")
			}
			if bits != 128 {
				r.svc.Netmask = strconv.Itoa(bits)
			}
		} else {
			mask, err := netip.ParseAddr(r.netmask)
			if err != nil || !mask.Is4() {
				return failf("illegal virtual server persistent mask specified")
			}
			if mask != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				r.svc.Netmask = mask.String()
			}
		}
	}
	if r.flags != "" {
		flags, err := parseSchedFlags(r.svc.Scheduler, r.flags)
		if err != nil {
			return err
		}
		r.svc.Flags = append(flags, r.svc.Flags...)
	}
	if r.options&optServer != 0 {
		r.real.Address = r.server
		r.real.Port = r.port
		if !r.portSet {
			r.real.Port = r.service.Port
		}
	}
	return nil
}

// checkCommand is the rest of ipvsadm's process_options checks.
func (r *request) checkCommand() error {
	switch r.cmd {
	case cmdAdd, cmdEdit:
		if r.service.Port == 0 && !r.svc.Persistent {
			return failf("Zero port specified for non-persistent service")
		}
		if r.options&optOnePacket != 0 && r.service.Protocol != api.ProtocolUDP {
			return failf("One-Packet Scheduling is only for UDP virtual services")
		}
		if r.svc.Scheduler == "" {
			r.svc.Scheduler = api.DefaultScheduler
		}
		r.svc.Key = r.service
	case cmdAddDest, cmdEditDest:
		if r.real.Forward == api.ForwardDR || r.real.Forward == api.ForwardTunnel {
			r.real.Port = r.service.Port
		}
		if r.real.Address.Is4() != r.service.Address.Is4() && r.real.Forward != api.ForwardTunnel {
			return failf("Different address family is allowed only for tunneling servers")
		}
	case cmdList:
		if r.options&(optConnection|optTimeout|optDaemon) != 0 && r.options&(optStats|optRate|optThresholds) != 0 ||
			r.options&(optTimeout|optDaemon) != 0 && r.options&optPersistentConn != 0 ||
			r.format&fmtHealth != 0 && r.options&(optConnection|optTimeout|optDaemon|optStats|optRate|optThresholds|optPersistentConn) != 0 {
			return failf("options conflicts in the list command")
		}
	}
	if r.format&fmtHealth != 0 && r.cmd != cmdList {
		return failf("Illegal 'health' option with the '%s' command", commandNames[r.cmd])
	}
	return nil
}

// checkOptions is ipvsadm's generic_opt_check over commandOptions.
func checkOptions(cmd, options int) error {
	row := commandOptions[cmd]
	last, count := 0, 0
	for j := range numberOfOptions {
		has := options&(1<<j) != 0
		switch {
		case !has && row[j] == '+':
			return failf("You need to supply the '%s' option for the '%s' command", optionNames[j], commandNames[cmd])
		case has && row[j] == 'x':
			return failf("Illegal '%s' option with the '%s' command", optionNames[j], commandNames[cmd])
		case has && row[j] == '1':
			count++
			if count == 1 {
				last = j
				continue
			}
			return failf("The option '%s' conflicts with the '%s' option in the '%s' command",
				optionNames[j], optionNames[last], commandNames[cmd])
		}
	}
	return nil
}

// stringToNumber is ipvsadm's string_to_number: a whole decimal in range.
func stringToNumber(s string, min, max int64) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < min || v > max {
		return 0, false
	}
	return v, true
}

func parseTimeout(s string, min, max int64) (uint32, error) {
	v, ok := stringToNumber(s, min, max)
	if !ok {
		return 0, failf("invalid timeout value `%s' specified", s)
	}
	return uint32(v), nil
}

// parseService reads "addr", "addr:port", "v6addr" or "[v6addr]:port" (ipvsadm's
// parse_service; host and service names are not resolved).
func parseService(s string) (addr netip.Addr, port uint16, hasPort, ok bool) {
	if s == "" || strings.Trim(s, "0123456789") == "" {
		return addr, 0, false, false
	}
	host, portText := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 || !strings.HasPrefix(s[end+1:], ":") {
			return addr, 0, false, false
		}
		host, portText, hasPort = s[1:end], s[end+2:], true
	} else if a, err := netip.ParseAddr(s); err == nil && a.Is6() {
		return a, 0, false, true
	} else if i := strings.LastIndex(s, ":"); i >= 0 {
		host, portText, hasPort = s[:i], s[i+1:], true
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return addr, 0, false, false
	}
	if hasPort {
		v, ok := stringToNumber(portText, 0, 65535)
		if !ok {
			return addr, 0, false, false
		}
		port = uint16(v)
	}
	return a.Unmap(), port, hasPort, true
}

// Scheduler flag bits (IP_VS_SVC_F_SCHED1..3); sh and mh name the first two.
var flagBitNames = map[string]int{"flag-1": 1, "flag-2": 2, "flag-3": 4,
	"sh-fallback": 1, "sh-port": 2, "mh-fallback": 1, "mh-port": 2}

// parseSchedFlags is ipvsadm's parse_sched_flags; it returns the flags in
// the canonical names of the scheduler so that -S writes them back the same.
func parseSchedFlags(sched, arg string) ([]string, error) {
	if sched == "" {
		sched = api.DefaultScheduler
	}
	bits := 0
	for _, flag := range strings.Split(arg, ",") {
		bit, ok := flagBitNames[flag]
		if !ok {
			return nil, failf("invalid scheduler flag `%s'", flag)
		}
		if prefix, _, _ := strings.Cut(flag, "-"); (prefix == "sh" || prefix == "mh") && prefix != sched {
			return nil, failf("incompatible scheduler flag `%s'", flag)
		}
		bits |= bit
	}
	return flagNames(sched, bits), nil
}

// flagNames lists set bits in print_sched_flags' order and names.
func flagNames(sched string, bits int) []string {
	names := [3]string{"flag-1", "flag-2", "flag-3"}
	if sched == "sh" || sched == "mh" {
		names[0], names[1] = sched+"-fallback", sched+"-port"
	}
	var out []string
	for i, name := range names {
		if bits&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// schedFlagBits reads the API's flag names back into bits (ops excluded).
func schedFlagBits(flags []string) int {
	bits := 0
	for _, f := range flags {
		bits |= flagBitNames[f]
	}
	return bits
}
