package devnet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/ipfs/go-cid"

	"github.com/filecoin-project/go-state-types/builtin/v19/miner"
)

// Persistence: a snapshot plus what happened since, so that neither a push
// nor an epoch rewrites the whole state (which, with thousands of sectors,
// is megabytes).
//
//   - chain.json is a snapshot of chainState, written atomically (temporary
//     file, fsync, rename, fsync of the directory) every SnapshotEvery
//     epochs, after a pre-created miner or wallet address, and at Close.
//   - chain.wal is the write-ahead log of messages pushed since the
//     snapshot: one JSON line each, {head, message}, fsynced before Push
//     returns, so a pushed message survives a crash.
//   - chain.epochs holds each tipset's timestamp, 8 bytes (Unix ms,
//     little-endian) per epoch from genesis, appended by AdvanceEpoch.
//
// Loading reads the snapshot and re-executes the epochs and pushes that
// came after it: the chain is deterministic given its pushes and epochs,
// so the result is the chain that stopped. Epoch appends are not fsynced:
// a machine crash may lose the last epochs (as if they had not been
// mined; their messages execute again in the next ones), a process crash
// loses nothing.

const (
	formatVersion = 1
	// SnapshotEvery is how many epochs pass between snapshots; it bounds
	// the work of a restart.
	SnapshotEvery = 64

	stateFile  = "chain.json"
	walFile    = "chain.wal"
	epochsFile = "chain.epochs"
)

type store struct {
	dir    string
	wal    *os.File
	epochs *os.File
	// epochsSinceSnapshot counts appends since the last snapshot.
	epochsSinceSnapshot int
}

type walEntry struct {
	// Head is the height the message was pushed at: it executes at Head+1.
	Head    abi.ChainEpoch `json:"head"`
	Message Message        `json:"message"`
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("devnet home: %w", err)
	}
	s := &store{dir: dir}
	var err error
	if s.wal, err = os.OpenFile(filepath.Join(dir, walFile), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		return nil, fmt.Errorf("devnet home: %w", err)
	}
	if s.epochs, err = os.OpenFile(filepath.Join(dir, epochsFile), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		s.wal.Close()
		return nil, fmt.Errorf("devnet home: %w", err)
	}
	return s, nil
}

func (s *store) close() error {
	err := s.wal.Close()
	if eerr := s.epochs.Close(); err == nil {
		err = eerr
	}
	return err
}

func (s *store) appendPush(rec *msgRecord) error {
	line, err := json.Marshal(walEntry{Head: rec.PushedAt, Message: rec.Message})
	if err != nil {
		return err
	}
	if _, err := s.wal.Write(append(line, '\n')); err != nil {
		return err
	}
	return s.wal.Sync()
}

func (s *store) appendEpoch(unixMilli int64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(unixMilli))
	_, err := s.epochs.Write(b[:])
	s.epochsSinceSnapshot++
	return err
}

// persistEpoch persists the epoch just mined.
func (c *Chain) persistEpoch() error {
	if err := c.store.appendEpoch(c.times[c.st.Height]); err != nil {
		return fmt.Errorf("persist epoch %d: %w", c.st.Height, err)
	}
	if c.store.epochsSinceSnapshot >= SnapshotEvery {
		return c.snapshot()
	}
	return nil
}

// persistNow snapshots a change made outside message execution.
func (c *Chain) persistNow() error {
	if c.store == nil || c.replaying {
		return nil
	}
	return c.snapshot()
}

// snapshot writes chain.json atomically and empties the log it covers.
func (c *Chain) snapshot() error {
	s := c.store
	data, err := json.Marshal(c.st)
	if err != nil {
		return fmt.Errorf("encode chain state: %w", err)
	}
	if err := s.epochs.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", epochsFile, err)
	}
	if err := writeFileAtomic(filepath.Join(s.dir, stateFile), data); err != nil {
		return err
	}
	if err := s.wal.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", walFile, err)
	}
	s.epochsSinceSnapshot = 0
	return s.wal.Sync()
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// load continues the chain in the home, if there is one. A home without a
// snapshot gets a new chain: its log and epochs are discarded.
func (c *Chain) load(cfg Config) (bool, error) {
	s := c.store
	data, err := os.ReadFile(filepath.Join(s.dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		if err := s.wal.Truncate(0); err != nil {
			return false, err
		}
		return false, s.epochs.Truncate(0)
	}
	if err != nil {
		return false, fmt.Errorf("devnet home: %w", err)
	}
	var head struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return false, fmt.Errorf("devnet home %s: %s is not a chain snapshot: %w", s.dir, stateFile, err)
	}
	if head.Format != formatVersion {
		return false, fmt.Errorf("devnet home %s holds chain format %d, this devnet reads format %d: start with a new home", s.dir, head.Format, formatVersion)
	}
	st := &chainState{}
	if err := json.Unmarshal(data, st); err != nil {
		return false, fmt.Errorf("devnet home %s: decode %s: %w", s.dir, stateFile, err)
	}
	if err := checkSameConfig(cfg, st, s.dir); err != nil {
		return false, err
	}
	c.st = st
	c.reindex()

	times, err := readEpochs(s.epochs)
	if err != nil {
		return false, err
	}
	if abi.ChainEpoch(len(times)) < st.Height+1 {
		return false, fmt.Errorf("devnet home %s is corrupt: %s has %d epochs, the snapshot is at height %d", s.dir, epochsFile, len(times), st.Height)
	}
	wal, err := readWAL(s.wal)
	if err != nil {
		return false, err
	}
	c.times = slices.Clone(times[:st.Height+1])
	c.keys = nil
	replayed := abi.ChainEpoch(len(times)) - 1 - st.Height
	c.replaying = true
	next := 0
	pushUpTo := func(h abi.ChainEpoch) {
		for ; next < len(wal) && wal[next].Head <= h; next++ {
			msg := normalized(wal[next].Message)
			if _, known := c.byCid[messageCid(&msg)]; known {
				continue
			}
			if _, err := c.push(wal[next].Message, false); err != nil {
				log.Errorw("dropping a logged message that no longer applies", "head", wal[next].Head, "error", err)
			}
		}
	}
	for h := st.Height + 1; h < abi.ChainEpoch(len(times)); h++ {
		pushUpTo(h - 1)
		c.advance(times[h])
	}
	// What is left was pushed at the head (or, after a machine crash lost
	// epochs, later): it is pending again.
	pushUpTo(math.MaxInt64)
	c.replaying = false
	log.Infow("devnet chain loaded", "home", s.dir, "height", c.st.Height, "replayedEpochs", replayed, "pending", len(c.st.Pending))
	// Rewrite the epochs file to exactly the chain (dropping a torn last
	// record) and snapshot, so the next start replays nothing.
	if err := rewriteEpochs(s.epochs, c.times); err != nil {
		return false, err
	}
	return true, c.snapshot()
}

func checkSameConfig(cfg Config, st *chainState, dir string) error {
	if cfg.Seed != "" && cfg.Seed != st.Seed {
		return fmt.Errorf("devnet home %s holds a chain with seed %q, not %q: give the same seed or a new home", dir, st.Seed, cfg.Seed)
	}
	if cfg.PreCommitChallengeDelay != 0 && cfg.PreCommitChallengeDelay != st.PreCommitChallengeDelay {
		return fmt.Errorf("devnet home %s holds a chain with pre-commit challenge delay %d, not %d: give the same delay or a new home",
			dir, st.PreCommitChallengeDelay, cfg.PreCommitChallengeDelay)
	}
	if cfg.PartitionSectors != 0 && cfg.PartitionSectors != st.PartitionSectors {
		return fmt.Errorf("devnet home %s holds a chain with partition size override %d, not %d: give the same value or a new home",
			dir, st.PartitionSectors, cfg.PartitionSectors)
	}
	return nil
}

// reindex rebuilds what the snapshot does not hold: address and message
// indexes, and empty collections JSON left nil.
func (c *Chain) reindex() {
	if c.st.Actors == nil {
		c.st.Actors = map[abi.ActorID]*actor{}
	}
	if c.st.Miners == nil {
		c.st.Miners = map[abi.ActorID]*minerState{}
	}
	for _, a := range c.st.Actors {
		c.addActor(a)
	}
	for _, m := range c.st.Miners {
		if m.PreCommits == nil {
			m.PreCommits = map[abi.SectorNumber]*miner.SectorPreCommitOnChainInfo{}
		}
		if m.Sectors == nil {
			m.Sectors = map[abi.SectorNumber]*sectorState{}
		}
	}
	c.byCid = map[cid.Cid]*msgRecord{}
	for _, rec := range c.st.Executed {
		c.indexMessage(rec)
	}
	for _, rec := range c.st.Pending {
		c.indexMessage(rec)
	}
}

func readEpochs(f *os.File) ([]int64, error) {
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", epochsFile, err)
	}
	times := make([]int64, len(data)/8)
	for i := range times {
		times[i] = int64(binary.LittleEndian.Uint64(data[i*8:]))
	}
	return times, nil
}

func rewriteEpochs(f *os.File, times []int64) error {
	if err := f.Truncate(int64(len(times)) * 8); err != nil {
		return fmt.Errorf("truncate %s: %w", epochsFile, err)
	}
	return f.Sync()
}

// readWAL reads the logged pushes, ignoring a torn last line.
func readWAL(f *os.File) ([]walEntry, error) {
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", walFile, err)
	}
	var out []walEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		var e walEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			if !bytes.HasSuffix(data, []byte("\n")) && bytes.HasSuffix(data, sc.Bytes()) {
				break
			}
			return nil, fmt.Errorf("%s is corrupt: %w", walFile, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
