// goburn.go - stdlib-only Go service for the agent's --scrape test: net/http/pprof on a free
// loopback port (printed on stdout) and one goroutine burning CPU in burnEmberCPU.
package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
)

//go:noinline
func burnEmberCPU(n int) uint64 {
	var x uint64 = 1
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

var sink uint64

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(os.Stdout, "%d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	go func() {
		for {
			sink += burnEmberCPU(1000000)
		}
	}()
	http.Serve(ln, nil)
}
