package main

import (
	"bufio"
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"fastlvs/control/api"
)

// The listings below reproduce ipvsadm 1.31's printf formats (ipvsadm.c:
// list_all, print_title, print_service_entry, print_largenum, list_conn,
// print_conn, list_timeout); the comment on each line names its source.

// versionLine is what list_all prints first. fastlvs speaks IPVS 1.2.1's
// semantics and reports the kernel's default connection table size.
const versionLine = "IP Virtual Server version 1.2.1 (size=4096)\n"

// largenum is print_largenum: 9 columns, K/M/G/T past 100 million unless exact.
func largenum(w *bufio.Writer, v uint64, format int) {
	if format&fmtExact != 0 {
		text := strconv.FormatUint(v, 10)
		width := len(text) + 1
		if len(text) <= 8 {
			width = 9
		}
		fmt.Fprintf(w, "%*d", width, v)
		return
	}
	switch {
	case v < 100_000_000:
		fmt.Fprintf(w, "%9d", v)
	case v < 1_000_000_000:
		fmt.Fprintf(w, "%8dK", v/1_000)
	case v < 100_000_000_000:
		fmt.Fprintf(w, "%8dM", v/1_000_000)
	case v < 100_000_000_000_000:
		fmt.Fprintf(w, "%8dG", v/1_000_000_000)
	default:
		fmt.Fprintf(w, "%8dT", v/1_000_000_000_000)
	}
}

// addrPort is addrport_to_anyname with FMT_NUMERIC; fastlvsadm never
// resolves names, so -n only changes nothing.
func addrPort(a netip.Addr, port uint16) string {
	if a.Is4() {
		return a.String() + ":" + strconv.Itoa(int(port))
	}
	return "[" + a.String() + "]:" + strconv.Itoa(int(port))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// u32 mirrors the kernel's 32-bit connection counters printed with %u.
func u32(v int64) uint32 {
	if v < 0 {
		return 0
	}
	return uint32(v)
}

// printTitle is print_title.
func printTitle(w *bufio.Writer, format int) {
	switch {
	case format&fmtStats != 0:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case format&fmtRate != 0:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case format&fmtThresholds != 0:
		fmt.Fprintf(w, "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case format&fmtPersistentConn != 0:
		fmt.Fprintf(w, "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
	case format&fmtHealth != 0:
		fmt.Fprintf(w, "Prot LocalAddress:Port Scheduler Flags\n"+
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health\n")
	case format&fmtRule == 0:
		fmt.Fprintf(w, "Prot LocalAddress:Port Scheduler Flags\n"+
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
}

// forwardName is fwd_name, with Alibaba's "FullNat".
func forwardName(f string) string {
	switch f {
	case api.ForwardNAT:
		return "Masq"
	case api.ForwardTunnel:
		return "Tunnel"
	case api.ForwardFullNAT:
		return "FullNat"
	}
	return "Route"
}

// forwardSwitch is fwd_switch, with --fullnat for FULLNAT.
func forwardSwitch(f string) string {
	switch f {
	case api.ForwardNAT:
		return "-m"
	case api.ForwardTunnel:
		return "-i"
	case api.ForwardFullNAT:
		return "--fullnat"
	}
	return "-g"
}

// family orders AF_INET (2) before AF_INET6 (10), as libipvs does.
func family(a netip.Addr) int {
	if a.Is4() {
		return 2
	}
	return 10
}

// compareAddr orders by family, then numerically (ipvs_cmp_dests).
func compareAddr(a, b netip.Addr) int {
	return cmp.Or(cmp.Compare(family(a), family(b)), a.Compare(b))
}

// sortServices is ipvs_sort_services then ipvs_sort_dests for each service.
func sortServices(services []api.Service) {
	slices.SortFunc(services, func(a, b api.Service) int {
		// ipvs_cmp_services: family, protocol (TCP 6 before UDP 17), address, port.
		return cmp.Or(cmp.Compare(family(a.Key.Address), family(b.Key.Address)),
			strings.Compare(a.Key.Protocol, b.Key.Protocol),
			a.Key.Address.Compare(b.Key.Address), cmp.Compare(a.Key.Port, b.Key.Port))
	})
	for _, s := range services {
		slices.SortFunc(s.RealServers, func(a, b api.RealServer) int {
			return cmp.Or(compareAddr(a.Address, b.Address), cmp.Compare(a.Port, b.Port))
		})
	}
}

func hasFlag(s api.Service, flag string) bool { return slices.Contains(s.Flags, flag) }

// printService is print_service_entry.
func printService(w *bufio.Writer, s api.Service, format int) {
	vname := addrPort(s.Key.Address, s.Key.Port)
	var svcName string
	if format&fmtRule != 0 {
		switch s.Key.Protocol {
		case api.ProtocolTCP:
			svcName = "-t " + vname
		default:
			svcName = "-u " + vname
		}
	} else {
		svcName = strings.ToUpper(s.Key.Protocol) + "  " + vname // "%s  %s"
		if s.Key.Address.Is4() {
			svcName = truncate(svcName, 33) // svc_name[33] = '\0'
		}
	}
	flagText := strings.Join(flagNames(s.Scheduler, schedFlagBits(s.Flags)), ",")
	switch {
	case format&fmtRule != 0:
		fmt.Fprintf(w, "-A %s -s %s", svcName, s.Scheduler) // "-A %s -s %s"
		if s.Persistent {
			fmt.Fprintf(w, " -p %d", s.Timeout) // " -p %u"
			if s.Netmask != "" {
				fmt.Fprintf(w, " -M %s", s.Netmask) // " -M %s" (inet_ntoa) or " -M %i"
			}
		}
		if hasFlag(s, "ops") {
			fmt.Fprint(w, " -o")
		}
		if flagText != "" {
			fmt.Fprintf(w, " -b %s", flagText) // " -b " + print_sched_flags
		}
	case format&fmtStats != 0:
		fmt.Fprintf(w, "%-33s", svcName)
		for _, v := range []uint64{s.Stats.Conns, s.Stats.InPackets, s.Stats.OutPackets, s.Stats.InBytes, s.Stats.OutBytes} {
			largenum(w, v, format)
		}
	case format&fmtRate != 0:
		fmt.Fprintf(w, "%-33s", svcName)
		for _, v := range []uint64{s.Rates.CPS, s.Rates.InPPS, s.Rates.OutPPS, s.Rates.InBPS, s.Rates.OutBPS} {
			largenum(w, v, format)
		}
	default:
		fmt.Fprintf(w, "%s %s", svcName, s.Scheduler) // "%s %s"
		if flagText != "" {
			fmt.Fprintf(w, " (%s)", flagText) // " (" print_sched_flags ")"
		}
		if s.Persistent {
			fmt.Fprintf(w, " persistent %d", s.Timeout) // " persistent %u"
			if s.Netmask != "" {
				fmt.Fprintf(w, " mask %s", s.Netmask) // " mask %s" / " mask %i"
			}
		}
		if hasFlag(s, "ops") {
			fmt.Fprint(w, " ops")
		}
	}
	fmt.Fprint(w, "\n")
	// fastlvs extension: FULLNAT local addresses as Alibaba's --add-laddr
	// lines, before the real servers: a service becomes fullnat by its local
	// addresses, so -S | -R must add them before its first --fullnat real.
	if format&fmtRule != 0 {
		for _, laddr := range s.LocalAddresses {
			fmt.Fprintf(w, "-P %s -z %s\n", svcName, laddr)
		}
	}

	for _, rs := range s.RealServers {
		if rs.OutOfRotation && format&(fmtRule|fmtHealth) == 0 {
			continue // as IPVS under keepalived: a failed server leaves the table
		}
		weight := weightShown(rs, format)
		dname := addrPort(rs.Address, rs.Port)
		if format&fmtRule == 0 && s.Key.Address.Is4() {
			dname = truncate(dname, 28) // dname[28] = '\0'
		}
		switch {
		case format&fmtRule != 0:
			fmt.Fprintf(w, "-a %s -r %s %s -w %d\n", svcName, dname, forwardSwitch(rs.Forward), rs.Weight)
		case format&fmtStats != 0:
			fmt.Fprintf(w, "  -> %-28s", dname)
			for _, v := range []uint64{rs.Stats.Conns, rs.Stats.InPackets, rs.Stats.OutPackets, rs.Stats.InBytes, rs.Stats.OutBytes} {
				largenum(w, v, format)
			}
			fmt.Fprint(w, "\n")
		case format&fmtRate != 0:
			fmt.Fprintf(w, "  -> %-28s %8d %8d %8d", dname, // "  -> %-28s %8u %8u %8u"
				uint32(rs.Rates.CPS), uint32(rs.Rates.InPPS), uint32(rs.Rates.OutPPS))
			largenum(w, rs.Rates.InBPS, format)
			largenum(w, rs.Rates.OutBPS, format)
			fmt.Fprint(w, "\n")
		case format&fmtThresholds != 0:
			fmt.Fprintf(w, "  -> %-28s %-10d %-10d %-10d %-10d\n", dname,
				rs.UpperThreshold, rs.LowerThreshold, u32(rs.ActiveConns), u32(rs.InactiveConns))
		case format&fmtPersistentConn != 0:
			fmt.Fprintf(w, "  -> %-28s %-9d %-11d %-10d %-10d\n", dname,
				weight, u32(rs.PersistConns), u32(rs.ActiveConns), u32(rs.InactiveConns))
		case format&fmtHealth != 0:
			fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d %s\n", dname,
				forwardName(rs.Forward), weight, u32(rs.ActiveConns), u32(rs.InactiveConns), healthName(rs))
		default:
			fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", dname,
				forwardName(rs.Forward), weight, u32(rs.ActiveConns), u32(rs.InactiveConns))
		}
	}
	printOverflow(w, s, format)
}

// printOverflow is a fastlvs extension: the service's site overflow, on a
// line of its own marked "=>" (no real server's "->"), so that nothing
// reading ipvsadm's listing counts the other site as a real server. -S
// leaves it out: overflow is set in the configuration file only.
func printOverflow(w *bufio.Writer, s api.Service, format int) {
	o := s.Overflow
	if o == nil || format&fmtRule != 0 {
		return
	}
	state := "home"
	if o.Shedding {
		state = "shedding"
	}
	fmt.Fprintf(w, "  => overflow to %s: %s, load %.2f of capacity %d (high %.2f, low %.2f), %d shed, %d active\n",
		o.To, state, o.LoadRatio, o.Capacity, o.High, o.Low, o.ShedConns, o.ActiveConns)
}

// weightShown is the weight a listing prints: the one in force, as IPVS
// holds it after the health checks, except that -S and --health show the
// configured one.
func weightShown(rs api.RealServer, format int) int32 {
	if rs.WeightInForce != nil && format&(fmtRule|fmtHealth) == 0 {
		return *rs.WeightInForce
	}
	return rs.Weight
}

// healthName is the --health column: up, down, or unchecked.
func healthName(rs api.RealServer) string {
	if rs.Health == "" {
		return "unchecked"
	}
	return rs.Health
}

// printAll is list_all.
func printAll(w *bufio.Writer, services []api.Service, format int) {
	if format&fmtRule == 0 {
		w.WriteString(versionLine)
	}
	if format&fmtNoSort == 0 {
		sortServices(services)
	}
	printTitle(w, format)
	for _, s := range services {
		printService(w, s, format)
	}
}

// printTimeouts is list_timeout.
func printTimeouts(w *bufio.Writer, t api.Timeouts) {
	fmt.Fprintf(w, "Timeout (tcp tcpfin udp): %d %d %d\n", t.TCP, t.TCPFin, t.UDP)
}

// printConnections is list_conn and print_conn. fastlvs has no persistence
// engines, so with --persistent-conn only the title gains the pe columns, as
// ipvsadm does for entries without pe data.
func printConnections(w *bufio.Writer, conns []api.Connection, format int) {
	w.WriteString("IPVS connection entries\n")
	if format&fmtPersistentConn != 0 {
		fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %-18s %-16s %s\n",
			"state", "source", "virtual", "destination", "pe name", "pe_data")
	} else {
		fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	}
	for _, c := range conns {
		expire := fmt.Sprintf("%02d:%02d", c.ExpiresSeconds/60, c.ExpiresSeconds%60)
		fmt.Fprintf(w, "%-3s %-6s %-11s %-18s %-18s %s\n", strings.ToUpper(c.Protocol), expire, c.State,
			addrPort(c.Client.Addr(), c.Client.Port()), addrPort(c.Virtual.Addr(), c.Virtual.Port()),
			addrPort(c.Real.Addr(), c.Real.Port()))
	}
}

// printLocalAddresses is the --get-laddr listing of Alibaba's ipvsadm
// (list_laddrs). fastlvs does not count port conflicts or connections per
// local address, so both columns read 0.
func printLocalAddresses(w *bufio.Writer, services []api.Service) {
	fmt.Fprintf(w, "%-20s %-8s %-20s %-10s %-10s\n", "VIP:VPORT", "TOTAL", "SNAT_IP", "CONFLICTS", "CONNS")
	for _, s := range services {
		fmt.Fprintf(w, "%-20s %-8d \n", addrPort(s.Key.Address, s.Key.Port), len(s.LocalAddresses))
		for _, laddr := range s.LocalAddresses {
			fmt.Fprintf(w, "%-20s %-8s %-20s %-10d %-10d\n", "", "", laddr, 0, 0)
		}
	}
}
