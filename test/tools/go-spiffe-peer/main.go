// go-spiffe-peer is the go-spiffe v2 program the interop suite (test/interop/go-spiffe.test.ts)
// runs against the Node library: an mTLS or gRPC client or server whose SVIDs come from a
// Workload API socket through workloadapi.X509Source, exactly as a Go workload would build it.
//
// Every outcome is one JSON line on stdout, so the test reads what go-spiffe saw:
//
//	{"event":"listening","address":"127.0.0.1:port"}   a server is ready
//	{"event":"peer","peerId":"spiffe://…","role":"…"}   a handshake (and request) succeeded;
//	                                                    mTLS modes add "peerSerial" (lowercase hex),
//	                                                    so a test can tell a rotated certificate
//	{"event":"refused","peerId":"spiffe://…","error":"…"} our authorizer refused a peer
//	{"event":"error","error":"…"}                       a client's connection or call failed
//
// A client exits 0 after one exchange, 1 on failure. A server serves until stdin closes or it
// gets SIGTERM, so it never outlives the test that started it.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffegrpc/grpccredentials"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
)

type options struct {
	mode     string
	socket   string
	address  string
	svidHint string
	allowIDs []string
	memberOf string
	timeout  time.Duration
}

var stdoutLock sync.Mutex

func emit(fields map[string]string) {
	line, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	stdoutLock.Lock()
	defer stdoutLock.Unlock()
	fmt.Fprintln(os.Stdout, string(line))
}

func parseOptions(args []string) (options, error) {
	if len(args) == 0 {
		return options{}, errors.New("usage: go-spiffe-peer mtls-server|mtls-client|grpc-server|grpc-client -socket PATH [-address HOST:PORT] [-svid-hint HINT] [-authorize-id ID]... [-authorize-member-of TD]")
	}
	opts := options{mode: args[0]}
	flags := flag.NewFlagSet(opts.mode, flag.ContinueOnError)
	flags.StringVar(&opts.socket, "socket", "", "Workload API Unix socket path")
	flags.StringVar(&opts.address, "address", "127.0.0.1:0", "listen address (servers) or address to dial (clients)")
	flags.StringVar(&opts.svidHint, "svid-hint", "", "use the X.509-SVID with this hint (default: the first)")
	flags.Func("authorize-id", "accept this peer SPIFFE ID (repeatable: tlsconfig.AuthorizeOneOf)", func(value string) error {
		opts.allowIDs = append(opts.allowIDs, value)
		return nil
	})
	flags.StringVar(&opts.memberOf, "authorize-member-of", "", "accept any peer in this trust domain (tlsconfig.AuthorizeMemberOf)")
	flags.DurationVar(&opts.timeout, "timeout", 20*time.Second, "deadline for the source and for a client's exchange")
	if err := flags.Parse(args[1:]); err != nil {
		return options{}, err
	}
	switch opts.mode {
	case "mtls-server", "mtls-client", "grpc-server", "grpc-client":
	default:
		return options{}, fmt.Errorf("unknown mode %q; use mtls-server, mtls-client, grpc-server or grpc-client", opts.mode)
	}
	if opts.socket == "" {
		return options{}, errors.New("-socket is required")
	}
	if (len(opts.allowIDs) == 0) == (opts.memberOf == "") {
		return options{}, errors.New("give -authorize-id (one or more) or -authorize-member-of, not both")
	}
	return opts, nil
}

// authorizer builds the go-spiffe authorizer the flags ask for, wrapped so that a refusal is
// reported on stdout: the test must tell our refusal from the Node side's.
func authorizer(opts options) (tlsconfig.Authorizer, error) {
	var inner tlsconfig.Authorizer
	switch {
	case opts.memberOf != "":
		td, err := spiffeid.TrustDomainFromString(opts.memberOf)
		if err != nil {
			return nil, fmt.Errorf("-authorize-member-of: %w", err)
		}
		inner = tlsconfig.AuthorizeMemberOf(td)
	case len(opts.allowIDs) == 1:
		id, err := spiffeid.FromString(opts.allowIDs[0])
		if err != nil {
			return nil, fmt.Errorf("-authorize-id: %w", err)
		}
		inner = tlsconfig.AuthorizeID(id)
	default:
		ids := make([]spiffeid.ID, 0, len(opts.allowIDs))
		for _, value := range opts.allowIDs {
			id, err := spiffeid.FromString(value)
			if err != nil {
				return nil, fmt.Errorf("-authorize-id: %w", err)
			}
			ids = append(ids, id)
		}
		inner = tlsconfig.AuthorizeOneOf(ids...)
	}
	return func(id spiffeid.ID, chains [][]*x509.Certificate) error {
		err := inner(id, chains)
		if err != nil {
			emit(map[string]string{"event": "refused", "peerId": id.String(), "error": err.Error()})
		}
		return err
	}, nil
}

func openSource(ctx context.Context, opts options) (*workloadapi.X509Source, error) {
	sourceOptions := []workloadapi.X509SourceOption{
		workloadapi.WithClientOptions(workloadapi.WithAddr("unix://" + opts.socket)),
	}
	if opts.svidHint != "" {
		hint := opts.svidHint
		sourceOptions = append(sourceOptions, workloadapi.WithDefaultX509SVIDPicker(func(svids []*x509svid.SVID) *x509svid.SVID {
			for _, svid := range svids {
				if svid.Hint == hint {
					return svid
				}
			}
			// No SVID carries the hint: serving none makes every handshake fail loudly.
			return nil
		}))
	}
	readyCtx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	source, err := workloadapi.NewX509Source(readyCtx, sourceOptions...)
	if err != nil {
		return nil, fmt.Errorf("X509Source from %s: %w", opts.socket, err)
	}
	return source, nil
}

// untilStopped returns a context cancelled on SIGTERM/SIGINT or when stdin reaches EOF.
func untilStopped() (context.Context, context.CancelFunc) {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return ctx, cancel
}

func peerSerialOf(state tls.ConnectionState) string {
	if len(state.PeerCertificates) == 0 {
		return ""
	}
	return state.PeerCertificates[0].SerialNumber.Text(16)
}

func peerIDOf(state tls.ConnectionState) string {
	if len(state.PeerCertificates) == 0 {
		return ""
	}
	id, err := x509svid.IDFromCert(state.PeerCertificates[0])
	if err != nil {
		return ""
	}
	return id.String()
}

// mtlsServer answers each connection with one line naming the peer it saw.
func mtlsServer(ctx context.Context, opts options, source *workloadapi.X509Source, authorize tlsconfig.Authorizer) error {
	config := tlsconfig.MTLSServerConfig(source, source, authorize)
	listener, err := tls.Listen("tcp", opts.address, config)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		listener.Close()
	}()
	emit(map[string]string{"event": "listening", "address": listener.Addr().String()})
	for {
		conn, err := listener.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go serveOne(conn.(*tls.Conn))
	}
}

func serveOne(conn *tls.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := conn.Handshake(); err != nil {
		// A refusal by our authorizer was already reported; this names the TLS failure itself.
		emit(map[string]string{"event": "handshake-failed", "error": err.Error()})
		return
	}
	state := conn.ConnectionState()
	peerID := peerIDOf(state)
	emit(map[string]string{"event": "peer", "role": "mtls-server", "peerId": peerID, "peerSerial": peerSerialOf(state)})
	_, _ = fmt.Fprintf(conn, "hello %s from go-spiffe\n", peerID)
}

// mtlsClient connects, reads the server's one line and reports the server's SPIFFE ID.
func mtlsClient(ctx context.Context, opts options, source *workloadapi.X509Source, authorize tlsconfig.Authorizer) error {
	config := tlsconfig.MTLSClientConfig(source, source, authorize)
	dialer := tls.Dialer{Config: config}
	dialCtx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	raw, err := dialer.DialContext(dialCtx, "tcp", opts.address)
	if err != nil {
		return err
	}
	conn := raw.(*tls.Conn)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(opts.timeout))
	// Under TLS 1.3 the server's verdict on our certificate arrives after our handshake ends: a
	// refusal shows up as the read failing.
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the server's reply: %w", err)
	}
	state := conn.ConnectionState()
	emit(map[string]string{"event": "peer", "role": "mtls-client", "peerId": peerIDOf(state), "peerSerial": peerSerialOf(state), "reply": strings.TrimSpace(reply)})
	return nil
}

// healthServer reports the caller's SPIFFE ID as go-spiffe's credentials expose it to a handler.
type healthServer struct {
	healthpb.UnimplementedHealthServer
	status *health.Server
}

func (h healthServer) Check(ctx context.Context, request *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	id, ok := grpccredentials.PeerIDFromContext(ctx)
	peerID := ""
	if ok {
		peerID = id.String()
	}
	emit(map[string]string{"event": "peer", "role": "grpc-server", "peerId": peerID})
	return h.status.Check(ctx, request)
}

func grpcServer(ctx context.Context, opts options, source *workloadapi.X509Source, authorize tlsconfig.Authorizer) error {
	listener, err := net.Listen("tcp", opts.address)
	if err != nil {
		return err
	}
	server := grpc.NewServer(grpc.Creds(grpccredentials.MTLSServerCredentials(source, source, authorize)))
	healthpb.RegisterHealthServer(server, healthServer{status: health.NewServer()})
	go func() {
		<-ctx.Done()
		server.Stop()
	}()
	emit(map[string]string{"event": "listening", "address": listener.Addr().String()})
	if err := server.Serve(listener); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func grpcClient(ctx context.Context, opts options, source *workloadapi.X509Source, authorize tlsconfig.Authorizer) error {
	conn, err := grpc.NewClient(opts.address, grpc.WithTransportCredentials(grpccredentials.MTLSClientCredentials(source, source, authorize)))
	if err != nil {
		return err
	}
	defer conn.Close()
	callCtx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	var serverPeer peer.Peer
	response, err := healthpb.NewHealthClient(conn).Check(callCtx, &healthpb.HealthCheckRequest{}, grpc.Peer(&serverPeer))
	if err != nil {
		return err
	}
	peerID := ""
	if id, ok := grpccredentials.PeerIDFromPeer(&serverPeer); ok {
		peerID = id.String()
	}
	emit(map[string]string{"event": "peer", "role": "grpc-client", "peerId": peerID, "status": response.GetStatus().String()})
	return nil
}

func run(args []string) error {
	opts, err := parseOptions(args)
	if err != nil {
		return err
	}
	authorize, err := authorizer(opts)
	if err != nil {
		return err
	}
	ctx, stop := untilStopped()
	defer stop()
	source, err := openSource(ctx, opts)
	if err != nil {
		return err
	}
	defer source.Close()
	switch opts.mode {
	case "mtls-server":
		return mtlsServer(ctx, opts, source, authorize)
	case "mtls-client":
		return mtlsClient(ctx, opts, source, authorize)
	case "grpc-server":
		return grpcServer(ctx, opts, source, authorize)
	default:
		return grpcClient(ctx, opts, source, authorize)
	}
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		emit(map[string]string{"event": "error", "error": err.Error()})
		fmt.Fprintln(os.Stderr, "go-spiffe-peer:", err)
		os.Exit(1)
	}
}
