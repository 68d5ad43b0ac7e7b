package config

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// The old venus-worker format (venus-cluster, seed 003) is the worker file
// before damocles renamed its sections:
//
//	[sealer_rpc] url       → [sector_manager] rpc_client.addr
//	[host] name            → [worker] name
//	[worker_server]        → [worker] rpc_server
//	[[store]] location     → [[sealing_thread]] location, plan "sealer"
//	[limit] stage = n      → [processors.limitation.concurrent]
//	[remote] path          → one [[attached]] (name and location = path)
//	[processors.<stage>]   → [[processors.<stage>]] when external = true
//
// venus-worker decoded it with serde without deny_unknown_fields, so a key
// it did not know was ignored. A legacy file therefore keeps loading with a
// misspelt table (seed 003's `[cessors.c2]`): such keys become warnings, not
// errors, while the current format stays strict.

// legacyWorker is the old venus-worker file.
type legacyWorker struct {
	Host struct {
		Name string `toml:"name"`
	} `toml:"host"`
	WorkerServer *struct {
		Host string  `toml:"host"`
		Port *uint16 `toml:"port"`
	} `toml:"worker_server"`
	SealerRPC struct {
		URL     string            `toml:"url"`
		Headers map[string]string `toml:"headers"`
	} `toml:"sealer_rpc"`
	Sealing SealingOverride `toml:"sealing"`
	Store   []struct {
		Location string           `toml:"location"`
		Sealing  *SealingOverride `toml:"sealing"`
	} `toml:"store"`
	Limit  map[string]int `toml:"limit"`
	Remote struct {
		Path string `toml:"path"`
	} `toml:"remote"`
	Processors map[string]legacyProcessor `toml:"processors"`
}

// legacyProcessor is one [processors.<stage>] of venus-worker: a single
// optional external processor per stage.
type legacyProcessor struct {
	External   bool              `toml:"external"`
	Bin        string            `toml:"bin"`
	Args       []string          `toml:"args"`
	Envs       map[string]string `toml:"envs"`
	StableWait *HumanDuration    `toml:"stable_wait"`
	Cgroup     struct {
		Cpuset string `toml:"cpuset"`
	} `toml:"cgroup"`
}

// legacyKeys are the top-level keys that only the old format has.
var legacyKeys = []string{"sealer_rpc", "store", "limit", "remote"}

// isLegacyWorker reports whether a decoded file is in the old venus-worker
// format: it has one of its sections and no [sector_manager].
func isLegacyWorker(raw map[string]any) bool {
	if _, ok := raw["sector_manager"]; ok {
		return false
	}
	for _, k := range legacyKeys {
		if _, ok := raw[k]; ok {
			return true
		}
	}
	return false
}

// translateLegacyWorker decodes an old venus-worker file into the current
// format, warning once per translated or ignored key, and sets s.rename so
// that validation names the keys as the legacy file wrote them.
func translateLegacyWorker(s *workerSource) (*Worker, Warnings, error) {
	var leg legacyWorker
	md, err := toml.NewDecoder(bytes.NewReader(s.data)).Decode(&leg)
	if err != nil {
		// decodeStrict reports the same type error with file, line and key.
		if _, lerr := decodeStrict(s.file, s.data, &legacyWorker{}); lerr != nil {
			return nil, nil, lerr
		}
		return nil, nil, fmt.Errorf("%s: %w", s.file, err)
	}
	// Warnings name the legacy keys as written, so they are located
	// without rename; validation afterwards goes through legacyPlace.
	lw := &workerSource{file: s.file, data: s.data}
	s.rename = legacyPlace

	var warns []noted
	moved := func(from place, to string) {
		lw.warn(&warns, from, "legacy venus-worker key, read as %s", to)
	}
	warns = append(warns, noted{0, fmt.Sprintf("%s: old venus-worker format (it has %s and no [sector_manager]), read as the damocles-worker format as the next warnings say; rewrite the file in the new format to silence them",
		s.file, strings.Join(presentKeys(md, legacyKeys), ", "))})

	w := DefaultWorker()
	if leg.Host.Name != "" {
		w.Worker.Name = leg.Host.Name
		moved(at("host.name"), "worker.name")
	}
	if ws := leg.WorkerServer; ws != nil {
		if ws.Host != "" {
			w.Worker.RPCServer.Host = ws.Host
			moved(at("worker_server.host"), "worker.rpc_server.host")
		}
		if ws.Port != nil {
			w.Worker.RPCServer.Port = *ws.Port
			moved(at("worker_server.port"), "worker.rpc_server.port")
		}
	}
	w.SectorManager.RPCClient.Addr = leg.SealerRPC.URL
	if md.IsDefined("sealer_rpc", "url") {
		moved(at("sealer_rpc.url"), "sector_manager.rpc_client.addr (the manager's http://…/rpc/v0 is dialled whatever the scheme)")
	}
	if leg.SealerRPC.Headers != nil {
		w.SectorManager.RPCClient.Headers = leg.SealerRPC.Headers
		moved(at("sealer_rpc.headers"), "sector_manager.rpc_client.headers")
	}
	w.Sealing = w.Sealing.with(leg.Sealing)
	for i, st := range leg.Store {
		t := SealingThread{Location: st.Location, Plan: PlanSealer}
		if st.Sealing != nil {
			t.Sealing = *st.Sealing
		}
		w.SealingThreads = append(w.SealingThreads, t)
		moved(in("store", i, "location"), fmt.Sprintf("[[sealing_thread]] #%d with plan = %q and this location", i+1, PlanSealer))
		if st.Sealing != nil {
			moved(in("store", i, "sealing"), fmt.Sprintf("[[sealing_thread]] #%d sealing.*", i+1))
		}
	}
	if leg.Limit != nil {
		w.Processors.Limitation.Concurrent = leg.Limit
		for _, stage := range sortedKeys(leg.Limit) {
			moved(at("limit."+stage), "processors.limitation.concurrent."+stage)
		}
	}
	if leg.Remote.Path != "" {
		w.Attached = []Attached{{Name: leg.Remote.Path, Location: leg.Remote.Path}}
		moved(at("remote.path"), "one [[attached]] store with this path as name and location")
	}
	for _, stage := range sortedKeys(leg.Processors) {
		lp := leg.Processors[stage]
		key := "processors." + stage
		switch {
		case !slices.Contains(ProcessorStages, stage):
			lw.warn(&warns, at(key), "ignored: %q is not a stage (use one of %s)", stage, strings.Join(ProcessorStages, ", "))
			continue
		case !lp.External:
			lw.warn(&warns, at(key), "ignored: external is not true, so venus-worker ran %s inside the worker; write external = true to get an external processor", stage)
			continue
		}
		proc := DefaultProcessor()
		proc.Bin, proc.Args, proc.Envs, proc.Cgroup.Cpuset = lp.Bin, lp.Args, lp.Envs, lp.Cgroup.Cpuset
		if lp.StableWait != nil {
			proc.StableWait = *lp.StableWait
		}
		*w.Processors.stages()[stage] = []Processor{proc}
		moved(at(key+".external"), fmt.Sprintf("one [[processors.%s]] external processor", stage))
		if lp.Cgroup.Cpuset != "" {
			moved(at(key+".cgroup.cpuset"), fmt.Sprintf("[[processors.%s]] cgroup.cpuset", stage))
		}
	}
	for _, k := range unknownKeys(md, nil) {
		lw.warn(&warns, at(k), "ignored: not a key of the legacy venus-worker format")
	}
	return w, inFileOrder(warns), nil
}

// presentKeys returns the keys of names that the file defines, in order.
func presentKeys(md toml.MetaData, names []string) []string {
	var out []string
	for _, k := range names {
		if md.IsDefined(k) {
			out = append(out, k)
		}
	}
	return out
}

// legacyPlace maps a place of the translated worker back to the legacy key
// it came from, so that problems name what the operator wrote.
func legacyPlace(p place) place {
	switch {
	case p.arr == "sealing_thread":
		return in("store", p.idx, p.key)
	case p.arr == "attached", p.key == "attached":
		return at("remote.path")
	case strings.HasPrefix(p.arr, "processors."):
		if p.key == "" {
			return at(p.arr)
		}
		return at(p.arr + "." + p.key)
	case p.key == "sector_manager.rpc_client.addr":
		return at("sealer_rpc.url")
	case strings.HasPrefix(p.key, "processors.limitation.concurrent."):
		return at("limit." + strings.TrimPrefix(p.key, "processors.limitation.concurrent."))
	case strings.HasPrefix(p.key, "worker.rpc_server."):
		return at("worker_server." + strings.TrimPrefix(p.key, "worker.rpc_server."))
	case p.key == "worker.name":
		return at("host.name")
	}
	return p
}
