// Command workload writes real Go runtime/pprof profiles with a known shape,
// for Ember's integration tests and benchmarks.
//
//	workload -out DIR [-cpu 3s]
//
// writes DIR/cpu.pb.gz (CPU split 60/30/10 between main.burnA, main.burnB and
// main.burnC by design), DIR/heap1.pb.gz and DIR/heap2.pb.gz (two cumulative
// heap profiles of the same process; between them main.allocMore allocates
// exactly 2000 blocks of 4096 bytes), DIR/mutex.pb.gz and DIR/block.pb.gz.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var sink uint64

// Each burn function runs its own loop (so its samples are flat in it);
// the work per round is 6:3:1, which gives the 60/30/10 split.
const unit = 200000

//go:noinline
func burnA() {
	x := sink
	for i := 0; i < 6*unit; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

//go:noinline
func burnB() {
	x := sink
	for i := 0; i < 3*unit; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

//go:noinline
func burnC() {
	x := sink
	for i := 0; i < unit; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

//go:noinline
func cpuWork(total time.Duration) {
	end := time.Now().Add(total)
	for time.Now().Before(end) {
		burnA()
		burnB()
		burnC()
	}
}

var keep [][]byte

//go:noinline
func allocBig(n int) {
	for i := 0; i < n; i++ {
		keep = append(keep, make([]byte, 65536))
	}
}

//go:noinline
func allocSmall(n int) {
	for i := 0; i < n; i++ {
		b := make([]byte, 512)
		if i%4 == 0 {
			keep = append(keep, b)
		}
	}
}

//go:noinline
func allocMore(n int) {
	for i := 0; i < n; i++ {
		keep = append(keep, make([]byte, 4096))
	}
}

//go:noinline
func lockContend() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				mu.Lock()
				time.Sleep(50 * time.Microsecond)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

//go:noinline
func chanWait() {
	ch := make(chan int)
	done := make(chan bool)
	go func() {
		for i := 0; i < 100; i++ {
			time.Sleep(100 * time.Microsecond)
			ch <- i
		}
		close(ch)
	}()
	go func() {
		for range ch {
		}
		done <- true
	}()
	<-done
}

func write(dir, name string, f func(*os.File) error) {
	out, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := f(out); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
	out.Close()
}

func lookup(name string) func(*os.File) error {
	return func(f *os.File) error { return pprof.Lookup(name).WriteTo(f, 0) }
}

func main() {
	dir := flag.String("out", ".", "output directory")
	cpu := flag.Duration("cpu", 3*time.Second, "CPU profile duration")
	flag.Parse()
	runtime.MemProfileRate = 1
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)

	write(*dir, "cpu.pb.gz", func(f *os.File) error {
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		cpuWork(*cpu)
		pprof.StopCPUProfile()
		return nil
	})

	allocBig(100)
	allocSmall(4000)
	runtime.GC()
	write(*dir, "heap1.pb.gz", lookup("heap"))
	allocMore(2000)
	runtime.GC()
	write(*dir, "heap2.pb.gz", lookup("heap"))

	lockContend()
	write(*dir, "mutex.pb.gz", lookup("mutex"))
	chanWait()
	write(*dir, "block.pb.gz", lookup("block"))
	runtime.KeepAlive(keep)
}
