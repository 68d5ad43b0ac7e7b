package proofs

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"slices"

	"github.com/filecoin-project/go-fil-commcid"
	"github.com/ipfs/go-cid"
)

// SealPreCommitPhase2 encodes the replica (data + last layer, node by
// node) into sealedPath and builds tree-c over the label columns and
// tree-r-last over the replica, in one streaming pass over the layers.
// comm_r = H(comm_c, comm_r_last). It reads the data from tree-d's leaves
// and overwrites the whole sealed file, so running it again is safe.
func (e *DevEngine) SealPreCommitPhase2(ctx context.Context, pc1 PC1Out, cacheDir, sealedPath string) (sealedCID, unsealedCID cid.Cid, err error) {
	var in pc1Output
	if err := json.Unmarshal(pc1, &in); err != nil {
		return cid.Undef, cid.Undef, fmt.Errorf("decode PC1 output: %w", err)
	}
	sp, err := sealParams(in.ProofType)
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	files := sp.cacheFiles()
	if !slices.Equal(in.Layers, files.Layers) || in.TreeD != files.TreeD {
		return cid.Undef, cid.Undef, fmt.Errorf("PC1 output names files %v and %q, not the layers and tree-d of a %s sector", in.Layers, in.TreeD, sp.name)
	}

	var inputs []*os.File
	defer func() {
		for _, f := range inputs {
			f.Close()
		}
	}()
	for _, name := range append([]string{in.TreeD}, in.Layers...) {
		size := int64(sp.size)
		if name == in.TreeD {
			size = treeDShape(sp).fileSize()
		}
		f, err := openSized(filepath.Join(cacheDir, name), size)
		if err != nil {
			return cid.Undef, cid.Undef, err
		}
		inputs = append(inputs, f)
	}
	// tree-d stores its leaves first: the data is its first sp.size bytes.
	data, layers := inputs[0], inputs[1:]

	sealed, err := os.OpenFile(sealedPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	defer sealed.Close()
	if err := sealed.Truncate(int64(sp.size)); err != nil {
		return cid.Undef, cid.Undef, err
	}

	treeC, err := newTreeWriter(treeCShape(sp), cacheDir, files.TreeC, e.hashThreads())
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	defer treeC.close()
	treeR, err := newTreeWriter(treeRLastShape(sp), cacheDir, files.TreeRLast, e.hashThreads())
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	defer treeR.close()

	chunk := treeC.chunkLeaves()
	chunkBytes := int(chunk * nodeSize)
	layerBufs := make([][]byte, len(layers))
	for i := range layerBufs {
		layerBufs[i] = make([]byte, chunkBytes)
	}
	dataBuf := make([]byte, chunkBytes)
	columns := make([]byte, chunkBytes)
	replica := make([]byte, chunkBytes)

	for start := uint64(0); start < sp.nodes(); start += chunk {
		if err := ctx.Err(); err != nil {
			return cid.Undef, cid.Undef, err
		}
		off := int64(start) * nodeSize
		for i, l := range layers {
			if _, err := l.ReadAt(layerBufs[i], off); err != nil {
				return cid.Undef, cid.Undef, fmt.Errorf("read %s: %w", l.Name(), err)
			}
		}
		if _, err := data.ReadAt(dataBuf, off); err != nil {
			return cid.Undef, cid.Undef, fmt.Errorf("read %s: %w", data.Name(), err)
		}
		hashColumns(columns, layerBufs, e.hashThreads())
		encodeReplica(replica, dataBuf, layerBufs[len(layerBufs)-1])
		if _, err := sealed.WriteAt(replica, off); err != nil {
			return cid.Undef, cid.Undef, err
		}
		if err := treeC.write(columns); err != nil {
			return cid.Undef, cid.Undef, err
		}
		if err := treeR.write(replica); err != nil {
			return cid.Undef, cid.Undef, err
		}
	}
	commC, err := treeC.finish()
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	commRLast, err := treeR.finish()
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	if err := writeTAux(cacheDir, tAux{
		ProofType: in.ProofType, Layers: sp.layers,
		TreeD: treeDShape(sp), TreeC: treeCShape(sp), TreeRLast: treeRLastShape(sp),
	}); err != nil {
		return cid.Undef, cid.Undef, err
	}
	if err := writePAux(cacheDir, commC, commRLast); err != nil {
		return cid.Undef, cid.Undef, err
	}

	r := commR(commC, commRLast)
	if sealedCID, err = commcid.ReplicaCommitmentV1ToCID(r[:]); err != nil {
		return cid.Undef, cid.Undef, err
	}
	if unsealedCID, err = commcid.DataCommitmentV1ToCID(in.CommD[:]); err != nil {
		return cid.Undef, cid.Undef, err
	}
	return sealedCID, unsealedCID, nil
}

// hashColumns computes the column hash of every node of a chunk: the hash
// of its labels across all layers, layer 1 first. Tree-c commits to them,
// so one opening proves a node's labels in every layer.
func hashColumns(dst []byte, layers [][]byte, threads int) {
	inParallel(len(dst)/nodeSize, threads, func(start, end int) {
		col := make([]byte, len(layers)*nodeSize)
		for i := start; i < end; i++ {
			for l, layer := range layers {
				copy(col[l*nodeSize:], layer[i*nodeSize:(i+1)*nodeSize])
			}
			*(*node)(dst[i*nodeSize:]) = hashTrunc(col)
		}
	})
}

// columnHash is hashColumns for one column given as labels.
func columnHash(labels []node) node {
	col := make([]byte, 0, len(labels)*nodeSize)
	for _, l := range labels {
		col = append(col, l[:]...)
	}
	return hashTrunc(col)
}

// encodeReplica computes replica = data + key node by node, as 256-bit
// little-endian integers with wrap-around. Unlike Filecoin's field
// addition, it is reversible (unsealing subtracts the key) for any data,
// even staged data that is not Fr32-padded, and costs four adds.
func encodeReplica(dst, data, key []byte) {
	for i := 0; i < len(dst); i += nodeSize {
		addNode(dst[i:i+nodeSize], data[i:i+nodeSize], key[i:i+nodeSize])
	}
}

func addNode(dst, a, b []byte) {
	var carry uint64
	for w := 0; w < nodeSize; w += 8 {
		var s uint64
		s, carry = bits.Add64(binary.LittleEndian.Uint64(a[w:]), binary.LittleEndian.Uint64(b[w:]), carry)
		binary.LittleEndian.PutUint64(dst[w:], s)
	}
}
