package config

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/damocles-go/damocles/internal/netaddr"
)

// validateWorker checks what decoding cannot: values damocles-worker would
// refuse at start, or that would make it stall (a concurrency of 0), all at
// once. It never touches the file system: whether a directory exists is the
// worker's business when it starts.
func validateWorker(s *workerSource, w *Worker) error {
	lerr := &LoadError{File: s.file}
	v := workerCheck{s: s, lerr: lerr}

	v.managerAddr(w.SectorManager.RPCClient.Addr)
	v.rpcServer(w.Worker.RPCServer)
	v.metrics(w.Metrics)
	v.sizes(at("sealing.allowed_sizes"), w.Sealing.AllowedSizes)
	v.threads(w.SealingThreads)
	v.attached(w)
	v.processors(&w.Processors)
	// The TOML decoder stores a negative number in an unsigned field as a
	// huge one (allowed_miners = [-5]) without complaint.
	checkNumbers(func(key, format string, args ...any) { v.bad(placeOfKey(key), format, args...) }, w)
	return lerr.orNil()
}

// placeOfKey turns a walkLeaves key ("sealing_thread[1].sealing.allowed_miners[0]")
// into a place: the element of a top-level array of tables, and the key
// inside it without the index of an inline array.
func placeOfKey(key string) place {
	head, rest, _ := strings.Cut(key, ".")
	if open := strings.IndexByte(head, '['); open > 0 && strings.HasSuffix(head, "]") {
		if idx, err := strconv.Atoi(head[open+1 : len(head)-1]); err == nil {
			return in(head[:open], idx, trimIndex(rest))
		}
	}
	return at(trimIndex(key))
}

func trimIndex(key string) string {
	if open := strings.LastIndexByte(key, '['); open > 0 && strings.HasSuffix(key, "]") {
		return key[:open]
	}
	return key
}

type workerCheck struct {
	s    *workerSource
	lerr *LoadError
}

func (v workerCheck) bad(p place, format string, args ...any) {
	v.s.problem(v.lerr, p, format, args...)
}

func (v workerCheck) managerAddr(addr string) {
	p := at("sector_manager.rpc_client.addr")
	if strings.TrimSpace(addr) == "" {
		v.bad(p, "missing: set the address of damocles-manager, a multiaddr such as /ip4/10.0.0.2/tcp/1789 or a URL such as http://10.0.0.2:1789")
		return
	}
	if _, err := netaddr.Parse(addr); err != nil {
		v.bad(p, "%v; write the multiaddr of damocles-manager, e.g. /ip4/10.0.0.2/tcp/1789, or its URL, e.g. http://10.0.0.2:1789", err)
	}
}

// rpcServer checks the listen host: damocles-worker joins it with the port
// and parses the result as a socket address, so it must be an IP address.
func (v workerCheck) rpcServer(r WorkerRPCServer) {
	if net.ParseIP(r.Host) == nil {
		v.bad(at("worker.rpc_server.host"), "%q is not an IP address; write the address to listen on, e.g. \"0.0.0.0\" for every interface", r.Host)
	}
}

func (v workerCheck) metrics(m WorkerMetrics) {
	if m.HTTPListen == "" {
		return
	}
	host, port, err := net.SplitHostPort(m.HTTPListen)
	if err == nil && net.ParseIP(host) == nil {
		err = fmt.Errorf("%q is not an IP address", host)
	}
	if err == nil {
		if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
			err = fmt.Errorf("%q is not a port", port)
		}
	}
	if err != nil {
		v.bad(at("metrics.http_listen"), "bad listen address %q: %v; want IP:port, e.g. \"0.0.0.0:9000\"", m.HTTPListen, err)
	}
}

func (v workerCheck) sizes(p place, sizes []string) {
	for _, sz := range sizes {
		if _, err := ParseSectorSize(sz); err != nil {
			v.bad(p, "%v", err)
		}
	}
}

func (v workerCheck) threads(threads []SealingThread) {
	seen := map[string]int{}
	for i, t := range threads {
		known := slices.Contains(WorkerPlans, t.PlanName())
		if !known {
			v.bad(in("sealing_thread", i, "plan"), "unknown plan %q; use one of %s (empty means sealer)", t.Plan, strings.Join(WorkerPlans, ", "))
		}
		if t.Location == "" {
			// Only wdpost works without a local store; an unknown plan is
			// reported above, not guessed at here.
			if known && t.PlanName() != PlanWdPoSt {
				v.bad(in("sealing_thread", i, "location"), "missing: a %s thread needs its own local sealing store directory", t.PlanName())
			}
		} else {
			loc := filepath.Clean(t.Location)
			if j, dup := seen[loc]; dup {
				line, _ := v.s.locate(in("sealing_thread", j, "location"))
				v.bad(in("sealing_thread", i, "location"), "%q is also the location of the sealing thread at line %d; each thread needs its own directory", t.Location, line)
			} else {
				seen[loc] = i
			}
		}
		if t.Sealing.AllowedSizes != nil {
			v.sizes(in("sealing_thread", i, "sealing.allowed_sizes"), *t.Sealing.AllowedSizes)
		}
	}
}

func (v workerCheck) attached(w *Worker) {
	type entry struct {
		p place
		a Attached
	}
	var all []entry
	if w.RemoteStore != nil {
		all = append(all, entry{at("remote_store"), *w.RemoteStore})
	}
	for i, a := range w.Attached {
		all = append(all, entry{in("attached", i, ""), a})
	}
	key := func(e entry, k string) place {
		if e.p.arr == "" {
			return at(e.p.key + "." + k)
		}
		return in(e.p.arr, e.p.idx, k)
	}
	names := map[string]entry{}
	writable := 0
	for _, e := range all {
		if e.a.Location == "" {
			v.bad(key(e, "location"), "missing: the directory of the persist store")
			continue
		}
		if !e.a.Readonly {
			writable++
		}
		name := e.a.InstanceName()
		if prev, dup := names[name]; dup {
			line, _ := v.s.locate(key(prev, "name"))
			v.bad(key(e, "name"), "persist store name %q is also used at line %d; each attached store needs its own name (an empty name means the location)", name, line)
			continue
		}
		names[name] = e
	}
	if len(w.Worker.ScanPersistStores) > 0 {
		return
	}
	switch {
	case len(all) == 0:
		v.bad(at("attached"), "no persist store: add an [[attached]] entry (name, location) where finished sectors are kept and proven from")
	case writable == 0 && len(names) > 0:
		v.bad(at("attached"), "every attached store is readonly: at least one must take new sectors")
	}
}

func (v workerCheck) processors(p *Processors) {
	limitKey := "processors.limitation.concurrent"
	if p.Limitation.Concurrent == nil {
		limitKey = "processors.limit"
	}
	limits := p.ConcurrentLimits()
	for _, stage := range sortedKeys(limits) {
		k := at(limitKey + "." + stage)
		v.stageName(k, stage)
		if limits[stage] < 1 {
			v.bad(k, "must be at least 1: %d would never let a %s task run (leave the stage out for no limit)", limits[stage], stage)
		}
	}
	for _, stage := range sortedKeys(p.Limitation.Staggered) {
		v.stageName(at("processors.limitation.staggered."+stage), stage)
	}
	for _, name := range sortedKeys(p.ExtLocks) {
		if p.ExtLocks[name] < 1 {
			v.bad(at("processors.ext_locks."+name), "must be at least 1: %d holders would block every processor that takes lock %q", p.ExtLocks[name], name)
		}
	}
	for _, size := range sortedKeys(p.StaticTreeD) {
		if _, err := ParseSectorSize(size); err != nil {
			v.bad(at("processors.static_tree_d."+size), "%v", err)
		}
	}
	for _, stage := range ProcessorStages {
		for j, proc := range p.Stage(stage) {
			v.processor(p, "processors."+stage, j, proc)
		}
	}
}

func (v workerCheck) stageName(p place, stage string) {
	if !slices.Contains(ProcessorStages, stage) {
		v.bad(p, "unknown stage %q; use one of %s", stage, strings.Join(ProcessorStages, ", "))
	}
}

func (v workerCheck) processor(p *Processors, arr string, j int, proc Processor) {
	if proc.Concurrent != nil && *proc.Concurrent < 1 {
		v.bad(in(arr, j, "concurrent"), "must be at least 1: %d would never give this processor a task (leave it out for no limit)", *proc.Concurrent)
	}
	if proc.Weight < 1 {
		v.bad(in(arr, j, "weight"), "must be at least 1, got %d", proc.Weight)
	}
	if proc.NumaPreferred != nil && *proc.NumaPreferred < 0 {
		v.bad(in(arr, j, "numa_preferred"), "must be a NUMA node number (0 or more), got %d", *proc.NumaPreferred)
	}
	if proc.Cgroup.Cpuset != "" {
		if err := checkCpuset(proc.Cgroup.Cpuset); err != nil {
			v.bad(in(arr, j, "cgroup.cpuset"), "%v", err)
		}
	}
	for _, lock := range proc.Locks {
		if _, ok := p.ExtLocks[lock]; !ok {
			v.bad(in(arr, j, "locks"), "lock %q is not defined: add %s = 1 to [processors.ext_locks]", lock, lock)
		}
	}
	for _, k := range sortedKeys(proc.Envs) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			v.bad(in(arr, j, "envs"), "bad environment variable name %q", k)
		}
	}
}

// checkCpuset checks cpuset list syntax as the kernel takes it in
// cpuset.cpus: comma-separated CPU numbers and ascending ranges.
func checkCpuset(s string) error {
	hint := `want CPU numbers and ranges such as "10-19" or "0,2,4-7"`
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		if err != nil {
			return fmt.Errorf("bad cpuset %q: %q is not a CPU number; %s", s, item, hint)
		}
		if !isRange {
			continue
		}
		b, err := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if err != nil {
			return fmt.Errorf("bad cpuset %q: %q is not a CPU range; %s", s, item, hint)
		}
		if b < a {
			return fmt.Errorf("bad cpuset %q: range %q goes backwards; %s", s, item, hint)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
