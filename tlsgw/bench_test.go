package tlsgw

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"chatd/certs"
	"chatd/room"
)

// BenchmarkDelivery measures what a chat line costs when it goes out to
// TLS clients on loopback: one line from an in-process member, written to
// every client, in bursts of 10 lines that every client reads before the
// next. ns/op is per line; cpu-ns/delivery is the CPU time of the whole
// process (the clients' reading included) per line and client.
func BenchmarkDelivery(b *testing.B) {
	for _, clients := range []int{10, 100} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchmarkDelivery(b, clients)
		})
	}
}

func benchmarkDelivery(b *testing.B, clients int) {
	const burst = 10
	certPEM, keyPEM, err := certs.GenerateSelfSigned(certs.DefaultHosts(), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	r := room.New(room.Config{FloodBurst: 1 << 30, FloodRate: 1e9})
	srv := NewServer(Config{Room: r, TLS: ServerConfig(certs.NewStore(&cert), ProfileIntermediate)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var lines, readers sync.WaitGroup
	for i := range clients {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		nick := fmt.Sprint("c", i)
		io.WriteString(conn, nick+"\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.Contains(line, "*** "+nick+" joined") {
				break
			}
		}
		readers.Go(func() {
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if strings.Contains(line, "<bench>") {
					lines.Done()
				}
			}
		})
	}
	sender, err := r.Join("bench", room.JoinOptions{})
	if err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		n := min(burst, b.N-sent)
		lines.Add(n * clients)
		for range n {
			sender.Send("a line of chat of an ordinary length, about sixty bytes")
		}
		lines.Wait()
		sent += n
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N*clients), "cpu-ns/delivery")

	r.Close("done")
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		b.Error(err)
	}
	<-served
	readers.Wait()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
