// Command fastlvsadm administers fastlvs with ipvsadm's command line and
// prints what ipvsadm 1.31 prints for the same table. It talks to the daemon
// over the HTTP/JSON API: --api ADDRESS, else $FASTLVS_API, else
// unix:///run/fastlvs.sock; $FASTLVS_API_TOKEN is sent as the bearer token.
// A tls://host:port address speaks TLS to a daemon with api_tls, trusting
// the system's roots, or --api-ca FILE (else $FASTLVS_API_CA), or nothing
// at all with --api-insecure (a self-signed certificate on a trusted path).
//
// Differences from ipvsadm, on purpose:
//   - errors print as "fastlvsadm: <ipvsadm's wording>" and exit 1 (ipvsadm
//     prints the bare message and exits 2, or 255 for option errors);
//   - addresses and ports are never resolved to names, with or without -n,
//     and are accepted only as numbers;
//   - fwmark services (-f), persistence engines (--pe) and the sync daemon
//     commands are refused: fastlvs has none of them;
//   - FULLNAT: --fullnat (-F) selects it, listings name it "FullNat", -S
//     writes "--fullnat"; Alibaba's -P/--add-laddr, -Q/--del-laddr,
//     -G/--get-laddr with -z/--laddr manage local addresses (Alibaba's -b for
//     FULLNAT stays upstream's --sched-flags), and -S writes "-P ... -z" lines;
//   - a real server added or edited without -g/-i/-m/--fullnat takes its
//     service's forwarding method from the daemon (dr when it has none),
//     where ipvsadm always means -g.
//   - -L lists what IPVS under keepalived would hold: a real server its health
//     check took down is left out, or shown with weight 0 when the check has
//     inhibit_on_failure; --health lists every real server with its
//     configured weight and health state (up, down, unchecked).
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"fastlvs/control/api"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const program = "fastlvsadm"

// run executes one command line and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags, args, err := extractAPIFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 1
	}
	tlsConfig, err := flags.tlsConfig()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 1
	}
	client := api.NewClientTLS(api.ResolveAddress(flags.addr), os.Getenv("FASTLVS_API_TOKEN"), tlsConfig)
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	if len(args) == 0 {
		args = []string{"-L"}
	}
	if err := execute(client, args, stdin, out, false); err != nil {
		out.Flush()
		var th tryHelp
		if errors.As(err, &th) {
			fmt.Fprintf(stderr, "Try `%s -h' or '%s --help' for more information.\n", program, program)
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", program, err)
		}
		return 1
	}
	return 0
}

// apiFlags are fastlvsadm's own options, which ipvsadm lacks.
type apiFlags struct {
	addr, caFile string
	insecure     bool
}

// extractAPIFlags removes --api ADDRESS, --api-ca FILE (each also as
// --flag=value) and --api-insecure from args.
func extractAPIFlags(args []string) (apiFlags, []string, error) {
	f := apiFlags{caFile: os.Getenv("FASTLVS_API_CA")}
	rest := make([]string, 0, len(args))
	valued := map[string]*string{"--api": &f.addr, "--api-ca": &f.caFile}
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		target, isValued := valued[name]
		switch {
		case args[i] == "--api-insecure":
			f.insecure = true
		case isValued && hasValue:
			*target = value
		case isValued:
			if i+1 >= len(args) {
				return f, nil, fmt.Errorf("%s: missing argument", name)
			}
			*target = args[i+1]
			i++
		default:
			rest = append(rest, args[i])
		}
	}
	return f, rest, nil
}

// tlsConfig is what a tls:// API address is dialled with.
func (f apiFlags) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: f.insecure}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--api-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--api-ca: no PEM certificate in %s", f.caFile)
		}
	}
	return cfg, nil
}

// execute is ipvsadm's process_options: parse, then act.
func execute(client *api.Client, args []string, stdin io.Reader, out *bufio.Writer, readingStdin bool) error {
	r, err := parseArgs(args)
	if err != nil {
		return err
	}
	switch {
	case r.help:
		writeUsage(out)
		return nil
	case r.version:
		fmt.Fprintf(out, "%s v1.31 (ipvsadm 1.31 compatible, fastlvs API v1)\n", program)
		return nil
	}
	switch r.cmd {
	case cmdList:
		return list(client, r, out)
	case cmdSave:
		services, err := client.Services()
		if err != nil {
			return explain(r.cmd, err)
		}
		printAll(out, services, r.format|fmtRule)
		return nil
	case cmdRestore:
		if readingStdin {
			return tryHelp{}
		}
		return restore(client, stdin, out)
	case cmdGetLaddr:
		services, err := getLaddrServices(client, r)
		if err != nil {
			return explain(r.cmd, err)
		}
		printLocalAddresses(out, services)
		return nil
	}
	return explain(r.cmd, apply(client, r))
}

func apply(client *api.Client, r *request) error {
	switch r.cmd {
	case cmdFlush:
		return client.Clear()
	case cmdAdd:
		return client.AddService(r.svc)
	case cmdEdit:
		// -E replaces the settings ipvsadm sends; local addresses stay.
		current, err := client.Service(r.service)
		if err != nil {
			return err
		}
		r.svc.Forward = current.Forward
		return client.EditService(r.svc)
	case cmdDel:
		return client.DeleteService(r.service)
	case cmdZero:
		if r.options&optService == 0 {
			return client.Zero(nil)
		}
		return client.Zero(&r.service)
	case cmdAddDest:
		return client.AddRealServer(r.service, r.real)
	case cmdEditDest:
		return client.EditRealServer(r.service, r.real)
	case cmdDelDest:
		return client.DeleteRealServer(r.service, r.real.AddrPort())
	case cmdTimeout:
		return client.SetTimeouts(r.timeouts)
	case cmdAddLaddr:
		return client.AddLocalAddress(r.service, r.laddr)
	case cmdDelLaddr:
		return client.DeleteLocalAddress(r.service, r.laddr)
	}
	return nil
}

func getLaddrServices(client *api.Client, r *request) ([]api.Service, error) {
	if r.options&optService != 0 {
		s, err := client.Service(r.service)
		return []api.Service{s}, err
	}
	services, err := client.Services()
	sortServices(services)
	return services, err
}

func list(client *api.Client, r *request, out *bufio.Writer) error {
	switch {
	case r.options&optConnection != 0:
		conns, err := client.Connections()
		if err != nil {
			return explain(r.cmd, err)
		}
		printConnections(out, conns, r.format)
	case r.options&optService != 0:
		s, err := client.Service(r.service)
		if err != nil {
			return explain(r.cmd, err)
		}
		if r.format&fmtNoSort == 0 {
			sortServices([]api.Service{s})
		}
		printTitle(out, r.format)
		printService(out, s, r.format)
	case r.options&optTimeout != 0:
		t, err := client.Timeouts()
		if err != nil {
			return explain(r.cmd, err)
		}
		printTimeouts(out, t)
	case r.options&optDaemon != 0:
		// list_daemon prints one line per running sync daemon; fastlvs runs none.
	default:
		services, err := client.Services()
		if err != nil {
			return explain(r.cmd, err)
		}
		printAll(out, services, r.format)
	}
	return nil
}

// restore is restore_table: each stdin line is a command line of its own.
// Like ipvsadm it stops at the first failing line.
func restore(client *api.Client, stdin io.Reader, out *bufio.Writer) error {
	scanner := bufio.NewScanner(stdin)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if err := execute(client, fields, nil, out, true); err != nil {
			return err
		}
	}
	return scanner.Err()
}

// explain turns an API failure into ipvsadm's message for it (libipvs's
// ipvs_strerror table) where one exists.
func explain(cmd int, err error) error {
	if err == nil {
		return nil
	}
	var status *api.StatusError
	if !errors.As(err, &status) {
		return fmt.Errorf("%v (is fastlvs running?)", err)
	}
	field := status.Body.Field
	switch status.Status {
	case http.StatusConflict:
		switch cmd {
		case cmdAdd:
			return errors.New("Service already exists")
		case cmdAddDest:
			return errors.New("Destination already exists")
		case cmdAddLaddr:
			return errors.New("Local address already exists")
		}
	case http.StatusNotFound:
		switch {
		case field == api.FieldService && (cmd == cmdAddDest || cmd == cmdEditDest || cmd == cmdDelDest ||
			cmd == cmdAddLaddr || cmd == cmdDelLaddr):
			return errors.New("Service not defined")
		case field == api.FieldService:
			return errors.New("No such service")
		case field == api.FieldRealServer:
			return errors.New("No such destination")
		case field == api.FieldLocalAddress:
			return errors.New("No such local address")
		}
	case http.StatusBadRequest:
		if field == "scheduler" && (cmd == cmdAdd || cmd == cmdEdit) {
			return errors.New("Scheduler or persistence engine not found")
		}
	}
	return status
}
