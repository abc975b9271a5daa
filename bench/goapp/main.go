// Command goapp is the benchmark's real Go workload: a mix of standard-library work (JSON,
// gzip, SHA-256, regexp, sorting, formatting) profiled with runtime/pprof. It writes
// -n CPU profiles of -d each (sampled at -hz) and one heap profile into -out, so the
// benchmark ingests and queries profiles made by the real Go runtime.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"
)

type record struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
	Score float64           `json:"score"`
}

var sink int

func makeRecords(n int) []record {
	rs := make([]record, n)
	for i := range rs {
		rs[i] = record{ID: i, Name: "item-" + strconv.Itoa(i), Tags: []string{"a", "b", strconv.Itoa(i % 7)},
			Attrs: map[string]string{"k": fmt.Sprintf("v%d", i), "z": strings.Repeat("x", i%13)}, Score: float64(i) / 3}
	}
	return rs
}

func jsonWork(rs []record) {
	b, _ := json.Marshal(rs)
	var out []record
	_ = json.Unmarshal(b, &out)
	sink += len(out)
}

func gzipWork(data []byte) {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, 6)
	w.Write(data)
	w.Close()
	r, _ := gzip.NewReader(&buf)
	var out bytes.Buffer
	out.ReadFrom(r)
	sink += out.Len()
}

func hashWork(data []byte) {
	for i := 0; i < 20; i++ {
		s := sha256.Sum256(data)
		sink += int(s[0])
	}
}

var re = regexp.MustCompile(`item-(\d+)7\b|v(\d{2,})`)

func regexpWork(text string) {
	sink += len(re.FindAllStringSubmatchIndex(text, -1))
}

func sortWork(n int) {
	xs := make([]string, n)
	for i := range xs {
		xs[i] = strconv.Itoa((i * 7919) % n)
	}
	sort.Strings(xs)
	sink += len(xs[0])
}

func fmtWork(rs []record) {
	var sb strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&sb, "%d %s %v %.3f\n", r.ID, r.Name, r.Tags, r.Score)
	}
	sink += sb.Len()
}

func work(d time.Duration) {
	rs := makeRecords(300)
	data, _ := json.Marshal(rs)
	text := string(data)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		jsonWork(rs)
		gzipWork(data)
		hashWork(data)
		regexpWork(text)
		sortWork(5000)
		fmtWork(rs)
	}
}

func main() {
	dir := flag.String("out", ".", "output directory")
	n := flag.Int("n", 4, "number of CPU profiles")
	d := flag.Duration("d", time.Second, "duration of each CPU profile")
	hz := flag.Int("hz", 500, "CPU sampling rate")
	flag.Parse()
	runtime.MemProfileRate = 4096
	for i := 0; i < *n; i++ {
		f, err := os.Create(filepath.Join(*dir, fmt.Sprintf("cpu-%d.pb.gz", i)))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		runtime.SetCPUProfileRate(*hz) // before StartCPUProfile: a higher rate than its default 100 Hz
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		work(*d)
		pprof.StopCPUProfile()
		f.Close()
	}
	runtime.GC()
	f, err := os.Create(filepath.Join(*dir, "heap.pb.gz"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
}
