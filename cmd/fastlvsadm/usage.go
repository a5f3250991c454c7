package main

import (
	"bufio"
	"fmt"
	"strings"

	"fastlvs/control/api"
)

// writeUsage is ipvsadm's usage_exit text for the options fastlvsadm has.
func writeUsage(w *bufio.Writer) {
	p := program
	fmt.Fprintf(w, `%[1]s v1.31 (ipvsadm 1.31 compatible, fastlvs API v1)
Usage:
  %[1]s -A|E -t|u service-address [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags]
  %[1]s -D -t|u service-address
  %[1]s -C
  %[1]s -R
  %[1]s -S [-n]
  %[1]s -a|e -t|u service-address -r server-address [options]
  %[1]s -d -t|u service-address -r server-address
  %[1]s -L|l [options]
  %[1]s -Z [-t|u service-address]
  %[1]s --set tcp tcpfin udp
  %[1]s -P|Q -t|u service-address -z local-address
  %[1]s -G [-t|u service-address]
  %[1]s -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --add-laddr       -P        add a FULLNAT local address
  --del-laddr       -Q        delete a FULLNAT local address
  --get-laddr       -G        list FULLNAT local addresses
  --help            -h        display this help message

Options:
  --tcp-service  -t service-address   service-address is host[:port]
  --udp-service  -u service-address   service-address is host[:port]
  --scheduler    -s scheduler         one of %[2]s,
                                      the default scheduler is %[3]s.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --fullnat      -F                   full NAT (source and destination rewritten)
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --laddr        -z local-address     FULLNAT local address
  --connection   -c                   output of current connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
  --health                           with -L: every real server, its configured weight and health
  --api          address              fastlvs API (default $FASTLVS_API or %[4]s;
                                      tls://host:port for a daemon with api_tls)
  --api-ca       file                 PEM CA that signed the API's certificate (default $FASTLVS_API_CA)
  --api-insecure                      do not verify the API's certificate (self-signed on a trusted path)
`, p, strings.Join(api.Schedulers, "|"), api.DefaultScheduler, api.DefaultAddress)
}
