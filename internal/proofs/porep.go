package proofs

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/filecoin-project/go-state-types/abi"
	"github.com/filecoin-project/go-state-types/proof"
	"github.com/ipfs/go-cid"
)

// c1Output is devproof's C1Out: everything C2 needs to encode and check
// the proof without the sector's files.
type c1Output struct {
	ProofType    abi.RegisteredSealProof `json:"registered_proof"`
	SectorNumber abi.SectorNumber        `json:"sector_number"`
	MinerID      abi.ActorID             `json:"miner_id"`
	CommR        node                    `json:"comm_r"`
	CommD        node                    `json:"comm_d"`
	CommC        node                    `json:"comm_c"`
	CommRLast    node                    `json:"comm_r_last"`
	Ticket       node                    `json:"ticket"`
	Seed         node                    `json:"seed"`
	Openings     []porepOpening          `json:"openings"`
}

// porepOpening proves one challenged node: its data against comm_d, its
// column and its parents' columns against comm_c (from which a verifier
// recomputes every label of the node), and its replica node against
// comm_r_last.
type porepOpening struct {
	Node uint64     `json:"node"`
	Data merklePath `json:"data"`
	// Columns holds the challenged node's column, then its base parents',
	// then its expander parents', in graph order.
	Columns []columnOpening `json:"columns"`
	Replica merklePath      `json:"replica"`
}

// columnOpening is a node's labels in every layer, layer 1 first, and the
// tree-c path of their hash.
type columnOpening struct {
	Labels []node     `json:"labels"`
	Path   merklePath `json:"path"`
}

// porepChallenges are the nodes the seed challenges. Node 0 is never
// challenged: it has no base parents to check its label against.
func porepChallenges(sp sectorParams, rid, seed node) []uint64 {
	var buf [14 + 2*nodeSize + 8]byte
	copy(buf[:], "devproof/porep")
	copy(buf[14:], rid[:])
	copy(buf[14+nodeSize:], seed[:])
	out := make([]uint64, sp.porepChallenges)
	for k := range out {
		binary.LittleEndian.PutUint64(buf[14+2*nodeSize:], uint64(k))
		h := hashTrunc(buf[:])
		out[k] = 1 + binary.LittleEndian.Uint64(h[:8])%(sp.nodes()-1)
	}
	return out
}

// columnNodes lists the nodes whose columns an opening of c holds.
func columnNodes(g graph, c uint64) []uint64 {
	var base [baseDegree]uint64
	var exp [expanderDegree]uint64
	g.baseParents(c, &base)
	g.expanderParents(c, &exp)
	return append(append(append(make([]uint64, 0, 1+parentCount), c), base[:]...), exp[:]...)
}

// SealCommitPhase1 opens the challenged nodes. It needs the layers,
// tree-d and tree-c, so it runs before FinalizeSector.
func (e *DevEngine) SealCommitPhase1(ctx context.Context, proofType abi.RegisteredSealProof, sealedCID, unsealedCID cid.Cid, cacheDir, sealedPath string,
	sector abi.SectorNumber, miner abi.ActorID, ticket abi.SealRandomness, seed abi.InteractiveSealRandomness, pieces []abi.PieceInfo) (C1Out, error) {
	sp, err := sealParams(proofType)
	if err != nil {
		return nil, err
	}
	if len(ticket) != nodeSize || len(seed) != nodeSize {
		return nil, fmt.Errorf("sector %d: ticket and seed must be %d bytes, got %d and %d", sector, nodeSize, len(ticket), len(seed))
	}
	cr, err := commcid.CIDToReplicaCommitmentV1(sealedCID)
	if err != nil {
		return nil, fmt.Errorf("sector %d: sealed CID: %w", sector, err)
	}
	cd, err := commcid.CIDToDataCommitmentV1(unsealedCID)
	if err != nil {
		return nil, fmt.Errorf("sector %d: unsealed CID: %w", sector, err)
	}
	out := c1Output{
		ProofType: proofType, SectorNumber: sector, MinerID: miner,
		CommR: node(cr), CommD: node(cd), Ticket: node(ticket), Seed: node(seed),
	}
	want, err := ComputeCommD(proofType, pieces)
	if err != nil {
		return nil, fmt.Errorf("sector %d: %w", sector, err)
	}
	if want != out.CommD {
		return nil, fmt.Errorf("sector %d: unsealed CID %s does not match its pieces", sector, unsealedCID)
	}
	if out.CommC, out.CommRLast, err = readPAux(cacheDir); err != nil {
		return nil, fmt.Errorf("sector %d: %w", sector, err)
	}
	if commR(out.CommC, out.CommRLast) != out.CommR {
		return nil, fmt.Errorf("sector %d: p_aux in %s does not match sealed CID %s", sector, cacheDir, sealedCID)
	}

	files := sp.cacheFiles()
	treeD, err := openTree(treeDShape(sp), cacheDir, []string{files.TreeD}, nil)
	if err != nil {
		return nil, fmt.Errorf("sector %d: %w", sector, err)
	}
	defer treeD.close()
	treeC, err := openTree(treeCShape(sp), cacheDir, files.TreeC, nil)
	if err != nil {
		return nil, fmt.Errorf("sector %d: %w", sector, err)
	}
	defer treeC.close()
	treeR, sealed, err := openReplicaTree(sp, cacheDir, sealedPath)
	if err != nil {
		return nil, fmt.Errorf("sector %d: %w", sector, err)
	}
	defer sealed.Close()
	defer treeR.close()
	var layers []*os.File
	defer func() {
		for _, f := range layers {
			f.Close()
		}
	}()
	for _, name := range files.Layers {
		f, err := openSized(filepath.Join(cacheDir, name), int64(sp.size))
		if err != nil {
			return nil, fmt.Errorf("sector %d: %w", sector, err)
		}
		layers = append(layers, f)
	}

	g := newGraph(sp.nodes())
	rid := replicaID(proofType, miner, sector, out.Ticket, out.CommD)
	for _, c := range porepChallenges(sp, rid, out.Seed) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		o := porepOpening{Node: c}
		if o.Data, err = treeD.open(c, true); err != nil {
			return nil, fmt.Errorf("sector %d: tree-d: %w", sector, err)
		}
		for _, j := range columnNodes(g, c) {
			col := columnOpening{Labels: make([]node, len(layers))}
			for l, f := range layers {
				if _, err := f.ReadAt(col.Labels[l][:], int64(j)*nodeSize); err != nil {
					return nil, fmt.Errorf("sector %d: read %s: %w", sector, f.Name(), err)
				}
			}
			if col.Path, err = treeC.open(j, true); err != nil {
				return nil, fmt.Errorf("sector %d: tree-c: %w", sector, err)
			}
			o.Columns = append(o.Columns, col)
		}
		if o.Replica, err = treeR.open(c, true); err != nil {
			return nil, fmt.Errorf("sector %d: tree-r-last: %w", sector, err)
		}
		out.Openings = append(out.Openings, o)
	}
	return json.Marshal(out)
}

// SealCommitPhase2 encodes C1's openings compactly (no SNARK) and, like
// filecoin-ffi, verifies the result before returning it, so a bad seal is
// caught before it costs a message.
func (e *DevEngine) SealCommitPhase2(ctx context.Context, c1 C1Out, sector abi.SectorNumber, miner abi.ActorID) ([]byte, error) {
	var in c1Output
	if err := json.Unmarshal(c1, &in); err != nil {
		return nil, fmt.Errorf("decode C1 output: %w", err)
	}
	if in.SectorNumber != sector || in.MinerID != miner {
		return nil, fmt.Errorf("C1 output is for sector %d of miner %d, not sector %d of miner %d", in.SectorNumber, in.MinerID, sector, miner)
	}
	sp, err := sealParams(in.ProofType)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pr, err := encodePoRep(sp, in)
	if err != nil {
		return nil, fmt.Errorf("sector %d: %w", sector, err)
	}
	if !verifyPoRep(in.ProofType, miner, sector, in.Ticket, in.Seed, in.CommR, in.CommD, pr) {
		return nil, fmt.Errorf("sector %d: C1 output does not verify: the sector's cache or replica is inconsistent, redo PC2 and C1", sector)
	}
	return pr, nil
}

// VerifySeal checks a PoRep proof against the on-chain commitments.
func (e *DevEngine) VerifySeal(info proof.SealVerifyInfo) (bool, error) {
	if _, err := sealParams(info.SealProof); err != nil {
		return false, err
	}
	cr, err := commcid.CIDToReplicaCommitmentV1(info.SealedCID)
	if err != nil {
		return false, fmt.Errorf("sealed CID: %w", err)
	}
	cd, err := commcid.CIDToDataCommitmentV1(info.UnsealedCID)
	if err != nil {
		return false, fmt.Errorf("unsealed CID: %w", err)
	}
	if len(info.Randomness) != nodeSize || len(info.InteractiveRandomness) != nodeSize {
		return false, fmt.Errorf("ticket and seed must be %d bytes, got %d and %d", nodeSize, len(info.Randomness), len(info.InteractiveRandomness))
	}
	return verifyPoRep(info.SealProof, info.Miner, info.Number, node(info.Randomness), node(info.InteractiveRandomness),
		node(cr), node(cd), info.Proof), nil
}

// verifyPoRep recomputes what a PoRep proof claims: every opened path,
// every challenged label from its parents' labels, and replica = data +
// key. The replica id ties it all to miner, sector, ticket and comm_d.
func verifyPoRep(p abi.RegisteredSealProof, miner abi.ActorID, sector abi.SectorNumber, ticket, seed, commRWant, commD node, pr []byte) bool {
	sp, err := sealParams(p)
	if err != nil {
		return false
	}
	commC, commRLast, openings, ok := decodePoRep(sp, pr)
	if !ok || commR(commC, commRLast) != commRWant {
		return false
	}
	rid := replicaID(p, miner, sector, ticket, commD)
	g := newGraph(sp.nodes())
	dArities := treeDShape(sp).levelArities()
	rArities := treeRLastShape(sp).levelArities()
	for k, c := range porepChallenges(sp, rid, seed) {
		o := openings[k]
		if root, err := rootFromPath(dArities, c, o.Data); err != nil || root != commD {
			return false
		}
		for i, j := range columnNodes(g, c) {
			col := o.Columns[i]
			col.Path.Leaf = columnHash(col.Labels)
			if root, err := rootFromPath(rArities, j, col.Path); err != nil || root != commC {
				return false
			}
		}
		var base [baseDegree]node
		var exp [expanderDegree]node
		for l := 1; l <= sp.layers; l++ {
			for i := range base {
				base[i] = o.Columns[1+i].Labels[l-1]
			}
			if l > 1 {
				for i := range exp {
					exp[i] = o.Columns[1+baseDegree+i].Labels[l-2]
				}
			}
			if labelFromParents(rid, l, c, &base, &exp) != o.Columns[0].Labels[l-1] {
				return false
			}
		}
		var replica node
		addNode(replica[:], o.Data.Leaf[:], o.Columns[0].Labels[sp.layers-1][:])
		if replica != o.Replica.Leaf {
			return false
		}
		if root, err := rootFromPath(rArities, c, o.Replica); err != nil || root != commRLast {
			return false
		}
	}
	return true
}
