package config

import (
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// ExtProverFileName is the name of the file that lists the external prover
// processes of `daemon run --ext-prover`, next to sector-manager.cfg.
const ExtProverFileName = "ext-prover.cfg"

// ExtProver is the content of ext-prover.cfg: the child processes that
// compute proofs for the manager, typically one per GPU.
type ExtProver struct {
	// WdPost lists the processes that compute WindowPoSt proofs, one [[WdPost]] block each.
	WdPost []ExtProcessor
	// WinPost lists the processes that compute WinningPoSt proofs, one [[WinPost]] block each.
	WinPost []ExtProcessor
}

// ExtProcessor is one external prover process.
type ExtProcessor struct {
	// Bin is the program to run; empty runs this damocles-manager binary's built-in prover.
	Bin string
	// Args are the program's arguments.
	Args []string
	// Envs are added to the process's environment (CUDA_VISIBLE_DEVICES, TMPDIR, ...).
	Envs map[string]string
	// Concurrent is how many proofs the process computes at once.
	Concurrent uint
	// Weight is the process's share of the proofs when several can take one.
	Weight uint
	// ReadyTimeoutSecs is how long the process may take to say it is ready, in seconds; 0 means 5.
	ReadyTimeoutSecs uint
}

// defaultReadyTimeoutSecs is what ReadyTimeoutSecs = 0 stands for.
const defaultReadyTimeoutSecs = 5

// DefaultExtProcessor returns the settings of a [[WdPost]] or [[WinPost]]
// block that sets nothing.
func DefaultExtProcessor() ExtProcessor {
	return ExtProcessor{Concurrent: 1, Weight: 1, ReadyTimeoutSecs: defaultReadyTimeoutSecs}
}

// LoadExtProver reads ext-prover.cfg, strictly as LoadManager does. The
// file is only needed with --ext-prover: when it is missing the error
// satisfies errors.Is(err, fs.ErrNotExist), for the caller to decide.
func LoadExtProver(path string) (*ExtProver, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return parseExtProver(path, data)
}

func parseExtProver(file string, data []byte) (*ExtProver, error) {
	var raw struct {
		WdPost  []toml.Primitive
		WinPost []toml.Primitive
	}
	arrays := []string{"WdPost", "WinPost"}
	md, err := decodeStrict(file, data, &raw, arrays...)
	if err != nil {
		return nil, err
	}
	lerr := &LoadError{File: file}
	cfg := &ExtProver{
		WdPost:  decodeElements(lerr, data, md, "WdPost", raw.WdPost, DefaultExtProcessor),
		WinPost: decodeElements(lerr, data, md, "WinPost", raw.WinPost, DefaultExtProcessor),
	}
	addUnknownKeys(lerr, data, md, arrays)
	if len(lerr.Problems) > 0 {
		return nil, lerr.orNil()
	}
	v := validator{lerr: lerr, data: data}
	checkNumbers(v.fail, cfg)
	for _, list := range []struct {
		key   string
		procs []ExtProcessor
	}{{"WdPost", cfg.WdPost}, {"WinPost", cfg.WinPost}} {
		for i := range list.procs {
			if list.procs[i].ReadyTimeoutSecs == 0 {
				list.procs[i].ReadyTimeoutSecs = defaultReadyTimeoutSecs
			}
			v.extProcessor(list.key, i, list.procs[i])
		}
	}
	if err := lerr.orNil(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (v *validator) extProcessor(array string, i int, p ExtProcessor) {
	elem := fmt.Sprintf("%s[%d]", array, i)
	if p.Concurrent == 0 {
		v.fail(elem+".Concurrent", "must be at least 1: a process that may compute no proof is useless")
	}
	if p.Weight == 0 {
		v.fail(elem+".Weight", "must be at least 1: a process of weight 0 would never be chosen")
	}
	for k := range p.Envs {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			v.fail(elem+".Envs", "bad environment variable name %q", k)
		}
	}
}

// ExtProverTemplate returns the ext-prover.cfg that `daemon init` writes,
// the one damocles writes: everything commented out, with one example of
// each block, since any uncommented [[WdPost]] header starts a process.
func ExtProverTemplate() []byte {
	return []byte(extProverTemplate)
}

const extProverTemplate = `# Default config:
#[[WdPost]]
#Bin = "/path/to/custom/bin"
#Args = ["args1", "args2", "args3"]
#Concurrent = 1
#Weight = 1
#ReadyTimeoutSecs = 5
#[WdPost.Envs]
#ENV_KEY = "ENV_VAL"
#
#[[WinPost]]
#Bin = "/path/to/custom/bin"
#Args = ["args1", "args2", "args3"]
#Concurrent = 1
#Weight = 1
#ReadyTimeoutSecs = 5
#[WinPost.Envs]
#ENV_KEY = "ENV_VAL"
#
`
