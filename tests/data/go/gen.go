// gen.go - writes real Go runtime profiles with known shapes, for Ember's pprof tests.
//
// Usage: go run gen.go <kind> <out.pb.gz>, kind one of cpu, heap, mutex, block, labels.
// Standard library only; see gen.sh, which regenerates every file in this directory.
//
//   cpu:    main.burnA / main.burnB / main.burnC burn CPU in a 6:3:1 ratio (60/30/10 %) for
//           about 3 s at 1000 Hz; each calls the inlined helper main.mix (inlined frames).
//   heap:   main.allocRetained keeps ~8 MiB live; main.allocTransient allocates ~32 MiB that
//           is garbage; MemProfileRate 4096.
//   mutex:  4 goroutines contend on one sync.Mutex held in main.lockHolder.
//   block:  goroutines block on a channel receive in main.waitChan.
//   labels: pprof.Do labels endpoint=/slow (burnA) and endpoint=/fast (burnC), each also
//           carrying region=eu and a span_id label, in a CPU profile.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var sink uint64

// mix is small enough to be inlined into its callers.
func mix(x uint64) uint64 {
	x ^= x >> 31
	x *= 0x9e3779b97f4a7c15
	return x ^ (x >> 29)
}

//go:noinline
func burnA(n int) {
	x := sink
	for i := 0; i < n; i++ {
		x = mix(x + uint64(i))
	}
	sink = x
}

//go:noinline
func burnB(n int) {
	x := sink
	for i := 0; i < n; i++ {
		x = mix(x + uint64(i))
	}
	sink = x
}

//go:noinline
func burnC(n int) {
	x := sink
	for i := 0; i < n; i++ {
		x = mix(x + uint64(i))
	}
	sink = x
}

const unit = 200000

func cpu(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		burnA(6 * unit)
		burnB(3 * unit)
		burnC(1 * unit)
	}
}

func startCPU(f *os.File) {
	// 1000 Hz for enough samples to pin the 60/30/10 split; StartCPUProfile's own 100 Hz
	// request is refused with a warning on stderr and the 1000 Hz rate stays.
	runtime.SetCPUProfileRate(1000)
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
}

var retained [][]byte
var transient []byte

//go:noinline
func allocRetained() {
	for i := 0; i < 128; i++ {
		retained = append(retained, make([]byte, 64<<10))
	}
}

//go:noinline
func allocTransient() {
	for i := 0; i < 4096; i++ {
		transient = make([]byte, 8<<10) // escapes: a heap allocation that dies young
		transient[0] = byte(i)
	}
}

//go:noinline
func lockHolder(mu *sync.Mutex, n int) {
	for i := 0; i < n; i++ {
		mu.Lock()
		burnC(2000)
		mu.Unlock()
	}
}

//go:noinline
func waitChan(ch chan int, n int) {
	for i := 0; i < n; i++ {
		<-ch
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run gen.go cpu|heap|mutex|block|labels OUT")
		os.Exit(2)
	}
	kind, out := os.Args[1], os.Args[2]
	if kind == "heap" {
		runtime.MemProfileRate = 4096
	}
	f, err := os.Create(out)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	switch kind {
	case "cpu":
		startCPU(f)
		cpu(3 * time.Second)
		pprof.StopCPUProfile()
	case "labels":
		startCPU(f)
		end := time.Now().Add(2 * time.Second)
		for time.Now().Before(end) {
			pprof.Do(context.Background(), pprof.Labels("endpoint", "/slow", "region", "eu", "span_id", "0123456789abcdef"),
				func(context.Context) { burnA(3 * unit) })
			pprof.Do(context.Background(), pprof.Labels("endpoint", "/fast", "region", "eu", "span_id", "fedcba9876543210"),
				func(context.Context) { burnC(1 * unit) })
		}
		pprof.StopCPUProfile()
	case "heap":
		allocRetained()
		allocTransient()
		runtime.GC()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			panic(err)
		}
	case "mutex":
		runtime.SetMutexProfileFraction(1)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() { defer wg.Done(); lockHolder(&mu, 200) }()
		}
		wg.Wait()
		if err := pprof.Lookup("mutex").WriteTo(f, 0); err != nil {
			panic(err)
		}
	case "block":
		runtime.SetBlockProfileRate(1)
		ch := make(chan int)
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() { defer wg.Done(); waitChan(ch, 50) }()
		}
		for i := 0; i < 100; i++ {
			time.Sleep(time.Millisecond)
			ch <- i
		}
		wg.Wait()
		if err := pprof.Lookup("block").WriteTo(f, 0); err != nil {
			panic(err)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown kind", kind)
		os.Exit(2)
	}
}
