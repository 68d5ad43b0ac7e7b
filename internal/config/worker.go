package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/damocles-go/damocles/internal/netaddr"
)

// DefaultWorkerRPCPort is the port damocles-worker serves its VenusWorker
// API on (§1.6 of PROTOCOLS-damocles.md).
const DefaultWorkerRPCPort = 17890

// Plans a [[sealing_thread]] can run, as damocles-worker names them.
const (
	PlanSealer  = "sealer"
	PlanSnapUp  = "snapup"
	PlanRebuild = "rebuild"
	PlanUnseal  = "unseal"
	PlanWdPoSt  = "wdpost"
	PlanNiPoRep = "niporep"
)

// WorkerPlans lists every plan a sealing thread may name.
var WorkerPlans = []string{PlanSealer, PlanSnapUp, PlanRebuild, PlanUnseal, PlanWdPoSt, PlanNiPoRep}

// ProcessorStages lists the stage names of §4.3 of PROTOCOLS-damocles.md that
// a worker file may use, both as [[processors.<stage>]] tables and as keys
// of [processors.limitation.*]. c1 and synth_proof have no damocles processor
// subcommand; they exist for concurrency limits and for custom processors.
var ProcessorStages = []string{
	"add_pieces", "tree_d", "pc1", "pc2", "c1", "synth_proof", "c2",
	"snap_encode", "snap_prove", "transfer", "unseal", "window_post", "winning_post",
}

// Worker is the TOML file of damocles-worker, with the keys and meaning of
// damocles-worker's own config.rs so that its files load unchanged.
type Worker struct {
	// Worker is [worker]: this instance's name and its own RPC server.
	Worker WorkerInstance `toml:"worker"`
	// Metrics is [metrics]: the Prometheus exporter.
	Metrics WorkerMetrics `toml:"metrics"`
	// SectorManager is [sector_manager]: how to reach damocles-manager.
	SectorManager SectorManagerClient `toml:"sector_manager"`
	// Sealing is [sealing]: the settings every sealing thread inherits.
	Sealing Sealing `toml:"sealing"`
	// SealingThreads are the [[sealing_thread]] entries, one per thread.
	SealingThreads []SealingThread `toml:"sealing_thread"`
	// Attached are the [[attached]] persist stores that finished sectors go
	// to and that WindowPoSt reads.
	Attached []Attached `toml:"attached"`
	// RemoteStore is the deprecated [remote_store]; it counts as one more
	// attached store, placed before the others (see AttachedStores).
	RemoteStore *Attached `toml:"remote_store"`
	// AttachedSelection is the deprecated [attached_selection]; the manager
	// chooses stores now.
	AttachedSelection AttachedSelection `toml:"attached_selection"`
	// Processors is [processors]: concurrency limits and external processors.
	Processors Processors `toml:"processors"`
}

// WorkerInstance is the [worker] section.
type WorkerInstance struct {
	// Name identifies this worker to the manager; empty means the IP address
	// of the interface that reaches the manager.
	Name string `toml:"name"`
	// RPCServer is where the worker serves its VenusWorker API, which the
	// manager's CLI calls.
	RPCServer WorkerRPCServer `toml:"rpc_server"`
	// PingInterval is how often the worker reports itself to the manager.
	PingInterval HumanDuration `toml:"ping_interval"`
	// LocalPiecesDirs are searched for deal piece files before they are
	// downloaded from the manager.
	LocalPiecesDirs []string `toml:"local_pieces_dirs"`
	// LocalPiecesDir is the deprecated one-directory form of LocalPiecesDirs,
	// read only when LocalPiecesDirs is unset (see PiecesDirs).
	LocalPiecesDir string `toml:"local_pieces_dir"`
	// ScanPersistStores are glob patterns of persist store directories, each
	// holding a sectorstore.json, attached besides [[attached]]. damocles
	// spells this key in CamelCase.
	ScanPersistStores []string `toml:"ScanPersistStores"`
}

// WorkerRPCServer is [worker.rpc_server].
type WorkerRPCServer struct {
	// Host is the listen address; "0.0.0.0" listens on every interface.
	Host string `toml:"host"`
	// Port is the listen port.
	Port uint16 `toml:"port"`
}

// WorkerMetrics is the [metrics] section.
type WorkerMetrics struct {
	// Enable turns the Prometheus exporter on.
	Enable bool `toml:"enable"`
	// HTTPListen is the exporter's listen address, an IP and a port.
	HTTPListen string `toml:"http_listen"`
}

// SectorManagerClient is the [sector_manager] section.
type SectorManagerClient struct {
	// RPCClient says where damocles-manager's JSON-RPC API is.
	RPCClient RPCClient `toml:"rpc_client"`
	// PieceToken is handed to add_pieces processors (as PIECE_FETCHER_TOKEN)
	// to download deal pieces; it is not sent on RPC.
	PieceToken string `toml:"piece_token"`
}

// RPCClient is [sector_manager.rpc_client].
type RPCClient struct {
	// Addr is the manager's address, required: a multiaddr
	// (/ip4/10.0.0.2/tcp/1789) or a URL (http://10.0.0.2:1789); see
	// (*Worker).ManagerURL for the URL it becomes.
	Addr string `toml:"addr"`
	// Headers are extra HTTP headers for every RPC request; our worker sends
	// its API token this way (damocles-worker declares but ignores them).
	Headers map[string]string `toml:"headers"`
}

// Sealing is the [sealing] section and, merged with a thread's override, the
// settings one sealing thread runs with (see (*Worker).ThreadSealing).
type Sealing struct {
	// AllowedMiners limits the thread to sectors of these miner actor IDs;
	// empty allows any.
	AllowedMiners []uint64 `toml:"allowed_miners"`
	// AllowedSizes limits the thread to these sector sizes ("32GiB"); empty
	// allows any.
	AllowedSizes []string `toml:"allowed_sizes"`
	// EnableDeals lets sectors carry deal pieces.
	EnableDeals bool `toml:"enable_deals"`
	// DisableCC waits for deals instead of sealing committed-capacity sectors.
	DisableCC bool `toml:"disable_cc"`
	// MaxDeals caps the deals packed in one sector; nil means no cap.
	MaxDeals *uint64 `toml:"max_deals"`
	// MinDealSpace is the least deal data a sector must carry; nil means none.
	MinDealSpace *ByteSize `toml:"min_deal_space"`
	// MaxRetries is how many times a temporary failure is retried before the
	// sector is given up (left for an operator).
	MaxRetries uint32 `toml:"max_retries"`
	// SealInterval is the pause between two sectors of one thread.
	SealInterval HumanDuration `toml:"seal_interval"`
	// RecoverInterval is the pause before retrying after a temporary failure;
	// wdpost threads also wait this long between two job requests.
	RecoverInterval HumanDuration `toml:"recover_interval"`
	// RPCPollingInterval is the pause between two polls of the manager (e.g.
	// whether a message landed on chain).
	RPCPollingInterval HumanDuration `toml:"rpc_polling_interval"`
	// IgnoreProofCheck skips checking proofs locally; for tests only.
	IgnoreProofCheck bool `toml:"ignore_proof_check"`
	// RequestTaskMaxRetries is how many empty task requests a thread makes
	// before it ends its loop (and reloads its hot config).
	RequestTaskMaxRetries uint32 `toml:"request_task_max_retries"`
	// VerifyAfterPC2 checks the PC2 output before going on.
	VerifyAfterPC2 bool `toml:"verify_after_pc2"`
}

// SealingOverride is a thread's `sealing.*` keys: every key that is set
// replaces the [sealing] value for that thread only.
type SealingOverride struct {
	// AllowedMiners overrides Sealing.AllowedMiners (an empty list allows any).
	AllowedMiners *[]uint64 `toml:"allowed_miners"`
	// AllowedSizes overrides Sealing.AllowedSizes (an empty list allows any).
	AllowedSizes *[]string `toml:"allowed_sizes"`
	// EnableDeals overrides Sealing.EnableDeals.
	EnableDeals *bool `toml:"enable_deals"`
	// DisableCC overrides Sealing.DisableCC.
	DisableCC *bool `toml:"disable_cc"`
	// MaxDeals overrides Sealing.MaxDeals.
	MaxDeals *uint64 `toml:"max_deals"`
	// MinDealSpace overrides Sealing.MinDealSpace.
	MinDealSpace *ByteSize `toml:"min_deal_space"`
	// MaxRetries overrides Sealing.MaxRetries.
	MaxRetries *uint32 `toml:"max_retries"`
	// SealInterval overrides Sealing.SealInterval.
	SealInterval *HumanDuration `toml:"seal_interval"`
	// RecoverInterval overrides Sealing.RecoverInterval.
	RecoverInterval *HumanDuration `toml:"recover_interval"`
	// RPCPollingInterval overrides Sealing.RPCPollingInterval.
	RPCPollingInterval *HumanDuration `toml:"rpc_polling_interval"`
	// IgnoreProofCheck overrides Sealing.IgnoreProofCheck.
	IgnoreProofCheck *bool `toml:"ignore_proof_check"`
	// RequestTaskMaxRetries overrides Sealing.RequestTaskMaxRetries.
	RequestTaskMaxRetries *uint32 `toml:"request_task_max_retries"`
	// VerifyAfterPC2 overrides Sealing.VerifyAfterPC2.
	VerifyAfterPC2 *bool `toml:"verify_after_pc2"`
}

// SealingThread is one [[sealing_thread]].
type SealingThread struct {
	// Location is the thread's local sealing store directory; every plan but
	// wdpost needs one, and no two threads may share it.
	Location string `toml:"location"`
	// Plan is what the thread does (one of WorkerPlans); empty means sealer.
	Plan string `toml:"plan"`
	// Sealing overrides [sealing] for this thread.
	Sealing SealingOverride `toml:"sealing"`
	// Params are free-form settings a plan reads (e.g. batch sizes); they
	// are kept as text and checked by the plan.
	Params map[string]string `toml:"params"`
}

// PlanName returns the thread's plan, "sealer" when none is written.
func (t SealingThread) PlanName() string {
	if t.Plan == "" {
		return PlanSealer
	}
	return t.Plan
}

// Attached is one [[attached]] persist store (also the deprecated
// [remote_store]).
type Attached struct {
	// Name is the store's instance name, which must match a persist store of
	// the manager; empty means the location (see InstanceName).
	Name string `toml:"name"`
	// Location is the store's directory on this machine, required.
	Location string `toml:"location"`
	// Readonly keeps new sectors out of the store; it is still read.
	Readonly bool `toml:"readonly"`
}

// InstanceName returns Name, or the cleaned location when Name is empty, as
// damocles-worker does (it also makes the location absolute when it opens
// the store, which needs the file system).
func (a Attached) InstanceName() string {
	if a.Name != "" {
		return a.Name
	}
	if a.Location == "" {
		return ""
	}
	return filepath.Clean(a.Location)
}

// AttachedSelection is the deprecated [attached_selection] section.
type AttachedSelection struct {
	// EnableSpaceWeighted picked stores weighted by free space.
	EnableSpaceWeighted bool `toml:"enable_space_weighted"`
}

// Processors is the [processors] section.
type Processors struct {
	// Limit is the deprecated name of Limitation.Concurrent, read only when
	// that table is absent (see ConcurrentLimits).
	Limit map[string]int `toml:"limit"`
	// Limitation holds per-stage limits.
	Limitation Limitation `toml:"limitation"`
	// ExtLocks defines named locks (name → holders at once) that processors
	// take through their Locks, e.g. one GPU shared by pc2 and c2.
	ExtLocks map[string]int `toml:"ext_locks"`
	// StaticTreeD maps a sector size ("32GiB") to a prebuilt tree_d file used
	// for committed-capacity sectors of that size.
	StaticTreeD map[string]string `toml:"static_tree_d"`

	// The fields below hold one entry per [[processors.<stage>]]; each
	// starts one external processor for that stage, and a stage without
	// any runs inside the worker. Stage and ByStage read them by name.

	// AddPieces write deal data (or zeros) into the unsealed sector file.
	AddPieces []Processor `toml:"add_pieces"`
	// TreeD build the data tree (comm_d) of the unsealed sector.
	TreeD []Processor `toml:"tree_d"`
	// PC1 compute PreCommit phase 1 (the layer labels).
	PC1 []Processor `toml:"pc1"`
	// PC2 compute PreCommit phase 2 (tree-c, tree-r-last, comm_r).
	PC2 []Processor `toml:"pc2"`
	// C1 compute Commit phase 1; damocles has no c1 processor, only a custom bin serves it.
	C1 []Processor `toml:"c1"`
	// SynthProof compute synthetic PoRep proofs; as for C1, only a custom bin serves it.
	SynthProof []Processor `toml:"synth_proof"`
	// C2 compute Commit phase 2 (the PoRep proof).
	C2 []Processor `toml:"c2"`
	// SnapEncode encode deal data into a sector for a snap deal.
	SnapEncode []Processor `toml:"snap_encode"`
	// SnapProve prove a snap-deal update.
	SnapProve []Processor `toml:"snap_prove"`
	// Transfer move finished sector files to a persist store.
	Transfer []Processor `toml:"transfer"`
	// Unseal recover a sector's unsealed data.
	Unseal []Processor `toml:"unseal"`
	// WindowPoSt compute WindowPoSt proofs for wdpost threads.
	WindowPoSt []Processor `toml:"window_post"`
	// WinningPoSt compute WinningPoSt proofs.
	WinningPoSt []Processor `toml:"winning_post"`
}

// Limitation is [processors.limitation].
type Limitation struct {
	// Concurrent caps how many tasks of a stage run at once (stage → count).
	Concurrent map[string]int `toml:"concurrent"`
	// Staggered spaces out the starts of a stage's tasks (stage → interval).
	Staggered map[string]HumanDuration `toml:"staggered"`
}

// Processor is one [[processors.<stage>]]: an external processor child. Its
// protocol is §4 of PROTOCOLS-damocles.md.
type Processor struct {
	// Bin is the child's executable; empty means the worker's own binary.
	// A leading "~/" is expanded by ExpandHome when the child starts.
	Bin string `toml:"bin"`
	// Args are the child's arguments; nil means "processor <stage>", the
	// built-in processor's subcommand.
	Args []string `toml:"args"`
	// Envs are added to the child's environment.
	Envs map[string]string `toml:"envs"`
	// InheritEnvs passes the worker's own environment to the child first.
	InheritEnvs bool `toml:"inherit_envs"`
	// Concurrent caps the tasks one child runs at once; nil means no cap.
	Concurrent *int `toml:"concurrent"`
	// Weight is the child's share when a task picks among the stage's
	// children.
	Weight int `toml:"weight"`
	// Locks are ext_locks names the child holds while it runs a task.
	Locks []string `toml:"locks"`
	// NumaPreferred is the NUMA node the child's memory should come from;
	// nil leaves it to the kernel.
	NumaPreferred *int `toml:"numa_preferred"`
	// StableWait is how long the child may take to print its ready line.
	StableWait HumanDuration `toml:"stable_wait"`
	// AutoRestart starts the child again when it exits.
	AutoRestart bool `toml:"auto_restart"`
	// Cgroup confines the child.
	Cgroup Cgroup `toml:"cgroup"`
}

// Cgroup is a processor's cgroup table.
type Cgroup struct {
	// GroupName is the cgroup to create; empty lets the worker pick one.
	GroupName string `toml:"group_name"`
	// Cpuset is the CPUs the child may use, in cpuset list syntax
	// ("10-19", "0,2,4-7"); empty means no restriction.
	Cpuset string `toml:"cpuset"`
}

// DefaultWorker returns the worker file's defaults, damocles-worker's own.
// The address of the manager has none and must be set.
func DefaultWorker() *Worker {
	return &Worker{
		Worker: WorkerInstance{
			RPCServer:    WorkerRPCServer{Host: "0.0.0.0", Port: DefaultWorkerRPCPort},
			PingInterval: HumanDuration(30 * time.Second),
		},
		Metrics: WorkerMetrics{HTTPListen: "0.0.0.0:9000"},
		Sealing: Sealing{
			MaxRetries:            5,
			SealInterval:          HumanDuration(30 * time.Second),
			RecoverInterval:       HumanDuration(60 * time.Second),
			RPCPollingInterval:    HumanDuration(180 * time.Second),
			RequestTaskMaxRetries: 3,
		},
	}
}

// DefaultProcessor returns the defaults of one [[processors.<stage>]].
func DefaultProcessor() Processor {
	return Processor{
		InheritEnvs: true,
		Weight:      1,
		StableWait:  HumanDuration(5 * time.Second),
		AutoRestart: true,
	}
}

// stages returns the field of every stage, keyed by stage name; it is the
// one place that ties ProcessorStages to the struct fields.
func (p *Processors) stages() map[string]*[]Processor {
	return map[string]*[]Processor{
		"add_pieces": &p.AddPieces, "tree_d": &p.TreeD, "pc1": &p.PC1, "pc2": &p.PC2,
		"c1": &p.C1, "synth_proof": &p.SynthProof, "c2": &p.C2,
		"snap_encode": &p.SnapEncode, "snap_prove": &p.SnapProve, "transfer": &p.Transfer,
		"unseal": &p.Unseal, "window_post": &p.WindowPoSt, "winning_post": &p.WinningPoSt,
	}
}

// Stage returns the external processors configured for a stage; none means
// the stage runs inside the worker.
func (p *Processors) Stage(name string) []Processor {
	if f, ok := p.stages()[name]; ok {
		return *f
	}
	return nil
}

// ByStage returns every stage that has external processors.
func (p *Processors) ByStage() map[string][]Processor {
	out := map[string][]Processor{}
	for name, f := range p.stages() {
		if len(*f) > 0 {
			out[name] = *f
		}
	}
	return out
}

// ConcurrentLimits returns the per-stage concurrency caps: the
// [processors.limitation.concurrent] table when the file has one (even
// empty), else the deprecated [processors.limit], as damocles-worker does.
func (p *Processors) ConcurrentLimits() map[string]int {
	if p.Limitation.Concurrent != nil {
		return p.Limitation.Concurrent
	}
	return p.Limit
}

// ThreadSealing returns the settings sealing thread i runs with: [sealing]
// with the thread's own sealing.* keys applied over it. It panics when i is
// out of range, like an index would.
func (w *Worker) ThreadSealing(i int) Sealing {
	return w.Sealing.with(w.SealingThreads[i].Sealing)
}

// with returns s with every key set in o replacing s's value.
func (s Sealing) with(o SealingOverride) Sealing {
	override(&s.AllowedMiners, o.AllowedMiners)
	override(&s.AllowedSizes, o.AllowedSizes)
	override(&s.EnableDeals, o.EnableDeals)
	override(&s.DisableCC, o.DisableCC)
	if o.MaxDeals != nil {
		s.MaxDeals = o.MaxDeals
	}
	if o.MinDealSpace != nil {
		s.MinDealSpace = o.MinDealSpace
	}
	override(&s.MaxRetries, o.MaxRetries)
	override(&s.SealInterval, o.SealInterval)
	override(&s.RecoverInterval, o.RecoverInterval)
	override(&s.RPCPollingInterval, o.RPCPollingInterval)
	override(&s.IgnoreProofCheck, o.IgnoreProofCheck)
	override(&s.RequestTaskMaxRetries, o.RequestTaskMaxRetries)
	override(&s.VerifyAfterPC2, o.VerifyAfterPC2)
	return s
}

// override sets *dst to *v when the file set v.
func override[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// AttachedStores returns every persist store the worker attaches: the
// deprecated [remote_store] first, then [[attached]], as damocles-worker
// orders them.
func (w *Worker) AttachedStores() []Attached {
	var out []Attached
	if w.RemoteStore != nil {
		out = append(out, *w.RemoteStore)
	}
	return append(out, w.Attached...)
}

// PiecesDirs returns the local piece directories: local_pieces_dirs, or the
// deprecated local_pieces_dir when that is unset.
func (w *Worker) PiecesDirs() []string {
	if w.Worker.LocalPiecesDirs != nil {
		return w.Worker.LocalPiecesDirs
	}
	if w.Worker.LocalPiecesDir != "" {
		return []string{w.Worker.LocalPiecesDir}
	}
	return nil
}

// ManagerURL returns the URL the worker posts JSON-RPC requests to: the
// manager's /rpc/v0 over http, or https when the address says so (§1.5 of
// PROTOCOLS-damocles.md; ws and wss addresses map to http and https). An IPv6
// host is bracketed, unlike damocles-worker's quirk, so the URL dials. It
// returns "" for an address LoadWorker would have refused.
func (w *Worker) ManagerURL() string {
	ep, err := netaddr.Parse(w.SectorManager.RPCClient.Addr)
	if err != nil {
		return ""
	}
	return ep.URL("http", "/rpc/v0")
}

// ExpandHome replaces a leading "~" or "~/" with the user's home directory,
// as a shell would for bin = "~/my_algorithm". Other paths (including
// "~user/...") come back unchanged. It is called when the path is used, not
// at load, so that loading a file never depends on who loads it.
func ExpandHome(path string) (string, error) {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expand %q: %w", path, err)
	}
	return filepath.Join(home, strings.TrimPrefix(path, "~")), nil
}
